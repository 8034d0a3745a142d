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


# -- the parser ----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gluon", description="Run Claude Code agents on your "
                                "git projects, each in its own worktree.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help: str, parent: Any = sub, json_flag: bool = True,
            ) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print JSON")
        return sp

    proj = sub.add_parser("project", help="manage projects (git repositories)")
    psub = proj.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = cmd("add", "register a git repository as a project", psub)
    x.add_argument("path")
    x.add_argument("--name", help="project name (default: the folder name)")
    x.add_argument("--trusted", action="store_true",
                   help="load the repository's .claude settings and hooks")
    cmd("list", "list projects", psub)
    x = cmd("show", "a project's branch, changes and live runs", psub)
    x.add_argument("name")
    x = cmd("remove", "forget a project (never deletes files)", psub)
    x.add_argument("name")
    x.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    ws = sub.add_parser("workspace", help="folders whose repositories become projects")
    wsub = ws.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = cmd("add", "register a folder of repositories", wsub)
    x.add_argument("path")
    cmd("rescan", "add repositories that appeared in workspaces", wsub)

    def start_flags(x: argparse.ArgumentParser) -> None:
        x.add_argument("--wait", action="store_true",
                       help="stay until the run ends, showing what the agent does")

    x = cmd("run", "start an agent on a project")
    x.add_argument("project")
    x.add_argument("prompt")
    x.add_argument("--model", help="opus, sonnet, haiku or a full model id")
    x.add_argument("--no-worktree", action="store_true",
                   help="work in the project's checkout instead of a new worktree")
    x.add_argument("--base", help="branch to start from (default: the current branch)")
    x.add_argument("--budget", type=float, help="spend limit for this run, in USD")
    start_flags(x)
    x = cmd("runs", "list runs")
    x.add_argument("--project")
    x.add_argument("--state", action="append", help="only runs in this state (repeatable)")
    x.add_argument("--limit", type=int, default=50)
    x.add_argument("--all", action="store_true", help="every run, page after page")
    x = cmd("show", "everything about a run")
    x.add_argument("run", help="run id or a unique prefix")
    x = cmd("logs", "what a run's agent said and did")
    x.add_argument("run")
    x.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    x.add_argument("-n", "--lines", type=int, default=200)
    x = cmd("steer", "send a message into a live run")
    x.add_argument("run")
    x.add_argument("message")
    x = cmd("interrupt", "stop the agent's current turn, keep its session")
    x.add_argument("run")
    x = cmd("cancel", "stop a run (its work is kept)")
    x.add_argument("run")
    x.add_argument("--yes", action="store_true")
    x = cmd("resume", "continue an ended run with a follow-up")
    x.add_argument("run")
    x.add_argument("message")
    start_flags(x)
    x = cmd("fork", "start a new run from a copy of a run's session and branch")
    x.add_argument("run")
    x.add_argument("message")
    x.add_argument("--model")
    x.add_argument("--budget", type=float)
    start_flags(x)
    x = cmd("answer", "answer an agent's question or permission request")
    x.add_argument("id")
    x.add_argument("choice", help="an option, its number, free text; or allow, allow_run, "
                   "allow_project, deny")
    x = cmd("pending", "questions and permission requests waiting for you")
    x.add_argument("--run")
    x = cmd("diff", "a run's changes against its base")
    x.add_argument("run")
    x.add_argument("path", nargs="?")
    x = cmd("merge", "merge a finished run's branch into its base branch")
    x.add_argument("run")
    x.add_argument("--yes", action="store_true")
    x = cmd("close", "close a finished run without merging")
    x.add_argument("run")
    x.add_argument("--delete-branch", action="store_true")
    x.add_argument("--yes", action="store_true")
    x = cmd("cleanup", "remove worktrees of runs that ended long ago")
    x.add_argument("--older-than", type=float, metavar="DAYS")
    x = cmd("usage", "spend and tokens per project and day")
    x.add_argument("--days", type=int, default=7)
    x = cmd("activity", "the audit log: who did what, from where, and how it ended")
    x.add_argument("--limit", type=int, default=30)
    x.add_argument("--actor", help="only this actor: cli, mcp, telegram:ID, ...")
    x.add_argument("--action", dest="prefix",
                   help="only actions starting with this: tool., run., access.")
    x = cmd("pair", "let a person into the chat bots with a one-time code")
    x.add_argument("--role", choices=["viewer", "operator", "admin"], default="operator")
    x.add_argument("--list", action="store_true", help="who may use the bots")
    x.add_argument("--revoke", metavar="PLATFORM:ID", help="take a paired user's access away")
    x.add_argument("--yes", action="store_true")
    cmd("chat", "talk to Gluon in the terminal, as in Telegram or Discord", json_flag=False)
    cmd("doctor", "check git, the Claude CLI, the sandbox tools, credentials, the database")
    cmd("serve", "run the Gluon daemon", json_flag=False)
    x = sub.add_parser("mcp", help="serve Gluon's tools over stdio to an MCP client",
                       description="Serve Gluon's tools over stdio (`claude mcp add gluon -- "
                       "gluon mcp`). `gluon mcp token` prints the bearer token of the daemon's "
                       "HTTP endpoint.")
    x.add_argument("action", nargs="?", choices=["token"], help="print the HTTP bearer token")
    return p


def command_name(args: argparse.Namespace) -> str:
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if action else str(args.command)


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
