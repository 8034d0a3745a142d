"""The witness: how each live run is doing (healthy, looping, stuck, stalled, zombie), recomputed
as its events arrive and on a timer, what a project's policy does about it, and what a run is
likely to cost before it starts.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.witness.estimate import Estimate as Estimate
    from core.witness.estimate import estimate as estimate
    from core.witness.migrations import WITNESS_TABLES as WITNESS_TABLES
    from core.witness.service import Witness as Witness
    from core.witness.store import WitnessStore as WitnessStore
    from core.witness.types import Change as Change
    from core.witness.types import Classification as Classification
    from core.witness.types import RunHealth as RunHealth
    from core.witness.types import Verdict as Verdict

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Estimate": "estimate",
    "estimate": "estimate",
    "WITNESS_TABLES": "migrations",
    "Witness": "service",
    "WitnessStore": "store",
    "Change": "types",
    "Classification": "types",
    "RunHealth": "types",
    "Verdict": "types",
})
