"""Tools for the quality gates: what lint and tests said about a run's work."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.gates.types import GateResult, GateSummary
from core.runtime import Runtime
from mcp_tools.params import RunRef
from mcp_tools.registry import ToolKit


class GateResults(BaseModel):
    run_id: str
    gates: list[GateSummary] = Field(description="each gate's latest outcome (lint_fix, "
                                     "lint, test); empty when the run had no gates")
    results: list[GateResult] = Field(description="every time a gate ran, oldest first, with "
                                      "the end of its output")


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(read_only=True)
    async def get_gate_results(run: RunRef) -> GateResults:
        """What the quality gates said about a run's work: after the agent finished, Gluon ran
        the project's lint auto-fix (committing its changes), lint and tests in the run's
        sandbox, and asked the agent to fix what failed. Returns each gate's latest outcome
        and every attempt with the end of its output. Use it when someone asks why a run's
        lint or tests failed, or whether they passed."""
        found = await rt.runs.get(run)
        results = await rt.gates.results(found.id)
        return GateResults(run_id=found.id, gates=await rt.gates.summary(found.id),
                           results=results)
