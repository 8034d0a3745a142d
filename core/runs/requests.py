"""What a request to start a run may say besides its task: the work-queue parameters.

- ``priority`` (-100 to 100, default 0): higher starts first; within a priority, first come
  first served.
- ``not_before`` (seconds since the epoch): the earliest start. Such a run takes its base
  commit when it starts, not when it is queued.
- ``key``: names the request (``cron:<schedule>:<fire time>``, ``gh:<delivery id>``), so a
  replayed request returns the run the first one made and adds nothing.
- ``source``: where the request came from (chat, cli, mcp, cron, webhook, formula, ...).

Every value is checked here, so each surface refuses a bad one with the same one-line message.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from core.errors import InvalidInput

PRIORITIES = range(-100, 101)
PAST_SLACK = 60.0
"""A start time this far in the past is taken as "now" (clocks of callers differ a little)."""
LATER = 1.0
"""A run due more than this many seconds from now starts later."""

_SOURCE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def clock_time(at: float, now: float | None = None) -> str:
    """A time as a person reads it in a list, in this machine's time zone: ``14:00`` today,
    ``Mon 09:00`` within a week, else ``2030-01-07 09:00``."""
    now = time.time() if now is None else now
    when, today = time.localtime(at), time.localtime(now)
    if when[:3] == today[:3]:
        return time.strftime("%H:%M", when)
    if 0 <= at - now < 6 * 86400:
        return time.strftime("%a %H:%M", when)
    return time.strftime("%Y-%m-%d %H:%M", when)


@dataclass(frozen=True)
class StartRequest:
    priority: int
    not_before: float | None
    key: str | None
    source: str
    now: float

    @classmethod
    def checked(cls, priority: int, not_before: float | None, key: str | None, source: str,
                now: float) -> StartRequest:
        return cls(check_priority(priority), check_start(not_before, now), check_key(key),
                   check_source(source), now)

    @property
    def later(self) -> bool:
        return self.not_before is not None and self.not_before > self.now + LATER

    def reason(self, actor: str) -> str:
        """The new run's state reason."""
        if self.later and self.not_before is not None:
            return f"queued by {actor} to start {clock_time(self.not_before, self.now)}"
        return f"started by {actor}"


def check_priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) \
            or priority not in PRIORITIES:
        raise InvalidInput(f"priority {priority!r} is not valid; use a whole number from "
                           f"{PRIORITIES.start} to {PRIORITIES.stop - 1} (higher starts first, "
                           "0 is normal)")
    return priority


def check_start(not_before: float | None, now: float) -> float | None:
    """The earliest start, or None for now; a time in the past is refused."""
    if not_before is None:
        return None
    if isinstance(not_before, bool) or not isinstance(not_before, int | float) \
            or not math.isfinite(not_before):
        raise InvalidInput(f"start time {not_before!r} is not valid; give seconds since the "
                           "epoch, or leave it out to start now")
    if not_before < now - PAST_SLACK:
        shown = time.strftime("%Y-%m-%d %H:%M", time.localtime(not_before))
        raise InvalidInput(f"start time {shown} is in the past; give a later time, or leave it "
                           "out to start now")
    return float(not_before) if not_before > now else None


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > 200 or not key.isprintable():
        raise InvalidInput(f"request key {key!r} is not valid; use 1-200 printable characters "
                           "naming the request (e.g. 'gh:<delivery id>')")
    return key


def check_source(source: str) -> str:
    if not isinstance(source, str) or not _SOURCE.fullmatch(source):
        raise InvalidInput(f"source {source!r} is not valid; use a short lower-case word such "
                           "as chat, cli, mcp, cron or webhook")
    return source
