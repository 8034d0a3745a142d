"""The fake GitHub answers as GitHub does: tokens, 404s, comments edited in place, pull
requests and their merge rules, check runs, and deliveries signed the way GitHub signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.github import FakeGitHub, sign


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo("octo/api")
        yield fake


def client(fake: FakeGitHub, token: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=fake.api_url, headers={
        "Authorization": f"token {token or fake.token}",
        "Accept": "application/vnd.github+json"})


def test_signatures_match_githubs_published_example() -> None:
    # docs.github.com "Validating webhook deliveries"
    assert sign("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


async def test_a_wrong_token_or_repository_is_refused(github: FakeGitHub) -> None:
    async with client(github, "wrong") as gh:
        answer = await gh.get("/repos/octo/api")
        assert (answer.status_code, answer.json()["message"]) == (401, "Bad credentials")
    async with client(github) as gh:
        assert (await gh.get("/repos/octo/nope")).status_code == 404
        assert (await gh.get("/repos/octo/api")).json()["default_branch"] == "main"
        assert (await gh.get("/repos/octo/api/issues/9")).status_code == 404


async def test_comments_are_added_and_edited_in_place(github: FakeGitHub) -> None:
    issue = github.add_issue("octo/api", "Login test is flaky", "It fails 1 in 10 runs")
    async with client(github) as gh:
        made = await gh.post(f"/repos/octo/api/issues/{issue.number}/comments",
                             json={"body": "Working on it"})
        assert made.status_code == 201
        cid = made.json()["id"]
        assert (await gh.post(f"/repos/octo/api/issues/{issue.number}/comments",
                              json={})).status_code == 422
        edited = await gh.patch(f"/repos/octo/api/issues/comments/{cid}",
                                json={"body": "Done: the test waits for the login"})
        assert edited.json()["body"].startswith("Done")
        await gh.post(f"/repos/octo/api/issues/comments/{cid}/reactions",
                      json={"content": "eyes"})
    [comment] = github.comments("octo/api", issue.number)
    assert (comment.body, comment.user, comment.reactions) == (
        "Done: the test waits for the login", "gluon-bot", ["eyes"])


async def test_pull_requests_merge_once_and_only_at_their_head(github: FakeGitHub) -> None:
    async with client(github) as gh:
        made = (await gh.post("/repos/octo/api/pulls", json={
            "title": "Fix login", "head": "gluon/ab12cd34", "base": "main"})).json()
        again = await gh.post("/repos/octo/api/pulls", json={
            "title": "Fix login", "head": "gluon/ab12cd34", "base": "main"})
        assert again.status_code == 422
        listed = (await gh.get("/repos/octo/api/pulls",
                               params={"head": "octo:gluon/ab12cd34"})).json()
        assert [p["number"] for p in listed] == [made["number"]]
        url = f"/repos/octo/api/pulls/{made['number']}/merge"
        assert (await gh.put(url, json={"sha": "0" * 40})).status_code == 409
        merged = await gh.put(url, json={"sha": made["head"]["sha"], "merge_method": "squash"})
        assert merged.json()["merged"] is True
        assert (await gh.put(url, json={})).status_code == 405
    [pull] = github.pulls("octo/api")
    assert (pull.merged, pull.merge_method, pull.state) == (True, "squash", "closed")


async def test_check_runs_are_listed_by_branch_or_sha(github: FakeGitHub) -> None:
    pull = github.add_pull("octo/api", "Fix login", "gluon/ab12cd34")
    github.set_checks("octo/api", pull.head_sha, ("tests", "failure", "test_login failed"),
                      ("lint", "success", ""))
    async with client(github) as gh:
        for ref in (pull.head_sha, "gluon/ab12cd34"):
            found = (await gh.get(f"/repos/octo/api/commits/{ref}/check-runs",
                                  params={"status": "completed"})).json()
            assert [(r["name"], r["conclusion"]) for r in found["check_runs"]] == [
                ("tests", "failure"), ("lint", "success")]


def test_a_delivery_is_a_real_payload_signed_over_its_raw_body(github: FakeGitHub) -> None:
    issue = github.add_issue("octo/api", "Login test is flaky")
    payload = github.issue_comment("octo/api", issue.number, "@gluon fix this")
    headers, body = github.delivery("issue_comment", payload)
    expected = hmac.new(github.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    sent = json.loads(body)
    assert (sent["action"], sent["repository"]["full_name"], sent["issue"]["number"],
            sent["comment"]["body"], sent["sender"]["login"]) == (
        "created", "octo/api", issue.number, "@gluon fix this", "octocat")
    assert "pull_request" not in sent["issue"]
    pull = github.add_pull("octo/api", "Fix login", "gluon/ab12cd34")
    on_pull = github.issue_comment("octo/api", pull.number, "@gluon also cover logout")
    assert "pull_request" in on_pull["issue"]
    assert [c.body for c in github.comments("octo/api", pull.number)] == [
        "@gluon also cover logout"]
    failed = github.check_run_completed("octo/api", "gluon/ab12cd34", "tests", "failure",
                                        "test_login failed")
    assert failed["check_run"]["pull_requests"][0]["number"] == pull.number
    assert failed["check_run"]["check_suite"]["head_branch"] == "gluon/ab12cd34"


async def test_a_deleted_branch_closes_its_pull_requests_and_is_gone_the_second_time(
        github: FakeGitHub) -> None:
    pull = github.add_pull("octo/api", "Fix login", "gluon/ab12cd34")
    async with client(github) as gh:
        url = "/repos/octo/api/git/refs/heads/gluon/ab12cd34"
        assert (await gh.delete(url)).status_code == 204
        gone = await gh.delete(url)
        assert (gone.status_code, gone.json()["message"]) == (422, "Reference does not exist")
        listed = (await gh.get("/repos/octo/api/pulls", params={"state": "closed"})).json()
    assert [(p["number"], p["state"], "merged" in p) for p in listed] == [
        (pull.number, "closed", False)]
