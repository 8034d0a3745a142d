"""What an iteration says, read without side effects: the agent's status block, its TODO
checklist, and the circuit breaker's next state.

The status block ends each reply (see :mod:`core.loops.prompts`)::

    STATUS: IN_PROGRESS | COMPLETE | BLOCKED
    EXIT_SIGNAL: false | true
    ERROR: <the error the agent is stuck on, or none>

Markdown around the words (``**STATUS:** COMPLETE``) is accepted; the last line of each kind
counts. The loop is done only when BOTH ``STATUS: COMPLETE`` and ``EXIT_SIGNAL: true`` are
there: one alone is often a slip (a part finished, a template echoed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.loops.types import BreakerState

_FIELD = r"^[\s*_>`#-]*{name}[\s*_`]*:[\s*_`]*(?P<value>[^\n]*?)[\s*_`]*$"
_STATUS = re.compile(_FIELD.format(name="STATUS"), re.IGNORECASE | re.MULTILINE)
_EXIT = re.compile(_FIELD.format(name="EXIT_SIGNAL"), re.IGNORECASE | re.MULTILINE)
_ERROR = re.compile(_FIELD.format(name="ERROR"), re.IGNORECASE | re.MULTILINE)
_OPEN_ITEM = re.compile(r"^\s*[-*+]\s+\[ \]", re.MULTILINE)
_DONE_ITEM = re.compile(r"^\s*[-*+]\s+\[[xX]\]", re.MULTILINE)
_NO_ERROR = {"", "none", "no", "n/a", "-", "null", "nothing"}


@dataclass(frozen=True)
class Signals:
    complete: bool  # STATUS: COMPLETE
    exit: bool  # EXIT_SIGNAL: true
    error: str | None  # ERROR: ..., unless none

    @property
    def done(self) -> bool:
        return self.complete and self.exit

    @property
    def half(self) -> str | None:
        """What is missing when only one of the two signals was given, else None."""
        if self.complete and not self.exit:
            return "`STATUS: COMPLETE` without `EXIT_SIGNAL: true`"
        if self.exit and not self.complete:
            return "`EXIT_SIGNAL: true` without `STATUS: COMPLETE`"
        return None


def _last(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.findall(text)
    return str(found[-1]).strip() if found else None


def read_reply(reply: str | None) -> Signals:
    """The signals in the agent's last reply."""
    text = reply or ""
    status = (_last(_STATUS, text) or "").upper()
    exit_signal = (_last(_EXIT, text) or "").lower()
    error = _last(_ERROR, text)
    if error is not None and error.strip().lower().rstrip(".") in _NO_ERROR:
        error = None
    return Signals(complete=status.startswith("COMPLETE"),
                   exit=exit_signal.startswith("true"), error=error[:300] if error else None)


@dataclass(frozen=True)
class Checklist:
    open: int
    done: int

    @property
    def finished(self) -> bool:
        """Every item ticked (and there is at least one)."""
        return self.done > 0 and self.open == 0


def read_checklist(text: str) -> Checklist:
    """The ``- [ ]`` and ``- [x]`` items of a TODO file."""
    return Checklist(open=len(_OPEN_ITEM.findall(text)), done=len(_DONE_ITEM.findall(text)))


@dataclass(frozen=True)
class Breaker:
    state: BreakerState
    no_progress: int


def next_breaker(no_progress: int, progressed: bool, breaker_after: int) -> Breaker:
    """The breaker after an iteration: progress closes it; ``breaker_after`` iterations in a
    row without progress open it, and the one before half-opens it (the agent is warned)."""
    count = 0 if progressed else no_progress + 1
    if count >= breaker_after:
        return Breaker(BreakerState.OPEN, count)
    if count >= breaker_after - 1 and count > 0:
        return Breaker(BreakerState.HALF_OPEN, count)
    return Breaker(BreakerState.CLOSED, count)


def calls_wait(times: list[float], now: float,
               per_hour: int | None) -> tuple[list[float], float | None]:
    """The hourly cap on iterations: the iteration ends to keep (this one, ``now``, added)
    and when the next iteration may start: None at once, else once the oldest of the hour's
    ``per_hour`` iterations is an hour old."""
    if per_hour is None:
        return [], None
    kept = ([t for t in times if t > now - 3600] + [now])[-per_hour:]
    if len(kept) < per_hour:
        return kept, None
    return kept, kept[0] + 3600
