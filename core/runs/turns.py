"""Turn accounting: what one finished turn of an agent adds to its run's record.

``ResultMessage.total_cost_usd`` is cumulative per session, so a turn is billed the difference
to what the session had cost before (kept with the run, so a resumed session is not billed
twice); its tokens go to the day's usage.

The turn that takes spending past ``agents.budget_warning_ratio`` of the run's budget, of its
project's daily budget or of the day's global budget warns once for that scope: a
:class:`BudgetWarning` on the bus and a note in the run's chat. Spending only grows, so the
turn that crosses the line is the only one that warns (no matter how often the run restarts).
"""

from __future__ import annotations

from core.agent.session import AgentResult
from core.events.bus import BudgetWarning, TurnFinished
from core.models import Run
from core.runs.port import SupervisorPort


class TurnLedger:
    def __init__(self, port: SupervisorPort) -> None:
        self.port = port

    async def record(self, run: Run, result: AgentResult) -> Run:
        """Bill and record one finished turn of ``run``; returns the run as now recorded."""
        store, run_id = self.port.store, run.id
        baseline = float((await store.hidden(run_id))["session_cost_usd"])
        delta = max(0.0, result.total_cost_usd - baseline)
        await store.add_usage(
            run_id, turns=result.num_turns, tool_calls=0, input_tokens=result.input_tokens,
            output_tokens=result.output_tokens, cost_usd=delta,
            session_cost_usd=max(baseline, result.total_cost_usd))
        await self.port.usage.record(run_id, run.project, delta, result.input_tokens,
                                     result.output_tokens)
        if result.result:
            await store.update(run_id, result_text=result.result)
        run = await store.get(run_id)
        if not result.is_error:  # a failure is told once, by the run's final state
            await store.add_event(
                run_id, "result", f"{result.subtype} after {result.num_turns} turns, "
                f"${run.cost_usd:.4f} so far")
        self.port.bus.publish(TurnFinished(run_id=run_id, project=run.project,
                                           subtype=result.subtype, is_error=result.is_error,
                                           cost_usd=run.cost_usd, turns=run.turns))
        await self._warn(run, delta)
        return run

    async def _warn(self, run: Run, delta: float) -> None:
        """Warn for each budget this turn's ``delta`` took past the warning ratio."""
        if delta <= 0:
            return
        ratio = self.port.config.agents.budget_warning_ratio
        usage = self.port.usage
        scopes: list[tuple[str, float | None, float, str]] = [
            ("run", run.budget_usd, run.cost_usd, "this run's budget"),
            ("project", await usage.settings.daily_budget(self.port.config, run.project),
             await usage.spent_today(run.project), f"project {run.project}'s budget for today"),
            ("global", await usage.settings.daily_budget(self.port.config),
             await usage.spent_today(), "today's budget"),
        ]
        for scope, limit, spent, what in scopes:
            if not limit or not spent - delta < limit * ratio <= spent:
                continue
            self.port.bus.publish(BudgetWarning(run_id=run.id, project=run.project,
                                                scope=scope, spent_usd=spent, limit_usd=limit))
            await self.port.note(run, "budget", f"💸 ${spent:.2f} of {what} of ${limit:.2f} "
                                 f"is spent ({spent / limit:.0%})")
