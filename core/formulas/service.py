"""Formulas: multi-step workflows that run as ONE run.

Each step is a fresh agent session in the run's worktree and branch, with its own prompt
(a template, see :mod:`core.formulas.templates`), profile and model; the run's cost adds up
across them. The formula, as it was when the run started, is recorded with the run
(``formula_runs``), so editing the file later does not change a running formula.

A step's end is one recorded transition: when the agent ends a turn well, :meth:`after_turn`
stores the step's final reply and moves to the next step in one transaction, with a RunNote
for the chat, and the run goes on as a new job with the next prompt. A step whose turn fails
fails the run and leaves the formula at that step: resuming the run continues the step in its
session, and its next good turn end moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from core.agent.session import AgentResult
from core.budget.settings import Settings
from core.config import Config, resolve_model
from core.errors import InvalidInput
from core.events.bus import RunNote
from core.events.log import EventLog
from core.formulas.catalogue import SUFFIXES, Found, Place, every, find, places
from core.formulas.loader import InvalidFormula, load
from core.formulas.model import Formula
from core.formulas.store import FormulaStore
from core.formulas.templates import render
from core.formulas.types import FormulaProgress, FormulaRun, FormulaView
from core.models import Run
from core.projects.service import ProjectService
from core.runs.follow_ups import Finish, FollowUp
from core.runs.service import RunManager
from core.types import RunState

log = logging.getLogger(__name__)
MAX_VALUE = 20_000  # characters of one variable's value


class Formulas:
    def __init__(self, config: Config, store: FormulaStore, runs: RunManager,
                 projects: ProjectService, settings: Settings, events: EventLog) -> None:
        self.config = config
        self.store = store
        self.runs = runs
        self.projects = projects
        self.settings = settings
        self.events = events

    # -- the catalogue ------------------------------------------------------------------------

    async def _places(self, project: str | None) -> list[Place]:
        path = Path((await self.projects.get(project)).path) if project else None
        return places(self.config.home, path)

    async def list(self, project: str | None = None) -> list[Found]:
        """Every formula (a project's own too, when given), a file that cannot be used with
        its error."""
        return every(await self._places(project))

    async def show(self, name: str, project: str | None = None) -> FormulaView:
        found = find(name, await self._places(project))
        return FormulaView.of(_usable(found), found.source)

    async def validate(self, path_or_name: str, project: str | None = None) -> FormulaView:
        """Check a formula file (a path) or a formula by name; an InvalidFormula names the
        file and line of the first problem."""
        path = Path(path_or_name).expanduser()
        if path.suffix in SUFFIXES or "/" in path_or_name:
            if not path.is_file():
                raise InvalidInput(f"no formula file at {path_or_name!r}")
            return FormulaView.of(load(path), f"file: {path}")
        return await self.show(path_or_name, project)

    # -- running ------------------------------------------------------------------------------

    async def start(self, name: str, project: str, vars: Mapping[str, str], actor: str,
                    model: str | None = None, source: str = "cli") -> Run:
        """Start the formula ``name`` on ``project`` as one run. Bad input (an unknown or
        missing variable, an invalid file, an unknown model) is refused before anything
        runs."""
        proj = await self.projects.get(project)
        found = find(name, places(self.config.home, Path(proj.path)))
        formula = _usable(found)
        values = resolve_vars(formula, vars)
        agents = await self.settings.agents(self.config)
        base_model = resolve_model(model, agents.default_model)
        first = render(formula, 0, values, [], proj.name)
        run = await self.runs.start_run(proj.name, first,
                                        model=formula.steps[0].model or base_model,
                                        actor=actor, source=source)
        state = FormulaRun(run_id=run.id, formula=formula, source=found.source, vars=values,
                           model=base_model, step=0, results=[])
        async with self.store.transaction():
            await self.store.insert(state, actor)
            note = await self._note(run, f"🧭 Formula {formula.name}: "
                                         f"{formula.step_label(0)} starts")
        self.events.publish(note)
        return run

    async def state(self, run_id: str) -> FormulaRun | None:
        return await self.store.get(run_id)

    async def progress(self, run_id: str) -> FormulaProgress | None:
        """Where a formula run is (None for a run that follows no formula)."""
        state = await self.store.get(run_id)
        return state.progress() if state is not None else None

    async def labels(self, run_ids: Sequence[str]) -> dict[str, str]:
        """What a run card says of each formula run among ``run_ids``: "bugfix: step 2/3:
        fix", or "bugfix: all 3 steps done"."""
        return {state.run_id: state.progress().card
                for state in await self.store.of_runs(run_ids)}

    async def profile(self, run: Run) -> str:
        """The current step's profile (planning, standard, review); "standard" for a run
        that follows no formula or has finished it."""
        state = await self.store.get(run.id)
        if state is None or state.finished:
            return "standard"
        return str(state.formula.steps[state.step].profile)

    async def after_turn(self, run: Run, result: AgentResult) -> FollowUp | Finish | None:
        """A formula run's turn ended well: record its step's reply and start the next step
        in a fresh session; after the last step, None (the run goes to review)."""
        state = await self.store.get(run.id)
        if state is None or state.finished:
            return None
        formula, index = state.formula, state.step
        results = [*state.results[:index], result.result or ""]
        nxt = index + 1
        if nxt >= len(formula.steps):
            text = f"🏁 Formula {formula.name}: all {len(formula.steps)} steps done"
            follow: FollowUp | Finish | None = None
        else:
            try:
                prompt = render(formula, nxt, state.vars, results, run.project)
            except ValueError as exc:
                return Finish(RunState.FAILED, f"formula {formula.name}: {exc}")
            step = formula.steps[nxt]
            text = f"🧭 Step {nxt + 1}/{len(formula.steps)} ({step.name}) starts"
            follow = FollowUp(prompt, reason=formula.step_label(nxt), fresh_session=True,
                              model=step.model or state.model)
        async with self.store.transaction():
            if not await self.store.advance(run.id, index, results):
                return None  # another end of this step was recorded first
            note = await self._note(run, text)
        self.events.publish(note)
        log.info("run %s: formula %s step %d/%d (%s) done", run.id, formula.name, index + 1,
                 len(formula.steps), formula.steps[index].name)
        return follow

    async def _note(self, run: Run, text: str) -> RunNote:
        return await self.events.append(RunNote(run_id=run.id, project=run.project,
                                                source="formula", text=text))


def _usable(found: Found) -> Formula:
    if found.formula is None:
        raise InvalidFormula(found.error or f"{found.path.name}: cannot be used")
    return found.formula


def resolve_vars(formula: Formula, given: Mapping[str, str]) -> dict[str, str]:
    """The variables' values: those given, then the defaults; an unknown or missing one is
    refused in one line."""
    known = ", ".join(formula.vars) or "none"
    for key, value in given.items():
        if key not in formula.vars:
            raise InvalidInput(f"formula {formula.name!r} has no variable {key!r}; its "
                               f"variables: {known}")
        if not isinstance(value, str) or len(value) > MAX_VALUE:
            raise InvalidInput(f"variable {key!r} must be text of at most {MAX_VALUE} "
                               "characters")
    values: dict[str, str] = {}
    for name, var in formula.vars.items():
        chosen = given.get(name) or var.default
        if chosen is None or (var.required and not chosen.strip()):
            what = f" ({var.description})" if var.description else ""
            raise InvalidInput(f"formula {formula.name!r} needs the variable {name!r}{what}; "
                               f"give it as {name}=...")
        values[name] = chosen
    return values
