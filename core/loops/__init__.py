"""The autonomous loop: a run's agent is told to continue, iteration after iteration, until it
says it is done (or its checklist is ticked), a cap is reached, or its circuit breaker opens
because nothing changes any more.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.loops.migrations import LOOP_TABLES as LOOP_TABLES
    from core.loops.service import Loops as Loops
    from core.loops.types import BreakerState as BreakerState
    from core.loops.types import LoopState as LoopState
    from core.loops.types import LoopStatus as LoopStatus

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "LOOP_TABLES": "migrations",
    "Loops": "service",
    "BreakerState": "types",
    "LoopState": "types",
    "LoopStatus": "types",
})
