"""Discord-style errors: `ApiError` and the 400s (50035 "Invalid Form Body") for
message bodies and application commands the real API refuses."""

from __future__ import annotations

import re

from tests.fakes.discord.constants import (
    COMPONENTS_V2,
    JSON,
    MAX_CONTENT,
    MAX_CUSTOM_ID,
    MAX_EMBED_TOTAL,
    MAX_EMBEDS,
    MAX_ROW,
    MAX_ROWS,
    MAX_UPLOAD,
)
from tests.fakes.discord.payloads import walk

BETWEEN_1_100 = "Must be between 1 and 100 in length."
_NAME = re.compile(r"^[-_\w]{1,32}$")


class ApiError(Exception):
    """An error answer in Discord's shape: `{"code": …, "message": …, "errors"?: …}`."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.body: JSON = {"message": message, "code": code}
        if errors:
            self.body["errors"] = errors
        self.headers: dict[str, str] = {}



def check_message(body: JSON, files: dict[int, tuple[str, bytes]], *, edit: bool = False) -> None:
    """Raise Discord's 400 for what it refuses in a message body (and its 413 for files
    over the upload limit)."""
    if sum(len(data) for _, data in files.values()) > MAX_UPLOAD:
        raise ApiError(413, 40005, "Request entity too large")
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    content = body.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        problems.append((("content",), "BASE_TYPE_MAX_LENGTH",
                         f"Must be {MAX_CONTENT} or fewer in length."))
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        problems.append((("embeds",), "BASE_TYPE_MAX_LENGTH",
                         f"Must be {MAX_EMBEDS} or fewer in length."))
    total = 0
    for i, embed in enumerate(embeds):
        parts: list[tuple[tuple[str | int, ...], str | None, int]] = [
            (("title",), embed.get("title"), 256),
            (("description",), embed.get("description"), 4096),
            (("footer", "text"), (embed.get("footer") or {}).get("text"), 2048),
            (("author", "name"), (embed.get("author") or {}).get("name"), 256)]
        for j, f in enumerate(embed.get("fields") or []):
            parts += [(("fields", j, "name"), f.get("name"), 256),
                      (("fields", j, "value"), f.get("value"), 1024)]
        for path, text, limit in parts:
            total += len(text or "")
            if len(text or "") > limit:
                problems.append((("embeds", i, *path), "BASE_TYPE_MAX_LENGTH",
                                 f"Must be {limit} or fewer in length."))
    if total > MAX_EMBED_TOTAL:
        problems.append((("embeds",), "MAX_EMBED_SIZE_EXCEEDED",
                         f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"))
    rows = body.get("components") or []
    v2 = bool((body.get("flags") or 0) & COMPONENTS_V2)
    if not v2 and len(rows) > MAX_ROWS:
        problems.append((("components",), "BASE_TYPE_MAX_LENGTH",
                         f"Must be {MAX_ROWS} or fewer in length."))
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if not v2 and len(row.get("components") or []) > MAX_ROW:
            problems.append((("components", i, "components"), "BASE_TYPE_MAX_LENGTH",
                             f"Must be {MAX_ROW} or fewer in length."))
        for component in walk([row]):
            custom_id = component.get("custom_id")
            if custom_id is not None and not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
                problems.append((("components", i, "custom_id"), "BASE_TYPE_BAD_LENGTH",
                                 f"Must be between 1 and {MAX_CUSTOM_ID} in length."))
            elif custom_id is not None and custom_id in seen:
                problems.append((("components", i, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED",
                                 "Component custom id cannot be duplicated"))
            seen.add(custom_id or "")
            if component.get("type") == 2 and len(component.get("label") or "") > 80:
                problems.append((("components", i, "label"), "BASE_TYPE_MAX_LENGTH",
                                 "Must be 80 or fewer in length."))
    if problems:
        raise invalid(problems)
    if not edit and is_empty({**body, "attachments": list(files)}):
        raise ApiError(400, 50006, "Cannot send an empty message")


def check_commands(commands: list[JSON]) -> None:
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    names: set[tuple[str, int]] = set()
    for i, command in enumerate(commands):
        name, kind = command.get("name") or "", command.get("type") or 1
        if kind == 1 and (not _NAME.match(name) or name != name.lower()):
            problems.append(((i, "name"), "APPLICATION_COMMAND_INVALID_NAME",
                             "Command name is invalid"))
        if kind == 1 and not 1 <= len(command.get("description") or "") <= 100:
            problems.append(((i, "description"), "BASE_TYPE_BAD_LENGTH", BETWEEN_1_100))
        if (name, kind) in names:
            problems.append(((i, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME",
                             "Application command names must be unique"))
        names.add((name, kind))
    if len(commands) > 100:
        problems.append(((), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
    if problems:
        raise invalid(problems)


def invalid(problems: list[tuple[tuple[str | int, ...], str, str]]) -> ApiError:
    """Discord's 50035 "Invalid Form Body", errors nested by the path of each field."""
    errors: JSON = {}
    for path, code, message in problems:
        node = errors
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return ApiError(400, 50035, "Invalid Form Body", errors)


def is_empty(message: JSON) -> bool:
    return not ((message.get("content") or "").strip() or message.get("embeds")
                or message.get("attachments") or message.get("components")
                or message.get("sticker_ids") or message.get("poll"))
