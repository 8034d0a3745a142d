"""``gluon web-link``: a one-time sign-in link to the status page, the browsers signed in, and
signing them out, from a terminal."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import subprocess

from bots.chat.migrations import CHAT_TABLES
from bots.owner import find_owner
from core.config import load_config
from core.runtime import Runtime
from tests.bots.conftest import Gluon, refused, stop


def spend(gluon: Gluon, url: str) -> tuple[str, str]:
    """Open the link as the page would (no daemon runs): the session's (actor, role)."""
    async def sign_in() -> tuple[str, str]:
        runtime = Runtime(load_config(gluon.env), tables=[CHAT_TABLES])
        await runtime.open(resume_interrupted=False)
        try:
            _, signed = await runtime.web.sign_in(url.rsplit("/", 1)[1])
        finally:
            await runtime.close()
        return signed.session.actor, signed.session.role

    return asyncio.run(sign_in())


def test_without_gluon_serve_a_link_needs_it_started_first_unless_the_page_has_an_address(
        gluon: Gluon) -> None:
    # An HTTP client an earlier test's library left unclosed complains when it is collected:
    # let that happen now, not into this command's stderr (it runs in this process).
    gc.collect()
    line = refused(gluon("web-link"))
    assert line == ("gluon: the status page is served by `gluon serve`; start it, then ask for "
                    "a link again (or set web.public_url)")
    env = {**gluon.env, "GLUON_WEB_PUBLIC_URL": "https://gluon.example.com"}
    done = gluon("web-link", env=env)
    assert done.code == 0, done
    url, note = done.out.strip().splitlines()
    assert url.startswith("https://gluon.example.com/signin/")
    assert note == ("It works once, for 10 minutes: open it in a private browser you trust; "
                    "whoever opens it first is signed in as you.")


def test_a_link_from_the_daemon_signs_in_once_and_the_browser_can_be_signed_out(
        gluon: Gluon, daemon: subprocess.Popen[str]) -> None:
    owner = find_owner(gluon.home)
    assert owner is not None
    link = gluon.json("web-link")
    assert link["url"].startswith(owner.url.removesuffix("/mcp") + "/signin/")
    assert (link["actor"], link["role"]) == ("cli", "admin")
    token = link["url"].rsplit("/", 1)[1]
    assert gluon.ok("web-link", "--list").out.strip() == (
        "nobody is signed in to the status page; `gluon web-link` makes a sign-in link")
    daemon.send_signal(signal.SIGTERM)
    _, log = daemon.communicate(timeout=20)
    stop(daemon)
    assert "Gluon is serving" in log and token not in log

    assert spend(gluon, link["url"]) == ("cli", "admin")
    listed = gluon.ok("web-link", "--list").out.splitlines()
    assert listed[0].split() == ["session", "who", "name", "role", "signed", "in", "last",
                                 "seen"]
    assert listed[1].split()[1:4] == ["cli", "cli", "admin"]
    session_id = listed[1].split()[0]
    assert refused(gluon("web-link", "--revoke")) == (
        "gluon: Sign all your browsers out of the status page? needs a confirmation; pass "
        "--yes to confirm")
    assert refused(gluon("web-link", "--revoke", "0000", "--yes")).endswith(
        "cli has no signed-in session 0000; list them with `gluon web-link --list`")
    done = gluon.ok("web-link", "--revoke", session_id, "--yes")
    assert done.out.strip() == "signed cli out of 1 session(s)"
    assert gluon.json("web-link", "--list") == {"sessions": []}
    activity = json.dumps(gluon.json("activity", "--limit", "100"))
    assert "tool.create_web_link" in activity and "web.revoke" in activity
    assert token not in activity
