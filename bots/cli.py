"""The ``gluon`` command: thin wrappers over the MCP tools, plus ``serve`` and ``doctor``.

Each command calls one tool (on the running daemon, or on a runtime of its own when none
runs) and prints its result; ``--json`` prints the tool's structured result unchanged, which
is the stable machine-readable form.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bots import cli_format as fmt
from bots.cli_parser import build_parser, command_name
from bots.client import ToolClient, ToolFailed, connect
from bots.doctor import run_checks
from core.config import Config, load_config
from core.errors import GluonError
from mcp_tools.http import server_token

Handler = Callable[[ToolClient, argparse.Namespace], Awaitable[int]]
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


def out(args: argparse.Namespace, data: dict[str, Any], human: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(human)


def confirm(args: argparse.Namespace, question: str) -> None:
    if getattr(args, "yes", False):
        return
    if not sys.stdin.isatty():
        raise ToolFailed(f"{question} needs a confirmation; pass --yes to confirm")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise ToolFailed("not confirmed; nothing was changed")


# -- projects ------------------------------------------------------------------------------

@handler("project add")
async def project_add(c: ToolClient, a: argparse.Namespace) -> int:
    p = await c.call("add_project", {"path": a.path, "name": a.name, "trusted": a.trusted})
    out(a, p, f"added project {p['name']} ({p['path']})")
    return 0


@handler("project list")
async def project_list(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("list_projects")
    out(a, data, fmt.projects(data))
    return 0


@handler("project show")
async def project_show(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("get_project", {"name": a.name})
    out(a, data, fmt.project_status(data))
    return 0


@handler("project remove")
async def project_remove(c: ToolClient, a: argparse.Namespace) -> int:
    confirm(a, f"Forget project {a.name!r} and its run history (no files are deleted)?")
    data = await c.call("remove_project", {"name": a.name})
    out(a, data, f"removed project {data['name']}; {data['path']} is untouched")
    return 0


@handler("workspace add")
async def workspace_add(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("add_workspace", {"path": a.path})
    out(a, data, fmt.projects(data) if data["projects"] else "no new repositories found")
    return 0


@handler("workspace rescan")
async def workspace_rescan(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("scan_workspace")
    out(a, data, fmt.projects(data) if data["projects"] else "no new repositories found")
    return 0


# -- runs ----------------------------------------------------------------------------------

async def follow(c: ToolClient, run_id: str, *, answer: bool, quiet: bool = False) -> int:
    """Print a run's events as they happen until it ends; ask its questions on a terminal."""
    cursor, shown = 0, set()
    if not c.remote:
        await c.serve()  # so `gluon answer/steer/cancel` from another shell reach this run
    while True:
        logs = await c.call("get_run_logs", {"run": run_id, "after": cursor, "wait_seconds": 2})
        for e in logs["events"]:
            cursor = e["id"]
            if not quiet:
                print(fmt.event(e), flush=True)
        wait = await c.call("wait_for_run", {"run": run_id, "timeout_seconds": 0})
        for p in wait["pending"]:
            if p["id"] in shown:
                continue
            shown.add(p["id"])
            print(f"\n{p['kind']} from the agent: {p['title']}", flush=True)
            if answer and sys.stdin.isatty():
                options = fmt.interaction_options(p)
                choice = (await asyncio.to_thread(
                    input, f"answer ({', '.join(options)}): ")).strip()
                try:
                    await c.call("answer_pending", {"id": p["id"], "choice": choice})
                except ToolFailed as exc:
                    print(f"gluon: {exc}", file=sys.stderr)
                    shown.discard(p["id"])
            else:
                print(fmt.pending_line(p), flush=True)
        if wait["done"]:
            rest = await c.call("get_run_logs", {"run": run_id, "after": cursor})
            for e in rest["events"] if not quiet else []:
                print(fmt.event(e))
            run = wait["run"]
            print(f"\nrun {run['id']} {run['state']}: {run['state_reason']}")
            return 0 if run["state"] in ("review", "merged") else 1


async def _after_start(c: ToolClient, a: argparse.Namespace, run: dict[str, Any]) -> int:
    wait = a.wait or not c.remote
    if not a.json:
        print(fmt.run_started(run), flush=True)
        if wait and not c.remote and not a.wait:
            print("no Gluon daemon is running, so this command stays with the run until it "
                  "ends (start `gluon serve` to run agents in the background)", flush=True)
    if not wait:
        if a.json:
            print(json.dumps(run, indent=2, sort_keys=True))
        return 0
    try:
        code = await follow(c, run["id"], answer=True, quiet=a.json)
    except (KeyboardInterrupt, asyncio.CancelledError):
        if c.remote:
            print(f"\ndetached; run {run['id']} goes on (gluon logs -f {run['id']})")
            return 0
        await c.call("cancel_run", {"run": run["id"]})
        print(f"\ncancelled run {run['id']}; its work is kept, continue it with "
              f"`gluon resume {run['id']} \"...\"`")
        return 130
    if a.json:
        detail = await c.call("get_run", {"run": run["id"]})
        print(json.dumps(detail, indent=2, sort_keys=True))
    return code


@handler("run")
async def run_start(c: ToolClient, a: argparse.Namespace) -> int:
    run = await c.call("start_run", {"project": a.project, "prompt": a.prompt,
                                     "model": a.model, "worktree": not a.no_worktree,
                                     "base": a.base, "budget_usd": a.budget})
    return await _after_start(c, a, run)


@handler("resume")
async def run_resume(c: ToolClient, a: argparse.Namespace) -> int:
    run = await c.call("resume_run", {"run": a.run, "message": a.message})
    return await _after_start(c, a, run)


@handler("fork")
async def run_fork(c: ToolClient, a: argparse.Namespace) -> int:
    run = await c.call("fork_run", {"run": a.run, "message": a.message, "model": a.model,
                                    "budget_usd": a.budget})
    return await _after_start(c, a, run)


@handler("runs")
async def runs_list(c: ToolClient, a: argparse.Namespace) -> int:
    args: dict[str, Any] = {"project": a.project, "state": a.state or None,
                            "limit": min(a.limit, 500)}
    data = await c.call("list_runs", args)
    while a.all and data.get("next_cursor"):
        page = await c.call("list_runs", {**args, "cursor": data["next_cursor"]})
        data = {"runs": data["runs"] + page["runs"], "next_cursor": page.get("next_cursor")}
    out(a, data, fmt.runs(data))
    return 0


@handler("show")
async def run_show(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("get_run", {"run": a.run})
    out(a, data, fmt.run_detail(data))
    return 0


@handler("logs")
async def run_logs(c: ToolClient, a: argparse.Namespace) -> int:
    if a.follow:
        try:
            return await follow(c, a.run, answer=False)
        except KeyboardInterrupt:
            return 0
    data = await c.call("get_run_logs", {"run": a.run, "limit": a.lines})
    out(a, data, "\n".join(fmt.event(e) for e in data["events"]) or "no events yet")
    return 0


@handler("steer")
async def run_steer(c: ToolClient, a: argparse.Namespace) -> int:
    run = await c.call("steer_run", {"run": a.run, "message": a.message})
    out(a, run, f"sent to run {run['id']} ({run['state']})")
    return 0


@handler("interrupt")
async def run_interrupt(c: ToolClient, a: argparse.Namespace) -> int:
    run = await c.call("interrupt_run", {"run": a.run})
    out(a, run, f"interrupting run {run['id']}; steer it to continue")
    return 0


@handler("cancel")
async def run_cancel(c: ToolClient, a: argparse.Namespace) -> int:
    confirm(a, f"Cancel run {a.run}?")
    run = await c.call("cancel_run", {"run": a.run})
    out(a, run, f"run {run['id']} {run['state']}: {run['state_reason']}")
    return 0


@handler("answer")
async def answer(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("answer_pending", {"id": a.id, "choice": a.choice})
    out(a, data, f"answered {data['kind']} {data['id']}: {data['answer']}")
    if not c.remote:
        # The answer may have resumed a stopped run; without a daemon it lives in this process.
        detail = await c.call("get_run", {"run": data["run_id"]})
        if detail["live"]:
            print(f"run {data['run_id']} continues here until it ends (start `gluon serve` "
                  "to run agents in the background)", flush=True)
            return await follow(c, data["run_id"], answer=True, quiet=a.json)
    return 0


@handler("pending")
async def pending(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("list_pending", {"run": a.run})
    out(a, data, "\n".join(fmt.pending_line(p) for p in data["pending"])
        or "nothing is waiting for an answer")
    return 0


@handler("diff")
async def run_diff(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("get_run_diff", {"run": a.run, "path": a.path})
    out(a, data, data["diff"].rstrip() or "no changes")
    return 0


@handler("merge")
async def run_merge(c: ToolClient, a: argparse.Namespace) -> int:
    confirm(a, f"Merge run {a.run} into its base branch?")
    data = await c.call("merge_run", {"run": a.run})
    if data["merged"] or a.json:
        out(a, data, data["message"])
    else:
        print(f"gluon: {data['message']}", file=sys.stderr)
    return 0 if data["merged"] else 1


@handler("close")
async def run_close(c: ToolClient, a: argparse.Namespace) -> int:
    what = " and delete its branch" if a.delete_branch else ""
    confirm(a, f"Close run {a.run}{what} without merging?")
    run = await c.call("archive_run", {"run": a.run, "delete_branch": a.delete_branch})
    out(a, run, f"run {run['id']} closed")
    return 0


@handler("cleanup")
async def cleanup(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("cleanup", {"older_than_days": a.older_than})
    out(a, data, f"removed {len(data['run_ids'])} worktrees")
    return 0


@handler("usage")
async def usage(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("get_usage", {"days": a.days})
    out(a, data, fmt.usage(data))
    return 0


@handler("activity")
async def activity(c: ToolClient, a: argparse.Namespace) -> int:
    data = await c.call("get_activity", {"limit": a.limit, "actor": a.actor,
                                         "action_prefix": a.prefix})
    rows = [[fmt.ago(e["at"]), e["actor"], e["action"], fmt.one_line(e["target"], 40),
             fmt.one_line(e["outcome"], 40), e["detail"][:30]] for e in data["entries"]]
    out(a, data, fmt.table(rows, ["when", "who", "what", "target", "outcome", "where"])
        if rows else "nothing recorded yet")
    return 0


@handler("pair")
async def pair(c: ToolClient, a: argparse.Namespace) -> int:
    if a.revoke:
        platform, _, user_id = a.revoke.partition(":")
        if not user_id:
            raise ToolFailed("--revoke takes PLATFORM:USER_ID, e.g. telegram:123456")
        confirm(a, f"Take {a.revoke}'s access to the bot away?")
        user = await c.call("revoke_chat_user", {"platform": platform, "user_id": user_id})
        out(a, user, f"{platform}:{user_id} can no longer use the bot")
        return 0
    if a.list:
        data = await c.call("list_chat_users")
        lines = [f"{u['platform']}:{u['user_id']:<14} {u['role']:<9} {u['source']:<7} "
                 f"{u['name']}" for u in data["users"]]
        out(a, data, "\n".join(lines) or "nobody yet; run `gluon pair` for a code")
        return 0
    code = await c.call("create_pairing_code", {"role": a.role})
    out(a, code, f"Send this to the bot within 10 minutes:  /pair {code['code']}\n"
                 f"(one person, one time; they get the {code['role']} role)")
    return 0


async def _dispatch(config: Config, args: argparse.Namespace) -> int:
    async with connect(config) as client:
        try:
            return await HANDLERS[command_name(args)](client, args)
        except ToolFailed as exc:  # inside: the MCP client would wrap it in a task group error
            print(f"gluon: {exc}", file=sys.stderr)
            return 1


def doctor(config: Config, args: argparse.Namespace) -> int:
    checks = run_checks(config)
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for c in checks:
            print(f"{c.status:4}  {c.name:12} {c.detail}")
    return 1 if any(c.status == "fail" for c in checks) else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.command == "serve" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("mcp", "httpx", "httpx2", "uvicorn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = load_config()
        if args.command == "doctor":
            return doctor(config, args)
        if args.command == "serve":
            from bots.daemon import serve

            return asyncio.run(serve(config))
        if args.command == "chat":
            from bots.console import chat

            return asyncio.run(chat(config))
        if args.command == "mcp":
            if args.action == "token":
                print(server_token(config))
                return 0
            from bots.mcp_stdio import serve_stdio

            return asyncio.run(serve_stdio(config))
        return asyncio.run(_dispatch(config, args))
    except (ToolFailed, GluonError) as exc:
        print(f"gluon: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
