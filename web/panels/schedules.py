"""Schedules: what runs by itself, when it fires next, and how its last fire went; each can be
paused, resumed or removed (after a confirmation)."""

from __future__ import annotations

from typing import Any

from web.panels.base import Panel, View


async def load(view: View) -> dict[str, Any]:
    return {"schedules": await view.runtime.schedules.list(view.project)}


# A fire queues a run, so a run's state change is when the next fire times move on.
PANEL = Panel("schedules", "Schedules", "panels/schedules.html", load,
              frozenset({"RunStateChanged"}), filtered=True)
