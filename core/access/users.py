"""Who may talk to Gluon in chat, and with which role. Deny by default.

A chat user is allowed when the config lists their id (``telegram.admins``/``users``/
``viewers``, the same for Discord) or when they paired with a one-time code that an admin
created (``gluon pair``). Codes are stored hashed, expire after ten minutes and work once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Annotated, Literal

from pydantic import BaseModel, WithJsonSchema

from core.access.activity import ActivityLog
from core.access.store import AccessStore
from core.errors import InvalidInput, NotFound
from core.types import Role

CODE_TTL_SECONDS = 600
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
# Tools return these models: their schema lists a role's names inline, as it always has.
_RoleField = Annotated[Role, WithJsonSchema(
    {"enum": [r.value for r in Role], "title": "Role", "type": "string"})]


class ChatUser(BaseModel):
    platform: str
    user_id: str
    role: _RoleField
    name: str
    added_by: str
    source: Literal["config", "paired"]


class PairingCode(BaseModel):
    code: str
    role: _RoleField
    expires_at: float


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInput(f"role {role!r} is not one of: {', '.join(Role)}") from None


class Access:
    def __init__(self, store: AccessStore, activity: ActivityLog,
                 configured: dict[str, dict[str, Role]]) -> None:
        """``configured``: per platform, the user ids the config allows and their roles."""
        self.store = store
        self.activity = activity
        self.configured = configured

    async def role_of(self, platform: str, user_id: str) -> Role | None:
        """The user's role, or None when they are not allowed in."""
        role = self.configured.get(platform, {}).get(user_id)
        if role is not None:
            return role
        stored = await self.store.role_of(platform, user_id)
        return check_role(stored) if stored is not None else None

    def anyone_configured(self, platform: str) -> bool:
        return bool(self.configured.get(platform))

    async def create_code(self, role: str = Role.OPERATOR, actor: str = "cli") -> PairingCode:
        """A one-time code a person sends to the bot (``/pair CODE``) to be let in."""
        checked = check_role(role)
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        code = f"{raw[:4]}-{raw[4:]}"
        now = time.time()
        await self.store.add_code(_hash(code), checked, now + CODE_TTL_SECONDS)
        await self.activity.record(actor, "access.code", checked, "ok")
        return PairingCode(code=code, role=checked, expires_at=now + CODE_TTL_SECONDS)

    async def pair(self, platform: str, user_id: str, name: str, code: str) -> Role:
        """Let a user in with a code; raises InvalidInput when the code is wrong, used or
        expired (one message for all three, so codes cannot be probed)."""
        role = await self.store.pair(_hash(code), platform, user_id, name)
        if role is None:
            raise InvalidInput("that pairing code is wrong, used or expired; ask an admin "
                               "for a new one (`gluon pair`)")
        who = f"{platform}:{user_id}"
        await self.activity.record(who, "access.pair", who, "ok", role)
        return check_role(role)

    async def users(self) -> list[ChatUser]:
        found = [ChatUser(platform=p, user_id=u, role=r, name="", added_by="config",
                          source="config")
                 for p, users in sorted(self.configured.items()) for u, r in users.items()]
        return found + [ChatUser(platform=u.platform, user_id=u.user_id,
                                 role=check_role(u.role), name=u.name,
                                 added_by=u.added_by, source="paired")
                        for u in await self.store.users()]

    async def revoke(self, platform: str, user_id: str, actor: str = "cli") -> ChatUser:
        """Remove a paired user (users from the config are removed in the config)."""
        for user in await self.users():
            if user.platform == platform and user.user_id == user_id:
                if user.source == "config":
                    raise InvalidInput(f"{platform}:{user_id} is allowed by the config file; "
                                       "remove the id there and restart")
                await self.store.remove_user(platform, user_id)
                await self.activity.record(actor, "access.revoke", f"{platform}:{user_id}",
                                           "ok")
                return user
        raise NotFound(f"no paired user {platform}:{user_id}; list them with `gluon pair "
                       "--list`")
