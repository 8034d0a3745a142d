"""When a failed job is tried again, and when it is given up: a pure function of its tries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base_seconds * factor ** (tries - 1)``, at most ``max_seconds``.

    With the defaults a job is retried after 10 s, 20 s, 40 s and 80 s and is dead after its
    fifth failed try. No jitter: retries of different jobs are spread by their own failure
    times, and a deterministic delay is what a user reading the job's state expects.
    """

    max_tries: int = 5
    base_seconds: float = 10.0
    factor: float = 2.0
    max_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, not {self.max_tries}")
        if self.base_seconds < 0 or self.factor < 1 or self.max_seconds < 0:
            raise ValueError("backoff needs base_seconds >= 0, factor >= 1, max_seconds >= 0")

    def delay(self, tries: int) -> float:
        """Seconds to wait before the next try, after ``tries`` failed tries (tries >= 1)."""
        try:
            delay = self.base_seconds * self.factor ** max(tries - 1, 0)
        except OverflowError:  # a float power past 1e308: far beyond any cap
            return self.max_seconds
        return min(delay, self.max_seconds)

    def gives_up(self, tries: int) -> bool:
        """True when a job that failed its ``tries``-th try is dead."""
        return tries >= self.max_tries
