"""GitHub webhooks at POST /hooks/github: signed deliveries start, steer and resume runs, and
each run answers with one comment on its issue, edited in place."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from core.types import RunState
from tests.bots.github_env import (
    OPERATOR,
    REPO,
    VIEWER,
    Served,
    github_config,
    link_origin,
    seq_of,
    serving,
)
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.github import BOT_LOGIN, FakeGitHub
from tests.fakes.model_server import ScriptedModelServer


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        yield fake


@pytest.fixture
async def served(tmp_path: Path, repo: Path, model_server: ScriptedModelServer,
                 github: FakeGitHub) -> AsyncIterator[Served]:
    link_origin(repo, tmp_path)
    config = github_config(tmp_path / "home", model_server, github)
    async with serving(config, repo, github) as s:
        yield s


def bot_comments(github: FakeGitHub, number: int) -> list[str]:
    return [c.body for c in github.comments(REPO, number) if c.user == BOT_LOGIN]


async def test_a_comment_mentioning_gluon_starts_a_run_that_answers_on_the_issue(
        served: Served, github: FakeGitHub, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:gh-fix", [s.write("fix.txt", "fixed\n"),
                                          s.text("Fixed the flaky login test.")])
    issue = github.add_issue(REPO, "Login test is flaky", "It fails 1 in 10 runs")
    answer = await served.post("issue_comment", github.issue_comment(
        REPO, issue.number, "@gluon please fix this SCRIPT:gh-fix", user=OPERATOR))
    delivery = await served.delivery(seq_of(answer))
    assert delivery.state == "done" and delivery.run_id, delivery.outcome
    run = await wait_state(served.rt, delivery.run_id)
    assert run.state is RunState.REVIEW
    assert "Login test is flaky" in run.prompt and "It fails 1 in 10 runs" in run.prompt
    assert "please fix this" in run.prompt and run.created_by == "telegram:42"
    await github.wait_for(lambda g: any("finished" in b for b in bot_comments(g, issue.number)))
    [comment] = bot_comments(github, issue.number)  # one comment, edited in place
    assert f"Gluon run `{run.short}` finished" in comment
    assert "Fixed the flaky login test." in comment and "1 commit(s)" in comment
    [asked] = [c for c in github.comments(REPO, issue.number) if c.user == OPERATOR]
    assert asked.reactions == ["eyes"]


async def test_a_bad_or_missing_signature_is_refused_and_nothing_is_queued(
        served: Served, github: FakeGitHub) -> None:
    issue = github.add_issue(REPO, "Anything")
    payload = github.issue_comment(REPO, issue.number, "@gluon go", user=OPERATOR)
    wrong = await served.post("issue_comment", payload, secret="not the secret")
    headers, body = github.delivery("issue_comment", payload)
    del headers["X-Hub-Signature-256"]
    async with httpx.AsyncClient() as http:
        missing = await http.post(served.url + "/hooks/github", content=body, headers=headers)
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert "X-Hub-Signature-256" in wrong.json()["message"]
    assert await served.rt.hooks.deliveries() == []
    assert await served.rt.runs.find() == []


async def test_a_replayed_delivery_is_acknowledged_and_ignored(
        served: Served, github: FakeGitHub, model_server: ScriptedModelServer) -> None:
    issue = github.add_issue(REPO, "Replay me")
    payload = github.issue_comment(REPO, issue.number, "@gluon do it", user=OPERATOR)
    first = await served.post("issue_comment", payload, delivery_id="d-1")
    again = await served.post("issue_comment", payload, delivery_id="d-1")
    assert again.status_code == 200 and "received already" in again.json()["message"]
    await served.delivery(seq_of(first))
    assert len(await served.rt.runs.find()) == 1
    [delivery] = await served.rt.hooks.deliveries()
    assert delivery.replays == 1


async def test_ping_is_answered_and_an_unknown_repository_queues_nothing(
        served: Served, github: FakeGitHub) -> None:
    pong = await served.post("ping", github.ping())
    assert pong.status_code == 200
    github.add_repo("octo/other")
    issue = github.add_issue("octo/other", "Not ours")
    unknown = await served.post("issue_comment", github.issue_comment(
        "octo/other", issue.number, "@gluon fix", user=OPERATOR))
    assert unknown.status_code == 202
    assert unknown.json()["message"].startswith("repository octo/other is not a Gluon project")
    assert await served.rt.runs.find() == []


async def test_an_unmapped_or_viewer_login_gets_a_polite_reply_and_no_run(
        served: Served, github: FakeGitHub) -> None:
    issue = github.add_issue(REPO, "Please help")
    for login in ("stranger", VIEWER):
        answer = await served.post("issue_comment", github.issue_comment(
            REPO, issue.number, "@gluon fix it", user=login))
        delivery = await served.delivery(seq_of(answer))
        assert delivery.state == "ignored" and delivery.run_id is None
    replies = bot_comments(github, issue.number)
    assert len(replies) == 2
    assert replies[0].count("@stranger") == 1 and "not linked" in replies[0]
    assert "viewer role" in replies[1] and "operator role" in replies[1]
    assert await served.rt.runs.find() == []
