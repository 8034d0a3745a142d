"""Sign-in links to the status page as MCP tools: made for the caller only, as their role, and
never written to the activity log or the log; sessions listed and signed out by their owner (or
an admin), with a confirmation on chat surfaces."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest

from core.runtime import Runtime
from core.types import Role
from mcp_tools.registry import Caller, PendingAction, default_caller
from mcp_tools.server import build_server
from tests.mcp_tools.client import call, connected, error

PAGE = "http://127.0.0.1:8765"


@contextlib.contextmanager
def calling_as(who: Caller) -> Iterator[None]:
    token = default_caller.set(who)
    try:
        yield
    finally:
        default_caller.reset(token)


def token_of(url: str) -> str:
    assert url.startswith(f"{PAGE}/signin/"), url
    return url.rsplit("/", 1)[1]


async def paired(runtime: Runtime, user_id: str, role: Role) -> Caller:
    """A chat user let in with a pairing code, as the chat calls tools for them."""
    code = await runtime.access.create_code(role)
    await runtime.access.pair("telegram", user_id, f"User {user_id}", code.code)
    return Caller(f"telegram:{user_id}", role, name=f"User {user_id}")


async def test_a_link_signs_the_caller_in_once_and_is_never_logged(
        runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    runtime.web.served_at = PAGE
    caplog.set_level(logging.DEBUG)
    async with connected(runtime) as client:
        link = await call(client, "create_web_link")
    token = token_of(link["url"])
    assert (link["actor"], link["role"], link["minutes"]) == ("mcp", "admin", 10)
    assert link["note"] == ("It works once, for 10 minutes: open it in a private browser you "
                            "trust; whoever opens it first is signed in as you.")
    _, signed = await runtime.web.sign_in(token)
    assert (signed.session.actor, signed.session.role) == ("mcp", Role.ADMIN)
    entries = await runtime.activity.recent()
    assert ("mcp", "tool.create_web_link", "ok") in [(e.actor, e.action, e.outcome)
                                                     for e in entries]
    assert not [e for e in entries if token in e.model_dump_json()]
    assert token not in caplog.text


async def test_a_viewer_gets_a_viewer_link_but_still_cannot_act(runtime: Runtime) -> None:
    runtime.web.served_at = PAGE
    viewer = await paired(runtime, "9", Role.VIEWER)
    with calling_as(viewer):
        async with connected(runtime) as client:
            link = await call(client, "create_web_link")
            refused = await error(client, "start_run", project="demo", prompt="x")
    assert (link["actor"], link["role"]) == ("telegram:9", "viewer")
    assert "start_run needs the operator role" in refused
    _, signed = await runtime.web.sign_in(token_of(link["url"]))
    assert signed.session.role is Role.VIEWER and signed.session.name == "User 9"


async def test_without_a_page_being_served_the_caller_is_told_to_start_gluon_serve(
        runtime: Runtime) -> None:
    async with connected(runtime) as client:
        message = await error(client, "create_web_link")
    assert "`gluon serve`" in message and "web.public_url" in message
    server, kit = build_server(runtime)
    assert kit.required_role("create_web_link") is Role.VIEWER
    assert "create_web_link" not in kit.read_only


async def test_people_see_their_own_sessions_and_an_admin_sees_everyones(
        runtime: Runtime) -> None:
    runtime.web.served_at = PAGE
    ada = await paired(runtime, "42", Role.OPERATOR)
    bob = await paired(runtime, "7", Role.VIEWER)
    for who in (ada, bob, bob):
        await runtime.web.sign_in(token_of(
            (await runtime.web.create_link(who.actor, who.role)).url))
    with calling_as(bob):
        async with connected(runtime) as client:
            own = await call(client, "list_web_sessions")
            nosy = await error(client, "list_web_sessions", everyone=True)
    assert [s["actor"] for s in own["sessions"]] == ["telegram:7", "telegram:7"]
    assert nosy.endswith("only an admin may list everyone's sessions; leave out everyone to "
                         "list your own")
    async with connected(runtime) as client:  # the process's own caller: an admin
        everyone = await call(client, "list_web_sessions", everyone=True)
    assert sorted(s["actor"] for s in everyone["sessions"]) == [
        "telegram:42", "telegram:7", "telegram:7"]


async def test_signing_out_ends_ones_own_sessions_and_only_an_admin_ends_others(
        runtime: Runtime) -> None:
    runtime.web.served_at = PAGE
    ada = await paired(runtime, "42", Role.OPERATOR)
    bob = await paired(runtime, "7", Role.VIEWER)
    cookies = {}
    for who in (ada, bob, bob):
        cookies[who.actor] = (await runtime.web.sign_in(token_of(
            (await runtime.web.create_link(who.actor, who.role)).url)))[0]
    with calling_as(bob):
        async with connected(runtime) as client:
            meddling = await error(client, "revoke_web_sessions", actor=ada.actor)
            out = await call(client, "revoke_web_sessions")
            again = await error(client, "revoke_web_sessions")
    assert meddling.endswith("only an admin may sign someone else out; leave out actor to "
                             "sign yourself out")
    assert out == {"actor": "telegram:7", "ended": 2}
    assert "telegram:7 has no signed-in session" in again
    assert await runtime.web.session(cookies[bob.actor]) is None
    [ada_session] = await runtime.web.sessions(ada.actor)
    async with connected(runtime) as client:  # an admin names a session by its id alone
        ended = await call(client, "revoke_web_sessions", session_id=ada_session.id)
    assert ended == {"actor": "telegram:42", "ended": 1}
    assert await runtime.web.session(cookies[ada.actor]) is None
    entries = [(e.actor, e.action, e.target) for e in await runtime.activity.recent()]
    assert ("mcp", "web.revoke", "telegram:42") in entries


async def test_on_chat_signing_out_waits_for_a_confirmation_that_says_what_it_ends(
        runtime: Runtime) -> None:
    runtime.web.served_at = PAGE
    ada = await paired(runtime, "42", Role.OPERATOR)
    for _ in range(2):
        await runtime.web.sign_in(token_of((await runtime.web.create_link(ada.actor,
                                                                          ada.role)).url))
    held: list[PendingAction] = []

    async def confirm(action: PendingAction) -> str:
        held.append(action)
        return f"Not done yet: press Confirm to {action.preview}."

    with calling_as(Caller(ada.actor, ada.role, confirm=confirm)):
        async with connected(runtime) as client:
            told = await error(client, "revoke_web_sessions")
    assert told.endswith("Not done yet: press Confirm to sign you out of the status page in "
                         "2 browser(s).")
    # Pinned to the person who asked: an admin who confirms signs Ada out, not themselves.
    assert held[0].arguments == {"session_id": "", "actor": "telegram:42"}
    assert len(await runtime.web.sessions(ada.actor)) == 2
    with calling_as(Caller("telegram:1", Role.ADMIN, confirm=confirm, confirmed=True)):
        async with connected(runtime) as client:
            done = await call(client, "revoke_web_sessions", **held[0].arguments)
    assert done == {"actor": "telegram:42", "ended": 2}
