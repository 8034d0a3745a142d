"""Queue: the runs waiting for their turn, in the order they start, why each waits, and who
asked from where; each can be moved to another priority or taken out (after a confirmation)."""

from __future__ import annotations

from typing import Any

from web.panels.base import Panel, View

SHOWN = 20


async def load(view: View) -> dict[str, Any]:
    items = await view.runtime.work.items(view.project, limit=200)
    if view.person is not None:
        items = [i for i in items if i.requested_by == view.person]
    return {"items": items[:SHOWN], "total": len(items)}


PANEL = Panel("queue", "Queue", "panels/queue.html", load, frozenset({"RunStateChanged"}),
              filtered=True)
