"""Builders of Discord's JSON objects (users, members, roles, gateway frames) and
helpers over message components."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from tests.fakes.discord.constants import JSON, PERMISSIONS


def walk(components: list[JSON]) -> Iterator[JSON]:
    """Every component, depth first, through rows, containers and section accessories."""
    for component in components:
        yield component
        yield from walk(component.get("components") or [])
        if isinstance(accessory := component.get("accessory"), dict):
            yield from walk([accessory])


def buttons_of(components: list[JSON]) -> list[tuple[str, str]]:
    return [(c.get("label") or "", c.get("custom_id") or c.get("url") or "")
            for c in walk(components) if c.get("type") == 2]


def named(files: dict[int, tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [files[i] for i in sorted(files)]



def user_json(user_id: int, name: str, *, bot: bool = False) -> JSON:
    return {"id": str(user_id), "username": name, "global_name": name, "discriminator": "0",
            "avatar": None, "bot": bot, "public_flags": 0}


def member_json(user: JSON, roles: list[int], joined_at: str) -> JSON:
    return {"user": user, "roles": [str(r) for r in roles], "joined_at": joined_at, "nick": None,
            "avatar": None, "deaf": False, "mute": False, "flags": 0, "pending": False}


def role_json(role_id: int, name: str, position: int) -> JSON:
    return {"id": str(role_id), "name": name, "color": 0, "hoist": False, "position": position,
            "permissions": PERMISSIONS, "managed": False, "mentionable": False, "flags": 0,
            "icon": None, "unicode_emoji": None}


def op_frame(op: int, d: Any) -> JSON:
    return {"op": op, "d": d, "s": None, "t": None}


def opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def utc_now() -> str:
    return datetime.now(UTC).isoformat()
