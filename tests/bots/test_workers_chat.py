"""Runs on workers as Telegram users see them: "which workers are up?" answered from the
workers' heartbeats, and a run started in chat that executes on a ``gluon worker`` (a real
subprocess, as is the coordinator, ``gluon serve`` with the fake Bot API), whose permission
request is answered with a button and which a reply to its status message steers."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.cluster.registry import WorkerInfo
from core.config import Config
from tests.bots.cluster_env import Cluster, running_cluster, wait_until
from tests.bots.conftest import Gluon
from tests.bots.test_orchestrator import orchestrator_requests
from tests.bots.test_telegram import ADA, serving, texts
from tests.conftest import git, make_config
from tests.core.jobs.redis_server import RedisServer
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with RedisServer(tmp_path / "redis") as server:
        yield server.url


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer, redis_url: str) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={
        "telegram": base.telegram.model_copy(update={"users": [ADA]}),
        "cluster": base.cluster.model_copy(update={"redis_url": redis_url})})


async def test_which_workers_are_up_is_answered_from_their_heartbeats(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    model_server.script("SCRIPT:workers", [
        s.tool("list_workers", {}), s.text("One worker is up: gpu-1, running 1 of 4 runs.")])
    async with serving(config, telegram, model_server, repo) as (_, runtime):
        assert runtime.cluster is not None
        await runtime.cluster.workers.beat(WorkerInfo(
            name="gpu-1", version="1.0", host="gpu-host", pid=os.getpid(), max_runs=4,
            runs=["abcd1234"], started_at=time.time()))
        telegram.user_message(ADA, ADA, "SCRIPT:workers which workers are up?")
        await telegram.wait_for(lambda f: any(t.startswith("One worker is up")
                                              for t in texts(f, ADA)), timeout=60)
    [body] = [b for b in orchestrator_requests(model_server)
              if b["messages"][-1]["content"][0].get("type") == "tool_result"]
    result = body["messages"][-1]["content"][0]["content"]
    [listed] = json.loads(result if isinstance(result, str) else result[0]["text"])["workers"]
    assert (listed["name"], listed["runs"], listed["stale"]) == ("gpu-1", ["abcd1234"], False)


@pytest.fixture
def cluster(gluon: Gluon, redis_url: str, telegram: FakeTelegram) -> Iterator[Cluster]:
    """The coordinator with its Telegram bot (Ada may use it), against the fake Bot API."""
    gluon.env |= {"GLUON_TELEGRAM_TOKEN": telegram.token,
                  "GLUON_TELEGRAM_API_BASE_URL": telegram.base_url,
                  "GLUON_TELEGRAM_USERS": str(ADA)}
    with running_cluster(gluon, redis_url) as made:
        yield made


def message_with(telegram: FakeTelegram, part: str) -> int:
    """The id of the bot's message in Ada's chat that says ``part``, once there is one."""
    return int(wait_until(lambda: next((m.message_id for m in telegram.messages(ADA).values()
                                        if part in (m.text or "")), None), f"a message {part!r}"))


@pytest.mark.timeout(300)
def test_a_run_started_in_chat_asks_and_is_steered_there_while_a_worker_executes_it(
        cluster: Cluster, telegram: FakeTelegram, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:tg", [
        s.write(".mcp.json", '{"mcpServers": {}}\n'), s.hold("tg", s.text("Wrote it.")),
        s.bash("printf 'steered\\n' > steered.txt && git add steered.txt "
               "&& git commit -q -m 'Add steered'"), s.text("Steered too.")])
    wait_until(lambda: any(c[0] == "setMyCommands" for c in telegram.calls), "the bot")
    cluster.start_worker("w1")
    telegram.user_message(ADA, ADA, "/run demo SCRIPT:tg set up MCP")

    # The agent on w1 writes a file its rules do not allow: Ada is asked, with buttons.
    asking = message_with(telegram, "asks to use")
    [run] = cluster.gluon.json("runs")["runs"]
    shown = cluster.show(run["id"])
    assert shown["worker"] == "w1" and shown["run"]["state"] == "waiting"
    request = telegram.messages(ADA)[asking]
    assert ".mcp.json" in (request.text or "") and run["id"][:4] in (request.text or "")
    assert [label for label, _ in request.buttons] == [
        "Allow once", "Allow for this run", "Always for this project", "Deny"]
    telegram.press_button(ADA, ADA, asking, request.buttons[0][1])
    message_with(telegram, "Answered by")
    assert not telegram.messages(ADA)[asking].buttons  # answered: the buttons are gone

    # The run goes on on w1; while the model holds its reply, Ada replies to the run's
    # status message, and that steers the agent on the worker.
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:tg" and r.step == 1,
                                  timeout=60)
    status = message_with(telegram, "<b>Run <code>")
    assert cluster.show(run["id"])["run"]["state"] == "running"
    telegram.user_message(ADA, ADA, "also add steered.txt", reply_to=status)
    message_with(telegram, "Steering run")
    wait_until(lambda: any(e["kind"] == "steer" and "also add steered.txt" in e["summary"]
                           for e in cluster.gluon.json("logs", run["id"])["events"]),
               "the steer on the worker")
    model_server.release("tg")

    finished = message_with(telegram, "Steered too.")
    assert "finished" in (telegram.messages(ADA)[finished].text or "")
    wait_until(lambda: (telegram.messages(ADA)[status].text or "").startswith("✅"),
               "the status message saying the run ended")
    assert "review" in (telegram.messages(ADA)[status].text or "")
    steered = [r for r in model_server.requests if r.script_key == "SCRIPT:tg"
               and "also add steered.txt" in r.last_user_text()]
    assert steered and steered[0].step == 2, [r.step for r in steered]
    done = cluster.show(run["id"])
    assert done["worker"] == "w1" and done["run"]["state"] == "review"
    assert "Add steered" in [c["subject"] for c in done["run"]["commits"]]
    assert git(cluster.repo, "show", f"gluon/{run['id']}:steered.txt") == "steered"
    assert git(cluster.repo, "show", f"gluon/{run['id']}:.mcp.json") == '{"mcpServers": {}}'
    assert [e["data"]["answered_by"] for e in cluster.gluon.json(
        "events", "--run", run["id"])["events"] if e["kind"] == "InteractionAnswered"] == \
        [f"telegram:{ADA}"]
