"""The run supervisor: one asyncio task per live run, owning that run's agent session.

It reads one inbox that carries both the agent's messages and the commands people send through
the run's command channel (steer, interrupt, cancel, answers; see :mod:`core.runs.commands`),
so everything that happens to a run is handled in order, in one place. It reaches the Gluon
that executes it only through :class:`~core.runs.port.SupervisorPort`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, TextIO

from core.agent import api_errors
from core.agent.session import (
    AgentApiError,
    AgentApiRetry,
    AgentEvent,
    AgentInit,
    AgentResult,
    AgentSession,
    AgentSubagent,
    AgentText,
    AgentToolResult,
    AgentToolUse,
    AgentUsageLimit,
)
from core.events.bus import AgentText as AgentTextEvent
from core.events.bus import ApiRetry, ToolCalled
from core.models import Run
from core.runs import follow_ups, overflow, usage_limit, wrapup
from core.runs.commands import POLL_SECONDS, CommandKind, RunCommand
from core.runs.interactions import describe_tool_call
from core.runs.permissions import PermissionGate, follow_up
from core.runs.port import SupervisorPort
from core.runs.subagents import Subagents
from core.runs.turns import TurnLedger
from core.types import RunState

log = logging.getLogger(__name__)

RESULT_CHARS = 1000  # of a tool's result kept in the run's log

STOP_TIMEOUT = 5.0
"""Seconds to wait for the agent to stop its turn when a run is cancelled or Gluon stops."""


@dataclass(frozen=True)
class _Message:
    event: AgentEvent | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class _Ended:
    error: BaseException | None


_Item = RunCommand | _Message | _Ended


class _Stop(Exception):
    """Leave the supervisor loop with a final state."""

    def __init__(self, state: RunState, reason: str, error: str | None = None,
                 **fields: Any) -> None:
        super().__init__(reason)
        self.state, self.reason, self.error, self.fields = state, reason, error, fields


class RunSupervisor:
    def __init__(self, port: SupervisorPort, run: Run, prompt: str, *, resume: bool,
                 fork_from: str | None) -> None:
        self.port = port
        self.run = run
        self.prompt = prompt
        self.resume = resume
        self.fork_from = fork_from
        self.inbox: asyncio.Queue[_Item] = asyncio.Queue()
        self.session: AgentSession | None = None
        self.state = RunState.QUEUED
        self._outstanding: set[str] = set()
        self._interrupt_requested = False
        self._idle_after_interrupt = False
        self.gate = PermissionGate(port, run, self._set_state, lambda: self.state,
                                   lambda: self._closing)
        self.turns = TurnLedger(port)
        self._agent_up = False
        self._delivered = False  # the agent has shown it received the prompt
        self._closing = False  # the run is ending: record what the agent still does, no more
        self._log: TextIO | None = None
        self._reader: asyncio.Task[None] | None = None
        self._commands: asyncio.Task[None] | None = None
        self._api_error: AgentApiError | None = None  # of the current turn
        self._last_retry: AgentApiRetry | None = None
        self._usage_limit: AgentUsageLimit | None = None  # of the current turn
        self.subagents = Subagents(port, run)
        # The turn that ended well while subagents still ran: the run ends with it if the
        # agent says nothing more (see _on_result).
        self._ended_turn: AgentResult | None = None

    # -- the task ---------------------------------------------------------------------------

    async def main(self) -> None:
        port = self.port
        run_dir = port.config.logs_dir / self.run.id
        run_dir.mkdir(parents=True, exist_ok=True)
        self._log = (run_dir / "messages.jsonl").open("a", encoding="utf-8")
        stderr = (run_dir / "stderr.log").open("a", encoding="utf-8")
        reader: asyncio.Task[None] | None = None
        self.gate.open(time.time())
        self._commands = asyncio.create_task(self._take_commands(),
                                             name=f"commands-{self.run.id}")
        try:
            try:
                self.run = await port.prepare_worktree(self.run)
            except Exception as exc:
                raise _Stop(RunState.FAILED, f"could not create the worktree: {exc}",
                            str(exc)) from exc
            spec = await port.agent_spec(self.run, resume=self.resume,
                                         fork_from=self.fork_from, stderr=stderr)
            await self._set_state(RunState.RUNNING, "agent resumed" if self.resume
                                  else "agent started")
            self.session = await port.runner.open(spec, self.gate.decide)
            reader = self._reader = asyncio.create_task(self._read(self.session),
                                                        name=f"read-{self.run.id}")
            # The prompt stays pending until the agent answers (see _on_event): if Gluon dies
            # before that, the next start sends it again instead of losing it.
            self.prompt = await self._with_earlier_answers(self.prompt)
            self._outstanding.add(await self.session.send(self.prompt))
            await self._loop()
        except _Stop as stop:
            await self._finish(stop.state, stop.reason, stop.error, **stop.fields)
        except asyncio.CancelledError:
            await asyncio.shield(self._finish(RunState.INTERRUPTED,
                                              "Gluon stopped (shut down) while the run was live"))
            raise
        except Exception as exc:
            log.exception("run %s failed", self.run.id)
            await self._finish(RunState.FAILED, f"could not run the agent: {exc}", str(exc))
        finally:
            for task in (reader, self._commands):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            self._log.close()
            stderr.close()

    async def _read(self, session: AgentSession) -> None:
        try:
            async for event, raw in session.events():
                self.inbox.put_nowait(_Message(self.port.redact(event),
                                               self.port.redact(raw)))
        except Exception as exc:
            self.inbox.put_nowait(_Ended(exc))
        else:
            self.inbox.put_nowait(_Ended(None))

    async def _with_earlier_answers(self, prompt: str) -> str:
        """The first message, with the answers given while the run's Gluon was down (to
        requests of the agent it had): the agent reads them before anything else. They join
        the pending prompt before their commands are marked applied, so a crash in between
        loses none and repeats none."""
        for command in await self.port.commands.pending(self.run.id):
            if command.kind is not CommandKind.ANSWER:
                continue  # the loop applies it
            earlier = await self.gate.answered(command.interaction_id)
            if earlier is None:
                continue
            told = follow_up(earlier)
            if told not in prompt:
                prompt = f"{prompt}\n\n{told}"
                await self.port.store.update(self.run.id, pending_prompt=prompt)
            if await self.port.commands.complete(command):
                await self.port.store.add_event(self.run.id, "answer",
                                                f"{earlier.answered_by}: {earlier.answer}")
        return prompt

    async def _take_commands(self) -> None:
        """Commands from the run's channel, into the inbox (a redelivered one is skipped
        when it is handled)."""
        while True:
            try:
                async for command in self.port.commands.watch(self.run.id):
                    self.inbox.put_nowait(command)
            except Exception:
                log.exception("reading the commands of run %s failed; reading them again",
                              self.run.id)
                await asyncio.sleep(POLL_SECONDS)

    async def _loop(self) -> None:
        while True:
            if self._idle_after_interrupt or self._ended_turn is not None:
                try:  # not asyncio.wait_for: on Python 3.11 it loses a cancellation that
                    # arrives as an item does, and the stopped supervisor would go on
                    async with asyncio.timeout(self.port.config.agents.idle_timeout_seconds):
                        item = await self.inbox.get()
                except TimeoutError:
                    await self._idle()
                    continue
            else:
                item = await self.inbox.get()
            await self._handle(item)

    async def _idle(self) -> None:
        """Nothing came for the idle timeout: the run ends (raises its _Stop)."""
        if self._ended_turn is None:
            raise _Stop(RunState.REVIEW, "stopped: no new instructions after the interrupt")
        reason = follow_ups.DONE
        if live := self.subagents.live:
            idle = self.port.config.agents.idle_timeout_seconds
            took = f"{idle / 60:g} min" if idle >= 60 else f"{idle:g} s"
            reason += (f"; {live} subagent{'s' if live != 1 else ''} sent nothing for {took} "
                       f"and {'were' if live != 1 else 'was'} stopped")
        await self._complete(self._ended_turn, reason)

    async def _handle(self, item: _Item) -> None:
        if isinstance(item, RunCommand):
            if await self.port.commands.complete(item):  # else applied already
                await self._apply(item)
        elif isinstance(item, _Ended):
            detail = f": {item.error}" if item.error else ""
            raise _Stop(RunState.FAILED,
                        f"the agent process exited unexpectedly{detail}; resume the run to "
                        "continue", str(item.error or "agent exited"))
        else:
            if item.raw:
                self._write_log(item.raw)
            if item.event is not None:
                await self._on_event(item.event)

    async def _apply(self, command: RunCommand) -> None:
        assert self.session is not None
        actor = command.actor
        if command.kind is CommandKind.STEER:
            await self._steer(command.text, actor, "steer", f"{actor}: {command.text}")
        elif command.kind is CommandKind.ANSWER:
            earlier = await self.gate.answered(command.interaction_id)
            if earlier is not None:  # asked by an agent that is gone: this one is told
                await self._steer(follow_up(earlier), actor, "answer",
                                  f"{earlier.answered_by}: {earlier.answer}")
        elif command.kind is CommandKind.INTERRUPT:
            if self._idle_after_interrupt:
                return
            self._interrupt_requested = True
            await self.port.store.add_event(self.run.id, "interrupt", f"by {actor}")
            await self.session.interrupt()
        else:
            raise _Stop(RunState.CANCELLED, f"cancelled by {actor}")

    async def _steer(self, text: str, actor: str, kind: str, summary: str) -> None:
        assert self.session is not None
        self._outstanding.add(await self.session.send(text))
        await self.port.store.add_event(self.run.id, kind, summary)
        if self._idle_after_interrupt:
            self._idle_after_interrupt = False
            await self._set_state(RunState.RUNNING, f"new instructions from {actor}")

    def _write_log(self, raw: dict[str, Any]) -> None:
        assert self._log is not None
        raw["at"] = time.time()
        self._log.write(json.dumps(raw, default=str) + "\n")
        self._log.flush()

    # -- agent events -----------------------------------------------------------------------

    async def _on_event(self, event: AgentEvent) -> None:
        run_id, project = self.run.id, self.run.project
        now = time.time()
        if not self._delivered:
            self._delivered = True
            await self.port.store.update(run_id, pending_prompt=None)
        if isinstance(event, AgentInit):
            if not self._agent_up and not self._closing:
                self._agent_up = True
                await self.port.agent_started(self.run)
            if event.session_id and (event.session_id != self.run.session_id
                                     or not self.run.session_started):
                await self.port.store.update(run_id, session_id=event.session_id,
                                             session_started=1, fork_from=None)
                self.run = await self.port.store.get(run_id)
        elif isinstance(event, AgentText):
            await self.port.store.update(run_id, last_message=event.text[-2000:],
                                         last_activity_at=now)
            await self.port.store.add_event(run_id, "text", event.text)
            self.port.bus.publish(AgentTextEvent(run_id=run_id, project=project,
                                                 text=event.text))
        elif isinstance(event, AgentToolUse):
            summary = describe_tool_call(event.name, event.input)
            await self.port.store.count_tool_call(run_id, now)
            await self.port.store.add_event(run_id, "tool", summary)
            self.port.bus.publish(ToolCalled(run_id=run_id, project=project, tool=event.name,
                                             summary=summary))
        elif isinstance(event, AgentToolResult):
            # Every result is kept (cut short), so a log shows each tool call with what it
            # gave back; a failed one is its own kind.
            kind = "tool_error" if event.is_error else "tool_result"
            await self.port.store.add_event(run_id, kind, event.text[:RESULT_CHARS])
        elif isinstance(event, AgentApiRetry):
            self._last_retry = event
            summary = api_errors.retry_line(event, self._api_endpoint())
            await self.port.store.add_event(run_id, "retry", summary)
            self.port.bus.publish(ApiRetry(run_id=run_id, project=project,
                                           attempt=event.attempt,
                                           max_retries=event.max_retries,
                                           delay_seconds=event.delay_seconds,
                                           status=event.status, summary=summary))
        elif isinstance(event, AgentApiError):
            self._api_error = event  # the turn's result says it failed; this says why
        elif isinstance(event, AgentUsageLimit):
            self._usage_limit = event
            await self.port.store.add_event(run_id, "limit", f"usage limit ({event.window})")
        elif isinstance(event, AgentSubagent):
            await self._on_subagent(event)
        else:
            await self._on_result(event)

    def _api_endpoint(self) -> str:
        return api_errors.endpoint(self.port.config.anthropic.base_url
                                   or self.port.environ.get("ANTHROPIC_BASE_URL"))

    async def _on_subagent(self, event: AgentSubagent) -> None:
        await self.subagents.record(self.run, event)
        if self._ended_turn is None or self._closing:
            return
        if self.subagents.live:
            await self._set_state(RunState.RUNNING, self.subagents.waiting())
        else:  # the agent gets their results in a turn of its own; the run ends after it
            await self._set_state(RunState.RUNNING, "the subagents are done; the agent reads "
                                  "what they found")

    async def _on_result(self, result: AgentResult) -> None:
        api_error, last_retry, limit = self._api_error, self._last_retry, self._usage_limit
        self._api_error = self._last_retry = self._usage_limit = None
        self._ended_turn = None
        self.run = await self.turns.record(self.run, result)
        await self._announce_images()
        if result.user_message_uuids:
            self._outstanding -= set(result.user_message_uuids)
        else:
            self._outstanding.clear()
        if self._closing:
            return  # the run is ending anyway; this turn is only recorded
        if self._outstanding:
            return  # a steer message started another turn; keep going
        aborted = result.terminal_reason in ("aborted_streaming", "aborted_tools")
        if self._interrupt_requested and aborted:
            self._interrupt_requested = False
            self._idle_after_interrupt = True
            await self._set_state(RunState.WAITING,
                                  "interrupted; steer it to continue, or cancel it")
            return
        if result.terminal_reason == overflow.TERMINAL_REASON:
            if await overflow.recoveries(self.port.store, self.run.id) >= overflow.MAX_RECOVERIES:
                raise _Stop(RunState.FAILED, overflow.GAVE_UP, "prompt too long")
            fresh = await overflow.fresh_start(self.port.store, self.run)
            await self.port.note(self.run, "overflow", overflow.NOTE)
            raise _Stop(RunState.QUEUED, overflow.REASON, not_before=None, **fresh)
        if result.subtype == "error_max_budget_usd":
            raise _Stop(RunState.FAILED,
                        f"stopped at the run budget of ${self.run.budget_usd or 0:.2f}",
                        "budget exhausted")
        if result.is_error and limit is not None:
            parked = usage_limit.decide(limit, await self.port.store.transitions(self.run.id),
                                        self.port.config.agents, time.time())
            if parked is not None:
                raise _Stop(parked.state, parked.reason, **parked.fields)
        if result.is_error and api_error is not None:
            reason = api_errors.failure_reason(api_error, last_retry, self._api_endpoint())
            raise _Stop(RunState.FAILED, reason[:500], reason)
        if result.is_error:
            detail = "; ".join(result.errors) or result.result or result.subtype
            raise _Stop(RunState.FAILED, f"the agent failed: {detail}"[:500], detail)
        if self.subagents.live:
            # Subagents in the background outlive the turn that started them; the CLI gives
            # the agent their results in a new turn when they stop. The run ends after that
            # turn, or with this one if nothing comes for the idle timeout.
            self._ended_turn = result
            await self._set_state(RunState.RUNNING, self.subagents.waiting())
            return
        await self._complete(result)

    async def _announce_images(self) -> None:
        """The images the agent saved in this turn, said to the run's followers; never
        stops the run."""
        try:
            await self.port.images.announce(self.run)
        except Exception:
            log.exception("looking for the images run %s saved failed", self.run.id)

    async def _complete(self, result: AgentResult, reason: str = follow_ups.DONE) -> None:
        """The agent's work ended well: the features built on runs may go on, else the run
        is ready for review (raises the _Stop)."""
        answer = await follow_ups.ask(self.port.follow_ups, self.run, result)
        if answer is not None:
            state, why, fields = follow_ups.landing(answer)
            raise _Stop(state, why, **fields)
        raise _Stop(RunState.REVIEW, reason)

    # -- state ------------------------------------------------------------------------------

    async def _set_state(self, new: RunState, reason: str, **fields: Any) -> None:
        if new is RunState.RUNNING and self.run.started_at is None:
            fields.setdefault("started_at", time.time())
        self.run = await self.port.transition(self.run.id, new, reason, **fields)
        self.state = new

    async def _finish(self, state: RunState, reason: str, error: str | None = None,
                      **extra: Any) -> None:
        """End the agent and record the run's new state: ended, or parked (``queued``)."""
        self._closing = True
        if self._commands is not None:
            self._commands.cancel()  # what is not applied now waits for the next start
        await self._stop_agent(interrupt=state in (RunState.CANCELLED, RunState.INTERRUPTED))
        self.gate.close()
        await self.port.interactions.expire_for_run(self.run.id)
        fields: dict[str, Any] = dict(extra)
        problems: list[str] = []
        stand_ins = await wrapup.remove_stand_ins(self.run)
        if self.run.use_worktree:
            try:
                await wrapup.commit_leftovers(self.run, stand_ins)
            except Exception as exc:
                log.exception("committing the work left in run %s failed", self.run.id)
                problems.append(await wrapup.not_committed(self.run, exc))
        try:
            fields.update(await wrapup.record_changes(self.run))
        except Exception as exc:
            log.exception("recording the changes of run %s failed", self.run.id)
            problems.append(f"could not record the run's changes ({wrapup.first_line(exc)})")
        if problems:
            problem = "; ".join(problems)
            fields["error"] = (f"{error}; {problem}" if error else problem)[:2000]
            if state is RunState.REVIEW:
                # Never "ready for review" with work that is not on the branch.
                state = RunState.FAILED
                reason = (f"the agent finished, but Gluon {problem}; resume the run to try "
                          "again")[:1000]
        elif error:
            fields["error"] = error[:2000]
        if state not in (RunState.INTERRUPTED, RunState.QUEUED):
            # Only a run that goes on (its Gluon stopped, or it is parked) is told what was
            # sent to it meanwhile.
            await self.port.commands.discard(self.run.id)
        await self._set_state(state, reason, **fields)

    async def _stop_agent(self, *, interrupt: bool) -> None:
        """Stop the agent process. A turn still under way (a cancel, a shutdown) is
        interrupted first, so the agent stops at once rather than working on while its process
        winds down; whatever it still sends meanwhile is recorded like the rest."""
        if self.session is None:
            return
        recorder = asyncio.create_task(self._record_late_messages(),
                                       name=f"late-{self.run.id}")
        try:
            if interrupt and (self._outstanding or self.gate.parked):
                try:
                    async with asyncio.timeout(STOP_TIMEOUT):
                        await self.session.interrupt()
                except Exception as exc:  # the process may be gone already
                    log.info("interrupting the agent of run %s: %s", self.run.id, exc)
            try:
                await self.session.close()
            except Exception:
                log.exception("closing the agent of run %s failed", self.run.id)
        finally:
            if self._reader is not None:  # it ends with the process's output
                await asyncio.wait({self._reader}, timeout=STOP_TIMEOUT)
            self.inbox.put_nowait(_Ended(None))  # the recorder stops there at the latest
            with contextlib.suppress(Exception):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await recorder
        while not self.inbox.empty():
            await self._record_late(self.inbox.get_nowait())

    async def _record_late_messages(self) -> None:
        while True:
            if not await self._record_late(await self.inbox.get()):
                return

    async def _record_late(self, item: _Item) -> bool:
        """Log a message the agent sent while its run was ending; False at the end of them."""
        if isinstance(item, _Ended):
            return False
        if isinstance(item, _Message):
            try:
                await self._handle(item)
            except Exception:
                log.exception("recording a late message of run %s failed", self.run.id)
        return True
