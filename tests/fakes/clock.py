"""A clock that moves only when told: lease and backoff times without waiting."""

from __future__ import annotations

import time


class ManualClock:
    """:class:`core.jobs.types.Clock` standing still at the real time it was made, until
    ``advance``."""

    def __init__(self, start: float | None = None) -> None:
        self.t = time.time() if start is None else start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
