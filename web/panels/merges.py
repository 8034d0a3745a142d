"""Merge queue: the entries in line on each base branch, in the order they merge, with where
each is and why, and the ones that ended lately; a failed one can be retried, and an open or
failed one cancelled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import NotFound
from core.merges.types import MergeEntry
from core.models import Run
from web.panels.base import Panel, View

ENDED_SHOWN = 8
LOADED = 200


@dataclass
class Line:
    """The open entries of one project's base branch, first in line first."""

    project: str
    base: str
    entries: list[tuple[MergeEntry, Run]] = field(default_factory=list)


async def load(view: View) -> dict[str, Any]:
    runtime = view.runtime
    try:
        entries = await runtime.merges.list(view.project, include_ended=True, limit=LOADED)
    except NotFound:  # the board's project filter names no project: the board says so
        entries = []
    lines: dict[tuple[str, str], Line] = {}
    ended: list[tuple[MergeEntry, Run]] = []
    for entry in entries:
        try:
            run = await runtime.runs.get(entry.run_id)
        except NotFound:
            continue
        if not view.shows(run):
            continue
        if entry.state.is_open:
            line = lines.setdefault((entry.project, entry.base), Line(entry.project, entry.base))
            line.entries.append((entry, run))
        elif len(ended) < ENDED_SHOWN:
            ended.append((entry, run))
    return {"lines": list(lines.values()), "ended": ended,
            "open": sum(len(line.entries) for line in lines.values())}


PANEL = Panel("merges", "Merge queue", "panels/merges.html", load, frozenset({"MergeStep"}),
              filtered=True)
