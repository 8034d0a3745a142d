"""Prompt templates of generic webhooks: ``{field.path}`` placeholders filled from a JSON body.

``{alert.labels.severity}`` reads ``body["alert"]["labels"]["severity"]``; a number in the path
indexes a list (``{errors.0.message}``). ``{{`` and ``}}`` are literal braces. Strings are put in
as they are, anything else as JSON. A placeholder whose path is not in the body is an error that
names it, so a delivery never starts a run with half a prompt.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.errors import InvalidInput

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
MAX_VALUE = 20_000  # characters of one filled-in value


def placeholders(template: str) -> list[str]:
    """The field paths a template uses, in order."""
    return [m.group(1).strip() for m in _FIELD.finditer(template) if m.group(1) is not None]


def lookup(body: Any, path: str) -> Any:
    """The value at a dotted ``path`` of ``body``; KeyError naming the first missing part."""
    value = body
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(part)
    return value


def render(template: str, body: Any) -> str:
    """The template with every placeholder filled from ``body``; InvalidInput naming a
    placeholder the body does not have."""

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        path = match.group(1).strip()
        if not path:
            raise InvalidInput("the prompt template has an empty placeholder {}; write {{ and "
                               "}} for literal braces")
        try:
            value = lookup(body, path)
        except KeyError as exc:
            raise InvalidInput(f"the body has no field {path!r} (no {str(exc.args[0])!r}) that "
                               "the hook's prompt template uses") from None
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return text[:MAX_VALUE]

    return _FIELD.sub(fill, template)
