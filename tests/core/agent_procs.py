"""Finding the Claude Code processes of a test's runs, as the kernel lists them."""

from __future__ import annotations

import os
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
    """When process ``pid`` started, in seconds since the epoch (to 1/CLK_TCK s)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    ticks = int(stat[stat.rindex(")") + 2:].split()[19])
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime "))
    return boot + ticks / os.sysconf("SC_CLK_TCK")
