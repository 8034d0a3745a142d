"""Needs you: the agents' open questions and permission requests, answerable here."""

from __future__ import annotations

from typing import Any

from core.errors import NotFound
from web.panels.base import Panel, View


async def load(view: View) -> dict[str, Any]:
    items = []
    for interaction in await view.runtime.runs.interactions.pending():
        try:
            run = await view.runtime.runs.get(interaction.run_id)
        except NotFound:
            continue
        if view.shows(run):
            items.append({"interaction": interaction, "run": run})
    return {"requests": items}


PANEL = Panel("needs-you", "Needs you", "panels/needs_you.html", load,
              frozenset({"InteractionRequested", "InteractionAnswered", "RunStateChanged"}),
              filtered=True, top=True)
