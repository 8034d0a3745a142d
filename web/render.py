"""The page's templates (Jinja2, autoescaped) and the few filters they use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from core.models import Interaction, Run
from core.runs.health import Condition, Health, assess

TEMPLATES = Path(__file__).parent / "templates"

environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def ago(at: float | None, now: float | None = None) -> str:
    """How long ago, in a few words: "just now", "5 min ago", "3 h ago", "2 d ago"."""
    if at is None:
        return ""
    seconds = max(0.0, (time.time() if now is None else now) - at)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def money(usd: float | None) -> str:
    if not usd:
        return "$0"
    return f"${usd:.2f}" if usd >= 1 else f"${usd:.4f}".rstrip("0")


def clock(at: float | None) -> str:
    """A moment as UTC date and time, for tables."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)) if at else ""


def when(at: float | None, now: float | None = None) -> str:
    """A coming moment: its UTC time and how far off it is ("2026-12-03 07:00 UTC, in 9 h")."""
    if at is None:
        return ""
    seconds = max(0.0, at - (time.time() if now is None else now))
    off = ("in under a minute" if seconds < 60 else f"in {int(seconds // 60)} min"
           if seconds < 3600 else f"in {int(seconds // 3600)} h" if seconds < 86400
           else f"in {int(seconds // 86400)} d")
    return f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(at))} UTC, {off}"


def shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# The dot's colour class of each health condition.
DOTS = {Condition.QUEUED: "d-idle", Condition.WORKING: "d-ok", Condition.RETRYING: "d-warn",
        Condition.QUIET: "d-warn", Condition.NEAR_BUDGET: "d-warn", Condition.WAITING: "d-ask",
        Condition.REVIEW: "d-done", Condition.FAILED: "d-bad", Condition.INTERRUPTED: "d-bad",
        Condition.ENDED: "d-idle", Condition.SLOW: "d-warn", Condition.LOOPING: "d-act",
        Condition.STUCK: "d-act", Condition.STALLED: "d-bad", Condition.ZOMBIE: "d-bad"}

# The answers of a permission request, as chat labels them.
PERMISSION_LABELS = {"allow": "Allow once", "allow_run": "Allow for this run",
                     "allow_project": "Always for this project", "deny": "Deny"}


def health_of(run: Run, verdict: tuple[str, str] | None = None) -> Health:
    """The card's health; ``verdict``: the witness's, when it watches the run."""
    return assess(run, time.time(), verdict=verdict)


def questions_of(interaction: Interaction) -> tuple[list[dict[str, Any]], bool]:
    """A question request's questions, and whether several options may be picked."""
    questions = [q for q in interaction.tool_input.get("questions") or []
                 if isinstance(q, dict)]
    return questions, any(q.get("multiSelect") for q in questions)


environment.filters.update(ago=ago, money=money, clock=clock, shorten=shorten, when=when)
environment.globals.update(dots=DOTS, health_of=health_of, questions_of=questions_of,
                           permission_labels=list(PERMISSION_LABELS.items()))


def render(name: str, **context: Any) -> str:
    return environment.get_template(name).render(**context)


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(name, **context), status)
