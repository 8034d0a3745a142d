"""Queue: the runs waiting for their turn, in order, and why each waits."""

from __future__ import annotations

from typing import Any

from web.panels.base import Panel, View

SHOWN = 20


async def load(view: View) -> dict[str, Any]:
    waiting = [r for r in await view.runtime.runs.store.queued() if view.shows(r)]
    return {"runs": waiting[:SHOWN], "total": len(waiting)}


PANEL = Panel("queue", "Queue", "panels/queue.html", load, frozenset({"RunStateChanged"}),
              filtered=True)
