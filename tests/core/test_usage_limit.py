"""A run stopped by the account's usage limit is parked until the limit resets and goes on by
itself, a bounded number of times. The real Claude Code CLI, logged in with an OAuth token as a
subscription is, against the scripted model server answering with the API's usage-limit
refusal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from claude_agent_sdk import RateLimitEvent
from claude_agent_sdk.types import RateLimitInfo

from core.agent.session import AgentUsageLimit, translate
from core.config import Config
from core.runs.prompts import USAGE_LIMIT_PROMPT
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def subscription_config(home: Path, server: ScriptedModelServer, **agents: object) -> Config:
    return Config.model_validate({
        "home": str(home), "anthropic": {"base_url": server.base_url},
        "agents": {"warm": 0, **agents}})


@pytest.fixture
async def limited(tmp_path: Path, model_server: ScriptedModelServer,
                  request: pytest.FixtureRequest) -> AsyncIterator[Runtime]:
    agents = getattr(request, "param", {})
    config = subscription_config(tmp_path / "home", model_server, **agents)
    environ = {**daemon_environ(), "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-test-token"}
    async with Runtime(config, environ=environ) as rt:
        yield rt


async def test_a_run_stopped_by_the_usage_limit_is_paused_until_the_reset_then_goes_on(
        limited: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    rt = limited
    # The reset is 6 s after the agent's first request, however long its CLI took to start.
    model_server.script("SCRIPT:limit", [
        s.usage_limit(resets_in=6, then=s.text("done after the reset"))])
    await rt.projects.add("demo", str(repo))
    run = await rt.runs.start_run("demo", "SCRIPT:limit do the work")
    with rt.bus.subscribe(lambda e: e.run_id == run.id) as sub:
        async with asyncio.timeout(60):
            while not (parked := await rt.runs.get(run.id)).state_reason.startswith("paused"):
                assert parked.state.is_live, parked.state_reason
                await sub.get()
    assert parked.state is RunState.QUEUED, parked.state_reason
    reset = int(model_server.resets[0])  # as the API says it: whole seconds
    # It goes on at the reset, or a moment later when the reset had passed already (a slow
    # machine): the reason names that time.
    assert parked.not_before == pytest.approx(max(reset, parked.not_before or 0), abs=6)
    until = time.strftime("%H:%M", time.localtime(parked.not_before))
    assert parked.state_reason == f"paused until {until}: usage limit"
    [item] = await rt.work.items()
    assert (item.id, item.why) == (run.id, parked.state_reason)

    done = await wait_state(rt, run.id)
    assert done.state is RunState.REVIEW, done.state_reason
    assert done.result_text == "done after the reset"
    assert (done.started_at or 0) <= (parked.not_before or 0) <= (done.ended_at or 0)
    states = [t.to_state for t in await rt.runs.store.transitions(run.id)]
    assert states == [RunState.QUEUED, RunState.RUNNING, RunState.QUEUED, RunState.RUNNING,
                      RunState.REVIEW]
    # The same session went on, told why it had stopped.
    sessions = {r.session_id for r in model_server.requests if r.script_key == "SCRIPT:limit"}
    assert len(sessions) == 1
    last = [r for r in model_server.requests if r.script_key == "SCRIPT:limit"][-1]
    assert USAGE_LIMIT_PROMPT in str(last.body["messages"])


@pytest.mark.parametrize("limited", [{"usage_limit_resumes": 1}], indirect=True)
async def test_past_its_automatic_resumes_a_run_stopped_by_the_limit_fails_saying_so(
        limited: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    rt = limited
    model_server.script("SCRIPT:again", [
        s.usage_limit(resets_in=6, then=s.usage_limit(resets_in=3600))])
    await rt.projects.add("demo", str(repo))
    run = await rt.runs.start_run("demo", "SCRIPT:again do the work")
    done = await wait_state(rt, run.id, RunState.REVIEW, RunState.FAILED,
                            RunState.CANCELLED)
    assert done.state is RunState.FAILED, done.state_reason
    assert done.state_reason.startswith("the account's usage limit is reached until ")
    assert done.state_reason.endswith("it was resumed automatically once in 24 h already, so "
                                      "resume it yourself when it should go on")
    reasons = [t.reason for t in await rt.runs.store.transitions(run.id)]
    assert sum(r.startswith("paused until ") for r in reasons) == 1


@pytest.mark.parametrize("limited", [{"usage_limit_resumes": 0}], indirect=True)
async def test_with_automatic_resumes_off_the_limit_fails_the_run_at_once(
        limited: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    rt = limited
    model_server.script("SCRIPT:off", [s.usage_limit(int(time.time()) + 3600)])
    await rt.projects.add("demo", str(repo))
    run = await rt.runs.start_run("demo", "SCRIPT:off do the work")
    done = await wait_state(rt, run.id)
    assert done.state is RunState.FAILED
    assert "automatic resumes are off (agents.usage_limit_resumes)" in done.state_reason


def test_only_a_refusal_is_a_usage_limit_and_a_warning_on_the_way_is_not() -> None:
    def event(status: str, resets_at: int | None) -> RateLimitEvent:
        return RateLimitEvent(RateLimitInfo(status=status,  # type: ignore[arg-type]
                                            resets_at=resets_at,
                                            rate_limit_type="seven_day"), "u", "s")

    assert translate(event("rejected", 1_900_000_000)) == [
        AgentUsageLimit(1_900_000_000.0, "seven_day")]
    assert translate(event("allowed_warning", 1_900_000_000)) == []
    assert translate(event("rejected", None)) == [AgentUsageLimit(None, "seven_day")]
