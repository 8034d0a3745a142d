"""The agents' settings: models, limits, budgets, sandbox, and each project's own."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from core.config.section import Section
from core.errors import InvalidInput

# Aliases are passed to Claude Code as they are: it maps them to the newest model of the family.
MODEL_ALIASES = ("opus", "sonnet", "haiku")


class AgentsConfig(Section):
    default_model: str = "sonnet"

    @field_validator("default_model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        try:
            return resolve_model(v, v)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    max_concurrent: Annotated[int, Field(ge=1, le=256)] = 4
    max_concurrent_per_project: Annotated[int, Field(ge=1, le=256)] = 2
    run_budget_usd: Annotated[float | None, Field(gt=0)] = None
    daily_budget_usd: Annotated[float | None, Field(gt=0)] = None
    budget_warning_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8
    recovery: Literal["resume", "ask"] = "resume"
    remind_after_seconds: Annotated[float, Field(gt=0)] = 900.0
    idle_timeout_seconds: Annotated[float, Field(gt=0)] = 1800.0
    worktree_retention_days: Annotated[float, Field(ge=0)] = 14.0
    spare_worktrees: Annotated[int, Field(ge=0, le=4)] = 1
    # Agents started ahead for a project's next run (see core/agent/warm.py): about 200 MB each,
    # kept for a project whose last run started less than `warm_idle_minutes` ago.
    warm: Annotated[int, Field(ge=0, le=4)] = 1
    warm_idle_minutes: Annotated[float, Field(gt=0)] = 30.0
    permission_mode: Literal["default", "acceptEdits"] = "acceptEdits"
    allowed_tools: list[str] = Field(default_factory=list)
    cli_path: str | None = None
    env_allow: list[str] = Field(default_factory=list)
    sandbox: Literal["required", "auto", "off"] = "auto"
    sandbox_read_only: list[str] = Field(default_factory=list)
    # A run stopped by the account's usage limit waits for its reset and goes on by itself, at
    # most this many times in `usage_limit_window_hours` (0: never; it fails instead).
    usage_limit_resumes: Annotated[int, Field(ge=0, le=100)] = 3
    usage_limit_window_hours: Annotated[float, Field(gt=0, le=24 * 31)] = 24.0


class ProjectConfig(Section):
    # Where `gluon worker` hosts fetch the project and push its runs' branches (a git URL);
    # None: origin's URL when it is a network URL, else the coordinator's own repository.
    remote: str | None = None
    sandbox_read_only: list[str] = Field(default_factory=list)
    daily_budget_usd: Annotated[float | None, Field(gt=0)] = None
    max_concurrent: Annotated[int | None, Field(ge=1, le=256)] = None
    allowed_tools: list[str] = Field(default_factory=list)
    env_allow: list[str] = Field(default_factory=list)
    trusted: bool = False
    # The secret of this project's GitHub webhook, when it is not `github.webhook_secret`.
    webhook_secret: SecretStr | None = None
    # The merge queue's test command for a project without GitHub checks (run in the
    # sandbox on the rebased branch); None: detected (pytest, npm test, go test, cargo test).
    test_command: str | None = None
    # How the merge queue merges a pull request on GitHub.
    merge_method: Literal["merge", "squash", "rebase"] = "merge"
    # The quality gates after a run's work (core/gates): false turns them off for this
    # project; None: the global [gates] enabled and the project's .gluon/project.toml decide.
    gates: bool | None = None
    # What happens when the gates give up (core/gates/policy.py); None: the project's
    # .gluon/project.toml, else "manual".
    supervision: Literal["manual", "conservative", "aggressive"] | None = None
    # What the witness (core/witness) does when a live run looks looping, stuck, stalled or
    # a zombie: say so, nudge the agent, restart it, or nothing.
    witness: Literal["notify", "nudge", "restart", "off"] = "notify"

    @field_validator("remote")
    @classmethod
    def _git_url(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or v.startswith("-")
                              or any(c.isspace() or c == "\0" for c in v)):
            raise ValueError("expected a git URL, such as 'https://github.com/OWNER/REPO.git' "
                             "or 'git@github.com:OWNER/REPO.git'")
        return v


class AnthropicConfig(Section):
    api_key: SecretStr | None = None
    base_url: str | None = None


def resolve_model(name: str | None, default: str) -> str:
    """Check a model alias (opus, sonnet, haiku) or a full model id (claude-...), in any case
    ("Opus", "Claude-Sonnet-4-5"); returned in lower case, as the API spells them."""
    value = (name or default).strip()
    lowered = value.lower()
    if lowered in MODEL_ALIASES:
        return lowered
    allowed = all(c.isalnum() or c in "-._@[]" for c in lowered)
    if lowered.startswith("claude-") and len(lowered) > len("claude-") + 2 and allowed:
        return lowered
    raise InvalidInput(f"unknown model {value!r}; use opus, sonnet, haiku or a full model id "
                       "such as 'claude-sonnet-4-5'")
