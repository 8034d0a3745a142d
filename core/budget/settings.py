"""Runtime settings: values changed while Gluon runs (the ``set_setting`` and ``set_budget``
tools), stored as JSON in the ``settings`` table. A stored value overrides ``config.toml`` and
the environment until it is cleared; the frozen :class:`core.config.Config` is never changed.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, JsonValue, SecretStr, ValidationError
from pydantic_core import to_jsonable_python

from core.budget.store import BudgetStore
from core.config import AgentsConfig, Config
from core.errors import InvalidInput

# The keys set_setting may change, and what each accepts (said in the error for a bad value).
RUNTIME_KEYS: dict[str, str] = {
    "agents.max_concurrent": "a whole number from 1 to 256",
    "agents.max_concurrent_per_project": "a whole number from 1 to 256",
    "agents.default_model": "opus, sonnet, haiku or a full model id such as "
                            "'claude-sonnet-4-5'",
    "agents.daily_budget_usd": "a positive number of US dollars",
}


def project_budget_key(project: str) -> str:
    return f"projects.{project}.daily_budget_usd"


def _key_path(key: str) -> list[str]:
    # A project name may contain dots: "projects.web.app.daily_budget_usd".
    if key.startswith("projects.") and key.count(".") > 2:
        _, rest = key.split(".", 1)
        name, field = rest.rsplit(".", 1)
        return ["projects", name, field]
    return key.split(".")


def check_budget(daily_usd: float) -> float:
    if isinstance(daily_usd, bool) or not math.isfinite(daily_usd) or daily_usd <= 0:
        raise InvalidInput(f"daily_usd must be a positive number of US dollars (or null to "
                           f"clear the override), not {daily_usd!r}")
    return float(daily_usd)


def check_runtime_value(key: str, value: JsonValue) -> JsonValue:
    """The validated value for one of RUNTIME_KEYS (None clears); InvalidInput otherwise."""
    if key not in RUNTIME_KEYS:
        raise InvalidInput(f"key {key!r} cannot be changed at runtime; use one of "
                           f"{', '.join(RUNTIME_KEYS)} (change anything else in config.toml)")
    if value is None:
        return None
    field = key.removeprefix("agents.")
    try:
        parsed = AgentsConfig.model_validate({field: value})
    except ValidationError:
        raise InvalidInput(f"value {value!r} is not valid for {key!r}; use "
                           f"{RUNTIME_KEYS[key]}, or null to clear the override") from None
    result: JsonValue = getattr(parsed, field)
    return result


def redacted(model: BaseModel) -> dict[str, JsonValue]:
    """A config model as JSON, every secret (token, API key) shown only as "set" or "unset"."""
    out: dict[str, JsonValue] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, SecretStr) or "SecretStr" in str(field.annotation):
            out[name] = "unset" if value is None else "set"
        elif isinstance(value, BaseModel):
            out[name] = redacted(value)
        elif isinstance(value, dict):
            out[name] = {k: redacted(v) if isinstance(v, BaseModel) else to_jsonable_python(v)
                         for k, v in value.items()}
        else:
            out[name] = to_jsonable_python(value)
    return out


class Settings:
    """Key/value overrides in the database; read each time, so every reader sees a change at
    once."""

    def __init__(self, store: BudgetStore) -> None:
        self.store = store

    async def get(self, key: str) -> JsonValue | None:
        return await self.store.setting(key)

    async def set(self, key: str, value: JsonValue | None) -> None:
        """Store an override; None removes it (the configured value applies again)."""
        await self.store.set_setting(key, value)

    async def all(self) -> dict[str, JsonValue]:
        return await self.store.settings()

    async def change(self, key: str, value: JsonValue) -> JsonValue:
        """Validate and store one of RUNTIME_KEYS; return the stored value (None: cleared)."""
        checked = check_runtime_value(key, value)
        await self.set(key, checked)
        return checked

    async def agents(self, config: Config) -> AgentsConfig:
        """The agents section with the stored runtime overrides applied."""
        stored = await self.all()
        update = {key.removeprefix("agents."): stored[key]
                  for key in RUNTIME_KEYS if key in stored}
        return config.agents.model_copy(update=update)

    async def effective(self, config: Config) -> dict[str, JsonValue]:
        """The whole configuration as JSON, secrets redacted, with the stored overrides
        applied (a key "a.b.c" replaces view["a"]["b"]["c"])."""
        view = redacted(config)
        for key, value in (await self.all()).items():
            *path, last = _key_path(key)
            node = view
            for part in path:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    break
                node = child
            else:
                node[last] = value
        return view

    async def daily_budget(self, config: Config, project: str | None = None) -> float | None:
        """Today's budget in USD, global (project None) or of one project: the stored
        override if there is one, else the configured value."""
        key = "agents.daily_budget_usd" if project is None else project_budget_key(project)
        stored = await self.get(key)
        if isinstance(stored, int | float) and not isinstance(stored, bool):
            return float(stored)
        if project is None:
            return config.agents.daily_budget_usd
        return config.project(project).daily_budget_usd
