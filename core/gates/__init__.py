"""Quality gates and supervision policies: lint auto-fix, lint and tests after a run's work,
the agent asked to fix what fails, and a per-project policy for when the gates give up.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.gates.migrations import GATE_TABLES as GATE_TABLES
    from core.gates.service import Gates as Gates
    from core.gates.types import Gate as Gate
    from core.gates.types import GateResult as GateResult
    from core.gates.types import GateSummary as GateSummary
    from core.gates.types import Outcome as Outcome
    from core.gates.types import Supervision as Supervision

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "GATE_TABLES": "migrations",
    "Gates": "service",
    "Gate": "types",
    "GateResult": "types",
    "GateSummary": "types",
    "Outcome": "types",
    "Supervision": "types",
})
