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
from tests.conftest import git, wait_state
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


async def test_a_later_comment_steers_the_live_run_and_then_resumes_it_once_ended(
        served: Served, github: FakeGitHub, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:gh-steer", [s.bash("echo working"), s.slow_text(3),
                                            s.text("took the hint")])
    issue = github.add_issue(REPO, "Improve the docs")
    first = await served.post("issue_comment", github.issue_comment(
        REPO, issue.number, "@gluon SCRIPT:gh-steer", user=OPERATOR))
    run_id = (await served.delivery(seq_of(first))).run_id
    assert run_id is not None
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:gh-steer"
                                     and r.step == 1)
    steer = await served.post("issue_comment", github.issue_comment(
        REPO, issue.number, "@Gluon also update the README", user=OPERATOR))
    steered = await served.delivery(seq_of(steer))
    assert (steered.outcome, steered.run_id) == (f"steered run {run_id}", run_id)
    run = await wait_state(served.rt, run_id)
    assert run.state is RunState.REVIEW
    assert any("also update the README" in r.all_text() for r in model_server.requests
               if r.script_key == "SCRIPT:gh-steer")

    model_server.script("SCRIPT:gh-more", [s.text("Added the test too.")])
    more = await served.post("issue_comment", github.issue_comment(
        REPO, issue.number, "@gluon add a test SCRIPT:gh-more", user=OPERATOR))
    resumed = await served.delivery(seq_of(more))
    assert resumed.outcome == f"resumed run {run_id}"
    await github.wait_for(lambda g: any("Added the test too." in b
                                        for b in bot_comments(g, issue.number)))
    assert len(bot_comments(github, issue.number)) == 1
    assert len(await served.rt.runs.find()) == 1
    logged = (await served.rt.events.latest(50, run_id=run_id)).events
    assert [e.text for e in logged if type(e).__name__ == "RunComment"] == [  # type: ignore[attr-defined]
        "also update the README", "add a test SCRIPT:gh-more"]


async def test_an_issue_labelled_gluon_starts_a_run(
        served: Served, github: FakeGitHub, model_server: ScriptedModelServer) -> None:
    issue = github.add_issue(REPO, "Rename the module SCRIPT:gh-label", "to app_core")
    model_server.script("SCRIPT:gh-label", [s.text("Renamed.")])
    other = await served.post("issues", github.issues_labeled(REPO, issue.number, "bug",
                                                              user=OPERATOR))
    assert other.status_code == 202 and other.json()["message"].startswith("nothing to do")
    answer = await served.post("issues", github.issues_labeled(REPO, issue.number, "gluon",
                                                               user=OPERATOR))
    delivery = await served.delivery(seq_of(answer))
    assert delivery.run_id is not None, delivery.outcome
    run = await wait_state(served.rt, delivery.run_id)
    assert "Rename the module" in run.prompt and "to app_core" in run.prompt
    await github.wait_for(lambda g: any("Renamed." in b for b in bot_comments(g, issue.number)))


async def test_a_pull_request_run_works_on_its_branch_and_failed_checks_resume_it_once(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer,
        github: FakeGitHub) -> None:
    bare = link_origin(repo, tmp_path)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "feature.txt").write_text("the feature\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature")
    git(repo, "push", "-q", "origin", "feature")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "feature")
    pull = github.add_pull(REPO, "Add the feature", "feature")
    model_server.script("SCRIPT:gh-pr", [s.write("more.txt", "more\n"), s.text("Done on the PR."),
                                         s.write("fixed.txt", "ok\n"), s.text("CI fixed.")])
    config = github_config(tmp_path / "home", model_server, github,
                           github_extra={"fix_ci_attempts": 1})
    async with serving(config, repo, github) as served:
        answer = await served.post("issue_comment", github.issue_comment(
            REPO, pull.number, "@gluon finish it SCRIPT:gh-pr", user=OPERATOR))
        run_id = (await served.delivery(seq_of(answer))).run_id
        assert run_id is not None
        run = await wait_state(served.rt, run_id)
        assert run.base_branch == "feature" and "pull request" in run.prompt
        await github.wait_for(lambda g: any("Pushed to `feature`" in b
                                            for b in bot_comments(g, pull.number)))
        assert git(bare, "show", "feature:more.txt") == "more"
        assert git(bare, "show", "feature:feature.txt") == "the feature"
        pushed = git(bare, "rev-parse", "feature")

        failed = github.check_run_completed(REPO, "feature", "tests", "failure",
                                            "2 tests failed: test_login", head_sha=pushed)
        ci = await served.delivery(seq_of(await served.post("check_run", failed)))
        assert ci.outcome == f"resumed run {run_id} to fix failed checks", ci.outcome
        fixed = await model_server.await_request(
            lambda r: "CI failed on branch feature" in r.all_text())
        assert "2 tests failed: test_login" in fixed.all_text()
        run = await wait_state(served.rt, run_id, RunState.REVIEW, RunState.FAILED)
        await github.wait_for(lambda g: git(bare, "rev-parse", "feature") != pushed)
        assert git(bare, "show", "feature:fixed.txt") == "ok"

        same = await served.post("check_run", github.check_run_completed(
            REPO, "feature", "lint", "failure", head_sha=pushed))
        assert "already asked" in (await served.delivery(seq_of(same))).outcome
        newer = await served.post("check_run", github.check_run_completed(
            REPO, "feature", "tests", "failure", head_sha=git(bare, "rev-parse", "feature")))
        assert "github.fix_ci_attempts = 1" in (await served.delivery(seq_of(newer))).outcome
        [link] = await served.rt.github.links()
        assert (link.kind, link.fix_attempts, link.push_to) == ("pull", 1, "feature")
        assert len(bot_comments(github, pull.number)) == 1


async def test_a_burst_of_deliveries_queues_exactly_the_right_runs_in_order(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer,
        github: FakeGitHub) -> None:
    link_origin(repo, tmp_path)
    model_server.script("SCRIPT:burst", [s.hold("burst")])  # the first run holds the rest
    config = github_config(tmp_path / "home", model_server, github,
                           agents={"max_concurrent_per_project": 1, "warm": 0})
    wanted = []
    async with serving(config, repo, github) as served, httpx.AsyncClient() as http:
        for n in range(50):
            issue = github.add_issue(REPO, f"Task {n} SCRIPT:burst")
            if n % 7 == 3:
                payload, event = github.issue_comment(REPO, issue.number, "@gluon go",
                                                      user="stranger"), "issue_comment"
            elif n % 5 == 1:
                payload, event = github.issue_comment(REPO, issue.number, "no mention",
                                                      user=OPERATOR), "issue_comment"
            elif n % 11 == 4:
                payload, event = github.issues_labeled(REPO, issue.number, "gluon",
                                                       user=OPERATOR), "issues"
                wanted.append(issue.number)
            else:
                payload, event = github.issue_comment(REPO, issue.number, "@gluon go",
                                                      user=OPERATOR), "issue_comment"
                wanted.append(issue.number)
            headers, body = github.delivery(event, payload)
            answer = await http.post(served.url + "/hooks/github", content=body,
                                     headers=headers)
            assert answer.status_code in (200, 202), answer.text
        await served.rt.hooks.worker.drain()
        runs = sorted(await served.rt.runs.find(limit=100), key=lambda r: r.created_at)
        assert [int(r.prompt.split("#", 1)[1].split(":", 1)[0]) for r in runs] == wanted
        links = await served.rt.github.links(limit=100)
        assert sorted(link.number or 0 for link in links) == wanted
        model_server.release("burst")


async def test_a_delivery_worked_on_twice_starts_one_run(
        served: Served, github: FakeGitHub) -> None:
    issue = github.add_issue(REPO, "Only once")
    payload = github.issue_comment(REPO, issue.number, "@gluon go", user=OPERATOR)
    answer = await served.post("issue_comment", payload, delivery_id="twice")
    first = await served.delivery(seq_of(answer))
    # As if Gluon had stopped after starting the run and before recording it.
    again = await served.rt.github.handle(first, payload)
    assert again.run_id == first.run_id
    assert len(await served.rt.runs.find()) == 1
    assert len(bot_comments(github, issue.number)) == 1
