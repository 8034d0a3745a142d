"""The board at ``/``: every run in its column, what needs a person, and the panels, kept up
to date through Server-Sent Events at ``/events``.

Columns: queued, running, waiting for a person, review, and done (failed, cancelled,
interrupted, merged and closed runs, the most recent ``DONE_SHOWN``). ``?project=`` and
``?person=`` (who started the run) filter the board. The stream sends every event of the
durable log after the page's cursor (``Last-Event-ID``, else ``?after=``), each with its seq as
its id, and with the last of a batch the new HTML of what the batch changed: the cards of its
runs and the panels that follow its kinds of event.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import NotFound
from core.events.bus import Event
from core.models import Run
from core.runtime import Runtime
from core.types import RunState
from web.feed import Feed, event_json
from web.guard import SessionCheck, signed_in
from web.panels import PANELS as PANELS
from web.panels.base import Panel, View
from web.render import render
from web.views import private_page, shared_fragment

COLUMNS: list[tuple[str, str, frozenset[RunState]]] = [
    ("queued", "Queued", frozenset({RunState.QUEUED})),
    ("running", "Running", frozenset({RunState.RUNNING})),
    ("waiting", "Waiting for a person", frozenset({RunState.WAITING})),
    ("review", "Review", frozenset({RunState.REVIEW})),
    ("done", "Done", frozenset({RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED,
                                RunState.MERGED, RunState.CLOSED})),
]
SHOWN = 30  # cards of a column, the newest (a filter narrows the board to the rest)
DONE_SHOWN = 20
PING_SECONDS = 15
SEND_TIMEOUT = 30  # a page that takes no data for this long is dropped

log = logging.getLogger(__name__)


def column_of(state: RunState) -> str:
    return next(name for name, _, states in COLUMNS if state in states)


def view_of(request: Request, runtime: Runtime) -> View:
    project = request.query_params.get("project") or None
    person = request.query_params.get("person") or None
    return View(runtime, project, person)


async def cards(view: View) -> dict[str, tuple[list[Run], bool]]:
    """The runs of each column, newest first, and whether there are more than shown."""
    found: dict[str, tuple[list[Run], bool]] = {}
    for name, _, states in COLUMNS:
        shown = DONE_SHOWN if name == "done" else SHOWN
        runs = await view.runtime.runs.find(view.project, sorted(states), limit=shown * 5)
        matching = [r for r in runs if view.shows(r)]
        found[name] = matching[:shown], len(matching) > shown or len(runs) == shown * 5
    return found


def board_path(view: View) -> str:
    """The board's address with these filters."""
    query = urlencode(_filters(view))
    return f"/?{query}" if query else "/"


def routes(runtime: Runtime, feed: Feed) -> list[Route]:
    async def board(request: Request) -> Response:
        view = view_of(request, runtime)
        seq = feed.last  # read first: whatever happens while the page loads comes live
        said = ""
        try:
            columns = await cards(view)
        except NotFound as exc:
            columns, said = {name: ([], False) for name, _, _ in COLUMNS}, str(exc)
        panels = [(panel, await _panel_html(request, panel, view)) for panel in PANELS
                  if panel.shown_by(runtime)]
        formulas = await runtime.formulas.labels(
            [r.id for runs, _ in columns.values() for r in runs])
        recent = await runtime.runs.find(limit=500)
        people = sorted({r.created_by for r in recent})
        projects = [p.name for p in await runtime.projects.all()]
        return private_page(
            request, "board.html",
            columns=[(n, t, *columns[n]) for n, t, _ in COLUMNS], done_shown=DONE_SHOWN,
            panels=panels, seq=seq, view=view, people=people, projects=projects,
            formulas=formulas,
            signals=runtime.witness.signals([r.id for runs, _ in columns.values() for r in runs]),
            said=said, back=board_path(view),
            stream=f"/events?{urlencode({'after': seq, **_filters(view)})}")

    async def events(request: Request) -> Response:
        view = view_of(request, runtime)
        cursor = _cursor(request, feed.last)
        check = SessionCheck(runtime.web, request)
        return EventSourceResponse(_board_stream(runtime, feed, view, cursor, check),
                                   ping=PING_SECONDS, send_timeout=SEND_TIMEOUT)

    return [Route("/", board), Route("/events", events)]


def _filters(view: View) -> dict[str, str]:
    return {k: v for k, v in (("project", view.project), ("person", view.person)) if v}


def _cursor(request: Request, default: int) -> int:
    for given in (request.headers.get("last-event-id"), request.query_params.get("after")):
        if given and given.isdigit():
            return int(given)
    return default


async def _board_stream(runtime: Runtime, feed: Feed, view: View, seq: int,
                        check: SessionCheck) -> AsyncIterator[ServerSentEvent]:
    shown: dict[str, str] = {}  # each panel as this page last got it: only changes are sent
    while True:
        events = await feed.wait(seq)
        if events is None:  # further behind than the feed remembers: start afresh
            yield ServerSentEvent(data="{}", event="reload")
            return
        if not await check.holds():
            return  # the browser asks again, and is told to sign in
        key = ("patch", events[0].seq, events[-1].seq, view.project, view.person)
        patch = await feed.shared(key, functools.partial(_patch, runtime, feed, view, events))
        changed = {k: html for k, html in patch["panels"].items() if shown.get(k) != html}
        shown.update(changed)
        for n, event in enumerate(events):
            message: dict[str, Any] = {"event": event_json(event)}
            if n == len(events) - 1:
                message["patch"] = {**patch, "panels": changed}
            yield ServerSentEvent(data=json.dumps(message), id=str(event.seq))
        seq = events[-1].seq or seq


async def _patch(runtime: Runtime, feed: Feed, view: View,
                 events: list[Event]) -> dict[str, Any]:
    """The HTML of what ``events`` changed on a board with these filters: its runs' cards (a
    card whose ``column`` is null goes away) and the panels that follow these kinds of event.
    Made once for every board at the same point with the same filters; the page's script
    fills in the forms' CSRF token."""
    found: list[dict[str, Any]] = []
    for run_id in dict.fromkeys(e.run_id for e in events):
        run = await feed.shared(("run", run_id), functools.partial(_run_or_none, runtime, run_id))
        if run is None or not view.shows(run):
            found.append({"id": run_id, "column": None, "html": ""})
        else:
            formulas = await runtime.formulas.labels([run.id])
            found.append({"id": run_id, "column": column_of(run.state),
                          "html": shared_fragment("card.html", run=run, formulas=formulas,
                                                  signals=runtime.witness.signals([run.id]))})
    kinds = {type(e).__name__ for e in events}
    panels = {}
    for panel in PANELS:
        if kinds & panel.refresh_on and panel.shown_by(view.runtime):
            try:
                data = await feed.shared(_panel_key(panel, view),
                                         functools.partial(panel.load, view))
                panels[panel.id] = shared_fragment(panel.template, panel=panel, data=data,
                                                   back=board_path(view))
            except Exception:  # one panel's fault leaves the board and its other panels live
                log.exception("the %s panel could not be updated", panel.id)
    return {"cards": found, "panels": panels}


PANEL_FAILED = ('<h2>{title}</h2><p class="empty">This panel could not be shown; the daemon\'s '
                'log says why.</p>')


async def _panel_html(request: Request, panel: Panel, view: View) -> Markup:
    """A panel as the person sees it, or a line saying it could not be shown: one panel's
    fault never takes the board down."""
    signed = signed_in(request)
    try:
        data = await panel.load(view)
        return Markup(render(panel.template, panel=panel, data=data, me=signed.session,
                             csrf=signed.csrf, now=time.time(), back=board_path(view)))
    except Exception:
        log.exception("the %s panel could not be shown", panel.id)
        return Markup(PANEL_FAILED.format(title=escape(panel.title)))


def _panel_key(panel: Panel, view: View) -> tuple[str, str | None, str | None]:
    return (panel.id, view.project, view.person) if panel.filtered else (panel.id, None, None)


async def _run_or_none(runtime: Runtime, run_id: str) -> Run | None:
    try:
        return await runtime.runs.store.get(run_id)
    except NotFound:  # its project was removed meanwhile
        return None
