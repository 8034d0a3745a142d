"""What a new run of a project will likely cost, from what its recent runs cost.

The estimate is the middle half (25th to 75th percentile) of the cost of the project's last
:data:`SAMPLE` runs that finished their work (ready for review, merged or closed); it is None
until :data:`MIN_RUNS` of them are known.
"""

from __future__ import annotations

import statistics

from pydantic import BaseModel, Field

from core.runs.store import RunStore
from core.types import RunState

SAMPLE = 20
MIN_RUNS = 3
FINISHED = [RunState.REVIEW, RunState.MERGED, RunState.CLOSED]


class Estimate(BaseModel):
    project: str
    low_usd: float = Field(description="the 25th percentile of the recent runs' cost")
    high_usd: float = Field(description="the 75th percentile of the recent runs' cost")
    runs: int = Field(description="how many finished runs it comes from")

    def text(self) -> str:
        """``usually $0.40–1.20 (from the last 12 runs of demo)``"""
        return (f"usually ${self.low_usd:.2f}–{self.high_usd:.2f} (from the last {self.runs} "
                f"runs of {self.project})")


async def estimate(runs: RunStore, project: str) -> Estimate | None:
    """The likely cost of a new run of ``project``, or None without enough history."""
    costs = [r.cost_usd for r in await runs.find(project=project, states=FINISHED,
                                                 limit=SAMPLE) if r.cost_usd > 0]
    if len(costs) < MIN_RUNS:
        return None
    low, _, high = statistics.quantiles(costs, n=4, method="inclusive")
    return Estimate(project=project, low_usd=low, high_usd=high, runs=len(costs))
