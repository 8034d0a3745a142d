"""Signing in to the status page: one-time links and the sessions they open.

A person asks for a link where they are already known (``/web`` in chat, ``gluon web-link`` in
a terminal). The link works once, for ``web.link_minutes``; opening it (a POST from the page it
shows, so a chat app's link preview cannot spend it) starts a session whose cookie lasts
``web.session_hours``. A session acts as the person who asked: a chat user's role is read from
the access list on every request, so a role changed or revoked in chat applies at once; other
actors (the terminal's admin) keep the role the link was made with. Every state-changing
request of a session carries its CSRF token.

Tokens are 256-bit random strings; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from pydantic import BaseModel

from core.access.activity import ActivityLog
from core.access.users import Access, check_role
from core.access.web_store import SessionRow, WebStore
from core.config import WebConfig
from core.errors import Conflict, InvalidInput, NotFound
from core.types import Role

SIGN_IN_PATH = "/signin/"
SEEN_EVERY_SECONDS = 60.0  # how often a session's last-seen time is written
CHAT_PLATFORMS = ("telegram", "discord")


class WebLink(BaseModel):
    """A one-time sign-in link to the status page."""

    url: str
    actor: str
    role: Role
    expires_at: float


class WebSession(BaseModel):
    """A signed-in browser. ``id`` is a short public name of the session (for listing and
    revoking); the cookie's value is never shown."""

    id: str
    actor: str
    name: str
    role: Role
    created_at: float
    expires_at: float
    seen_at: float


class SignedIn(BaseModel):
    """A session being used: who it is, with their role now, and its CSRF token."""

    session: WebSession
    csrf: str

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _public(row: SessionRow, role: Role) -> WebSession:
    return WebSession(id=row.id_hash[:12], actor=row.actor, name=row.name, role=role,
                      created_at=row.created_at, expires_at=row.expires_at,
                      seen_at=row.seen_at)


class WebAccess:
    def __init__(self, store: WebStore, access: Access, activity: ActivityLog,
                 config: WebConfig) -> None:
        self.store = store
        self.access = access
        self.activity = activity
        self.config = config
        # Where the page is served, for links: web.public_url, else set by the process that
        # serves the page (``gluon serve``) once it listens. None: nothing serves it.
        self.served_at: str | None = None

    @property
    def base_url(self) -> str | None:
        return self.config.public_url or self.served_at

    @property
    def secure(self) -> bool:
        """Whether cookies are ``Secure`` (the page is reached over https)."""
        return (self.base_url or "").startswith("https://")

    async def create_link(self, actor: str, role: Role, name: str = "") -> WebLink:
        """A link that signs ``actor`` in once, within ``web.link_minutes``."""
        base = self.base_url
        if base is None:
            raise Conflict("the status page is served by `gluon serve`; start it, then ask "
                           "for a link again (or set web.public_url)")
        token = secrets.token_urlsafe(32)
        expires = time.time() + self.config.link_minutes * 60
        await self.store.add_link(_hash(token), actor, check_role(role), name or actor,
                                  expires)
        await self.activity.record(actor, "web.link", actor, "ok", role)
        return WebLink(url=f"{base}{SIGN_IN_PATH}{token}", actor=actor, role=role,
                       expires_at=expires)

    async def link_state(self, token: str) -> str:
        """Whether a link can still be used: "valid", "used", "expired" or "unknown"."""
        return await self.store.link_state(_hash(token))

    async def sign_in(self, token: str) -> tuple[str, SignedIn]:
        """Spend a link: the new session's cookie value and the session. Raises InvalidInput
        saying why a link does not work."""
        state = await self.store.link_state(_hash(token))
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        row = None if state != "valid" else await self.store.use_link(
            _hash(token), _hash(cookie), csrf, self.config.session_hours * 3600)
        if row is None:
            reason = {"used": "was already used", "expired": "has expired"}.get(
                state if state != "valid" else "used", "is not a sign-in link")
            raise InvalidInput(f"this sign-in link {reason}; ask for a new one with /web in "
                               "chat or `gluon web-link` in a terminal")
        role = await self._role(row)
        if role is None:
            await self.store.remove_session(row.id_hash)
            raise InvalidInput(f"{row.actor} is no longer allowed in; ask an admin")
        await self.activity.record(row.actor, "web.sign_in", row.id_hash[:12], "ok")
        return cookie, SignedIn(session=_public(row, role), csrf=csrf)

    async def session(self, cookie: str | None) -> SignedIn | None:
        """The session of a cookie, with the person's role now; None when there is none (never
        was, expired, signed out, revoked, or the person is no longer allowed in)."""
        if not cookie:
            return None
        row = await self.store.session(_hash(cookie))
        if row is None:
            return None
        role = await self._role(row)
        if role is None:
            return None
        if time.time() - row.seen_at > SEEN_EVERY_SECONDS:
            await self.store.seen(row.id_hash)
        return SignedIn(session=_public(row, role), csrf=row.csrf)

    async def sign_out(self, cookie: str) -> None:
        row = await self.store.session(_hash(cookie))
        if row is not None and await self.store.remove_session(row.id_hash):
            await self.activity.record(row.actor, "web.sign_out", row.id_hash[:12], "ok")

    async def sessions(self, actor: str | None = None) -> list[WebSession]:
        """The signed-in browsers, of one person or of everyone."""
        found = []
        for row in await self.store.sessions(actor):
            role = await self._role(row)
            if role is not None:
                found.append(_public(row, role))
        return found

    async def revoke(self, actor: str, session_id: str = "", by: str = "cli") -> int:
        """Sign ``actor`` out of every browser (or of the one session named by its id): how
        many sessions ended. Raises NotFound when there was none."""
        if session_id and not all(c in "0123456789abcdef" for c in session_id):
            raise InvalidInput(f"{session_id!r} is not a session id; list them with "
                               "`gluon web-link --list`")
        ended = await self.store.remove_sessions(actor, session_id)
        if not ended:
            what = f"session {session_id}" if session_id else "session"
            raise NotFound(f"{actor} has no signed-in {what}; list them with "
                           "`gluon web-link --list`")
        await self.activity.record(by, "web.revoke", actor, "ok", f"{ended} session(s)")
        return ended

    async def prune(self) -> int:
        return await self.store.prune()

    async def _role(self, row: SessionRow) -> Role | None:
        platform, _, user_id = row.actor.partition(":")
        if platform in CHAT_PLATFORMS and user_id:
            return await self.access.role_of(platform, user_id)
        return check_role(row.role)
