"""The scheduler with a large schedule table: its CPU time per minute.

    uv run python bench/schedules.py [--schedules 10000] [--minutes 30]

On a fresh ``gluon.db`` in a temporary directory, ``--schedules`` schedules are stored, then
the scheduler's pass (:meth:`core.schedules.Schedules.tick`) runs once per simulated minute,
for ``--minutes`` minutes, on a clock moved by hand (no waiting). Each fire makes its run as the
real one does, a row in ``runs`` under the fire's key (the agent and its worktree, which the
executor starts later, are not the scheduler's work and are left out). The CPU time of the
whole process (``time.process_time``: the event loop and SQLite's thread) per simulated minute
is printed for:

- spread: daily schedules at random minutes of the day (about 7 fire each minute);
- hourly: schedules at a random minute of every hour (about 1/60 of them each minute);
- every minute: ``* * * * *`` for all of them (every schedule fires every minute);
- idle: the pass when nothing is due (one indexed query), per pass.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.access.activity import ActivityLog  # noqa: E402
from core.access.store import AccessStore  # noqa: E402
from core.models import Run  # noqa: E402
from core.projects.service import ProjectService  # noqa: E402
from core.projects.store import ProjectStore  # noqa: E402
from core.runs.store import RunStore  # noqa: E402
from core.schedules import Fire, Overlap, Schedule, Schedules  # noqa: E402
from core.schedules.cron import next_fire  # noqa: E402
from core.schedules.migrations import SCHEDULE_TABLES  # noqa: E402
from core.schedules.store import ScheduleStore  # noqa: E402
from core.store.db import Database  # noqa: E402
from tests.fakes.clock import ManualClock  # noqa: E402

START = 1_900_000_800.0  # a whole hour (2030-03-17 16:00 UTC)


async def scheduler(home: Path, clock: ManualClock) -> tuple[Database, Schedules]:
    db = Database(home / "gluon.db")
    await db.open([SCHEDULE_TABLES])
    runs = RunStore(db)
    activity = ActivityLog(AccessStore(db))
    projects = ProjectService(ProjectStore(db, runs), activity)
    repo = home / "repo"
    repo.mkdir()
    await db.execute("INSERT INTO projects (name, path, created_at) VALUES ('api', ?, ?)",
                     (str(repo), START))

    async def start(fire: Fire) -> Run:
        run, _ = await runs.insert_keyed(
            fire.key, id=await runs.new_id(), project="api", prompt=fire.schedule.prompt,
            model="sonnet", use_worktree=1, cwd=str(repo), session_id=fire.key,
            created_by=fire.schedule.created_by, source="cron")
        return run

    return db, Schedules(ScheduleStore(db), runs, projects, activity, start, clock)


async def fill(s: Schedules, count: int, kind: str) -> None:
    rng = random.Random(7)
    async with s.store.db.transaction():
        for n in range(count):
            if kind == "spread":
                expr = f"{rng.randrange(60)} {rng.randrange(24)} * * *"
            elif kind == "hourly":
                expr = f"{rng.randrange(60)} * * * *"
            else:
                expr = "* * * * *"
            await s.store.insert(Schedule(
                id=f"{n:06x}", project="api", prompt=f"task {n}",  # type: ignore[arg-type]
                cron=expr, tz="UTC", overlap=Overlap.PARALLEL, priority=0, model=None,
                paused=False, created_by="bench", origin="", created_at=START,
                next_fire_at=next_fire(expr, START, "UTC"), last_fire_at=None,
                last_run_id=None, last_result="", fires=0))


async def scenario(kind: str, count: int, minutes: int) -> tuple[float, float]:
    """(CPU seconds per simulated minute, fires per minute)."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(START)
        db, s = await scheduler(Path(tmp), clock)
        try:
            await fill(s, count, kind)
            fired, cpu = 0, 0.0
            for _ in range(minutes):
                clock.advance(60)
                before = time.process_time()
                fired += await s.tick()
                cpu += time.process_time() - before
            return cpu / minutes, fired / minutes
        finally:
            await db.close()


async def idle(count: int, passes: int = 200) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(START - 3600)  # before every schedule's first slot
        db, s = await scheduler(Path(tmp), clock)
        try:
            await fill(s, count, "spread")
            before = time.process_time()
            for _ in range(passes):
                assert await s.tick() == 0
            return (time.process_time() - before) / passes
        finally:
            await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=30)
    args = parser.parse_args()
    print(f"{args.schedules} schedules, {args.minutes} simulated minutes each")
    print(f"{'table':<14} {'fires/min':>10} {'CPU s/min':>10} {'% of a core':>12}")
    for kind in ("spread", "hourly", "every minute"):
        minutes = args.minutes if kind != "every minute" else max(1, min(args.minutes, 3))
        cpu, fires = await scenario(kind, args.schedules, minutes)
        print(f"{kind:<14} {fires:>10.0f} {cpu:>10.3f} {cpu / 60 * 100:>11.2f}%")
    per_pass = await idle(args.schedules)
    print(f"idle pass (nothing due): {per_pass * 1e3:.3f} ms CPU; the loop makes at most "
          f"2 such passes a minute when nothing is due")


if __name__ == "__main__":
    asyncio.run(main())
