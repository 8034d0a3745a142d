"""The autonomous loop: a run whose agent is told to continue after each reply, until it is
done, a cap stops it, or its circuit breaker opens.

``Loops.start`` starts the run with its task and the loop's instructions
(:mod:`core.loops.prompts`) and records the loop. :meth:`Loops.after_turn` is the run layer's
follow-up hook (:mod:`core.runs.follow_ups`); after each iteration it decides, in this order:

1. done: the reply holds both ``STATUS: COMPLETE`` and ``EXIT_SIGNAL: true``, or the TODO
   file (``[loop] todo_file``) has items and all are ticked: no answer (the run goes to
   review), and a note says so. One signal alone is not enough; the next prompt says why.
2. the circuit breaker: an iteration made progress when what the worktree holds against the
   run's base changed (a file change or a commit of one) or the agent moved from one error
   to another (the ``ERROR:`` line of its status block, else the last failed tool call of the
   iteration). After ``[loop] breaker_after`` iterations in a row without, the breaker opens
   and the run goes to review with the reason; one iteration before, the agent is warned.
3. the caps: the loop's cost (the run's cost since the loop began; a note at 80%), and its
   number of iterations, stop it; more iterations in an hour than ``max_calls_per_hour`` make
   the next one wait (the run stays queued until then).
4. otherwise the agent is told to continue, in the same session: one job per iteration.

Each decision is stored with its note in one transaction before the run moves on; a Gluon that
dies between the two asks again after the turn it resumes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from core.agent.session import AgentResult
from core.config import Config
from core.errors import InvalidInput, NotFound
from core.events.bus import RunNote
from core.events.log import EventLog
from core.git import listing
from core.git import ops as gitops
from core.loops import prompts, signals
from core.loops.store import LoopStore
from core.loops.types import BreakerState, Loop, LoopState, LoopStatus, dollars
from core.models import Run
from core.runs.follow_ups import Finish, FollowUp
from core.runs.service import RunManager
from core.types import RunState

log = logging.getLogger(__name__)

COST_WARNING = 0.8  # of the cost cap: said once
MAX_LOOPS = 1000


class Loops:
    def __init__(self, config: Config, store: LoopStore, runs: RunManager,
                 events: EventLog) -> None:
        self.config = config
        self.store = store
        self.runs = runs
        self.events = events

    async def start(self, project: str, prompt: str, *, max_loops: int | None = None,
                    max_cost_usd: float | None = None, max_calls_per_hour: int | None = None,
                    actor: str = "cli", model: str | None = None, source: str = "cli") -> Run:
        """Start a run on ``project`` that loops on ``prompt`` (see the module's docstring);
        a cap left out comes from ``[loop]`` in the config."""
        cfg = self.config.loop
        loops = cfg.max_loops if max_loops is None else max_loops
        cost = cfg.max_cost_usd if max_cost_usd is None else max_cost_usd
        calls = cfg.max_calls_per_hour if max_calls_per_hour is None else max_calls_per_hour
        if not 1 <= loops <= MAX_LOOPS:
            raise InvalidInput(f"max_loops {loops!r} must be between 1 and {MAX_LOOPS}")
        if cost is not None and cost <= 0:
            raise InvalidInput(f"max_cost_usd {cost!r} must be a positive number of dollars")
        if calls is not None and calls < 1:
            raise InvalidInput(f"max_calls_per_hour {calls!r} must be at least 1")
        task = prompt.strip()
        if not task:
            raise InvalidInput("the prompt is empty; say what the agent should do")
        run = await self.runs.start_run(
            project, prompts.instructions(task, max_loops=loops, max_cost_usd=cost,
                                          todo_file=cfg.todo_file),
            model=model, actor=actor, source=source)
        async with self.store.transaction():
            await self.store.insert(run_id=run.id, max_loops=loops, max_cost_usd=cost,
                                    max_calls_per_hour=calls, spend_at_start=run.cost_usd,
                                    created_by=actor, at=time.time())
            caps = f"at most {loops} iterations" + (f", {dollars(cost)}" if cost else "")
            await self._note(run, f"🔁 Loop started: {caps}; it stops when the agent says it "
                                  "is done, or nothing changes for "
                                  f"{cfg.breaker_after} iterations.")
        return run

    async def status(self, run_id: str) -> LoopStatus:
        """The loop of a run (id or unique prefix)."""
        run = await self.runs.get(run_id)
        found = await self.status_of(run)
        if found is None:
            raise NotFound(f"run {run.short} is not a loop; start one with "
                           "start_run(loop=true)")
        return found

    async def status_of(self, run: Run) -> LoopStatus | None:
        """The run's loop, or None for a run that is not one."""
        loop = await self.store.get(run.id)
        if loop is None:
            return None
        return LoopStatus(
            run_id=loop.run_id, state=loop.state, iteration=loop.iteration,
            max_loops=loop.max_loops, breaker=loop.breaker, no_progress=loop.no_progress,
            breaker_after=self.config.loop.breaker_after,
            spent_usd=round(max(0.0, run.cost_usd - loop.spend_at_start), 6),
            max_cost_usd=loop.max_cost_usd, max_calls_per_hour=loop.max_calls_per_hour,
            last_error=loop.last_error, stopped_reason=loop.stopped_reason,
            created_by=loop.created_by, created_at=loop.created_at,
            updated_at=loop.updated_at)

    async def after_turn(self, run: Run, result: AgentResult) -> FollowUp | Finish | None:
        """The follow-up hook: what the loop says after its run's agent ended a turn."""
        loop = await self.store.get(run.id)
        if loop is None or loop.state is not LoopState.ACTIVE:
            return None
        cfg = self.config.loop
        i, n = loop.iteration, loop.max_loops
        said = signals.read_reply(result.result)
        if said.done or await self._checklist_done(run):
            why = ("the agent said it is complete" if said.done
                   else f"every item of {cfg.todo_file} is ticked")
            await self._end(run, LoopState.DONE, f"done after {i} iteration(s): {why}",
                            f"🔁 Loop done after {i} iteration(s): {why}.")
            return None
        now = time.time()
        head, digest = await self._where(run)
        error = said.error or await self._last_tool_error(run, loop)
        before = loop.last_fingerprint or listing.NOTHING_CHANGED
        progressed = (digest is None or digest != before
                      or (error is not None and loop.last_error is not None
                          and error != loop.last_error))
        breaker = signals.next_breaker(loop.no_progress, progressed, cfg.breaker_after)
        spent = max(0.0, run.cost_usd - loop.spend_at_start)
        fields: dict[str, object] = dict(breaker=breaker.state, no_progress=breaker.no_progress,
                                         last_head=head,
                                         last_fingerprint=digest or loop.last_fingerprint,
                                         last_error=error)
        if breaker.state is BreakerState.OPEN:
            same = f" (same error: {error})" if error else ""
            why = (f"the circuit breaker opened: no file change or commit in "
                   f"{breaker.no_progress} iterations{same}")
            return await self._stop(run, why, f"🛑 Loop stopped after {i} iteration(s): {why}.",
                                    **fields)
        if loop.max_cost_usd is not None and spent >= loop.max_cost_usd:
            why = (f"its cost cap of {dollars(loop.max_cost_usd)} was reached "
                   f"(${spent:.2f} spent)")
            return await self._stop(run, why, f"💸 Loop stopped after {i} iteration(s): {why}.",
                                    **fields)
        if i >= n:
            why = f"it reached its limit of {n} iterations"
            return await self._stop(run, why, f"🔁 Loop stopped: {why}.", **fields)
        notes: list[str] = []
        if (loop.max_cost_usd is not None and not loop.cost_warned
                and spent >= COST_WARNING * loop.max_cost_usd):
            fields["cost_warned"] = True
            notes.append(f"💸 Loop at ${spent:.2f} of its {dollars(loop.max_cost_usd)} cap; "
                         "it stops there.")
        times, not_before = signals.calls_wait(loop.turn_times, now, loop.max_calls_per_hour)
        fields.update(turn_times=times, iteration=i + 1)
        if breaker.state is BreakerState.HALF_OPEN and loop.breaker is BreakerState.CLOSED:
            notes.append(f"⚠ Loop: no change in {breaker.no_progress} iteration(s); the "
                         "breaker opens after one more.")
        if not_before is not None:
            at = time.strftime("%H:%M", time.localtime(not_before))
            notes.append(f"⏳ Loop: {loop.max_calls_per_hour} iteration(s) in the last hour; "
                         f"iteration {i + 1} starts at {at}.")
        async with self.store.transaction():
            await self.store.update(run.id, now, **fields)
            for text in notes:
                await self._note(run, text)
        message = prompts.next_prompt(i + 1, n, half=said.half,
                                      warn=breaker.state is BreakerState.HALF_OPEN,
                                      breaker_after=cfg.breaker_after, error=error)
        reason = f"loop {i + 1}/{n}"
        if not_before is not None:
            reason += f": waits for the hourly cap of {loop.max_calls_per_hour} iterations"
        return FollowUp(message, reason, not_before=not_before)

    # -- what an iteration left ------------------------------------------------------------

    async def _checklist_done(self, run: Run) -> bool:
        path = Path(run.cwd) / self.config.loop.todo_file
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return False
        return signals.read_checklist(text).finished

    async def _where(self, run: Run) -> tuple[str | None, str | None]:
        """The branch head and the digest of the worktree's work (None when unreadable)."""
        cwd = Path(run.cwd)
        try:
            head = await gitops.head_sha(cwd)
            if run.base_sha is not None:
                return head, await listing.work_digest(cwd, run.base_sha)
            # No base to compare with: the head's moves count as well as the files'.
            digest = await listing.work_digest(cwd, head)
            return head, hashlib.sha256(f"{head}:{digest}".encode()).hexdigest()
        except Exception as exc:  # a worktree gone or broken: no progress can be seen
            log.warning("the loop of run %s cannot read its worktree: %s", run.id, exc)
            return None, None

    async def _last_tool_error(self, run: Run, loop: Loop) -> str | None:
        """The last failed tool call of this iteration, if any."""
        since = loop.updated_at
        for event in reversed(await self.runs.logs(run.id, 0, 200)):
            if event.at < since:
                break
            if event.kind == "tool_error":
                return event.summary.strip().splitlines()[0][:300] if event.summary else None
        return None

    # -- ends and notes ----------------------------------------------------------------------

    async def _end(self, run: Run, state: LoopState, reason: str, note: str,
                   **fields: object) -> None:
        async with self.store.transaction():
            await self.store.update(run.id, time.time(), state=state, stopped_reason=reason,
                                    **fields)
            await self._note(run, note)
        log.info("the loop of run %s ended: %s", run.id, reason)

    async def _stop(self, run: Run, why: str, note: str, **fields: object) -> Finish:
        await self._end(run, LoopState.STOPPED, why, note, **fields)
        return Finish(RunState.REVIEW, f"loop stopped: {why}")

    async def _note(self, run: Run, text: str) -> None:
        event = await self.events.append(RunNote(run_id=run.id, project=run.project,
                                                 source="loop", text=text))
        self.events.publish(event)
