"""Text that comes in from people and models (prompts, messages, answers, names) is checked
where it enters a core service, so every surface (chat, MCP, CLI, page) refuses it the same way.

Two things cannot be passed on and are refused rather than silently altered: a NUL byte (no
command-line argument, path or git commit message can hold one; MCP's JSON can carry it) and an
unpaired UTF-16 surrogate (JSON's ``\\ud800`` escapes decode to one; it cannot be written as
UTF-8 to the database, a log or the agent).
"""

from __future__ import annotations

from pathlib import Path

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


def user_path(value: str, parameter: str = "path") -> Path:
    """A folder or file as a person typed it: ``~`` and ``~user`` expanded, made absolute (from
    the current folder). A ``~user`` that names no user is an InvalidInput, not a crash."""
    try:
        return Path(check_text(value, parameter)).expanduser().absolute()
    except RuntimeError:  # pathlib: "Could not determine home directory."
        raise InvalidInput(f"{parameter} {value!r} starts with ~ but names no user on this "
                           "machine; write the path out in full") from None
