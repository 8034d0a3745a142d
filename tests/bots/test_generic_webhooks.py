"""Generic webhooks at POST /hooks/<name>: a signed JSON body fills the hook's prompt template
and starts a run; bad credentials, bodies and replays are refused or ignored with one line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.hooks.signature import sign
from core.types import RunState
from tests.bots.github_env import REPO, Served, github_config, seq_of, serving
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.github import FakeGitHub
from tests.fakes.model_server import ScriptedModelServer

SECRET = "hook-secret-for-tests"
HOOKS = {
    "sentry": {"project": "demo", "secret": SECRET, "priority": 5, "model": "haiku",
               "prompt": "Error {event.title} in {event.culprit} (level {level}) {{raw}}"},
    "ci": {"project": "demo", "secret": SECRET, "auth": "bearer",
           "prompt": "Build {build.number} failed: {build.log.0}"},
}


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        yield fake


@pytest.fixture
async def served(tmp_path: Path, repo: Path, model_server: ScriptedModelServer,
                 github: FakeGitHub) -> AsyncIterator[Served]:
    config = github_config(tmp_path / "home", model_server, github, hooks=HOOKS)
    async with serving(config, repo, github) as s:
        yield s


async def post(served: Served, name: str, payload: Any, headers: dict[str, str]
               ) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{served.url}/hooks/{name}", content=json.dumps(payload),
                               headers=headers)


def signed(payload: Any, **extra: str) -> dict[str, str]:
    return {"X-Gluon-Signature-256": sign(SECRET, json.dumps(payload).encode()), **extra}


async def test_a_signed_body_fills_the_prompt_template_and_starts_a_run(
        served: Served, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:hook", [s.text("Looked into it.")])
    payload = {"event": {"title": "ZeroDivisionError SCRIPT:hook", "culprit": "app.add"},
               "level": "error"}
    answer = await post(served, "sentry", payload, signed(payload))
    delivery = await served.delivery(seq_of(answer))
    assert delivery.state == "done" and delivery.run_id is not None, delivery.outcome
    run = await wait_state(served.rt, delivery.run_id)
    assert run.prompt == ("Error ZeroDivisionError SCRIPT:hook in app.add (level error) {raw}")
    assert (run.state, run.priority, run.source, run.model) == (
        RunState.REVIEW, 5, "webhook", "haiku")
    assert run.created_by == "hook:sentry"


async def test_bad_credentials_a_bad_body_or_an_unknown_hook_queue_nothing(
        served: Served) -> None:
    payload = {"event": {"title": "x"}, "level": "warning"}  # no culprit
    answers = [
        await post(served, "sentry", payload, signed({"other": 1})),
        await post(served, "sentry", payload, {}),
        await post(served, "ci", {"build": {"number": 1, "log": ["x"]}},
                   {"Authorization": "Bearer wrong"}),
        await post(served, "sentry", payload, signed(payload)),
        await post(served, "nope", payload, signed(payload)),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 422, 404]
    assert answers[3].json()["message"] == (
        "the body has no field 'event.culprit' (no 'culprit') that the hook's prompt template "
        "uses; nothing was queued")
    assert "configured: ci, sentry" in answers[4].json()["message"]
    assert await served.rt.hooks.deliveries() == []
    assert await served.rt.runs.find() == []


async def test_a_body_sent_again_is_ignored_unless_its_delivery_id_differs(
        served: Served, model_server: ScriptedModelServer) -> None:
    payload = {"build": {"number": 7, "log": ["test_login failed"]}}
    bearer = {"Authorization": f"Bearer {SECRET}"}
    first = await post(served, "ci", payload, bearer)
    again = await post(served, "ci", payload, bearer)
    assert again.status_code == 200 and "received already" in again.json()["message"]
    other = await post(served, "ci", payload, {**bearer, "X-Delivery-Id": "build-7-retry"})
    same = await post(served, "ci", payload, {**bearer, "X-Delivery-Id": "build-7-retry"})
    assert (other.status_code, same.status_code) == (202, 200)
    for answer in (first, other):
        await served.delivery(seq_of(answer))
    runs = await served.rt.runs.find()
    assert [r.prompt for r in runs] == ["Build 7 failed: test_login failed"] * 2
