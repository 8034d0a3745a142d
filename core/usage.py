"""Usage and budgets: what each run cost, per project and per day, and the daily limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from core.config import Config
from core.db import Database
from core.errors import BudgetExceeded
from core.models import UsageReport, UsageRow


def today() -> str:
    """Budgets reset at midnight UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%d")


class Usage:
    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

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
        limit = self.config.agents.daily_budget_usd
        if limit is not None:
            spent = await self.spent_today()
            if spent >= limit:
                raise BudgetExceeded(
                    f"today's budget of ${limit:.2f} is spent (${spent:.2f}); new runs are "
                    "refused until midnight UTC, or raise agents.daily_budget_usd")
        limit = self.config.project(project).daily_budget_usd
        if limit is not None:
            spent = await self.spent_today(project)
            if spent >= limit:
                raise BudgetExceeded(
                    f"project {project!r} has spent its daily budget of ${limit:.2f} "
                    f"(${spent:.2f}); new runs are refused until midnight UTC, or raise "
                    f"projects.{project}.daily_budget_usd")

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
                           daily_budget_usd=self.config.agents.daily_budget_usd,
                           by_project=rows(list(by_project)), by_day=rows(list(by_day)))
