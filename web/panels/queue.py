"""Queue: the runs waiting for their turn, in order, and why each waits."""

from __future__ import annotations

from typing import Any

from web.panels.base import Panel, View


async def load(view: View) -> dict[str, Any]:
    waiting = await view.runtime.runs.store.queued()
    return {"runs": [r for r in waiting if view.shows(r)]}


PANEL = Panel("queue", "Queue", "panels/queue.html", load, frozenset({"RunStateChanged"}),
              filtered=True)
