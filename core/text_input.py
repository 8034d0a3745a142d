"""Text that comes in from people and models (prompts, messages, answers, names) is checked
where it enters a core service, so every surface (chat, MCP, CLI, page) refuses it the same way.

Two things cannot be passed on and are refused rather than silently altered: a NUL byte (no
command-line argument, path or git commit message can hold one; MCP's JSON can carry it) and an
unpaired UTF-16 surrogate (JSON's ``\\ud800`` escapes decode to one; it cannot be written as
UTF-8 to the database, a log or the agent).
"""

from __future__ import annotations

from core.errors import InvalidInput


def check_text(value: str, parameter: str) -> str:
    """``value`` unchanged, or an InvalidInput naming ``parameter`` and what is wrong."""
    if "\x00" in value:
        raise InvalidInput(f"{parameter} contains a NUL byte (\\x00), which cannot be passed "
                           "on; remove it and send the text again")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{parameter} contains an unpaired surrogate (a broken \\ud800-"
                           "\\udfff escape), which is not text; remove it and send the text "
                           "again") from None
    return value


def check_optional(value: str | None, parameter: str) -> str | None:
    return None if value is None else check_text(value, parameter)


def check_all(values: list[str], parameter: str) -> list[str]:
    for value in values:
        check_text(value, parameter)
    return values
