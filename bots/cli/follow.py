"""Following a run from the ``gluon`` command (``run --wait``, ``logs -f``): its events as they
happen, its questions asked on a terminal, until it ends.

Without a daemon the run may live in another command's Gluon; when that command ends first,
the follower takes the data dir over and resumes the run (see :mod:`bots.cli.client`).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any

from bots.cli import output as fmt
from bots.cli.client import OwnerGone, Session, ToolFailed
from bots.cli.output import say

# The reason Gluon gives a run it stopped by stopping itself (core.runs.service.STOPPED_BY_GLUON).
STOPPED_BY_GLUON = "Gluon stopped"


@dataclass
class _Progress:
    cursor: int = 0  # the last event printed
    shown: set[str] = field(default_factory=set)  # questions already shown
    was_live: bool = False  # seen running: an end by Gluon stopping is then a handover


def stopped_by_gluon(run: dict[str, Any]) -> bool:
    return run["state"] == "interrupted" and str(run["state_reason"]).startswith(
        STOPPED_BY_GLUON)


async def follow(c: Session, run_id: str, *, answer: bool, quiet: bool = False,
                 live: bool = False) -> int:
    """Print a run's events until it ends; 0 when it ends in review (or merged).

    ``answer``: ask the agent's questions here when on a terminal. ``live``: the run was just
    started or resumed by this command."""
    progress = _Progress(was_live=live)
    while True:
        try:
            return await _follow(c, run_id, progress, answer=answer, quiet=quiet)
        except OwnerGone as gone:
            if gone.owner.daemon:
                raise ToolFailed(f"{gone.owner.describe()} stopped, and run {run_id} with it; "
                                 "the daemon resumes it when it starts again (then follow it "
                                 f"with `gluon logs -f {run_id}`)") from None
            say(f"\n{gone.owner.describe()}, whose Gluon ran this run, has ended; this command "
                f"takes run {run_id} over", err=quiet)
            await c.reopen()
            detail = await c.call("get_run", {"run": run_id})
            # Stopped by its Gluon, or left live or queued by one that was killed: this
            # command's Gluon runs it now (resuming a live run first marks it interrupted).
            if stopped_by_gluon(detail["run"]) or detail["run"]["state"] in (
                    "queued", "running", "waiting"):
                await c.call("resume_run", {"run": run_id, "message": ""})


async def _follow(c: Session, run_id: str, progress: _Progress, *, answer: bool,
                  quiet: bool) -> int:
    if not c.remote:
        await c.serve()  # so `gluon answer/steer/cancel` from another shell reach this run
    while True:
        logs = await c.call("get_run_logs", {"run": run_id, "after": progress.cursor,
                                             "wait_seconds": 2})
        for e in logs["events"]:
            progress.cursor = e["id"]
            if not quiet:
                say(fmt.event(e))
        wait = await c.call("wait_for_run", {"run": run_id, "timeout_seconds": 0})
        for p in wait["pending"]:
            await _ask(c, p, progress, answer=answer, quiet=quiet)
        if not wait["done"]:
            progress.was_live = True
            continue
        run = wait["run"]
        if progress.was_live and c.owner is not None and stopped_by_gluon(run):
            raise OwnerGone(c.owner, "it stopped")
        if not quiet:  # --json: the caller prints the run, and only that
            rest = await c.call("get_run_logs", {"run": run_id, "after": progress.cursor})
            for e in rest["events"]:
                say(fmt.event(e))
            say(f"\nrun {run['id']} {run['state']}: {run['state_reason']}")
        return 0 if run["state"] in ("review", "merged") else 1


async def _ask(c: Session, p: dict[str, Any], progress: _Progress, *, answer: bool,
               quiet: bool) -> None:
    if p["id"] in progress.shown:
        return
    progress.shown.add(p["id"])
    say(f"\n{p['kind']} from the agent: {p['title']}", err=quiet)
    if not (answer and sys.stdin.isatty()):
        say(fmt.pending_line(p), err=quiet)
        return
    options = fmt.clean(", ".join(fmt.interaction_options(p)))
    choice = (await asyncio.to_thread(input, f"answer ({options}): ")).strip()
    try:
        await c.call("answer_pending", {"id": p["id"], "choice": choice})
    except OwnerGone:
        raise
    except ToolFailed as exc:
        say(f"gluon: {exc}", err=True)
        progress.shown.discard(p["id"])
