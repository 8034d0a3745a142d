"""``gluon merge ...``: the merge queue from the command line (add, list, retry, cancel), and
``gluon merge RUN`` (``merge now``), which merges one run at once without the queue. Thin
wrappers over the merge tools."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from bots.cli import output as fmt
from bots.cli.client import OwnerGone, Session, ToolFailed
from bots.cli.output import say
from bots.cli.streams import confirm

Handler = Callable[[Session, argparse.Namespace], Awaitable[int]]
HANDLERS: dict[str, Handler] = {}

ACTIONS = ("add", "list", "retry", "cancel", "now")
ENDED = ("merged", "failed", "cancelled")
CLEANUP_WAITS = 60  # seconds, at most, for a merged entry's branch and worktree to go
WAIT_SECONDS = 30  # one wait for new events; then the entries themselves are looked at
NO_DAEMON = ("no Gluon daemon is running, so this command stays until its entries are merged "
             "or fail (start `gluon serve` to merge in the background)")
ALWAYS_WAITS = ("Without a Gluon daemon (`gluon serve`) nothing else would work on the queue "
                "once the command ends, so it then always waits.")


def add_commands(sub: Any) -> None:
    """The ``merge`` command and its actions, on the ``gluon`` parser's subcommands."""
    merge = sub.add_parser(
        "merge", help="the merge queue: add, list, retry, cancel (`gluon merge RUN` merges "
        "one run at once)", description="The merge queue merges finished runs one at a time "
        "per base branch: each is rebased onto the base, checked (its pull request's checks "
        "on GitHub, else the project's tests) and merged only when they pass. `gluon merge "
        "RUN` is `gluon merge now RUN`: one run merged at once, without rebasing or checks.")
    msub = merge.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help: str, description: str = "") -> argparse.ArgumentParser:
        x: argparse.ArgumentParser = msub.add_parser(
            name, help=help, description=f"{help[0].upper()}{help[1:]}. {description}".strip())
        x.add_argument("--json", action="store_true", help="print JSON")
        return x

    x = action("add", "queue finished runs for merging", "With --project, every finished run "
               "(in review) of the project not queued yet, oldest first. " + ALWAYS_WAITS)
    x.add_argument("runs", nargs="*", metavar="RUN", help="run id or a unique prefix")
    x.add_argument("--project", help="queue every finished run of this project")
    x.add_argument("--wait", action="store_true",
                   help="stay until the entries are merged or fail, printing each step (exit "
                   "status 1 when one is not merged)")
    x.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    x = action("list", "the merge queue, in line order")
    x.add_argument("--project")
    x.add_argument("--all", action="store_true",
                   help="also the entries that ended (merged, failed, cancelled)")
    x = action("retry", "put a failed entry back at the end of its line", ALWAYS_WAITS)
    x.add_argument("entry", help="entry id (or a unique prefix), or a run id")
    x.add_argument("--wait", action="store_true", help="stay until it is merged or fails")
    x = action("cancel", "take an entry out of the merge queue (its run stays in review)")
    x.add_argument("entry", help="entry id (or a unique prefix), or a run id")
    x.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    x = action("now", "merge a finished run's branch into its base branch at once, without "
               "the queue's rebase and checks")
    x.add_argument("run")
    x.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def normalize(argv: list[str]) -> list[str]:
    """``gluon merge RUN ...`` is ``gluon merge now RUN ...``."""
    if len(argv) >= 2 and argv[0] == "merge" and argv[1] not in ACTIONS \
            and not argv[1].startswith("-"):
        return ["merge", "now", *argv[1:]]
    return argv


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


def _daemon(c: Session) -> bool:
    return c.owner is not None and c.owner.daemon


def entry_line(e: dict[str, Any]) -> str:
    where = f"position {e['position']}, " if e["position"] else ""
    pr = f", {e['pull_request_url'] or '#' + str(e['pull_request'])}" \
        if e["pull_request"] else ""
    return (f"entry {e['id']}: run {e['run_id']} into {e['base']} ({where}{e['state']}{pr}): "
            f"{fmt.one_line(e['reason'], 200)}")


def queue_table(entries: list[dict[str, Any]]) -> str:
    rows = [[str(e["position"] or "-"), e["id"], e["run_id"], e["project"], e["base"],
             e["state"], f"#{e['pull_request']}" if e["pull_request"] else "",
             fmt.one_line(e["reason"], 60)] for e in entries]
    return (fmt.table(rows, ["#", "ENTRY", "RUN", "PROJECT", "BASE", "STATE", "PR", "REASON"])
            or "the merge queue is empty")


@handler("merge add")
async def merge_add(c: Session, a: argparse.Namespace) -> int:
    if not a.runs and not a.project:
        raise ToolFailed("say what to merge: `gluon merge add RUN [RUN...]`, or "
                         "`gluon merge add --project NAME` for all its finished runs")
    what = f"run(s) {', '.join(a.runs)}" if a.runs else f"every finished run of {a.project}"
    confirm(a, f"Queue {what} for merging into their base branch?")
    cursor = (await c.call("list_events", {"limit": 1}))["next_cursor"]
    data = await c.call("enqueue_merge", {"runs": a.runs or None, "project": a.project})
    wait = a.wait or not _daemon(c)
    if not a.json:
        for e in data["entries"]:
            say(f"queued {entry_line(e)}")
        for s in data["skipped"]:
            say(f"skipped run {s['run_id']}: {s['reason']}")
        if wait and not a.wait:
            say(NO_DAEMON)
    if not wait:
        if a.json:
            print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    entries = await follow_entries(c, data["entries"], cursor, quiet=a.json)
    if a.json:
        print(json.dumps({"entries": entries, "skipped": data["skipped"]}, indent=2,
                         sort_keys=True))
    return 0 if all(e["state"] == "merged" for e in entries) else 1


@handler("merge list")
async def merge_list(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("list_merge_queue", {"project": a.project, "include_ended": a.all})
    if a.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        say(queue_table(data["entries"]))
    return 0


@handler("merge retry")
async def merge_retry(c: Session, a: argparse.Namespace) -> int:
    cursor = (await c.call("list_events", {"limit": 1}))["next_cursor"]
    entry = await c.call("retry_merge", {"entry": a.entry})
    wait = a.wait or not _daemon(c)
    if not a.json:
        say(f"retrying {entry_line(entry)}")
        if wait and not a.wait:
            say(NO_DAEMON)
    if not wait:
        if a.json:
            print(json.dumps(entry, indent=2, sort_keys=True))
        return 0
    [entry] = await follow_entries(c, [entry], cursor, quiet=a.json)
    if a.json:
        print(json.dumps(entry, indent=2, sort_keys=True))
    return 0 if entry["state"] == "merged" else 1


@handler("merge cancel")
async def merge_cancel(c: Session, a: argparse.Namespace) -> int:
    confirm(a, f"Take merge entry {a.entry} out of the merge queue?")
    entry = await c.call("cancel_merge", {"entry": a.entry})
    if a.json:
        print(json.dumps(entry, indent=2, sort_keys=True))
    else:
        say(f"cancelled {entry_line(entry)}")
    return 0


@handler("merge now")
async def merge_now(c: Session, a: argparse.Namespace) -> int:
    confirm(a, f"Merge run {a.run} into its base branch?")
    data = await c.call("merge_run", {"run": a.run})
    if a.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    elif data["merged"]:
        say(data["message"])
    else:
        say(f"gluon: {data['message']}", err=True)
    return 0 if data["merged"] else 1


async def follow_entries(c: Session, entries: list[dict[str, Any]], cursor: int, *,
                         quiet: bool) -> list[dict[str, Any]]:
    """Print each step of ``entries`` (from the durable event log, after ``cursor``) until
    they have all ended; the entries as they ended. ``quiet``: print nothing."""
    if not c.remote:
        await c.serve()  # so `gluon merge list/cancel` from another shell reach this Gluon
    latest = {e["id"]: e for e in entries}
    shown = {e["id"]: e["state"] for e in entries}  # the step each was last shown at
    try:
        while any(e["state"] not in ENDED for e in latest.values()):
            page = await c.call("list_events", {"after": cursor, "limit": 500,
                                                "wait_seconds": WAIT_SECONDS})
            cursor = page["next_cursor"]
            steps = [e for e in page["events"] if e["kind"] == "MergeStep"
                     and e["data"].get("entry_id") in latest]
            for step in steps:
                d = step["data"]
                if not quiet and shown[d["entry_id"]] != d["state"]:
                    shown[d["entry_id"]] = d["state"]
                    say(f"entry {d['entry_id']} (run {step['run_id']}) {d['state']}: "
                        f"{fmt.one_line(str(d['reason']), 200)}")
            if steps or not page["events"]:
                # Read the entries themselves: the steps say what changed, the entries are
                # where they stand (and an entry whose steps were missed is not waited on).
                await _refresh(c, latest)
    except (KeyboardInterrupt, asyncio.CancelledError):
        left = ", ".join(i for i, e in latest.items() if e["state"] not in ENDED)
        where = "the daemon goes on with" if _daemon(c) else \
            "`gluon serve` goes on with them when it starts; until then nothing works on"
        say(f"\nstopped waiting; {where} entries {left} (see `gluon merge list`)", err=True)
        raise
    except OwnerGone as gone:
        raise ToolFailed(f"{gone.owner.describe()} stopped while merging; the entries stay "
                         "queued and go on when `gluon serve` starts (see `gluon merge "
                         "list`)") from None
    if not _daemon(c):
        await _cleaned(c, latest, cursor)
    ended = list(latest.values())
    if not quiet:
        merged = sum(e["state"] == "merged" for e in ended)
        say(f"\n{merged} of {len(ended)} merged")
        for e in ended:
            if e["state"] != "merged":
                say(f"not merged: {entry_line(e)}", err=True)
    return ended


async def _cleaned(c: Session, latest: dict[str, dict[str, Any]], cursor: int) -> None:
    """Without a daemon, this command's Gluon ends with it: stay while the merged entries'
    branches and worktrees are removed (their last step, right after the merge)."""
    for _ in range(CLEANUP_WAITS):
        if all(e["cleaned"] for e in latest.values() if e["state"] == "merged"):
            return
        cursor = (await c.call("list_events", {"after": cursor, "limit": 500,
                                               "wait_seconds": 1}))["next_cursor"]
        await _refresh(c, latest)


async def _refresh(c: Session, latest: dict[str, dict[str, Any]]) -> None:
    projects = {e["project"] for e in latest.values()}
    for project in projects:
        data = await c.call("list_merge_queue", {"project": project, "include_ended": True})
        for e in data["entries"]:
            if e["id"] in latest:
                latest[e["id"]] = e
