"""Persistence of who may use Gluon and of what everyone did.

The only writer of ``chat_users`` (paired users), ``pairing_codes`` (stored hashed) and
``activity`` (append only: rows are added, never changed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.store.db import Database


@dataclass(frozen=True)
class PairedUser:
    platform: str
    user_id: str
    role: str
    name: str
    added_by: str


@dataclass(frozen=True)
class ActivityRow:
    at: float
    actor: str
    action: str
    target: str
    outcome: str
    detail: str


class AccessStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- paired users and pairing codes -------------------------------------------------------

    async def role_of(self, platform: str, user_id: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT role FROM chat_users WHERE platform = ? AND user_id = ?",
            (platform, user_id))
        return str(row["role"]) if row else None

    async def add_code(self, code_hash: str, role: str, expires_at: float) -> None:
        await self.db.execute(
            "INSERT INTO pairing_codes (code_hash, role, created_at, expires_at) "
            "VALUES (?,?,?,?)", (code_hash, role, time.time(), expires_at))

    async def pair(self, code_hash: str, platform: str, user_id: str, name: str) -> str | None:
        """Use the code (unused and unexpired) to let the user in; the role it grants, or
        None when there is no such code. One transaction: a code works once."""
        now = time.time()
        async with self.db.transaction():
            row = await self.db.fetchone(
                "SELECT role FROM pairing_codes WHERE code_hash = ? AND used_by IS NULL "
                "AND expires_at > ?", (code_hash, now))
            if row is None:
                return None
            await self.db.execute("UPDATE pairing_codes SET used_by = ? WHERE code_hash = ?",
                                  (f"{platform}:{user_id}", code_hash))
            await self.db.execute(
                "INSERT INTO chat_users (platform, user_id, role, name, added_by, added_at) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT (platform, user_id) DO UPDATE SET "
                "role = excluded.role, name = excluded.name", (
                    platform, user_id, row["role"], name, "pairing", now))
        return str(row["role"])

    async def users(self) -> list[PairedUser]:
        rows = await self.db.fetchall(
            "SELECT platform, user_id, role, name, added_by FROM chat_users ORDER BY added_at")
        return [PairedUser(r["platform"], r["user_id"], r["role"], r["name"], r["added_by"])
                for r in rows]

    async def remove_user(self, platform: str, user_id: str) -> None:
        await self.db.execute("DELETE FROM chat_users WHERE platform = ? AND user_id = ?",
                              (platform, user_id))

    # -- the activity log ---------------------------------------------------------------------

    async def record(self, actor: str, action: str, target: str, outcome: str,
                     detail: str) -> None:
        await self.db.execute(
            "INSERT INTO activity (at, actor, action, target, outcome, detail) "
            "VALUES (?,?,?,?,?,?)", (time.time(), actor, action, target, outcome, detail))

    async def activity(self, limit: int, actor: str | None,
                       action_prefix: str | None) -> list[ActivityRow]:
        """Newest first, optionally of one actor or of actions starting with a prefix."""
        sql = "SELECT at, actor, action, target, outcome, detail FROM activity WHERE 1=1"
        params: list[object] = []
        if actor is not None:
            sql += " AND actor = ?"
            params.append(actor)
        if action_prefix:
            sql += " AND substr(action, 1, ?) = ?"
            params += [len(action_prefix), action_prefix]
        rows = await self.db.fetchall(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [ActivityRow(r["at"], r["actor"], r["action"], r["target"], r["outcome"],
                            r["detail"]) for r in rows]
