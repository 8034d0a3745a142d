"""Usage and budgets: what each run cost, per project and per day, and the daily limits."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from core.budget.settings import Settings
from core.budget.store import BudgetStore, Spend
from core.config import Config
from core.errors import BudgetExceeded, InvalidInput
from core.models import UsageReport, UsageRow, VoiceUsageRow


def today() -> str:
    """Budgets reset at midnight UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%d")


class ProjectUsage(BaseModel):
    """One project's spend per day, oldest first, with today's budget."""

    project: str
    days: int
    today_cost_usd: float
    daily_budget_usd: float | None
    by_day: list[UsageRow]


class DiskUsage(BaseModel):
    """Bytes used by each part of the data dir."""

    worktrees: int
    logs: int
    agent_homes: int
    database: int
    total: int


def _tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (symlinks not followed; vanished files skipped)."""
    total, stack = 0, [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def disk_usage(config: Config) -> DiskUsage:
    """Walk the data dir; blocking, so call it in a thread from async code."""
    db = sum(p.stat().st_size for p in (config.db_path, Path(f"{config.db_path}-wal"),
                                         Path(f"{config.db_path}-shm")) if p.is_file())
    parts = {"worktrees": _tree_size(config.worktrees_dir), "logs": _tree_size(config.logs_dir),
             "agent_homes": _tree_size(config.agent_homes_dir), "database": db}
    return DiskUsage(**parts, total=sum(parts.values()))


class Usage:
    def __init__(self, store: BudgetStore, config: Config) -> None:
        self.store = store
        self.config = config
        self.settings = Settings(store)

    async def record(self, run_id: str, project: str, cost_usd: float, input_tokens: int,
                     output_tokens: int) -> None:
        await self.store.record(run_id, project, today(), cost_usd, input_tokens,
                                output_tokens)

    async def record_voice(self, actor: str, backend: str, seconds: float,
                           cost_usd: float) -> None:
        """A voice note transcribed: its length and cost, on today's line of voice notes."""
        await self.store.record_voice(actor, backend, today(), seconds, cost_usd)

    async def voice_notes_since(self, actor: str, since: float) -> int:
        return await self.store.voice_notes_since(actor, since)

    async def spent_today(self, project: str | None = None) -> float:
        return await self.store.spent(today(), project)

    async def check_budgets(self, project: str) -> None:
        """Refuse new work when today's global or per-project budget is spent."""
        limit = await self.settings.daily_budget(self.config)
        if limit is not None:
            spent = await self.spent_today()
            if spent >= limit:
                raise BudgetExceeded(
                    f"today's budget of ${limit:.2f} is spent (${spent:.2f}); new runs are "
                    "refused until midnight UTC, or raise it (set_budget, or "
                    "agents.daily_budget_usd in config.toml)")
        limit = await self.settings.daily_budget(self.config, project)
        if limit is not None:
            spent = await self.spent_today(project)
            if spent >= limit:
                raise BudgetExceeded(
                    f"project {project!r} has spent its daily budget of ${limit:.2f} "
                    f"(${spent:.2f}); new runs are refused until midnight UTC, or raise "
                    f"it (set_budget, or projects.{project}.daily_budget_usd in config.toml)")

    async def report(self, days: int = 7) -> UsageReport:
        since = (datetime.now(UTC) - timedelta(days=days - 1)).strftime("%Y-%m-%d")
        by_project = await self.store.by_project(today())
        by_day = await self.store.by_day(days)
        return UsageReport(today=today(), today_cost_usd=round(await self.spent_today(), 6),
                           daily_budget_usd=await self.settings.daily_budget(self.config),
                           by_project=[_row(s) for s in by_project],
                           by_day=[_row(s) for s in by_day],
                           voice_by_day=[VoiceUsageRow(key=v.day, notes=v.notes,
                                                       minutes=round(v.seconds / 60, 2),
                                                       cost_usd=round(v.cost_usd, 6))
                                         for v in await self.store.voice_by_day(since)])

    async def project_report(self, project: str, days: int = 7) -> ProjectUsage:
        """Spend, tokens and runs of one project for each of the last ``days`` days (today
        included), oldest first; days without runs are listed with zeros."""
        if not 1 <= days <= 366:
            raise InvalidInput(f"days must be a whole number from 1 to 366, not {days!r}")
        now = datetime.now(UTC)
        wanted = [(now - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(days - 1, -1, -1)]
        found = {s.key: s for s in await self.store.by_day(days, project, since=wanted[0])}
        by_day = [_row(found[day]) if day in found else
                  UsageRow(key=day, runs=0, cost_usd=0.0, input_tokens=0, output_tokens=0)
                  for day in wanted]
        return ProjectUsage(project=project, days=days,
                            today_cost_usd=round(await self.spent_today(project), 6),
                            daily_budget_usd=await self.settings.daily_budget(self.config,
                                                                              project),
                            by_day=by_day)

    async def runs_by_state(self) -> dict[str, int]:
        return await self.store.runs_by_state()


def _row(spend: Spend) -> UsageRow:
    return UsageRow(key=spend.key, runs=spend.runs, cost_usd=round(spend.cost_usd, 6),
                    input_tokens=spend.input_tokens, output_tokens=spend.output_tokens)
