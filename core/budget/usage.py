"""Usage and budgets: what each run cost, per project and per day, and the daily limits."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from core.budget.settings import Settings
from core.config import Config
from core.errors import BudgetExceeded, InvalidInput
from core.models import UsageReport, UsageRow
from core.store.db import Database


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
    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config
        self.settings = Settings(db)

    async def record(self, run_id: str, project: str, cost_usd: float, input_tokens: int,
                     output_tokens: int) -> None:
        await self.db.execute(
            "INSERT INTO usage (run_id, project, day, cost_usd, input_tokens, output_tokens, at) "
            "VALUES (?,?,?,?,?,?,?)",
            (run_id, project, today(), cost_usd, input_tokens, output_tokens, time.time()))

    async def spent_today(self, project: str | None = None) -> float:
        sql, params = "SELECT COALESCE(SUM(cost_usd), 0) FROM usage WHERE day = ?", [today()]
        if project is not None:
            sql += " AND project = ?"
            params.append(project)
        row = await self.db.fetchone(sql, params)
        return float(row[0]) if row else 0.0

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
        by_project = await self.db.fetchall(
            "SELECT project AS key, COUNT(DISTINCT run_id) AS runs, SUM(cost_usd) AS cost, "
            "SUM(input_tokens) AS inp, SUM(output_tokens) AS outp FROM usage WHERE day = ? "
            "GROUP BY project ORDER BY cost DESC", (today(),))
        by_day = await self.db.fetchall(
            "SELECT day AS key, COUNT(DISTINCT run_id) AS runs, SUM(cost_usd) AS cost, "
            "SUM(input_tokens) AS inp, SUM(output_tokens) AS outp FROM usage "
            "GROUP BY day ORDER BY day DESC LIMIT ?", (days,))

        def rows(result: list[object]) -> list[UsageRow]:
            return [UsageRow(key=r["key"], runs=r["runs"], cost_usd=round(r["cost"], 6),  # type: ignore[index]
                             input_tokens=r["inp"], output_tokens=r["outp"])  # type: ignore[index]
                    for r in result]

        return UsageReport(today=today(), today_cost_usd=round(await self.spent_today(), 6),
                           daily_budget_usd=await self.settings.daily_budget(self.config),
                           by_project=rows(list(by_project)), by_day=rows(list(by_day)))

    async def project_report(self, project: str, days: int = 7) -> ProjectUsage:
        """Spend, tokens and runs of one project for each of the last ``days`` days (today
        included), oldest first; days without runs are listed with zeros."""
        if not 1 <= days <= 366:
            raise InvalidInput(f"days must be a whole number from 1 to 366, not {days!r}")
        now = datetime.now(UTC)
        wanted = [(now - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(days - 1, -1, -1)]
        rows = await self.db.fetchall(
            "SELECT day, COUNT(DISTINCT run_id) AS runs, SUM(cost_usd) AS cost, "
            "SUM(input_tokens) AS inp, SUM(output_tokens) AS outp FROM usage "
            "WHERE project = ? AND day >= ? GROUP BY day", (project, wanted[0]))
        found = {r["day"]: r for r in rows}
        by_day = [UsageRow(key=day, runs=found[day]["runs"], cost_usd=round(found[day]["cost"], 6),
                           input_tokens=found[day]["inp"], output_tokens=found[day]["outp"])
                  if day in found else
                  UsageRow(key=day, runs=0, cost_usd=0.0, input_tokens=0, output_tokens=0)
                  for day in wanted]
        return ProjectUsage(project=project, days=days,
                            today_cost_usd=round(await self.spent_today(project), 6),
                            daily_budget_usd=await self.settings.daily_budget(self.config,
                                                                              project),
                            by_day=by_day)

    async def runs_by_state(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT state, COUNT(*) AS n FROM runs GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}
