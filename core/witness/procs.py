"""A run's agent process as the kernel sees it: alive or gone, and the CPU time of its tree."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the state on (3rd)


def alive(pid: int) -> bool:
    """The process exists and has not exited (an exited, unreaped one is state Z or X)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X", "x")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` and its descendants (a sandbox's CLI, a tool's command), in
    seconds; None when ``pid`` is gone."""
    if _stat(pid) is None:
        return None
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        fields = _stat(p)
        if fields is None:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        todo.extend(_children(p))
    return total / TICKS
