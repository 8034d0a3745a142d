"""``gluon queue ...``: the work queue from the command line, thin wrappers over its tools."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from bots.cli import output as fmt
from bots.cli.client import Session
from bots.cli.output import say
from bots.cli.streams import confirm

Handler = Callable[[Session, argparse.Namespace], Awaitable[int]]
HANDLERS: dict[str, Handler] = {}
AddCommand = Callable[..., argparse.ArgumentParser]

START_HELP = ("earliest start: HH:MM (the next one), 'mon 09:00', 2030-01-07T09:00 (local "
              "time), +30m or +2h")


def add_commands(sub: Any, cmd: AddCommand) -> None:
    """The ``queue`` command and its actions, on the ``gluon`` parser's subcommands."""
    queue = sub.add_parser("queue", help="queued runs: add, list, cancel, move")
    qsub = queue.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = cmd("add", "queue a run: it starts when limits and budgets let it", qsub)
    x.add_argument("project")
    x.add_argument("prompt", help="the task; `-` reads it from standard input")
    x.add_argument("--priority", type=int, default=0,
                   help="-100 to 100, higher starts first (default 0)")
    x.add_argument("--at", metavar="TIME", help=START_HELP)
    x.add_argument("--model", help="opus, sonnet, haiku (any case) or a full model id")
    x.add_argument("--base", help="branch to start from (default: the current branch, as it "
                   "is when the run starts)")
    x.add_argument("--budget", type=float, help="spend limit for this run, in USD")
    x.add_argument("--key", help="names the request: adding the same key again adds nothing")
    x = cmd("list", "queued runs in the order they start, and why each waits", qsub)
    x.add_argument("--project")
    x.add_argument("--limit", type=int, default=50)
    x = cmd("cancel", "take a queued run out of the queue", qsub)
    x.add_argument("run")
    x.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    x = cmd("move", "give a queued run another priority (it goes behind the runs there)", qsub)
    x.add_argument("run")
    x.add_argument("priority", type=int, help="-100 to 100; 100 puts it first")


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


def out(args: argparse.Namespace, data: dict[str, Any], human: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        say(human)


def queue_table(data: dict[str, Any]) -> str:
    rows = [[str(i["position"]), i["id"], i["project"], str(i["priority"]),
             fmt.one_line(i["why"], 48), f"{i['requested_by']} ({i['source']})",
             fmt.one_line(i["prompt"], 40)] for i in data["items"]]
    return (fmt.table(rows, ["#", "RUN", "PROJECT", "PRIO", "WHY", "BY", "PROMPT"])
            or "nothing is queued")


@handler("queue add")
async def queue_add(c: Session, a: argparse.Namespace) -> int:
    run = await c.call("queue_work", {
        "project": a.project, "prompt": a.prompt, "priority": a.priority, "start_at": a.at,
        "model": a.model, "base": a.base, "budget_usd": a.budget, "key": a.key})
    when = f", not before {fmt.clock(run['not_before'])}" if run["not_before"] else ""
    out(a, run, f"queued run {run['id']} on {run['project']} (priority {run['priority']}"
                f"{when}): {run['state_reason']}")
    if not a.json and not (c.owner is not None and c.owner.daemon):
        say("no Gluon daemon is running: the run waits in the queue until `gluon serve` "
            "starts")
    return 0


@handler("queue list")
async def queue_list(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("list_queue", {"project": a.project, "limit": max(1, min(a.limit, 500))})
    out(a, data, queue_table(data))
    return 0


@handler("queue cancel")
async def queue_cancel(c: Session, a: argparse.Namespace) -> int:
    confirm(a, f"Take run {a.run} out of the queue?")
    run = await c.call("cancel_queued", {"run": a.run})
    out(a, run, f"run {run['id']} {run['state']}: {run['state_reason']}")
    return 0


@handler("queue move")
async def queue_move(c: Session, a: argparse.Namespace) -> int:
    run = await c.call("reprioritize_queued", {"run": a.run, "priority": a.priority})
    out(a, run, f"run {run['id']} now has priority {run['priority']}")
    return 0

