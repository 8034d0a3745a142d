"""Secrets kept out of what Gluon records about an agent.

An agent can print a credential it was given (``env`` in Bash puts the model API key in its
output). Whatever the agent sends passes through :class:`Redactor` before it is written to
``messages.jsonl``, stored as a run event or shown in chat: every known secret value becomes
``[secret]``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr

MASK = "[secret]"
# Names whose values are credentials: ANTHROPIC_API_KEY, GLUON_TELEGRAM_TOKEN, AWS_SECRET_...
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
# Shorter values are too likely to occur in ordinary text to be masked everywhere.
MIN_LENGTH = 8

T = TypeVar("T")


def secret_values(*envs: Mapping[str, str]) -> list[str]:
    """The values of secret-looking variables in ``envs``, longest first."""
    found = {value for env in envs for name, value in env.items()
             if SECRET_NAME.search(name) and len(value) >= MIN_LENGTH}
    return sorted(found, key=len, reverse=True)


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [s for s in secrets if len(s) >= MIN_LENGTH]

    def text(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __call__(self, value: T) -> T:
        """``value`` with every secret masked: strings, and the strings inside dicts, lists,
        tuples and dataclasses (rebuilt only where something changed)."""
        if not self.secrets:
            return value
        return self._walk(value)  # type: ignore[no-any-return]

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._walk(v) for v in value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: self._walk(getattr(value, f.name))
                       for f in dataclasses.fields(value)}
            return dataclasses.replace(value, **changes)
        return value


def model_secrets(model: BaseModel) -> list[str]:
    """Every ``SecretStr`` value in a configuration model, nested models and dicts included."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(model)
    return found
