"""Cron expressions and time zones: checking what people write, and when a schedule fires next.

Pure functions of their arguments (no clock), tested without waiting.

- **Five fields** (minute hour day-of-month month day-of-week, as crontab) or an ``@alias``
  (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``). croniter would also take a
  sixth field, which it reads as *seconds*, so it is refused here.
- **Time zones** are IANA names (``Europe/Berlin``); the default is this machine's.
- **Daylight saving time**: a time that does not exist (02:30 when the clocks spring forward)
  fires at the first minute after the gap; a time that happens twice (02:30 when they fall
  back) fires once, at its first occurrence, for a schedule at fixed hours. A schedule whose
  hour field is ``*`` (every hour, every 15 minutes) follows real time and fires in both.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from core.errors import InvalidInput

ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
FIELDS = "minute hour day-of-month month day-of-week"


def check_cron(expr: str) -> str:
    """The expression with its spaces normalised, or InvalidInput in one line, such as
    ``"`0 9 * *`: 4 fields, expected 5 (minute hour day-of-month month day-of-week)"``."""
    text = " ".join(str(expr).split())
    if not text:
        raise InvalidInput(f"the cron expression is empty; give 5 fields ({FIELDS}), such as "
                           "`0 7 * * mon-fri` for 07:00 on weekdays")
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise InvalidInput(f"`{text}` is not a cron alias; use one of {', '.join(ALIASES)} "
                               f"or 5 fields ({FIELDS})")
        return text.lower()
    count = len(text.split(" "))
    if count != 5:
        raise InvalidInput(f"`{text}`: {count} field{'s' if count != 1 else ''}, expected 5 "
                           f"({FIELDS})")
    try:
        croniter(text, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except CroniterError as exc:
        detail = str(exc).replace(f"[{text}] ", "").strip() or "not valid"
        raise InvalidInput(f"`{text}`: {detail} (fields: {FIELDS})") from None
    if not croniter.is_valid(text, strict=True):
        raise InvalidInput(f"`{text}` never fires (no such date); check the day and month")
    return text


def check_zone(name: str | None) -> str:
    """An IANA time zone name (the machine's when None), or InvalidInput in one line."""
    if name is None or not name.strip():
        return local_zone()
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"unknown time zone {name!r}; use an IANA name such as "
                           "Europe/Berlin, America/New_York or UTC") from None
    return name.strip()


def local_zone() -> str:
    """This machine's time zone as an IANA name: ``$TZ``, ``/etc/timezone``, the target of
    ``/etc/localtime``; UTC if none says."""
    candidates = [os.environ.get("TZ", "").removeprefix(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                ZoneInfo(name)
                return name
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return "UTC"


def _fixed_hours(expr: str) -> bool:
    """Whether the schedule fires at fixed wall-clock hours (not every hour)."""
    if expr.startswith("@"):
        return expr != "@hourly"
    return "*" not in expr.split(" ")[1]


def next_fire(expr: str, after: float, zone: str, last: float | None = None) -> float:
    """The first fire time of ``expr`` in ``zone`` after ``after`` (both seconds since the
    epoch). A wall-clock time repeated when clocks fall back fires once (see the module): not
    again at or before the wall-clock time of ``after`` or of ``last``, the last fire."""
    tz = ZoneInfo(zone)
    start = dt.datetime.fromtimestamp(after, tz)
    it = croniter(expr, start)
    try:
        nxt = it.get_next(dt.datetime)
        if _fixed_hours(expr):
            wall = start.replace(tzinfo=None)
            if last is not None:
                wall = max(wall, dt.datetime.fromtimestamp(last, tz).replace(tzinfo=None))
            while nxt.replace(tzinfo=None) <= wall:  # the second pass of a repeated hour
                nxt = it.get_next(dt.datetime)
    except CroniterBadDateError:
        raise InvalidInput(f"`{expr}` never fires (no such date); check the day and month"
                           ) from None
    return nxt.timestamp()


def next_fires(expr: str, after: float, zone: str, count: int) -> list[float]:
    """The next ``count`` fire times after ``after``."""
    fires: list[float] = []
    for _ in range(count):
        after = next_fire(expr, after, zone)
        fires.append(after)
    return fires


def slot_name(at: float) -> str:
    """A fire time as it appears in a schedule's idempotency key: UTC, to the second."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
