"""Finding the Claude Code processes of a test's runs, as the kernel lists them."""

from __future__ import annotations

import os
import time
from pathlib import Path


def claude_processes() -> dict[int, str]:
    """Every Claude Code process on the machine: pid -> its working directory."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0]
            if Path(argv0.decode(errors="replace")).name == "claude":
                found[int(entry.name)] = os.readlink(entry / "cwd")
        except OSError:
            continue
    return found


def agent_pid(cwd: str | Path) -> int:
    """The Claude Code process working in ``cwd``."""
    pids = [pid for pid, where in claude_processes().items() if where == str(cwd)]
    if len(pids) != 1:
        raise AssertionError(f"{len(pids)} agent processes in {cwd}")
    return pids[0]


def started_at(pid: int) -> float:
    """When process ``pid`` started, in seconds since boot (to 1/CLK_TCK s), as :func:`now`."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    ticks = int(stat[stat.rindex(")") + 2:].split()[19])
    return ticks / os.sysconf("SC_CLK_TCK")


def now() -> float:
    """Seconds since boot, the clock of :func:`started_at`."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)
