"""A run a chat follows, and how its status message shows it: the state's icon, the health's
coloured dot and words, and what the agent is doing."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from core.models import Run
from core.runs.health import Condition, assess
from core.types import RunState

ENDED = {RunState.REVIEW: "✅", RunState.FAILED: "❌", RunState.CANCELLED: "⏹",
         RunState.INTERRUPTED: "⚠️", RunState.MERGED: "🔀", RunState.CLOSED: "📦"}
LIVE = {RunState.QUEUED: "⏳", RunState.RUNNING: "▶️", RunState.WAITING: "⏸"}
ENDED_WORDS = {RunState.REVIEW: "finished", RunState.FAILED: "failed",
               RunState.CANCELLED: "was cancelled", RunState.INTERRUPTED: "was interrupted",
               RunState.MERGED: "was merged", RunState.CLOSED: "was closed"}


# The coloured dot of each health condition on a run's status message (the status page's
# colours: green working, yellow look soon, orange act, red broken, blue a person's turn).
HEALTH_DOTS = {
    Condition.QUEUED: "⚪", Condition.WORKING: "🟢", Condition.RETRYING: "🟡",
    Condition.QUIET: "🟡", Condition.NEAR_BUDGET: "🟡", Condition.SLOW: "🟡",
    Condition.LOOPING: "🟠", Condition.STUCK: "🟠", Condition.STALLED: "🔴",
    Condition.ZOMBIE: "🔴", Condition.WAITING: "🔵", Condition.REVIEW: "🟢",
    Condition.FAILED: "🔴", Condition.INTERRUPTED: "🔴", Condition.ENDED: "⚪"}


@dataclass
class Followed:
    """A run this bot reports on, in one chat (and thread or topic, if any)."""

    run_id: str
    chat_id: int
    thread_id: int | None
    status_message: int | None = None
    last_edit: float = 0.0
    last_tool: str = ""
    retry: str = ""  # the model API retry under way, until the agent gets through
    pending_edit: asyncio.Task[None] | None = None
    questions: dict[str, int] = field(default_factory=dict)  # interaction id -> message id
    merge_step: str = ""  # where its merge-queue entry is, while it is in line
    formula: str = ""  # the formula's step, for a run that follows one ("step 2/4: implement")
    merge_failures: dict[str, int] = field(default_factory=dict)  # entry id -> message id
    loop: str = ""  # its autonomous loop in one line ("loop 3/10 · breaker closed · $1.20")
    witness: tuple[str, str] | None = None  # the witness's verdict, when it watches the run
    estimate: str = ""  # its likely cost, from its project's history ("usually $0.40–1.20 ...")

    def health(self, run: Run) -> str:
        """The status message's health (see ``core.runs.health``) as a coloured dot and words,
        now: with the witness's verdict on a live run it watches ("🔴 stalled: no output for
        12 min at 0% CPU")."""
        health = assess(run, time.time(), retrying=bool(self.retry), verdict=self.witness)
        return f"{HEALTH_DOTS[health.condition]} {health.text}"

    def activity(self, run: Run) -> str:
        """The status message's line on what the agent is doing: the model API retry under
        way, else its last tool call; once the run has ended, its merge-queue step, if it is
        in line."""
        if not run.state.is_live:
            return self.merge_step if run.state is RunState.REVIEW else ""
        if self.retry:
            return f"⚠ {self.retry}"
        return f"last: {self.last_tool}" if self.last_tool else ""


def icon(state: RunState) -> str:
    return ENDED.get(state) or LIVE.get(state, "•")


def as_int(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None
