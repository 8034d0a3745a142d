"""Usage: what runs cost today per project and over the last days, against the budget."""

from __future__ import annotations

from typing import Any

from web.panels.base import Panel, View

DAYS = 7


async def load(view: View) -> dict[str, Any]:
    return {"report": await view.runtime.runs.usage.report(DAYS)}


PANEL = Panel("usage", "Usage", "panels/usage.html", load, frozenset({"RunStateChanged"}))
