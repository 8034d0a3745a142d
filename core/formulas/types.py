"""A formula as the surfaces show it, and a formula run's recorded state."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from core.formulas.model import Formula, Profile


class FormulaVarView(BaseModel):
    name: str
    description: str
    required: bool
    default: str | None


class FormulaStepView(BaseModel):
    name: str
    profile: Profile
    model: str | None
    prompt: str = Field(description="the step's prompt template")


class FormulaView(BaseModel):
    name: str
    description: str
    source: str = Field(description="builtin, data dir, or project, and the file")
    vars: list[FormulaVarView]
    steps: list[FormulaStepView]

    @classmethod
    def of(cls, formula: Formula, source: str) -> FormulaView:
        return cls(name=formula.name, description=formula.description, source=source,
                   vars=[FormulaVarView(name=n, description=v.description, required=v.required,
                                        default=v.default) for n, v in formula.vars.items()],
                   steps=[FormulaStepView(name=s.name, profile=s.profile, model=s.model,
                                          prompt=s.prompt) for s in formula.steps])


class FormulaProgress(BaseModel):
    """Where a formula run is: ``step 2/4: implement``."""

    name: str
    step: int = Field(description="1-based number of the current (or last) step")
    steps: int = Field(description="how many steps the formula has")
    step_name: str
    finished: bool = Field(description="every step has ended well")

    @property
    def label(self) -> str:
        return f"step {self.step}/{self.steps}: {self.step_name}"

    @property
    def card(self) -> str:
        """The line a run card shows."""
        if self.finished:
            return f"{self.name}: all {self.steps} steps done"
        return f"{self.name}: {self.label}"


@dataclass(frozen=True)
class FormulaRun:
    """The recorded state of a run that follows a formula."""

    run_id: str
    formula: Formula  # as it was when the run started
    source: str
    vars: dict[str, str]
    model: str
    step: int  # 0-based; len(formula.steps) when every step ended well
    results: list[str]

    @property
    def finished(self) -> bool:
        return self.step >= len(self.formula.steps)

    def progress(self) -> FormulaProgress:
        index = min(self.step, len(self.formula.steps) - 1)
        return FormulaProgress(name=self.formula.name, step=index + 1,
                               steps=len(self.formula.steps),
                               step_name=self.formula.steps[index].name,
                               finished=self.finished)
