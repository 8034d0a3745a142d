"""Activity: the audit log, newest first: who did what, where, and how it ended."""

from __future__ import annotations

from typing import Any

from web.panels.base import Panel, View

SHOWN = 15


async def load(view: View) -> dict[str, Any]:
    return {"entries": await view.runtime.activity.recent(SHOWN)}


PANEL = Panel("activity", "Activity", "panels/activity.html", load)
