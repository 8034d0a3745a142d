"""Model API failures during a run: each retry of the real Claude Code CLI is published on the
event bus and kept in the run's events; a failure for good ends the run with one reason."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.agent.api_errors import endpoint, failure_reason, retry_line
from core.agent.session import AgentApiError, AgentApiRetry
from core.config import Config
from core.events.bus import ApiRetry, RunStateChanged
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, wait_state


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_each_retry_of_an_unreachable_api_is_published_and_the_run_fails_once(
        tmp_path: Path, repo: Path) -> None:
    port = closed_port()
    config = Config.model_validate({
        "home": str(tmp_path / "home"),
        "anthropic": {"api_key": "sk-test", "base_url": f"http://127.0.0.1:{port}"},
        "agents": {"env_allow": ["CLAUDE_CODE_MAX_RETRIES"]}})
    rt = Runtime(config, environ={**daemon_environ(), "CLAUDE_CODE_MAX_RETRIES": "2"})
    await rt.open()
    try:
        await rt.projects.add("demo", str(repo))
        with rt.bus.subscribe(lambda e: isinstance(e, ApiRetry | RunStateChanged)) as sub:
            run = await rt.runs.start_run("demo", "fix the login bug")
            retries: list[ApiRetry] = []
            for _ in range(2):
                retry = await sub.next_matching(lambda e: isinstance(e, ApiRetry), timeout=60)
                assert isinstance(retry, ApiRetry)
                retries.append(retry)
            failed = await sub.next_matching(  # after the retries, in this order
                lambda e: isinstance(e, RunStateChanged) and e.new is RunState.FAILED,
                timeout=60)
        ended = await wait_state(rt, run.id)
        events = await rt.runs.logs(run.id)
    finally:
        await rt.close()
    assert all(e.run_id == run.id and e.delay_seconds > 0 for e in retries)
    assert [(e.attempt, e.max_retries, e.status) for e in retries] == [(1, 2, None),
                                                                        (2, 2, None)]
    assert retries[0].summary.startswith(
        f"model API unreachable (127.0.0.1:{port}), retry 1/2 in ")
    assert failed.run_id == run.id and ended.state is RunState.FAILED
    assert ended.state_reason.startswith(f"the model API at 127.0.0.1:{port} is unreachable "
                                         "after 2 retries: Connection refused")
    assert [e.kind for e in events] == ["retry", "retry"]


@pytest.mark.parametrize(("status", "words"), [
    (None, "model API unreachable (api.example:8443)"),
    (529, "model API overloaded (HTTP 529 from api.example:8443)"),
    (429, "model API rate limit reached (HTTP 429 from api.example:8443)"),
    (500, "model API server error (HTTP 500 from api.example:8443)"),
    (418, "model API error (HTTP 418 from api.example:8443)"),
])
def test_a_retry_says_what_went_wrong_where_and_when_the_next_try_is(
        status: int | None, words: str) -> None:
    where = endpoint("https://api.example:8443/gateway")
    assert retry_line(AgentApiRetry(3, 10, 20.4, status, "unknown"), where) == (
        f"{words}, retry 3/10 in 20 s")
    assert retry_line(AgentApiRetry(1, 10, 0.504, status, "unknown"), where).endswith(
        "retry 1/10 in 0.5 s")


def test_without_a_base_url_the_endpoint_is_anthropics() -> None:
    assert endpoint(None) == "api.anthropic.com"


def test_a_failure_for_good_names_the_cause_and_the_fix() -> None:
    where = "api.anthropic.com"
    refused = failure_reason(AgentApiError("authentication_failed",
                                           "Invalid API key · Please run /login"), None, where)
    assert refused.startswith("the model API at api.anthropic.com refused the credentials: "
                              "Invalid API key")
    overloaded = failure_reason(AgentApiError("server_error", "API Error: 529 Overloaded"),
                                AgentApiRetry(10, 10, 30, 529, "overloaded"), where)
    assert overloaded == "the model API failed after 10 retries: 529 Overloaded"
