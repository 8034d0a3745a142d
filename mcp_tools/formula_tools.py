"""Tools for formulas: multi-step workflows (plan, implement, test, review) run as one run."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from core.formulas import FormulaView
from core.models import Run
from core.runtime import Runtime
from mcp_tools.params import ProjectRef
from mcp_tools.queue_tools import source
from mcp_tools.registry import ToolKit, actor

FormulaName = Annotated[str, Field(description="formula name, e.g. bugfix or feature "
                                               "(see list_formulas)")]
ForProject = Annotated[str | None, Field(description=(
    "include this project's own formulas (its .gluon/formulas/), which win over the others "
    "of the same name"))]


class FormulaSummary(BaseModel):
    name: str
    description: str
    source: str = Field(description="where it comes from: project, data dir or builtin")
    steps: list[str] = Field(description="its steps' names, in order")
    vars: list[str] = Field(description="its variables; required ones end with '*'")
    error: str | None = Field(default=None, description="why the file cannot be used")


class FormulaList(BaseModel):
    formulas: list[FormulaSummary]


def register(kit: ToolKit, rt: Runtime) -> None:
    formulas = rt.formulas

    @kit.tool(read_only=True)
    async def list_formulas(project: ForProject = None) -> FormulaList:
        """The formulas there are: multi-step workflows that run as one run (bugfix:
        diagnose, fix, test; feature: plan, implement, test, review; and the ones a project
        or the Gluon host adds). Each with its steps and variables, or the error that makes
        its file unusable."""
        found = []
        for f in await formulas.list(project):
            steps = [s.name for s in f.formula.steps] if f.formula else []
            names = [f"{n}*" if v.required else n
                     for n, v in f.formula.vars.items()] if f.formula else []
            found.append(FormulaSummary(
                name=f.name, description=f.formula.description if f.formula else "",
                source=f.source, steps=steps, vars=names, error=f.error))
        return FormulaList(formulas=found)

    @kit.tool(read_only=True)
    async def show_formula(name: FormulaName, project: ForProject = None) -> FormulaView:
        """One formula in full: its variables (required or with a default) and each step's
        name, profile (planning, standard, review), model and prompt template."""
        return await formulas.show(name, project)

    @kit.tool(read_only=True)
    async def validate_formula(
            formula: Annotated[str, Field(description=(
                "a formula file's path (on the Gluon host) or a formula's name"))],
            project: ForProject = None) -> FormulaView:
        """Check a formula file or a formula by name: YAML, keys, variables, steps and every
        prompt template. An error names the file and line of the first problem; a good one
        comes back in full."""
        return await formulas.validate(formula, project)

    @kit.tool()
    async def run_formula(
            name: FormulaName,
            project: ProjectRef,
            vars: Annotated[dict[str, str] | None, Field(description=(
                "the formula's variables, e.g. {\"description\": \"login fails on expired "
                "tokens\"} for bugfix"))] = None,
            model: Annotated[str | None, Field(description=(
                "opus, sonnet, haiku or a full model id for the steps that name none; "
                "default from config"))] = None) -> Run:
        """Run a formula on a project as ONE run: each step is a fresh agent session in the
        same worktree and branch, with its own prompt, and the run's cost adds up over them;
        after the last step the run is ready for review. Use it for "run the bugfix formula
        on api: login fails on expired tokens" (name bugfix, vars {description: ...}).
        A missing or unknown variable is refused before anything runs. Returns the run; its
        get_run shows the formula's step."""
        return await formulas.start(name, project, vars or {}, actor(), model=model,
                                    source=source())
