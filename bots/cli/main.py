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
from typing import TYPE_CHECKING, Any

from bots.cli import (
    file_commands,
    formula_commands,
    hook_commands,
    merge_commands,
    project_commands,
)
from bots.cli import output as fmt
from bots.cli.client import Session, ToolFailed, session
from bots.cli.follow import follow
from bots.cli.output import out, say
from bots.cli.parser import command_name, parse_args
from bots.cli.streams import (
    check_arguments,
    confirm,
    read_inputs,
    reader_gone,
    tolerant_streams,
    unexpected,
)
from bots.cli.work import HANDLERS as WORK_HANDLERS
from core.errors import GluonError

if TYPE_CHECKING:
    from core.config import Config

# Commands that talk to a running daemon load nothing else: no MCP SDK, no pydantic models, no
# agent SDK (each costs a good part of a second). Only a command that runs Gluon itself does.

Handler = Callable[[Session, argparse.Namespace], Awaitable[int]]
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


# -- runs ----------------------------------------------------------------------------------

async def _after_start(c: Session, a: argparse.Namespace, run: dict[str, Any]) -> int:
    # A run in a daemon goes on by itself; without a daemon (this command's Gluon, or another
    # command's) the command stays with its run until it ends.
    daemon = c.owner is not None and c.owner.daemon
    wait = a.wait or not daemon
    if not a.json:
        say(fmt.run_started(run))
        if wait and not a.wait:
            say("no Gluon daemon is running, so this command stays with the run until it "
                "ends (start `gluon serve` to run agents in the background)")
    if not wait:
        if a.json:
            print(json.dumps(run, indent=2, sort_keys=True))
        return 0
    try:
        code = await follow(c, run["id"], answer=True, quiet=a.json, live=True)
    except (KeyboardInterrupt, asyncio.CancelledError):
        if daemon:
            say(f"\ndetached; run {run['id']} goes on (gluon logs -f {run['id']})")
            return 0
        if not c.connected:  # stopped while taking the run over: it stays interrupted
            say(f"\nleft run {run['id']} interrupted; continue it with "
                f"`gluon resume {run['id']} \"...\"`")
            return 130
        await c.call("cancel_run", {"run": run["id"]})
        say(f"\ncancelled run {run['id']}; its work is kept, continue it with "
            f"`gluon resume {run['id']} \"...\"`")
        return 130
    if a.json:
        detail = await c.call("get_run", {"run": run["id"]})
        print(json.dumps(detail, indent=2, sort_keys=True))
    return code


@handler("run")
async def run_start(c: Session, a: argparse.Namespace) -> int:
    args: dict[str, Any] = {"project": a.project, "prompt": a.prompt, "model": a.model,
                            "worktree": not a.no_worktree, "base": a.base,
                            "budget_usd": a.budget}
    if a.loop or a.max_loops is not None or a.max_cost is not None:
        args.update(loop=a.loop, max_loops=a.max_loops, max_cost_usd=a.max_cost)
    estimate = await c.call("estimate_run_cost", {"project": a.project})
    run = await c.call("start_run", args)
    if estimate["estimate"] and not a.json:
        say(f"this run will likely cost: {estimate['text']}")
    return await _after_start(c, a, run)


@handler("loop status")
async def loop_status(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("get_loop_status", {"run": a.run})
    out(a, data, fmt.loop_status(data))
    return 0
@handler("formula run")
async def formula_run(c: Session, a: argparse.Namespace) -> int:
    run = await c.call("run_formula", {"name": a.name, "project": a.project,
                                       "vars": formula_commands.variables(a.var),
                                       "model": a.model})
    return await _after_start(c, a, run)


@handler("resume")
async def run_resume(c: Session, a: argparse.Namespace) -> int:
    run = await c.call("resume_run", {"run": a.run, "message": a.message})
    return await _after_start(c, a, run)


@handler("recover")
async def run_recover(c: Session, a: argparse.Namespace) -> int:
    run = await c.call("recover_run", {"run": a.run})
    return await _after_start(c, a, run)


@handler("fork")
async def run_fork(c: Session, a: argparse.Namespace) -> int:
    run = await c.call("fork_run", {"run": a.run, "message": a.message, "model": a.model,
                                    "budget_usd": a.budget})
    return await _after_start(c, a, run)


@handler("runs")
async def runs_list(c: Session, a: argparse.Namespace) -> int:
    args: dict[str, Any] = {"project": a.project, "state": a.state or None,
                            "limit": min(a.limit, 500)}
    data = await c.call("list_runs", args)
    while a.all and data.get("next_cursor"):
        page = await c.call("list_runs", {**args, "cursor": data["next_cursor"]})
        data = {"runs": data["runs"] + page["runs"], "next_cursor": page.get("next_cursor")}
    out(a, data, fmt.runs(data))
    return 0


@handler("show")
async def run_show(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("get_run", {"run": a.run})
    out(a, data, fmt.run_detail(data))
    return 0


@handler("gates")
async def run_gates(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("get_gate_results", {"run": a.run})
    out(a, data, fmt.gate_results(data, verbose=a.verbose))
    return 0


@handler("logs")
async def run_logs(c: Session, a: argparse.Namespace) -> int:
    if a.follow:
        try:
            return await follow(c, a.run, answer=False)
        except KeyboardInterrupt:
            return 0
    data = await c.call("get_run_logs", {"run": a.run, "limit": a.lines})
    out(a, data, "\n".join(fmt.event(e) for e in data["events"]) or "no events yet")
    return 0


@handler("events")
async def events(c: Session, a: argparse.Namespace) -> int:
    args: dict[str, Any] = {"run_id": a.run, "limit": max(1, min(a.limit, 500))}
    if a.after is not None:
        args["after"] = a.after
    data = await c.call("list_events", args)
    if not a.follow:
        out(a, data, "\n".join(fmt.logged_event(e) for e in data["events"]) or "no events yet")
        return 0
    daemon = c.owner is not None and c.owner.daemon
    try:
        while True:
            for e in data["events"]:
                if a.json:
                    print(json.dumps(e, sort_keys=True), flush=True)
                else:
                    say(fmt.logged_event(e))
            if not daemon:  # nothing else would happen while this command holds Gluon
                say("no Gluon daemon is running, so nothing more will happen; start "
                    "`gluon serve` to follow events as they come", err=True)
                return 0
            data = await c.call("list_events", {**args, "after": data["next_cursor"],
                                                "wait_seconds": 30})
    except KeyboardInterrupt:
        return 0


@handler("steer")
async def run_steer(c: Session, a: argparse.Namespace) -> int:
    run = await c.call("steer_run", {"run": a.run, "message": a.message})
    out(a, run, f"sent to run {run['id']} ({run['state']})")
    return 0


@handler("interrupt")
async def run_interrupt(c: Session, a: argparse.Namespace) -> int:
    run = await c.call("interrupt_run", {"run": a.run})
    out(a, run, f"interrupting run {run['id']}; steer it to continue")
    return 0


@handler("cancel")
async def run_cancel(c: Session, a: argparse.Namespace) -> int:
    confirm(a, f"Cancel run {a.run}?")
    run = await c.call("cancel_run", {"run": a.run})
    out(a, run, f"run {run['id']} {run['state']}: {run['state_reason']}")
    return 0


@handler("answer")
async def answer(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("answer_pending", {"id": a.id, "choice": a.choice})
    out(a, data, f"answered {data['kind']} {data['id']}: {data['answer']}")
    if not c.remote:
        # The answer may have resumed a stopped run; without a daemon it lives in this process.
        detail = await c.call("get_run", {"run": data["run_id"]})
        if detail["live"]:
            say(f"run {data['run_id']} continues here until it ends (start `gluon serve` "
                "to run agents in the background)")
            return await follow(c, data["run_id"], answer=True, quiet=a.json, live=True)
    return 0


@handler("pending")
async def pending(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("list_pending", {"run": a.run})
    out(a, data, "\n".join(fmt.pending_line(p) for p in data["pending"])
        or "nothing is waiting for an answer")
    return 0


@handler("attention")
async def attention(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("list_attention", {"project": a.project})
    rows = [[fmt.ago(i["since"]), i["kind"], i["project"] or "-", fmt.one_line(i["text"], 70),
             i["action"]] for i in data["items"]]
    out(a, data, fmt.table(rows, ["since", "what", "project", "", "do"])
        if rows else "nothing needs you")
    return 0


@handler("diff")
async def run_diff(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("get_run_diff", {"run": a.run, "path": a.path})
    out(a, data, data["diff"].rstrip() or "no changes")
    return 0


@handler("close")
async def run_close(c: Session, a: argparse.Namespace) -> int:
    what = " and delete its branch" if a.delete_branch else ""
    confirm(a, f"Close run {a.run}{what} without merging?")
    run = await c.call("archive_run", {"run": a.run, "delete_branch": a.delete_branch})
    out(a, run, f"run {run['id']} closed")
    return 0


@handler("cleanup")
async def cleanup(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("cleanup", {"older_than_days": a.older_than})
    out(a, data, f"removed {len(data['run_ids'])} worktrees")
    return 0


@handler("usage")
async def usage(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("get_usage", {"days": a.days})
    out(a, data, fmt.usage(data))
    return 0


@handler("activity")
async def activity(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("get_activity", {"limit": a.limit, "actor": a.actor,
                                         "action_prefix": a.prefix})
    rows = [[fmt.ago(e["at"]), e["actor"], e["action"], fmt.one_line(e["target"], 40),
             fmt.one_line(e["outcome"], 40), e["detail"][:30]] for e in data["entries"]]
    out(a, data, fmt.table(rows, ["when", "who", "what", "target", "outcome", "where"])
        if rows else "nothing recorded yet")
    return 0


@handler("pair")
async def pair(c: Session, a: argparse.Namespace) -> int:
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


@handler("web-link")
async def web_link(c: Session, a: argparse.Namespace) -> int:
    if a.revoke is not None:
        which = f"session {a.revoke}" if a.revoke else "all your browsers"
        confirm(a, f"Sign {which} out of the status page?")
        data = await c.call("revoke_web_sessions", {"session_id": a.revoke})
        out(a, data, f"signed {data['actor']} out of {data['ended']} session(s)")
        return 0
    if a.list:
        data = await c.call("list_web_sessions", {"everyone": True})
        rows = [[s["id"], s["actor"], fmt.one_line(s["name"], 20), s["role"],
                 fmt.ago(s["created_at"]), fmt.ago(s["seen_at"])] for s in data["sessions"]]
        out(a, data, fmt.table(rows, ["session", "who", "name", "role", "signed in",
                                      "last seen"])
            if rows else "nobody is signed in to the status page; `gluon web-link` makes a "
                         "sign-in link")
        return 0
    link = await c.call("create_web_link")
    out(a, link, f"{link['url']}\n{link['note']}")
    return 0


HANDLERS["hooks list"] = hook_commands.hooks_list
HANDLERS["hooks deliveries"] = hook_commands.hooks_deliveries
HANDLERS["github status"] = hook_commands.github_status
HANDLERS.update(WORK_HANDLERS)
HANDLERS.update(merge_commands.HANDLERS)
HANDLERS.update(formula_commands.HANDLERS)
HANDLERS.update(file_commands.HANDLERS)
HANDLERS.update(project_commands.HANDLERS)


async def _dispatch(args: argparse.Namespace) -> int:
    async with session() as client:
        try:
            return await HANDLERS[command_name(args)](client, args)
        except ToolFailed as exc:  # inside: the MCP client would wrap it in a task group error
            say(f"gluon: {exc}", err=True)
            return 1
        except BrokenPipeError:
            return reader_gone()


def doctor(config: Config, args: argparse.Namespace) -> int:
    from bots.cli.doctor import run_checks

    checks = run_checks(config)
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for c in checks:
            say(f"{c.status:4}  {c.name:12} {c.detail}")
    return 1 if any(c.status == "fail" for c in checks) else 0


def main(argv: list[str] | None = None) -> int:
    tolerant_streams()
    try:
        argv = sys.argv[1:] if argv is None else argv
        check_arguments(argv)
        args = parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.command in ("serve", "worker")
                            else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        for noisy in ("mcp", "httpx", "httpx2", "uvicorn"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        if args.command in ("doctor", "serve", "chat", "mcp", "voice", "worker"):
            return _run_gluon(args)
        read_inputs(args)
        return asyncio.run(_dispatch(args))
    except (ToolFailed, GluonError) as exc:
        say(f"gluon: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return reader_gone()
    except Exception as exc:
        return unexpected(exc)


def _run_gluon(args: argparse.Namespace) -> int:
    """The commands that run Gluon itself (or check it): they need the whole configuration."""
    from core.config import load_config

    config = load_config()
    if args.command == "doctor":
        return doctor(config, args)
    if args.command == "voice":
        from bots.cli.voice_commands import voice_test

        return voice_test(config, args)
    if args.command == "serve":
        from bots.daemon import serve

        return asyncio.run(serve(config))
    if args.command == "worker":
        from bots.worker import work

        return asyncio.run(work(config, args.name))
    if args.command == "chat":
        from bots.chat.console import chat

        return asyncio.run(chat(config))
    if args.action == "token":
        from mcp_tools.http import server_token

        print(server_token(config))
        return 0
    from bots.cli.mcp_stdio import serve_stdio

    return asyncio.run(serve_stdio(config))


if __name__ == "__main__":
    sys.exit(main())
