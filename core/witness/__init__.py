"""The witness: how each live run is doing (healthy, looping, stuck, stalled, zombie), recomputed
as its events arrive and on a timer, and what a project's policy does about it."""

from core.witness.migrations import WITNESS_TABLES
from core.witness.service import Witness
from core.witness.store import WitnessStore
from core.witness.types import Change, Classification, RunHealth, Verdict

__all__ = ["WITNESS_TABLES", "Change", "Classification", "RunHealth", "Verdict", "Witness",
           "WitnessStore"]
