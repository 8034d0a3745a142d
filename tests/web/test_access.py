"""Who may see and do what on the status page, over HTTP as a browser sends it: a stranger
sees the sign-in page and nothing else, a link works once, a form without the session's CSRF
token changes nothing, a viewer is refused with the reason, and an unknown run is a 404 that
names the runs it may mean."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from core.config import Config
from core.runtime import Runtime
from core.types import Role, RunState
from tests.conftest import daemon_environ, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.web.site import serving

ASK_FOR_A_LINK = ("<code>/web</code> in chat, or\n    <code>gluon web-link</code> in a "
                  "terminal")


async def finished_run(runtime: Runtime, repo: Path, server: ScriptedModelServer,
                       prompt: str) -> str:
    await runtime.projects.add("demo", str(repo))
    server.script(prompt, [s.text("Done: the secret plan.")])
    run = await runtime.runs.start_run("demo", prompt)
    return (await wait_state(runtime, run.id)).id


async def working_run(runtime: Runtime, repo: Path, server: ScriptedModelServer) -> str:
    """A run whose agent is waiting for the model until the test releases "web-hold"."""
    await runtime.projects.add("demo", str(repo))
    server.script("SCRIPT:hold", [s.hold("web-hold")])
    run = await runtime.runs.start_run("demo", "SCRIPT:hold keep working")
    await server.await_request(lambda r: r.script_key == "SCRIPT:hold")
    return run.id


async def test_a_stranger_gets_the_sign_in_page_and_nothing_else(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run_id = await finished_run(runtime, repo, model_server, "SCRIPT:secret plan")
    async with serving(runtime) as site, site.visitor() as http:
        for path in ("/", f"/runs/{run_id}", f"/runs/{run_id}/events", "/events",
                     "/nothing-here", "/signin/"):
            seen = await http.get(path)
            assert seen.status_code == 401, path
            assert ASK_FOR_A_LINK in seen.text, path
            assert "secret" not in seen.text and run_id not in seen.text, path
            assert "set-cookie" not in seen.headers
        posted = await http.post(f"/runs/{run_id}/resume", data={"message": "go on"})
        assert posted.status_code == 401
        streamed = await http.get("/events", headers={"Accept": "text/event-stream"})
        assert streamed.status_code == 401
        # What is public holds nothing private: the liveness probe, the page's script.
        assert (await http.get("/health")).json() == {"ok": True}
        assert (await http.get("/static/app.js")).status_code == 200
    assert (await runtime.runs.get(run_id)).state is RunState.REVIEW


async def test_a_link_signs_in_once_and_a_used_expired_or_unknown_link_says_so(
        runtime: Runtime) -> None:
    async with serving(runtime) as site, site.visitor() as http:
        token = await site.link()
        shown = await http.get(f"/signin/{token}")  # what a chat app's link preview fetches
        assert shown.status_code == 200 and ">Sign in</button>" in shown.text
        assert await runtime.web.link_state(token) == "valid"

        signed = await http.post(f"/signin/{token}")
        assert signed.status_code == 303 and signed.headers["location"] == "/"
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("gluon_session=")
        attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/", f"max-age={168 * 3600}"} <= attributes
        assert "secure" not in attributes  # served over plain http
        assert (await http.get("/")).status_code == 200

        for again in (await http.get(f"/signin/{token}"), await http.post(f"/signin/{token}")):
            assert again.status_code == 410
            assert "This sign-in link was already used. Ask for a new one" in again.text
        expired = await site.link()
        with sqlite3.connect(runtime.config.db_path) as db:
            db.execute("UPDATE web_links SET expires_at = ?", (time.time() - 1,))
        for tried in (await http.get(f"/signin/{expired}"),
                      await http.post(f"/signin/{expired}")):
            assert tried.status_code == 410 and "This sign-in link has expired." in tried.text
        unknown = await http.get("/signin/made-up")
        assert unknown.status_code == 404 and "This is not a sign-in link." in unknown.text

        out = await http.post("/signout", data={"csrf": "forged"})
        assert out.status_code == 403 and (await http.get("/")).status_code == 200
        board = await http.get("/")
        csrf = board.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        out = await http.post("/signout", data={"csrf": csrf})
        assert out.status_code == 200 and "You are signed out" in out.text
        assert (await http.get("/")).status_code == 401
    assert await runtime.web.sessions() == []


async def test_the_session_cookie_is_secure_behind_an_https_address(config: Config) -> None:
    behind_proxy = config.model_copy(update={"web": config.web.model_copy(
        update={"public_url": "https://gluon.example.com"})})
    async with Runtime(behind_proxy, environ=daemon_environ()) as runtime, \
            serving(runtime) as site, site.visitor() as http:
        link = await runtime.web.create_link("cli", Role.ADMIN)
        assert link.url.startswith("https://gluon.example.com/signin/")
        signed = await http.post(f"/signin/{link.url.rsplit('/', 1)[1]}")
    assert signed.status_code == 303
    assert "secure" in {a.strip().lower() for a in signed.headers["set-cookie"].split(";")}


async def test_a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run_id = await working_run(runtime, repo, model_server)
    cancel = f"/runs/{run_id}/cancel"
    async with serving(runtime) as site, site.person() as (http, csrf):
        for data, headers in (({}, {}), ({"csrf": "forged"}, {}),
                              ({}, {"X-CSRF-Token": "forged"}),
                              ({"csrf": csrf[:-1]}, {})):
            refused = await http.post(cancel, data=data, headers=headers)
            assert refused.status_code == 403, (data, headers)
            assert "nothing was changed" in refused.text
        assert (await runtime.runs.get(run_id)).state is RunState.RUNNING
        assert not [e for e in await runtime.activity.recent() if e.action.startswith("tool.")]

        # With the token, a destructive action first says what it would do, then does it.
        held = await http.post(cancel, data={"csrf": csrf})
        assert held.status_code == 200 and "This will stop run" in held.text
        assert 'name="confirmed" value="1"' in held.text
        assert (await runtime.runs.get(run_id)).state is RunState.RUNNING
        done = await http.post(cancel, data={"csrf": csrf, "confirmed": "1"})
        assert done.status_code == 303 and done.headers["location"] == f"/runs/{run_id}"
        page = await http.get(done.headers["location"])
        assert f"Cancelled run {run_id}." in page.text
        assert "Cancelled run" not in (await http.get(f"/runs/{run_id}")).text  # said once
    assert (await runtime.runs.get(run_id)).state is RunState.CANCELLED
    audit = [(e.action, e.outcome, e.detail) for e in await runtime.activity.recent()
             if e.action == "tool.cancel_run"]
    assert audit == [("tool.cancel_run", "ok", "web"),
                     ("tool.cancel_run", "held for confirmation", "web")]
    model_server.release("web-hold")


async def test_a_viewer_sees_the_run_but_pressing_cancel_is_refused_with_the_reason(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run_id = await working_run(runtime, repo, model_server)
    code = await runtime.access.create_code("viewer")
    await runtime.access.pair("telegram", "7", "Vic", code.code)
    async with serving(runtime) as site, \
            site.person("telegram:7", Role.VIEWER, "Vic") as (http, csrf):
        board = await http.get("/")
        assert f'id="run-{run_id}"' in board.text and "Vic · viewer" in board.text
        pressed = await http.post(f"/runs/{run_id}/cancel", data={"csrf": csrf})
        assert pressed.status_code == 303
        page = await http.get(pressed.headers["location"])
    assert ("cancel_run needs the operator role and telegram:7 is a viewer; an admin can "
            "change roles in the config") in page.text
    assert (await runtime.runs.get(run_id)).state is RunState.RUNNING
    [entry] = [e for e in await runtime.activity.recent() if e.action == "tool.cancel_run"]
    assert entry.actor == "telegram:7" and entry.outcome.startswith("refused: ")
    model_server.release("web-hold")


async def test_an_unknown_run_is_a_404_page_naming_the_runs_it_may_mean(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    run_id = await finished_run(runtime, repo, model_server, "SCRIPT:known")
    typo = run_id[:6] + ("0" if run_id[6] != "0" else "1") + run_id[7]
    async with serving(runtime) as site, site.person() as (http, _):
        missing = await http.get(f"/runs/{typo}")
        nothing = await http.get("/runs/zzzzzzzz")
        prefix = await http.get(f"/runs/{run_id[:4]}")
    assert missing.status_code == 404
    assert f"No run <code>{typo}</code>" in missing.text
    assert f'<a href="/runs/{run_id}"><code>{run_id}</code></a>' in missing.text
    assert nothing.status_code == 404 and "No recent run has an id like it." in nothing.text
    assert prefix.status_code == 307 and prefix.headers["location"] == f"/runs/{run_id}"


async def test_a_permission_request_is_decided_on_the_page_as_the_person_who_pressed(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    await runtime.projects.add("demo", str(repo))
    model_server.script("SCRIPT:outside", [s.write("../outside.txt", "no"),
                                           s.text("Could not write it.")])
    run = await runtime.runs.start_run("demo", "SCRIPT:outside write outside")
    await wait_state(runtime, run.id, RunState.WAITING)
    [request] = await runtime.runs.interactions.pending(run.id)
    async with serving(runtime) as site, site.person("cli", Role.ADMIN, "Ada") as (http, csrf):
        page = await http.get(f"/runs/{run.id}")
        assert f'action="/answer/{request.id}"' in page.text
        assert ">Always for this project</button>" in page.text
        empty = await http.post(f"/answer/{request.id}", data={
            "csrf": csrf, "kind": "permission", "back": f"/runs/{run.id}"})
        assert "nothing was sent" in (await http.get(empty.headers["location"])).text
        pressed = await http.post(f"/answer/{request.id}", data={
            "csrf": csrf, "kind": "permission", "answer": "deny", "back": "//elsewhere.example"})
        assert pressed.status_code == 303 and pressed.headers["location"] == "/"
        assert "Answered: Deny" in (await http.get("/")).text
        again = await http.post(f"/answer/{request.id}", data={
            "csrf": csrf, "kind": "permission", "answer": "allow", "back": "/"})
        assert "was already answered by cli" in (await http.get(again.headers["location"])).text
    done = await wait_state(runtime, run.id)
    assert done.state is RunState.REVIEW
    assert not (Path(done.cwd).parent / "outside.txt").exists()
    answered = await runtime.runs.interactions.get(request.id)
    assert (answered.answer, answered.answered_by) == ("deny", "cli")


async def test_a_chats_answers_rule_follows_its_people_to_the_page(
        config: Config, repo: Path, model_server: ScriptedModelServer) -> None:
    # telegram.answers = "requester": only who started a run (or an admin) answers it.
    config = config.model_copy(update={"telegram": config.telegram.model_copy(
        update={"answers": "requester", "users": [1, 2]})})
    model_server.script("SCRIPT:pick", [s.ask("Which database?", ["Postgres", "SQLite"]),
                                        s.text("Going with SQLite.")])
    async with Runtime(config, environ=daemon_environ()) as runtime, \
            serving(runtime) as site:
        await runtime.projects.add("demo", str(repo))
        run = await runtime.runs.start_run("demo", "SCRIPT:pick set up storage",
                                           actor="telegram:1")
        await wait_state(runtime, run.id, RunState.WAITING)
        [asked] = await runtime.runs.interactions.pending()
        form = {"kind": "question", "answer": "SQLite", "back": f"/runs/{run.id}"}
        async with site.person("telegram:2", Role.OPERATOR, "Bo") as (http, csrf):
            await http.post(f"/answer/{asked.id}", data={**form, "csrf": csrf})
            page = await http.get(f"/runs/{run.id}")
            assert f"Only the person who started run {run.short} or an admin" in page.text
        assert [i.id for i in await runtime.runs.interactions.pending()] == [asked.id]
        async with site.person("telegram:1", Role.OPERATOR, "Ada") as (http, csrf):
            await http.post(f"/answer/{asked.id}", data={**form, "csrf": csrf})
        done = await wait_state(runtime, run.id)
        assert done.result_text == "Going with SQLite."
