"""Usage: what each project's runs cost on each of the last days, and today against the
daily budget; and voice notes transcribed (outside the budgets)."""

from __future__ import annotations

from typing import Any

from web.panels.base import Panel, View

DAYS = 7


async def load(view: View) -> dict[str, Any]:
    usage = view.runtime.runs.usage
    report = await usage.report(DAYS)
    rows = []
    for project in await view.runtime.projects.all():
        spent = await usage.project_report(project.name, DAYS)
        if any(d.runs or d.cost_usd for d in spent.by_day):
            rows.append(spent)
    days = [d.key for d in rows[0].by_day] if rows else []
    voice = report.voice_by_day
    return {"report": report, "projects": rows, "days": days,
            "voice": {"notes": sum(v.notes for v in voice),
                      "minutes": sum(v.minutes for v in voice),
                      "cost_usd": sum(v.cost_usd for v in voice)} if voice else None}


PANEL = Panel("usage", "Usage", "panels/usage.html", load, frozenset({"RunStateChanged"}))
