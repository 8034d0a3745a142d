"""The run supervisor: one asyncio task per live run, owning that run's agent session.

It reads one inbox that carries both the agent's messages and commands from people (steer,
interrupt, cancel), so everything that happens to a run is handled in order, in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from core.agent import api_errors, sandbox
from core.agent.session import (
    AgentApiError,
    AgentApiRetry,
    AgentEvent,
    AgentInit,
    AgentResult,
    AgentSession,
    AgentText,
    AgentToolResult,
    AgentToolUse,
    Decision,
)
from core.events.bus import AgentText as AgentTextEvent
from core.events.bus import ApiRetry, BudgetWarning, ToolCalled, TurnFinished
from core.git import ops as gitops
from core.models import CommitInfo, FileChange, Run
from core.runs.interactions import QUESTION_TOOL, describe_tool_call
from core.types import InteractionKind, PermissionChoice, RunState

if TYPE_CHECKING:
    from core.runs.service import RunManager

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
"""Seconds to wait for the agent to stop its turn when a run is cancelled or Gluon stops."""


@dataclass(frozen=True)
class Steer:
    text: str
    actor: str


@dataclass(frozen=True)
class Interrupt:
    actor: str


@dataclass(frozen=True)
class Cancel:
    actor: str


@dataclass(frozen=True)
class _Message:
    event: AgentEvent | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class _Ended:
    error: BaseException | None


Command = Steer | Interrupt | Cancel
_Item = Command | _Message | _Ended


class _Stop(Exception):
    """Leave the supervisor loop with a final state."""

    def __init__(self, state: RunState, reason: str, error: str | None = None) -> None:
        super().__init__(reason)
        self.state, self.reason, self.error = state, reason, error


class RunSupervisor:
    def __init__(self, manager: RunManager, run: Run, prompt: str, *, resume: bool,
                 fork_from: str | None) -> None:
        self.m = manager
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
        self._allowed_for_run: set[str] = set()
        self._parked = 0
        self._warned = False
        self._agent_up = False
        self._delivered = False  # the agent has shown it received the prompt
        self._closing = False  # the run is ending: record what the agent still does, no more
        self._log: TextIO | None = None
        self._reader: asyncio.Task[None] | None = None
        self._api_error: AgentApiError | None = None  # of the current turn
        self._last_retry: AgentApiRetry | None = None

    def send(self, command: Command) -> None:
        self.inbox.put_nowait(command)

    # -- the task ---------------------------------------------------------------------------

    async def main(self) -> None:
        run_dir = self.m.config.logs_dir / self.run.id
        run_dir.mkdir(parents=True, exist_ok=True)
        self._log = (run_dir / "messages.jsonl").open("a", encoding="utf-8")
        stderr = (run_dir / "stderr.log").open("a", encoding="utf-8")
        reader: asyncio.Task[None] | None = None
        try:
            try:
                await self.m.prepare_worktree(self.run)
            except Exception as exc:
                raise _Stop(RunState.FAILED, f"could not create the worktree: {exc}",
                            str(exc)) from exc
            spec = await self.m.agent_spec(self.run, resume=self.resume,
                                           fork_from=self.fork_from, stderr=stderr)
            await self._set_state(RunState.RUNNING, "agent resumed" if self.resume
                                  else "agent started")
            self.session = await self.m.runner.open(spec, self._gate)
            reader = self._reader = asyncio.create_task(self._read(self.session),
                                                        name=f"read-{self.run.id}")
            # The prompt stays pending until the agent answers (see _on_event): if Gluon dies
            # before that, the next start sends it again instead of losing it.
            self._outstanding.add(await self.session.send(self.prompt))
            await self._loop()
        except _Stop as stop:
            await self._finish(stop.state, stop.reason, stop.error)
        except asyncio.CancelledError:
            await asyncio.shield(self._finish(RunState.INTERRUPTED,
                                              "Gluon stopped (shut down) while the run was live"))
            raise
        except Exception as exc:
            log.exception("run %s failed", self.run.id)
            await self._finish(RunState.FAILED, f"could not run the agent: {exc}", str(exc))
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
            self._log.close()
            stderr.close()

    async def _read(self, session: AgentSession) -> None:
        try:
            async for event, raw in session.events():
                self.inbox.put_nowait(_Message(self.m.redact(event), self.m.redact(raw)))
        except Exception as exc:
            self.inbox.put_nowait(_Ended(exc))
        else:
            self.inbox.put_nowait(_Ended(None))

    async def _loop(self) -> None:
        while True:
            if self._idle_after_interrupt:
                try:
                    item = await asyncio.wait_for(self.inbox.get(),
                                                  self.m.config.agents.idle_timeout_seconds)
                except TimeoutError:
                    raise _Stop(RunState.REVIEW, "stopped: no new instructions after the "
                                "interrupt") from None
            else:
                item = await self.inbox.get()
            await self._handle(item)

    async def _handle(self, item: _Item) -> None:
        assert self.session is not None
        if isinstance(item, Steer):
            self._outstanding.add(await self.session.send(item.text))
            await self.m.store.add_event(self.run.id, "steer", f"{item.actor}: {item.text}")
            if self._idle_after_interrupt:
                self._idle_after_interrupt = False
                await self._set_state(RunState.RUNNING, f"new instructions from {item.actor}")
        elif isinstance(item, Interrupt):
            if self._idle_after_interrupt:
                return
            self._interrupt_requested = True
            await self.m.store.add_event(self.run.id, "interrupt", f"by {item.actor}")
            await self.session.interrupt()
        elif isinstance(item, Cancel):
            raise _Stop(RunState.CANCELLED, f"cancelled by {item.actor}")
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
            await self.m.store.update(run_id, pending_prompt=None)
        if isinstance(event, AgentInit):
            if not self._agent_up and not self._closing:
                self._agent_up = True
                await self.m.agent_started(self.run)
            if event.session_id and (event.session_id != self.run.session_id
                                     or not self.run.session_started):
                await self.m.store.update(run_id, session_id=event.session_id,
                                          session_started=1, fork_from=None)
                self.run = await self.m.store.get(run_id)
        elif isinstance(event, AgentText):
            await self.m.store.update(run_id, last_message=event.text[-2000:],
                                      last_activity_at=now)
            await self.m.store.add_event(run_id, "text", event.text)
            self.m.bus.publish(AgentTextEvent(run_id=run_id, project=project, text=event.text))
        elif isinstance(event, AgentToolUse):
            summary = describe_tool_call(event.name, event.input)
            await self.m.db.execute(
                "UPDATE runs SET tool_calls = tool_calls + 1, last_activity_at = ? "
                "WHERE id = ?", (now, run_id))
            await self.m.store.add_event(run_id, "tool", summary)
            self.m.bus.publish(ToolCalled(run_id=run_id, project=project, tool=event.name,
                                          summary=summary))
        elif isinstance(event, AgentToolResult):
            if event.is_error:
                await self.m.store.add_event(run_id, "tool_error", event.text[:1000])
        elif isinstance(event, AgentApiRetry):
            self._last_retry = event
            summary = api_errors.retry_line(event, self._api_endpoint())
            await self.m.store.add_event(run_id, "retry", summary)
            self.m.bus.publish(ApiRetry(run_id=run_id, project=project, attempt=event.attempt,
                                        max_retries=event.max_retries,
                                        delay_seconds=event.delay_seconds, status=event.status,
                                        summary=summary))
        elif isinstance(event, AgentApiError):
            self._api_error = event  # the turn's result says it failed; this says why
        else:
            await self._on_result(event)

    def _api_endpoint(self) -> str:
        return api_errors.endpoint(self.m.config.anthropic.base_url
                                   or self.m.environ.get("ANTHROPIC_BASE_URL"))

    async def _on_result(self, result: AgentResult) -> None:
        run_id = self.run.id
        api_error, last_retry = self._api_error, self._last_retry
        self._api_error = self._last_retry = None
        baseline = float((await self.m.store.hidden(run_id))["session_cost_usd"])
        delta = max(0.0, result.total_cost_usd - baseline)
        await self.m.store.add_usage(
            run_id, turns=result.num_turns, tool_calls=0, input_tokens=result.input_tokens,
            output_tokens=result.output_tokens, cost_usd=delta,
            session_cost_usd=max(baseline, result.total_cost_usd))
        await self.m.usage.record(run_id, self.run.project, delta, result.input_tokens,
                                  result.output_tokens)
        if result.result:
            await self.m.store.update(run_id, result_text=result.result)
        self.run = await self.m.store.get(run_id)
        if not result.is_error:  # a failure is told once, by the run's final state
            await self.m.store.add_event(
                run_id, "result", f"{result.subtype} after {result.num_turns} turns, "
                f"${self.run.cost_usd:.4f} so far")
        self.m.bus.publish(TurnFinished(run_id=run_id, project=self.run.project,
                                        subtype=result.subtype, is_error=result.is_error,
                                        cost_usd=self.run.cost_usd, turns=self.run.turns))
        budget = self.run.budget_usd
        if (budget and not self._warned
                and self.run.cost_usd >= budget * self.m.config.agents.budget_warning_ratio):
            self._warned = True
            self.m.bus.publish(BudgetWarning(run_id=run_id, project=self.run.project,
                                             scope="run", spent_usd=self.run.cost_usd,
                                             limit_usd=budget))
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
        if result.subtype == "error_max_budget_usd":
            raise _Stop(RunState.FAILED, f"stopped at the run budget of ${budget or 0:.2f}",
                        "budget exhausted")
        if result.is_error and api_error is not None:
            reason = api_errors.failure_reason(api_error, last_retry, self._api_endpoint())
            raise _Stop(RunState.FAILED, reason[:500], reason)
        if result.is_error:
            detail = "; ".join(result.errors) or result.result or result.subtype
            raise _Stop(RunState.FAILED, f"the agent failed: {detail}"[:500], detail)
        raise _Stop(RunState.REVIEW, "the agent finished its task")

    # -- people in the loop -----------------------------------------------------------------

    async def _gate(self, tool: str, tool_input: dict[str, Any],
                    tool_use_id: str | None) -> Decision:
        if self._closing:
            return Decision(allow=False, message="Gluon is stopping this run.")
        if tool != QUESTION_TOOL and tool in self._allowed_for_run:
            return Decision(allow=True)
        interaction = await self.m.interactions.create(self.run.id, self.run.project, tool,
                                                       tool_input)
        self._parked += 1
        if self._parked == 1:
            await self._set_state(RunState.WAITING, f"waiting for an answer: "
                                  f"{interaction.title}"[:300])
        try:
            answered = await self.m.interactions.wait(interaction.id)
        finally:
            self._parked -= 1
        if answered is None:
            return Decision(allow=False, message="The run was stopped before anyone answered.")
        if self._parked == 0 and self.state is RunState.WAITING:
            await self._set_state(RunState.RUNNING, f"answered by {answered.answered_by}")
        await self.m.store.add_event(self.run.id, "answer",
                                     f"{answered.answered_by}: {answered.answer}")
        if interaction.kind is InteractionKind.QUESTION:
            questions = tool_input.get("questions") or []
            answers = {str(q.get("question", "")): answered.answer for q in questions}
            return Decision(allow=True, updated_input={**tool_input, "answers": answers})
        choice = PermissionChoice(answered.answer)
        if choice is PermissionChoice.DENY:
            return Decision(allow=False, message=f"{answered.answered_by} denied this.")
        if choice is PermissionChoice.ALLOW_RUN:
            self._allowed_for_run.add(tool)
        elif choice is PermissionChoice.ALLOW_PROJECT:
            self._allowed_for_run.add(tool)
            await self.m.allow_for_project(self.run.project, tool)
        return Decision(allow=True)

    # -- state ------------------------------------------------------------------------------

    async def _set_state(self, new: RunState, reason: str, **fields: Any) -> None:
        if new is RunState.RUNNING and self.run.started_at is None:
            fields.setdefault("started_at", time.time())
        self.run = await self.m.transition(self.run.id, new, reason, **fields)
        self.state = new

    async def _finish(self, state: RunState, reason: str, error: str | None = None) -> None:
        self._closing = True
        await self._stop_agent(interrupt=state in (RunState.CANCELLED, RunState.INTERRUPTED))
        await self.m.interactions.expire_for_run(self.run.id)
        fields: dict[str, Any] = {}
        problems: list[str] = []
        stand_ins = await self._remove_stand_ins()
        if self.run.use_worktree:
            try:
                await self._commit_leftovers(stand_ins)
            except Exception as exc:
                log.exception("committing the work left in run %s failed", self.run.id)
                problems.append(await self._not_committed(exc))
        try:
            fields.update(await self._record_changes())
        except Exception as exc:
            log.exception("recording the changes of run %s failed", self.run.id)
            problems.append(f"could not record the run's changes ({_first_line(exc)})")
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
            if interrupt and (self._outstanding or self._parked):
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
                await asyncio.wait_for(recorder, STOP_TIMEOUT)
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

    async def _remove_stand_ins(self) -> list[str]:
        """Tidy up after Claude Code's Bash sandbox when the agent died inside a command (in
        a person's own checkout only what bubblewrap itself made; see sandbox.py)."""
        cwd = Path(self.run.cwd)
        if not cwd.is_dir():
            return []
        try:
            stand_ins = await sandbox.remove_stand_ins(
                cwd, only_read_only=not self.run.use_worktree)
        except Exception:
            log.exception("removing the sandbox's stand-ins in run %s failed", self.run.id)
            return []
        if stand_ins:
            log.info("run %s: removed %d empty stand-ins of Claude Code's Bash sandbox (%s)",
                     self.run.id, len(stand_ins), ", ".join(stand_ins))
        return stand_ins

    async def _commit_leftovers(self, stand_ins: list[str]) -> None:
        """The safety net: commit what the agent left uncommitted in its worktree, without
        the files sent with the request and without the sandbox's stand-ins (left out even
        if one could not be removed)."""
        cwd = Path(self.run.cwd)
        if not self.run.base_sha or not cwd.is_dir():
            return
        await gitops.commit_all(cwd, commit_message(self.run),
                                exclude=(sandbox.ATTACHMENTS_DIR, *stand_ins))

    async def _not_committed(self, exc: Exception) -> str:
        """What to tell a person when the agent's work could not be committed."""
        what = "its uncommitted work"
        with contextlib.suppress(Exception):
            left = await gitops.uncommitted_paths(Path(self.run.cwd))
            if left:
                shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5
                                               else "")
                what = f"its uncommitted work ({shown})"
        return (f"could not commit {what}: {_first_line(exc)}; it is still in the worktree "
                f"{self.run.cwd}")

    async def _record_changes(self) -> dict[str, Any]:
        run = self.run
        cwd = Path(run.cwd)
        if not run.base_sha or not cwd.is_dir():
            return {}
        commits = await gitops.commits_between(cwd, run.base_sha, "HEAD")
        files = await gitops.changed_files(cwd, run.base_sha, "HEAD")
        return {"commits": [CommitInfo(sha=c.sha, subject=c.subject) for c in commits],
                "changed_files": [FileChange(path=f.path, status=f.status,
                                             additions=f.additions, deletions=f.deletions)
                                  for f in files]}


SUBJECT_MAX = 72
SUMMARY_MAX = 4000


def commit_message(run: Run) -> str:
    """The safety-net commit's message: the run's task as the subject (its first line, cut
    to 72 characters), the run id and the agent's own summary of what it did as the body."""
    first = next((line.strip() for line in run.prompt.splitlines() if line.strip()), "")
    first = " ".join(first.split()) or f"Work of Gluon run {run.id}"
    if len(first) > SUBJECT_MAX:
        first = first[:SUBJECT_MAX - 3].rstrip() + "..."
    body = f"Left uncommitted by the agent of Gluon run {run.id}; committed when the run ended."
    summary = (run.result_text or "").strip()
    if summary:
        cut = summary if len(summary) <= SUMMARY_MAX else summary[:SUMMARY_MAX] + "\n[...]"
        body += f"\n\nThe agent's summary:\n\n{cut}"
    return f"{first}\n\n{body}\n"


def _first_line(exc: BaseException) -> str:
    """The gist of an error in one line (for a failed git command, what git said)."""
    text = exc.stderr if isinstance(exc, gitops.GitError) and exc.stderr.strip() else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__
