"""Schedules: a prompt run on a project at the times a cron expression names.

A loop over the ``schedules`` table, not an in-memory scheduler (DESIGN §3: the coordinator owns
the schedules; ``gluon serve`` runs :meth:`Schedules.run` as one of its core tasks). Each pass
takes the schedules whose next slot has come, fires each once, and stores its next slot:

- **Once per slot, whatever happens.** A fire queues its run with the key
  ``cron:<schedule id>:<slot>`` (UTC), and a run is made at most once per key; the slot is then
  moved on only if it is still the one fired. So a Gluon killed between the two, or a second
  process on the same data dir, never fires a slot twice.
- **After downtime, once.** The next slot is computed from now, so a schedule that missed
  several slots while Gluon was down fires once when it is back, for the first one it missed.
- **Overlap** (:class:`Overlap`): while the schedule's previous run is live, ``skip`` fires
  nothing, ``queue`` queues the run and the gate holds it until the previous one has ended
  (:meth:`Schedules.hold`), ``parallel`` starts it anyway.
- **Time** comes from a :class:`~core.jobs.Clock`, which tests move by hand.

The run layer knows nothing of schedules: a fire goes through the ``start`` function the
runtime gives (the run manager's ``start_run``), and the hold is one of the gate's checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.access.activity import ActivityLog
from core.config import resolve_model
from core.errors import Ambiguous, InvalidInput, NotFound, UserError
from core.jobs import Clock, QueueUnavailable, SystemClock
from core.models import Run
from core.projects.service import ProjectService
from core.runs.requests import check_priority
from core.runs.store import RunStore
from core.schedules import cron
from core.schedules.store import ScheduleStore
from core.schedules.types import Overlap, Schedule
from core.text_input import check_optional, check_text
from core.types import LIVE_STATES

log = logging.getLogger(__name__)

MAX_SLEEP = 30.0
"""The loop looks at the table at least this often (a schedule added by another process)."""
BATCH = 500
"""Schedules fired per pass at most; the next pass follows at once."""
NEXT_SHOWN = 3


@dataclass(frozen=True)
class Fire:
    """One fire, for the run manager: what to start, under which key, as whom."""

    schedule: Schedule
    slot: float
    key: str


Start = Callable[[Fire], Awaitable[Run]]


def key_of(schedule_id: str, slot: float) -> str:
    return f"cron:{schedule_id}:{cron.slot_name(slot)}"


class ScheduleView(Schedule):
    """A schedule with its next fire times, as listed."""

    next_fires: list[float]


class Schedules:
    def __init__(self, store: ScheduleStore, runs: RunStore, projects: ProjectService,
                 activity: ActivityLog, start: Start, clock: Clock | None = None) -> None:
        self.store = store
        self.runs = runs
        self.projects = projects
        self.activity = activity
        self.start = start
        self.clock: Clock = clock or SystemClock()
        self._wake = asyncio.Event()

    # -- people -----------------------------------------------------------------------------

    async def add(self, project: str, cron_expr: str, prompt: str, *, tz: str | None = None,
                  overlap: Overlap | str = Overlap.SKIP, model: str | None = None,
                  priority: int = 0, actor: str = "cli", origin: str = "") -> ScheduleView:
        """A new schedule, active at once (its first fire is the next slot from now)."""
        prompt = check_text(prompt, "prompt").strip()
        check_optional(model, "model")
        if not prompt:
            raise InvalidInput("the prompt is empty; say what the scheduled runs should do")
        expr = cron.check_cron(check_text(cron_expr, "cron"))
        zone = cron.check_zone(tz)
        try:
            policy = Overlap(overlap)
        except ValueError:
            raise InvalidInput(f"overlap {overlap!r} is not one of skip, queue, parallel"
                               ) from None
        check_priority(priority)
        if model is not None:
            model = resolve_model(model, model)
        proj = await self.projects.named(project)
        now = self.clock.now()
        schedule = Schedule(
            id=await self.store.new_id(), project=proj.name, prompt=prompt, cron=expr,
            tz=zone, overlap=policy, priority=priority, model=model, paused=False,
            created_by=actor, origin=origin, created_at=now,
            next_fire_at=cron.next_fire(expr, now, zone), last_fire_at=None,
            last_run_id=None, last_result="", fires=0)
        await self.store.insert(schedule)
        await self.activity.record(actor, "schedule.add", schedule.id, "ok",
                                   f"{proj.name} `{expr}` ({zone}): {prompt}")
        self._wake.set()
        return await self.view(schedule.id)

    async def get(self, schedule_id: str) -> Schedule:
        """A schedule by its id or a unique prefix of it."""
        wanted = check_text(schedule_id, "schedule").strip().lower()
        found = await self.store.starting_with(wanted) if wanted else []
        exact = [s for s in found if s.id == wanted]
        if exact:
            return exact[0]
        if not found:
            known = ", ".join(s.id for s in (await self.store.all())[:10])
            hint = f"; schedules: {known}" if known else "; add one with add_schedule"
            raise NotFound(f"no schedule {wanted!r}{hint}")
        if len(found) > 1:
            raise Ambiguous(f"schedule id {wanted!r} is ambiguous "
                            f"({', '.join(s.id for s in found)}); type more characters")
        return found[0]

    async def view(self, schedule_id: str) -> ScheduleView:
        return self._view(await self.get(schedule_id))

    def _view(self, s: Schedule) -> ScheduleView:
        fires = [] if s.paused or s.next_fire_at is None else [s.next_fire_at]
        if fires:
            fires += cron.next_fires(s.cron, s.next_fire_at or 0, s.tz, NEXT_SHOWN - 1)
        return ScheduleView(**s.model_dump(), next_fires=fires)

    async def list(self, project: str | None = None) -> list[ScheduleView]:
        if project is not None:
            await self.projects.named(project)
        return [self._view(s) for s in await self.store.all(project)]

    async def pause(self, schedule_id: str, actor: str = "cli") -> ScheduleView:
        """No fires until resumed (slots missed meanwhile are not made up)."""
        s = await self.get(schedule_id)
        await self.store.set_paused(s.id, True, None)
        await self.activity.record(actor, "schedule.pause", s.id, "ok")
        return await self.view(s.id)

    async def resume(self, schedule_id: str, actor: str = "cli") -> ScheduleView:
        """Active again from its next slot after now."""
        s = await self.get(schedule_id)
        if s.paused:
            await self.store.set_paused(s.id, False,
                                        cron.next_fire(s.cron, self.clock.now(), s.tz))
            self._wake.set()
        await self.activity.record(actor, "schedule.resume", s.id, "ok")
        return await self.view(s.id)

    async def remove(self, schedule_id: str, actor: str = "cli") -> Schedule:
        """Delete a schedule; the runs it made are kept."""
        s = await self.get(schedule_id)
        await self.store.delete(s.id)
        await self.activity.record(actor, "schedule.remove", s.id, "ok",
                                   f"{s.project} `{s.cron}`: {s.prompt}")
        return s

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Fire due schedules until cancelled (the daemon's core task)."""
        while True:
            try:
                await self.tick()
                wait = await self._until_next()
            except QueueUnavailable as exc:  # the slot stays due; fired once it answers
                log.warning("schedules cannot fire: %s", exc)
                wait = MAX_SLEEP
            except Exception:
                log.exception("the scheduler's pass failed; it tries again")
                wait = MAX_SLEEP
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()

    async def _until_next(self) -> float:
        at = await self.store.next_due()
        if at is None:
            return MAX_SLEEP
        return min(MAX_SLEEP, max(0.0, at - self.clock.now()) + 0.05)

    async def tick(self) -> int:
        """Fire every schedule whose slot has come; returns how many fired (or skipped)."""
        count = 0
        while True:
            now = self.clock.now()
            due = await self.store.due(now, BATCH)
            for s in due:
                await self._fire(s, now)
                count += 1
            if len(due) < BATCH:
                return count

    async def _fire(self, s: Schedule, now: float) -> None:
        assert s.next_fire_at is not None
        slot = s.next_fire_at
        key = key_of(s.id, slot)
        run_id: str | None = None
        made = await self.runs.by_key(key)  # fired already, by a Gluon that then died
        if made is not None:
            run_id, result = made.id, f"started run {made.id}"
        else:
            live = [r for r in await self.runs.by_key_prefix(f"cron:{s.id}:")
                    if r.state in LIVE_STATES] if s.overlap is Overlap.SKIP else []
            if live:
                result = f"skipped: run {live[0].id} is still {live[0].state}"
            else:
                try:
                    run = await self.start(Fire(s, slot, key))
                    run_id, result = run.id, f"started run {run.id}"
                except QueueUnavailable:
                    raise
                except UserError as exc:
                    result = f"could not start a run: {exc}"
                except Exception as exc:
                    log.exception("schedule %s could not start a run", s.id)
                    result = f"could not start a run: {type(exc).__name__}: {exc}"
        nxt = cron.next_fire(s.cron, max(now, slot), s.tz, last=slot)
        if await self.store.fired(s.id, slot, nxt, run_id, result):
            log.info("schedule %s (%s `%s`) for %s: %s", s.id, s.project, s.cron,
                     cron.slot_name(slot), result)

    async def of_run(self, run: Run) -> Schedule | None:
        """The schedule that started ``run``, if one did and still exists."""
        if run.source != "cron" or not run.key or not run.key.startswith("cron:"):
            return None
        return await self.store.get(run.key.split(":")[1])

    async def hold(self, run: Run) -> str | None:
        """The gate's check: a run of a ``queue`` schedule waits while an earlier run of the
        same schedule is live."""
        s = await self.of_run(run)
        if s is None or s.overlap is not Overlap.QUEUE:
            return None
        schedule_id = s.id
        earlier = [r for r in await self.runs.by_key_prefix(f"cron:{schedule_id}:")
                   if r.state in LIVE_STATES and r.id != run.id
                   and (r.created_at, r.id) < (run.created_at, run.id)]
        if not earlier:
            return None
        return (f"the previous run {earlier[-1].id} of schedule {schedule_id} is still "
                f"{earlier[-1].state}")

