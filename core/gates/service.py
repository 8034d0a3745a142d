"""Quality gates: after a run's work ends well, its lint and tests are run in its worktree and
sandbox, and the agent is asked to fix what fails before the run goes to review.

:meth:`Gates.after_turn` is a follow-up hook (:mod:`core.runs.follow_ups`), asked when a
standard run's turn ends without an error. In order:

1. **lint auto-fix** (``ruff check --fix .``, ...): what it changes is committed by Gluon;
2. **lint**: when it fails, the SAME session is resumed with the remaining errors, at most
   ``[gates] max_fixes`` times;
3. **tests**: likewise with the failures.

A command whose program is missing (the shell's exit 127, "not found") is skipped and said
once per run, never passed silently. When a gate still fails after its fixes, the project's
supervision policy (:mod:`core.gates.policy`) decides: review (manual), one more try
(conservative) or more tries (aggressive).

Every outcome is recorded (``gate_results``) and said as a :class:`RunNote`. A round of gates
is recorded too (``gate_rounds``): it starts when a turn the gates did not ask for ends (the
run's task, a person's resume, the merge queue's fix), so each gets ``max_fixes`` fixes, and a
Gluon that stops meanwhile goes on counting where it was.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from core.agent.sandbox import SandboxUnavailable
from core.agent.sandboxed import CommandOutcome, run_command
from core.agent.session import AgentResult
from core.config import Config
from core.events.bus import RunNote
from core.events.log import EventLog
from core.gates import autofix, policy
from core.gates.plan import GatePlan, plan_for
from core.gates.store import GateStore, Round
from core.gates.types import Gate, GateResult, GateSummary, Outcome
from core.models import Run
from core.runs.follow_ups import Finish, FollowUp
from core.runs.service import RunManager
from core.types import RunState

log = logging.getLogger(__name__)

DETAIL = 3000  # characters of a failing command's output given to the agent
_NPX_MISSING = "npx canceled due to missing packages"


class Gates:
    def __init__(self, config: Config, store: GateStore, runs: RunManager,
                 events: EventLog) -> None:
        self.config = config
        self.store = store
        self.runs = runs
        self.events = events

    # -- reading -----------------------------------------------------------------------------

    async def results(self, run_ref: str) -> list[GateResult]:
        """Every gate result of a run, oldest first."""
        run = await self.runs.get(run_ref)
        return await self.store.results(run.id)

    async def summary(self, run_ref: str) -> list[GateSummary]:
        """Each gate's latest outcome on a run (lint auto-fix, lint, tests, in that order)."""
        return summarize(await self.results(run_ref))

    # -- the hook ----------------------------------------------------------------------------

    async def after_turn(self, run: Run, result: AgentResult) -> FollowUp | Finish | None:
        """The follow-up hook: run the gates; a fix to ask for, the run's end, or None (every
        gate passed, was skipped, or the run has none)."""
        if not self.config.gates.enabled or not run.use_worktree or not run.branch:
            return None
        worktree = Path(run.cwd)
        plan = plan_for(self.config, run.project, worktree)  # files only: no subprocess
        if not plan.problem and (not plan.enabled or not plan.commands):
            return None
        state = await self.store.round(run.id)
        if not state.asking:
            state.fixes, state.extra = {}, 0  # a new round
        state.asking = False
        if plan.problem:
            await self._once(run, state, "project file",
                             f"⚠️ {plan.problem}; using the detected gate commands")
        if not plan.enabled:
            await self._save(state)
            return None
        try:
            return await self._gates(run, worktree, plan, state)
        except SandboxUnavailable as exc:
            await self._once(run, state, "sandbox", f"⚠️ The quality gates cannot run: {exc}")
            return None
        finally:
            await self._save(state)

    async def _gates(self, run: Run, worktree: Path, plan: GatePlan,
                     state: Round) -> FollowUp | Finish | None:
        if (fix := plan.commands.get(Gate.LINT_FIX)) is not None:
            await self._lint_fix(run, worktree, fix, state)
        for gate in (Gate.LINT, Gate.TEST):
            command = plan.commands.get(gate)
            if command is None:
                continue
            fixes = state.fixes.get(gate.value, 0)
            outcome = await self._run(run, worktree, command)
            kind = _outcome(outcome)
            if kind is Outcome.MISSING:
                await self._record(run, gate, fixes + 1, kind, outcome)
                await self._once(run, state, f"missing {command}",
                                 f"⚠️ {gate.label}: `{command}` could not run (its program is "
                                 "not installed); the gate is skipped")
                continue
            if kind is Outcome.PASSED:
                after = f" after {fixes} fix{'es' if fixes != 1 else ''}" if fixes else ""
                await self._record(run, gate, fixes + 1, kind, outcome,
                                   f"{gate.emoji} {gate.label} passed{after}")
                continue
            left = problems(gate, outcome)
            if fixes < self.config.gates.max_fixes:
                state.fixes[gate.value] = fixes + 1
                state.asking = True
                await self._record(
                    run, gate, fixes + 1, kind, outcome,
                    f"{gate.emoji} {headline(gate, left)}; asking the agent to fix them "
                    f"({fixes + 1}/{self.config.gates.max_fixes})")
                return FollowUp(fix_request(gate, outcome),
                                f"{headline(gate, left)}; the agent is fixing it")
            # Given up: the policy's note says it.
            await self._record(run, gate, fixes + 1, kind, outcome)
            return await self._give_up(run, plan, state, gate, outcome, left)
        return None

    async def _lint_fix(self, run: Run, worktree: Path, command: str, state: Round) -> None:
        before = await autofix.snapshot(worktree)
        outcome = await self._run(run, worktree, command)
        kind = _outcome(outcome)
        if kind is Outcome.MISSING:
            await self._record(run, Gate.LINT_FIX, 1, kind, outcome)
            await self._once(run, state, f"missing {command}",
                             f"⚠️ Lint auto-fix: `{command}` could not run (its program is "
                             "not installed); it is skipped")
            return
        if kind is Outcome.TIMED_OUT:
            await self._record(run, Gate.LINT_FIX, 1, kind, outcome,
                               f"🧹 Lint auto-fix: `{command}` timed out; its changes are not "
                               "committed")
            return
        # The fixer's exit code says whether errors remain; the lint gate tells that.
        changed = await autofix.commit_fixes(worktree, before, command)
        if not changed:
            await self._record(run, Gate.LINT_FIX, 1, Outcome.PASSED, outcome)
            return
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more"
                                          if len(changed) > 3 else "")
        await self._record(run, Gate.LINT_FIX, 1, Outcome.FIXED, outcome,
                           f"🧹 Lint auto-fix changed {shown}; Gluon committed it")

    async def _give_up(self, run: Run, plan: GatePlan, state: Round, gate: Gate,
                       outcome: CommandOutcome, left: str) -> FollowUp | Finish:
        run = await self.runs.get(run.id)  # its cost now
        failing = f"{gate.label.lower()} still fail{'' if gate is Gate.TEST else 's'} ({left})"
        fixes = state.fixes.get(gate.value, 0)
        decision = policy.decide(plan.supervision, state.extra, failing, fixes,
                                 cost_usd=run.cost_usd, budget_usd=run.budget_usd)
        await self._say(run, "policy", decision.text)
        if decision.resume:
            state.extra += 1
            state.fixes[gate.value] = fixes + 1  # so the next attempt is numbered on
            state.asking = True
            return FollowUp(fix_request(gate, outcome),
                            f"{failing}; {plan.supervision} supervision resumed the agent")
        return Finish(RunState.REVIEW, f"quality gates failed: {failing} after {fixes} "
                                       f"fix{'es' if fixes != 1 else ''}")

    # -- doing and saying --------------------------------------------------------------------

    async def _run(self, run: Run, worktree: Path, command: str) -> CommandOutcome:
        return await run_command(self.config, run.project, worktree,
                                 self.config.agent_homes_dir / run.id, command,
                                 self.config.gates.timeout_minutes * 60)

    async def _record(self, run: Run, gate: Gate, attempt: int, kind: Outcome,
                      outcome: CommandOutcome, note: str | None = None) -> None:
        log.info("run %s: gate %s (`%s`): %s in %.1f s", run.id, gate, outcome.command, kind,
                 outcome.seconds)
        async with self.store.transaction():
            await self.store.add_result(
                run_id=run.id, gate=gate, attempt=attempt, outcome=kind,
                command=outcome.command, output=outcome.output, seconds=outcome.seconds,
                at=time.time())
            if note is not None:
                await self._note(run, "gates", note)

    async def _once(self, run: Run, state: Round, what: str, text: str) -> None:
        """Say a warning the first time it comes up in the run."""
        if what in state.said:
            return
        state.said.append(what)
        await self._say(run, "gates", text)

    async def _say(self, run: Run, source: str, text: str) -> None:
        async with self.store.transaction():
            await self._note(run, source, text)

    async def _note(self, run: Run, source: str, text: str) -> None:
        event = await self.events.append(RunNote(run_id=run.id, project=run.project,
                                                 source=source, text=text))
        self.events.publish(event)

    async def _save(self, state: Round) -> None:
        async with self.store.transaction():
            await self.store.save_round(state, time.time())


def _outcome(outcome: CommandOutcome) -> Outcome:
    if outcome.timed_out:
        return Outcome.TIMED_OUT
    if outcome.missing or (outcome.exit_code != 0 and _NPX_MISSING in outcome.output):
        return Outcome.MISSING
    return Outcome.PASSED if outcome.passed else Outcome.FAILED


def problems(gate: Gate, outcome: CommandOutcome) -> str:
    """What is left, as a person says it: "2 errors left", "1 test failing", "timed out"."""
    if outcome.timed_out:
        return f"timed out after {outcome.seconds:.0f} s"
    text = outcome.output
    if gate is Gate.TEST:
        counts = re.findall(r"(\d+) (?:failed|errors?)\b", text)
        n = sum(int(c) for c in counts[-2:]) if counts else 0
        return f"{n} failure{'s' if n != 1 else ''}" if n else f"exit code {outcome.exit_code}"
    found = re.findall(r"Found (\d+) errors?|(\d+) problems?|(\d+) errors?\b", text)
    if found:
        n = int(next(g for g in found[-1] if g))
        return f"{n} error{'s' if n != 1 else ''} left"
    return "errors left"


def headline(gate: Gate, left: str) -> str:
    """ "Lint: 2 errors left", "Tests failed (1 failure)". """
    return f"Tests failed ({left})" if gate is Gate.TEST else f"{gate.label}: {left}"


def fix_request(gate: Gate, outcome: CommandOutcome) -> str:
    """The agent's next prompt: what failed, with the end of the command's output."""
    detail = outcome.output[-DETAIL:].strip() or "(it printed nothing)"
    if outcome.timed_out:
        what = f"`{outcome.command}` did not finish in time"
    elif gate is Gate.LINT:
        what = f"the linter (`{outcome.command}`) still reports problems in your work"
    else:
        what = f"the project's tests (`{outcome.command}`) fail on your work"
    return (f"Gluon's quality gate: {what}.\n\n```\n{detail}\n```\n\nFix the cause (not the "
            "check), run the command again until it passes, and commit your changes.")


def summarize(results: list[GateResult]) -> list[GateSummary]:
    """Each gate's latest result with its count of runs, in the order gates run."""
    latest: dict[Gate, GateResult] = {}
    counts: dict[Gate, int] = {}
    for r in results:
        latest[r.gate] = r
        counts[r.gate] = counts.get(r.gate, 0) + 1
    return [GateSummary(gate=g, passed=latest[g].passed, attempts=counts[g],
                        command=latest[g].command, summary=_line(latest[g]))
            for g in Gate if g in latest]


def _line(result: GateResult) -> str:
    if result.outcome is Outcome.MISSING:
        return "skipped: its program is not installed"
    if result.outcome is Outcome.FIXED:
        return "fixed files (committed by Gluon)"
    if result.outcome is Outcome.PASSED:
        return "passed"
    outcome = CommandOutcome(command=result.command, exit_code=1, output=result.output,
                             seconds=result.seconds,
                             timed_out=result.outcome is Outcome.TIMED_OUT)
    return problems(result.gate, outcome)
