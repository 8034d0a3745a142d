"""Needs you: what needs a person (core.attention, as the chat and the CLI list it), oldest
first; the agents' questions and permission requests are answerable here."""

from __future__ import annotations

from typing import Any

from core.errors import NotFound
from core.models import Run
from web.panels.base import Panel, View

SHOWN = 6  # items on the board; the rest are counted (`gluon attention` lists them all)


async def load(view: View) -> dict[str, Any]:
    rt = view.runtime
    items: list[dict[str, Any]] = []
    for item in await rt.attention.items(view.project):
        run: Run | None = None
        if item.run_id is not None:
            try:
                run = await rt.runs.get(item.run_id)
            except NotFound:
                continue
            if not view.shows(run):
                continue
        elif view.person is not None:
            continue  # a budget is everyone's, not one person's
        if len(items) >= SHOWN:
            items.append({"item": item})  # counted only
            continue
        interaction = None
        if item.kind in ("question", "permission") and item.ref is not None:
            interaction = await rt.runs.interactions.get(item.ref)
        items.append({"item": item, "run": run, "interaction": interaction})
    return {"items": items[:SHOWN], "total": len(items)}


PANEL = Panel("needs-you", "Needs you", "panels/needs_you.html", load,
              frozenset({"InteractionRequested", "InteractionAnswered", "RunStateChanged",
                         "MergeStep"}),
              filtered=True, top=True)
