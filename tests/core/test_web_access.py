"""Signing in to the status page (core.access.web) through a real runtime and data dir."""

from __future__ import annotations

import sqlite3
import time

import pytest

from core.errors import Conflict, InvalidInput, NotFound
from core.runtime import Runtime
from core.types import Role


async def test_a_link_works_once_and_opens_a_session_with_the_persons_role(
        runtime: Runtime) -> None:
    with pytest.raises(Conflict, match="gluon serve"):
        await runtime.web.create_link("cli", Role.ADMIN)
    runtime.web.served_at = "http://127.0.0.1:9999"
    link = await runtime.web.create_link("cli", Role.ADMIN)
    assert link.url.startswith("http://127.0.0.1:9999/signin/")
    token = link.url.rsplit("/", 1)[1]
    assert await runtime.web.link_state(token) == "valid"

    cookie, signed = await runtime.web.sign_in(token)
    assert (signed.session.actor, signed.session.role) == ("cli", Role.ADMIN)
    again = await runtime.web.session(cookie)
    assert again is not None and again.csrf_ok(signed.csrf) and not again.csrf_ok("forged")
    assert not again.csrf_ok(None)

    with pytest.raises(InvalidInput, match="already used"):
        await runtime.web.sign_in(token)
    with pytest.raises(InvalidInput, match="not a sign-in link"):
        await runtime.web.sign_in("made-up")
    assert await runtime.web.session("made-up") is None

    # Neither the link's token nor the cookie is stored.
    raw = runtime.config.db_path.read_bytes() + b"".join(
        p.read_bytes() for p in runtime.config.home.glob("gluon.db-*"))
    assert token.encode() not in raw and cookie.encode() not in raw
    actions = [e.action for e in await runtime.activity.recent(actor="cli")]
    assert actions[:2] == ["web.sign_in", "web.link"]


async def test_an_expired_link_says_so(runtime: Runtime) -> None:
    runtime.web.served_at = "http://127.0.0.1:9999"
    token = (await runtime.web.create_link("cli", Role.ADMIN)).url.rsplit("/", 1)[1]
    with sqlite3.connect(runtime.config.db_path) as db:
        db.execute("UPDATE web_links SET expires_at = ?", (time.time() - 1,))
    assert await runtime.web.link_state(token) == "expired"
    with pytest.raises(InvalidInput, match="has expired; ask for a new one"):
        await runtime.web.sign_in(token)


async def test_a_chat_users_session_follows_their_role_and_ends_when_revoked(
        runtime: Runtime) -> None:
    runtime.web.served_at = "http://127.0.0.1:9999"
    code = await runtime.access.create_code("viewer")
    await runtime.access.pair("telegram", "42", "Sam", code.code)
    link = await runtime.web.create_link("telegram:42", Role.VIEWER, "Sam")
    cookie, signed = await runtime.web.sign_in(link.url.rsplit("/", 1)[1])
    assert signed.session.role is Role.VIEWER and signed.session.name == "Sam"
    assert [s.actor for s in await runtime.web.sessions()] == ["telegram:42"]

    # Taking the person's chat access away ends the session at once.
    await runtime.access.revoke("telegram", "42")
    assert await runtime.web.session(cookie) is None
    assert await runtime.web.sessions() == []


async def test_sessions_are_revoked_one_or_all_and_signing_out_ends_one(
        runtime: Runtime) -> None:
    runtime.web.served_at = "https://gluon.example.com"
    assert runtime.web.secure
    cookies = []
    for _ in range(3):
        link = await runtime.web.create_link("cli", Role.ADMIN)
        cookies.append((await runtime.web.sign_in(link.url.rsplit("/", 1)[1]))[0])
    first = (await runtime.web.session(cookies[0]))
    assert first is not None
    assert await runtime.web.revoke("cli", first.session.id) == 1
    assert await runtime.web.session(cookies[0]) is None
    await runtime.web.sign_out(cookies[1])
    assert await runtime.web.session(cookies[1]) is None
    assert await runtime.web.revoke("cli") == 1
    with pytest.raises(NotFound, match="no signed-in session"):
        await runtime.web.revoke("cli")
    with pytest.raises(InvalidInput, match="not a session id"):
        await runtime.web.revoke("cli", "DROP TABLE")
