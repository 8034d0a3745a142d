"""``gluon queue ...`` and ``gluon schedule ...``: the work queue and the schedules from the
command line, thin wrappers over their tools."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from bots.cli import output as fmt
from bots.cli.client import Session
from bots.cli.output import out, say
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


def add_schedule_commands(sub: Any, cmd: AddCommand) -> None:
    """The ``schedule`` command and its actions."""
    schedule = sub.add_parser("schedule", help="prompts run on a cron schedule: add, list, "
                              "pause, resume, remove")
    ssub = schedule.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = cmd("add", "run a prompt on a project at the times a cron expression names", ssub)
    x.add_argument("project")
    x.add_argument("cron", help="5 fields: minute hour day-of-month month day-of-week, e.g. "
                   "'0 7 * * mon-fri'; or @hourly, @daily, @weekly, @monthly")
    x.add_argument("prompt", help="the task each run does; `-` reads it from standard input")
    x.add_argument("--tz", help="IANA time zone of the times (default: this machine's)")
    x.add_argument("--overlap", choices=["skip", "queue", "parallel"], default="skip",
                   help="while the previous run is live: skip (default), queue, or parallel")
    x.add_argument("--model", help="opus, sonnet, haiku (any case) or a full model id")
    x.add_argument("--priority", type=int, default=0, help="-100 to 100 (default 0)")
    x = cmd("list", "schedules with their next fire times", ssub)
    x.add_argument("--project")
    for action, text in (("pause", "stop a schedule from firing until resumed"),
                         ("resume", "let a paused schedule fire again"),
                         ("remove", "delete a schedule (its runs are kept)")):
        x = cmd(action, text, ssub)
        x.add_argument("schedule", help="schedule id or a unique prefix")
        if action == "remove":
            x.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


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



def schedule_table(data: dict[str, Any]) -> str:
    rows = [[x["id"], x["project"], x["cron"], x["tz"], x["overlap"],
             "paused" if x["paused"] else ", ".join(fmt.clock(t) for t in x["next_fires"][:2]),
             fmt.one_line(x["last_result"] or "-", 30), fmt.one_line(x["prompt"], 40)]
            for x in data["schedules"]]
    return (fmt.table(rows, ["ID", "PROJECT", "CRON", "TZ", "OVERLAP", "NEXT", "LAST",
                             "PROMPT"])
            or "no schedules: add one with `gluon schedule add PROJECT CRON PROMPT`")


def schedule_line(x: dict[str, Any]) -> str:
    when = "paused" if x["paused"] else "next " + ", ".join(fmt.clock(t)
                                                             for t in x["next_fires"])
    return f"schedule {x['id']} on {x['project']}: `{x['cron']}` ({x['tz']}), {when}"


@handler("schedule add")
async def schedule_add(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("add_schedule", {
        "project": a.project, "cron": a.cron, "prompt": a.prompt, "tz": a.tz,
        "overlap": a.overlap, "model": a.model, "priority": a.priority})
    out(a, data, schedule_line(data))
    if not a.json and not (c.owner is not None and c.owner.daemon):
        say("no Gluon daemon is running: schedules fire while `gluon serve` runs")
    return 0


@handler("schedule list")
async def schedule_list(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("list_schedules", {"project": a.project})
    out(a, data, schedule_table(data))
    return 0


@handler("schedule pause")
async def schedule_pause(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("pause_schedule", {"schedule": a.schedule})
    out(a, data, schedule_line(data))
    return 0


@handler("schedule resume")
async def schedule_resume(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("resume_schedule", {"schedule": a.schedule})
    out(a, data, schedule_line(data))
    return 0


@handler("schedule remove")
async def schedule_remove(c: Session, a: argparse.Namespace) -> int:
    confirm(a, f"Delete schedule {a.schedule}?")
    data = await c.call("remove_schedule", {"schedule": a.schedule})
    out(a, data, f"removed schedule {data['id']}; the runs it started are kept")
    return 0
