"""The witness: classifies every live run as its events arrive (the bus) and on a timer (its
process), records each change, and acts by the project's ``witness`` policy.

It never blocks a run: it reads the lossy bus from its own subscription (a dropped event at
worst delays a verdict; the timer catches up from the run records), and it acts through the
run manager's commands like a person would (steer, interrupt, resume).

The agent's process is the one the SDK started for the run's session (the launcher, which
``exec``s the CLI, so its pid is the CLI's, or its sandbox's: the CPU counted is its whole
tree's): :meth:`core.runs.service.RunManager.agent_pid`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

from core.config import Config
from core.errors import UserError
from core.events.bus import (
    AgentText,
    Event,
    EventBus,
    RunNote,
    RunStateChanged,
    Subscription,
    ToolCalled,
    TurnFinished,
)
from core.events.log import EventLog
from core.runs.commands import until_ended
from core.runs.service import RunManager
from core.types import RunState
from core.witness.procs import alive, cpu_seconds
from core.witness.store import WitnessStore
from core.witness.types import Classification, RunHealth, Verdict
from core.witness.watch import HEALTHY, Watch, classify

log = logging.getLogger(__name__)

WATCHED = (RunState.RUNNING, RunState.WAITING)
MAX_RESTARTS = 3  # per run and Gluon process: past them, the witness only says so
ZOMBIE_SETTLE_SECONDS = 30.0  # for the run's supervisor to see its agent is gone
ACTOR = "witness"
USUAL_RUNS = 20  # a project's last finished runs its usual run time is the median of
USUAL_TTL = 600.0  # seconds a project's usual run time is kept before it is read again


def restart_hint(verdict: Verdict) -> str:
    return (f"Gluon's witness restarted you: you looked {verdict.classification} "
            f"({verdict.reason}). Continue where you left off: check the state of the "
            "working tree first.")


def nudge_hint(verdict: Verdict) -> str:
    if verdict.classification is Classification.LOOPING:
        return (f"You are repeating yourself: {verdict.reason}. Stop running it again: read "
                "its output, change your approach, or say what blocks you.")
    return (f"You are not making progress: {verdict.reason}. Try a different approach, or "
            "say what blocks you.")


class Witness:
    def __init__(self, config: Config, store: WitnessStore, runs: RunManager,
                 events: EventLog, bus: EventBus) -> None:
        self.config = config
        self.cfg = config.witness
        self.store = store
        self.runs = runs
        self.events = events
        self.bus = bus
        self.watches: dict[str, Watch] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._actions: set[asyncio.Task[None]] = set()
        # project -> (when read, its usual run time): see usual_time
        self._usual: dict[str, tuple[float, tuple[float, int] | None]] = {}

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.cfg.enabled or self._tasks:
            return
        sub = self.bus.subscribe(lambda e: isinstance(
            e, ToolCalled | TurnFinished | AgentText | RunStateChanged))
        await self._reconcile()
        self._tasks = [asyncio.create_task(self._consume(sub), name="witness-events"),
                       asyncio.create_task(self._timer(), name="witness-timer")]

    async def close(self) -> None:
        tasks, self._tasks = [*self._tasks, *self._actions], []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _consume(self, sub: Subscription) -> None:
        try:
            while True:
                event = await sub.get()
                try:
                    if self.observe(event):
                        if isinstance(event, TurnFinished):
                            await self._read_errors(event.run_id)
                        await self.check(event.run_id, sample=False)
                except Exception:
                    log.exception("the witness failed on %s", type(event).__name__)
        finally:
            sub.close()

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.interval_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("the witness's check failed")

    # -- what it sees -----------------------------------------------------------------------

    def observe(self, event: Event) -> bool:
        """Take in one bus event; True when the run's verdict may have changed."""
        if isinstance(event, RunStateChanged):
            if event.new in WATCHED and self.runs.is_live(event.run_id):
                w = self.watches.get(event.run_id)
                if w is None:
                    w = self.watches[event.run_id] = Watch(
                        event.run_id, event.project, event.at, self.cfg.window,
                        since=event.at, started_at=event.at)
                w.running = event.new is RunState.RUNNING
                w.output(event.at)
            else:
                self.watches.pop(event.run_id, None)
            return False
        w = self.watches.get(event.run_id)
        if w is None:
            return False
        if isinstance(event, ToolCalled):
            w.tool_called(event.tool, event.summary, event.at)
        elif isinstance(event, TurnFinished):
            w.turn_finished(event.at)
        else:
            w.output(event.at)
        return True

    async def _reconcile(self) -> None:
        """The live runs from their records (at start, and after the bus dropped events)."""
        # Only the runs this Gluon executes: another process's (a command's own Gluon, a
        # worker's) are its own witness's to judge.
        live = [r for r in await self.runs.store.find(states=list(WATCHED), limit=1000)
                if self.runs.is_live(r.id)]
        now = time.time()
        ids = {r.id for r in live}
        for gone in set(self.watches) - ids:
            del self.watches[gone]
        new: list[str] = [r.id for r in live if r.id not in self.watches]
        known = await self.store.current(new)
        unsaid = await self.store.unacted(new)
        for run in live:
            if run.id in self.watches:
                continue
            w = self.watches[run.id] = Watch(
                run.id, run.project, run.last_activity_at or run.started_at or now,
                self.cfg.window, running=run.state is RunState.RUNNING, since=now,
                started_at=run.started_at or now)
            if run.id in known:
                w.silenced = known[run.id].silenced
            # Classified and acted on before a restart of Gluon: not said twice. A change
            # recorded but not acted on (Gluon stopped in between) is found and said again.
            if run.id in known and run.id not in unsaid:
                w.verdict = Verdict(known[run.id].classification, known[run.id].reason)
                w.since = known[run.id].since

    async def tick(self) -> None:
        await self._reconcile()
        for run_id in list(self.watches):
            await self.check(run_id)

    async def check(self, run_id: str, *, sample: bool = True) -> Verdict | None:
        """Classify ``run_id`` now (``sample``: with a look at its process first, before
        anything else happens); records and acts on a change."""
        w = self.watches.get(run_id)
        if w is None:
            return None
        now = time.time()
        if sample:
            pid = self.runs.agent_pid(run_id)
            if pid is None:
                w.sampled(None, True, None, now)
            else:
                is_alive = alive(pid)
                w.sampled(pid, is_alive, cpu_seconds(pid) if is_alive else None, now)
        if sample:
            await self._read_errors(run_id)
        w.usual = await self.usual_time(w.project, now)
        verdict = classify(w, self.cfg, now)
        if verdict.classification is not w.verdict.classification:
            w.verdict, w.since = verdict, now
            await self._changed(w, verdict, now)
        return verdict

    async def usual_time(self, project: str, now: float) -> tuple[float, int] | None:
        """The median time of ``project``'s last finished runs (review or merged) and how many
        it is of; None below ``slow_min_runs`` of them (read again every ``USUAL_TTL``)."""
        cached = self._usual.get(project)
        if cached is not None and now - cached[0] < USUAL_TTL:
            return cached[1]
        done = await self.runs.store.find(project=project, states=[RunState.REVIEW,
                                          RunState.MERGED], limit=USUAL_RUNS)
        times = sorted(r.ended_at - r.started_at for r in done
                       if r.started_at and r.ended_at and r.ended_at > r.started_at)
        usual = ((times[len(times) // 2], len(times))
                 if times and len(times) >= self.cfg.slow_min_runs else None)
        self._usual[project] = (now, usual)
        return usual

    async def _read_errors(self, run_id: str) -> None:
        """The failed tool calls the run's log got since the last look (tool results are
        not on the bus)."""
        w = self.watches.get(run_id)
        if w is None:
            return
        for event in await self.runs.store.events(run_id, w.log_cursor, 200):
            w.log_cursor = max(w.log_cursor, event.id)
            if event.kind == "tool_error":
                w.tool_failed(event.summary)

    # -- what it does -----------------------------------------------------------------------

    async def _changed(self, w: Watch, verdict: Verdict, now: float) -> None:
        await self.store.change(w.run_id, verdict.classification, verdict.reason, now)
        if verdict is HEALTHY or verdict.classification is Classification.HEALTHY:
            return
        policy = self.config.project(w.project).witness
        stored = await self.store.get(w.run_id)
        if policy == "off" or (stored is not None and stored.silenced):
            return
        text = f"⚠ run {w.run_id} looks {verdict.classification}: {verdict.reason}"
        cls = verdict.classification
        action = "notify"
        try:
            if policy in ("nudge", "restart") and cls in (Classification.LOOPING,
                                                          Classification.STUCK):
                await self.runs.steer(w.run_id, nudge_hint(verdict), actor=ACTOR)
                action, text = "nudge", f"{text}. Nudged its agent."
            elif policy == "restart" and cls in (Classification.STALLED,
                                                 Classification.ZOMBIE):
                if w.restarts >= MAX_RESTARTS:
                    text = f"{text}. Restarted {w.restarts} times already: look at it."
                else:
                    w.restarted(now)
                    action = "restart"
                    text = f"{text}. Restarting its agent from its session."
                    if cls is Classification.STALLED:
                        await self.runs.interrupt(w.run_id, actor=ACTOR)
                        await self.runs.resume(w.run_id, restart_hint(verdict), actor=ACTOR)
                    else:
                        self._spawn(self._revive(w.run_id, verdict))
        except UserError as exc:
            text = f"{text}. Could not act on it: {exc}"
        await self.store.acted(w.run_id, action)
        await self.note(w.run_id, w.project, text)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="witness-action")
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)

    async def _revive(self, run_id: str, verdict: Verdict) -> None:
        """A zombie's restart: once its supervisor has let go of the dead agent, the run is
        resumed from its session (the run manager's recovery path)."""
        run = await self.runs.get(run_id)
        try:
            with contextlib.suppress(TimeoutError):
                await until_ended(self.bus, self.runs.store, run_id, ZOMBIE_SETTLE_SECONDS)
            for _ in range(100):  # it lets go of the run just after it recorded its end
                if not self.runs.is_live(run_id):
                    break
                await asyncio.sleep(0.05)  # noqa: ASYNC110 - no event says it
            await self.runs.resume(run_id, restart_hint(verdict), actor=ACTOR)
        except UserError as exc:
            await self.note(run_id, run.project, f"⚠ run {run_id} could not be restarted: {exc}")

    async def note(self, run_id: str, project: str, text: str) -> None:
        event = await self.events.append(RunNote(run_id=run_id, project=project,
                                                 source="witness", text=text))
        self.events.publish(event)

    # -- what people ask --------------------------------------------------------------------

    def verdict_of(self, run_id: str) -> Verdict | None:
        """The live run's classification now, when it is watched (no I/O)."""
        w = self.watches.get(run_id)
        return w.verdict if w is not None else None

    def signal(self, run_id: str) -> tuple[str, str] | None:
        """What :func:`core.runs.health.assess` takes of the witness for ``run_id``: its
        classification and reason, ("healthy", "") when silenced, None when not watched."""
        w = self.watches.get(run_id)
        if w is None:
            return None
        if w.silenced:
            return (str(Classification.HEALTHY), "")
        return (str(w.verdict.classification), w.verdict.reason)

    def signals(self, run_ids: list[str]) -> dict[str, tuple[str, str]]:
        """:meth:`signal` of each of ``run_ids`` that is watched."""
        return {r: sig for r in run_ids if (sig := self.signal(r)) is not None}

    async def health(self, run_id: str) -> RunHealth:
        """The run's classification, its reason and since when, and its history."""
        run = await self.runs.get(run_id)
        stored = await self.store.get(run.id)
        history = await self.store.history(run.id)
        w = self.watches.get(run.id)
        silenced = stored.silenced if stored is not None else False
        if w is not None:
            return RunHealth(run.id, w.verdict.classification, w.verdict.reason, w.since,
                             silenced, history)
        if stored is not None:
            return RunHealth(run.id, stored.classification, stored.reason, stored.since,
                             silenced, history)
        return RunHealth(run.id, Classification.HEALTHY, "not classified", run.created_at,
                         silenced, history)

    async def healths(self, run_ids: list[str]) -> dict[str, RunHealth]:
        """The current classification of each of ``run_ids`` that has one (no history)."""
        found = await self.store.current(run_ids)
        for run_id in run_ids:
            w = self.watches.get(run_id)
            if w is not None:
                old = found.get(run_id)
                found[run_id] = RunHealth(run_id, w.verdict.classification, w.verdict.reason,
                                          w.since, old.silenced if old else False)
        return found

    async def silence(self, run_id: str, silenced: bool = True, actor: str = "cli") -> RunHealth:
        """Say that the run's alarms are false (``silenced``), or listen to them again: a
        silenced run is still classified, and nothing is said or done about it."""
        run = await self.runs.get(run_id)
        await self.store.silence(run.id, silenced, time.time())
        if (w := self.watches.get(run.id)) is not None:
            w.silenced = silenced
        await self.runs.activity.record(actor, "run.silence_health", run.id, "ok",
                                        "silenced" if silenced else "listened to")
        return await self.health(run.id)
