"""The README's GitHub walk-through against a real ``gluon serve``: a signed issue_comment sent
with curl starts a run that answers on the fake GitHub, a second comment steers it, and the
CLI shows the deliveries and the link."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bots.conftest import Gluon
from tests.bots.github_env import OPERATOR, REPO, link_origin
from tests.fakes import scripts as s
from tests.fakes.github import BOT_LOGIN, FakeGitHub
from tests.fakes.model_server import ScriptedModelServer


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        yield fake


def curl(url: str, event: str, payload: dict[str, object], github: FakeGitHub) -> dict[str, str]:
    headers, body = github.delivery(event, payload)
    args = ["curl", "-s", "-X", "POST", url, "--data-binary", "@-"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    done = subprocess.run(args, input=body, capture_output=True, check=True, timeout=30)
    answer: dict[str, str] = json.loads(done.stdout)
    return answer


def test_a_comment_sent_with_curl_starts_a_run_and_a_second_one_steers_it(
        gluon: Gluon, tmp_path: Path, repo: Path, model_server: ScriptedModelServer,
        github: FakeGitHub) -> None:
    link_origin(repo, tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(f"""
[telegram]
users = [42]

[github]
api_url = "{github.api_url}"
webhook_secret = "{github.webhook_secret}"
users = {{ {OPERATOR} = "telegram:42" }}
""")
    gluon.env.update({"GLUON_CONFIG": str(config), "GH_TOKEN": github.token})
    model_server.script("SCRIPT:gh-daemon", [s.bash("echo working"), s.slow_text(3),
                                             s.text("Fixed it, and the README too.")])
    daemon = gluon.serve()
    try:
        gluon.ok("project", "add", str(repo))
        url = json.loads((gluon.home / "daemon.json").read_text())["url"].removesuffix("/mcp")
        issue = github.add_issue(REPO, "The login test is flaky")
        first = curl(f"{url}/hooks/github", "issue_comment", github.issue_comment(
            REPO, issue.number, "@gluon fix it SCRIPT:gh-daemon", user=OPERATOR), github)
        assert first["message"].startswith("queued as delivery"), first
        model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:gh-daemon"
                                      and r.step == 1, timeout=60)
        steer = curl(f"{url}/hooks/github", "issue_comment", github.issue_comment(
            REPO, issue.number, "@gluon also fix the README", user=OPERATOR), github)
        assert steer["message"].startswith("queued as delivery"), steer
        asyncio.run(github.wait_for(lambda g: any(
            "Fixed it, and the README too." in c.body for c in g.comments(REPO, issue.number)
            if c.user == BOT_LOGIN), timeout=90))
        assert any("also fix the README" in r.all_text() for r in model_server.requests
                   if r.script_key == "SCRIPT:gh-daemon")
        # The steer's delivery was recorded when it reached the run, before the run ended.
        deliveries = gluon.json("hooks", "deliveries")["deliveries"]
        outcomes = [d["outcome"] for d in reversed(deliveries)]
        run_id = outcomes[0].removeprefix("started run ")
        assert outcomes == [f"started run {run_id}", f"steered run {run_id}"]
        status = gluon.ok("github", "status").out
        assert f"{REPO} = demo" in status and f"{REPO}#{issue.number}" in status
        assert "/hooks/github" in gluon.ok("hooks", "list").out
        assert github.token not in status
    finally:
        daemon.kill()
        daemon.communicate(timeout=30)
