"""Persistence of sign-ins to the status page.

The only writer of ``web_links`` (one-time sign-in links) and ``web_sessions`` (the sessions
they open). Both are keyed by the SHA-256 of their secret: the link's token and the cookie's
value are never stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.store.db import Database


@dataclass(frozen=True)
class SessionRow:
    id_hash: str
    actor: str
    role: str
    name: str
    csrf: str
    created_at: float
    expires_at: float
    seen_at: float


_SESSION = "id_hash, actor, role, name, csrf, created_at, expires_at, seen_at"


class WebStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_link(self, token_hash: str, actor: str, role: str, name: str,
                       expires_at: float) -> None:
        await self.db.execute(
            "INSERT INTO web_links (token_hash, actor, role, name, created_at, expires_at) "
            "VALUES (?,?,?,?,?,?)", (token_hash, actor, role, name, time.time(), expires_at))

    async def link_state(self, token_hash: str) -> str:
        """"unknown", "used", "expired" or "valid"."""
        row = await self.db.fetchone(
            "SELECT expires_at, used_at FROM web_links WHERE token_hash = ?", (token_hash,))
        if row is None:
            return "unknown"
        if row["used_at"] is not None:
            return "used"
        return "expired" if row["expires_at"] <= time.time() else "valid"

    async def use_link(self, token_hash: str, id_hash: str, csrf: str,
                       session_seconds: float) -> SessionRow | None:
        """Spend the link (unused, unexpired) on a new session; None when it cannot be. One
        transaction: a link opens one session."""
        now = time.time()
        async with self.db.transaction():
            row = await self.db.fetchone(
                "SELECT actor, role, name FROM web_links WHERE token_hash = ? "
                "AND used_at IS NULL AND expires_at > ?", (token_hash, now))
            if row is None:
                return None
            await self.db.execute("UPDATE web_links SET used_at = ? WHERE token_hash = ?",
                                  (now, token_hash))
            session = SessionRow(id_hash, row["actor"], row["role"], row["name"], csrf, now,
                                 now + session_seconds, now)
            await self.db.execute(
                f"INSERT INTO web_sessions ({_SESSION}) VALUES (?,?,?,?,?,?,?,?)",
                (session.id_hash, session.actor, session.role, session.name, session.csrf,
                 session.created_at, session.expires_at, session.seen_at))
        return session

    async def session(self, id_hash: str) -> SessionRow | None:
        row = await self.db.fetchone(
            f"SELECT {_SESSION} FROM web_sessions WHERE id_hash = ? AND expires_at > ?",
            (id_hash, time.time()))
        return SessionRow(**dict(row)) if row else None

    async def seen(self, id_hash: str) -> None:
        await self.db.execute("UPDATE web_sessions SET seen_at = ? WHERE id_hash = ?",
                              (time.time(), id_hash))

    async def sessions(self, actor: str | None) -> list[SessionRow]:
        sql = f"SELECT {_SESSION} FROM web_sessions WHERE expires_at > ?"
        params: list[object] = [time.time()]
        if actor is not None:
            sql += " AND actor = ?"
            params.append(actor)
        rows = await self.db.fetchall(sql + " ORDER BY created_at", tuple(params))
        return [SessionRow(**dict(r)) for r in rows]

    async def remove_session(self, id_hash: str) -> bool:
        return await self.db.execute("DELETE FROM web_sessions WHERE id_hash = ?",
                                     (id_hash,)) > 0

    async def remove_sessions(self, actor: str, prefix: str = "") -> int:
        """Every session of ``actor`` (whose id hash starts with ``prefix``): how many."""
        return await self.db.execute(
            "DELETE FROM web_sessions WHERE actor = ? AND substr(id_hash, 1, ?) = ?",
            (actor, len(prefix), prefix))

    async def prune(self) -> int:
        """Forget expired sessions and links a day past their expiry."""
        now = time.time()
        async with self.db.transaction():
            sessions = await self.db.execute("DELETE FROM web_sessions WHERE expires_at <= ?",
                                             (now,))
            links = await self.db.execute("DELETE FROM web_links WHERE expires_at <= ?",
                                          (now - 86400,))
        return sessions + links
