"""What a formula is: variables and an ordered list of steps, each a fresh agent session with
its own prompt template, profile and model, all in one run (one worktree, branch and cost)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.config import resolve_model
from core.errors import InvalidInput

# Names every prompt can use besides the formula's variables.
BUILTIN_NAMES = frozenset({"previous", "steps", "project"})


class Profile(StrEnum):
    """What kind of work a step is; features on runs (the quality gates) check only
    ``standard`` steps, not a plan or a review."""

    PLANNING = "planning"
    STANDARD = "standard"
    REVIEW = "review"


class FormulaVar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    required: bool = False
    default: str | None = None

    @model_validator(mode="after")
    def _default_or_required(self) -> FormulaVar:
        if self.required and self.default is not None:
            raise ValueError("a required variable has no default; drop one of them")
        return self


class FormulaStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=40)
    prompt: str = Field(min_length=1)
    profile: Profile = Profile.STANDARD
    model: str | None = None  # opus, sonnet, haiku or a model id; None: the run's

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str | None) -> str | None:
        try:
            return resolve_model(model, model) if model is not None else None
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None


class Formula(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=60)
    description: str = ""
    vars: dict[str, FormulaVar] = Field(default_factory=dict)
    steps: list[FormulaStep] = Field(min_length=1, max_length=20)

    @field_validator("vars")
    @classmethod
    def _var_names(cls, found: dict[str, FormulaVar]) -> dict[str, FormulaVar]:
        for name in found:
            if not name.isidentifier():
                raise ValueError(f"variable {name!r} is not a name (letters, digits, _)")
            if name in BUILTIN_NAMES:
                raise ValueError(f"variable {name!r} is taken by Gluon; call it otherwise")
        return found

    @field_validator("steps")
    @classmethod
    def _unique_steps(cls, steps: list[FormulaStep]) -> list[FormulaStep]:
        seen: set[str] = set()
        for step in steps:
            if step.name in seen:
                raise ValueError(f"two steps are named {step.name!r}")
            seen.add(step.name)
        return steps

    def step_label(self, index: int) -> str:
        """``step 2/3: fix`` for the step at 0-based ``index``."""
        return f"step {index + 1}/{len(self.steps)}: {self.steps[index].name}"
