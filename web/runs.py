"""A run's page at ``/runs/<id>``, and its live log at ``/runs/<id>/events``.

The page shows the run's state and health, cost and turns, what it waits for, its actions,
its autonomous loop (if it is one), its quality gates' outcomes, its log, commits, changed
files and diff, and the transitions with their reasons. The stream sends the log's events after
the page's last one (``Last-Event-ID``, else ``?after=``), each with its id, as they are
recorded; the run's head and its open requests again whenever they change; and the run's
durable events, for the page's script to announce.

An id that matches no run answers 404 with the recent runs whose ids are close to it.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from core.errors import Ambiguous, GluonError, NotFound
from core.events.bus import SubagentsChanged, TurnFinished
from core.formulas import FormulaProgress
from core.models import Run
from core.runs.health import assess
from core.runs.store import RunEvent
from core.runtime import Runtime
from web.acting import RUN_ACTIONS
from web.board import PING_SECONDS, SEND_TIMEOUT
from web.feed import event_json
from web.guard import SessionCheck
from web.runlog import RESULTS, LogItem, fold
from web.views import fragment, private_page

LOG_SHOWN = 500  # events on the page when it opens (the newest)
BATCH = 200
MAX_DIFF = 300_000  # characters of diff shown
RECHECK_SECONDS = 15.0  # a live run's log is read again after this long without a bus event
CLOSE_MATCHES = 5


async def diff_of(runtime: Runtime, run: Run) -> tuple[str, str]:
    """The run's diff against where it started (cut at ``MAX_DIFF``), or why there is none."""
    try:
        diff = await runtime.review.diff(run.id)
    except GluonError as exc:
        return "", f"No diff: {exc}"
    if len(diff) > MAX_DIFF:
        return diff[:MAX_DIFF], f"The diff is cut at {MAX_DIFF:,} characters."
    return diff, "" if diff.strip() else "No changes yet."


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """Each line of a unified diff with its class: file, hunk, add, del or ''."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("diff --git", "+++", "---", "index ")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = ""
        out.append((kind, line))
    return out


def head_context(run: Run, formula: FormulaProgress | None = None,
                 verdict: tuple[str, str] | None = None) -> dict[str, Any]:
    """The run page's head; ``verdict``: the witness's, when it watches the run (its reason
    is the page's health line)."""
    return {"run": run, "health": assess(run, time.time(), verdict=verdict), "formula": formula,
            "actions": [a for a in RUN_ACTIONS if a.shown(run)]}


def routes(runtime: Runtime) -> list[Route]:
    async def run_page(request: Request) -> Response:
        wanted = request.path_params["run_id"]
        found = await find_run(request, runtime, wanted)
        if not isinstance(found, Run):
            return found
        if found.id != wanted:
            return RedirectResponse(f"/runs/{found.id}", 307)
        events = await runtime.runs.logs(found.id, 0, LOG_SHOWN)
        diff, diff_note = await diff_of(runtime, found)
        return private_page(
            request, "run.html", **head_context(found, await runtime.formulas.progress(found.id),
                                             runtime.witness.signal(found.id)),
            pending=await runtime.runs.interactions.pending(found.id),
            log=fold(events), last_event=events[-1].id if events else 0,
            cut=len(events) == LOG_SHOWN,
            transitions=await runtime.runs.store.transitions(found.id),
            gates=await runtime.gates.summary(found.id),
            diff=diff_lines(diff), diff_note=diff_note,
            loop=await runtime.loops.status_of(found))

    async def run_events(request: Request) -> Response:
        found = await find_run(request, runtime, request.path_params["run_id"])
        if not isinstance(found, Run):
            return found
        after = 0
        for given in (request.headers.get("last-event-id"), request.query_params.get("after")):
            if given and given.isdigit():
                after = int(given)
                break
        check = SessionCheck(runtime.web, request)
        return EventSourceResponse(_run_stream(request, runtime, found, after, check),
                                   ping=PING_SECONDS, send_timeout=SEND_TIMEOUT)

    return [Route("/runs/{run_id}", run_page), Route("/runs/{run_id}/events", run_events)]


async def find_run(request: Request, runtime: Runtime, wanted: str) -> Run | Response:
    """The run of an id or unique prefix, or the 404 page naming the runs it may mean."""
    try:
        return await runtime.runs.get(wanted)
    except Ambiguous:
        matches = [r for r in await runtime.runs.find(limit=500)
                   if r.id.startswith(wanted.strip().lower())]
        return private_page(request, "not_found.html", 404, wanted=wanted, matches=matches,
                            ambiguous=True)
    except NotFound:
        return private_page(request, "not_found.html", 404, wanted=wanted,
                            matches=await close_matches(runtime, wanted), ambiguous=False)


async def close_matches(runtime: Runtime, wanted: str) -> list[Run]:
    """Recent runs whose id (or its start) is close to ``wanted``, closest first."""
    recent: dict[str, Run] = {r.id: r for r in await runtime.runs.find(limit=500)}
    key = wanted.strip().lower()
    close = difflib.get_close_matches(key, list(recent), n=CLOSE_MATCHES, cutoff=0.5)
    if len(key) < 8:  # a mistyped prefix: compare with the ids' starts as long as it
        starts = {i[:len(key)]: i for i in recent}
        close += [starts[s] for s in difflib.get_close_matches(key, list(starts),
                                                               n=CLOSE_MATCHES, cutoff=0.5)]
    return [recent[i] for i in dict.fromkeys(close)][:CLOSE_MATCHES]


async def _run_stream(request: Request, runtime: Runtime, run: Run, after: int,
                      check: SessionCheck) -> AsyncIterator[ServerSentEvent]:
    with runtime.bus.subscribe(lambda e: e.run_id == run.id, maxsize=256) as sub:
        yield await _head(request, runtime, run.id)
        last = after
        while True:
            if not await check.holds():
                return  # the browser asks again, and is told to sign in
            events = await runtime.runs.logs(run.id, last, BATCH)
            for event in events:
                yield _log_message(request, event)
                last = event.id
            if len(events) == BATCH:
                continue
            current = await runtime.runs.get(run.id)
            try:
                woke = await sub.get(timeout=RECHECK_SECONDS if current.state.is_live else None)
            except TimeoutError:
                continue
            if woke.seq is not None:
                yield ServerSentEvent(data=json.dumps(event_json(woke)), event="state")
            if woke.seq is not None or isinstance(woke, TurnFinished | SubagentsChanged):
                yield await _head(request, runtime, run.id)


async def _head(request: Request, runtime: Runtime, run_id: str) -> ServerSentEvent:
    run = await runtime.runs.get(run_id)
    pending = await runtime.runs.interactions.pending(run_id)
    formula = await runtime.formulas.progress(run_id)
    return ServerSentEvent(event="run", data=json.dumps({
        "head": fragment(request, "run_head.html",
                         **head_context(run, formula, runtime.witness.signal(run.id))),
        "pending": fragment(request, "pending.html", pending=pending, back=f"/runs/{run.id}"),
        "state": run.state}))


def _log_message(request: Request, event: RunEvent) -> ServerSentEvent:
    item = LogItem(event, waiting=event.kind == "tool")  # its result comes next
    data = {"kind": event.kind, "html": fragment(request, "log_item.html", item=item)}
    if event.kind in RESULTS:
        data["attach"] = fragment(request, "log_result.html", result=event)
    return ServerSentEvent(data=json.dumps(data), event="log", id=str(event.id))
