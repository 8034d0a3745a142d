"""The orchestrator: the real `anthropic` client against the scripted model server, calling
Gluon's real tools (real SQLite, real git, the real Claude Code CLI for runs)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from bots.chat.buttons import encode
from bots.chat.orchestrator import Orchestrator, parse_hints
from bots.chat.types import Confirm, Speaker
from core.runtime import Runtime
from core.types import Role, RunState
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

ADA = Speaker("telegram", "42", "Ada", Role.OPERATOR, chat_id="42")


@pytest.fixture
async def orch(runtime: Runtime, model_server: ScriptedModelServer, repo: Path
               ) -> AsyncIterator[Orchestrator]:
    await runtime.projects.add("demo", str(repo))
    llm = anthropic.AsyncAnthropic(base_url=model_server.base_url, api_key="sk-test",
                                   max_retries=0)
    orchestrator = Orchestrator(runtime, llm)
    yield orchestrator
    await orchestrator.close()


def orchestrator_requests(server: ScriptedModelServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests
            if any(m.get("role") == "user" and "[Gluon," in json.dumps(m.get("content"))
                   for m in r.messages)]


async def test_a_question_is_answered_from_the_tools_and_remembered(
        orch: Orchestrator, runtime: Runtime, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:which", [s.tool("list_projects", {}),
                                         s.text("You have one project: `demo`.")])
    model_server.script("SCRIPT:again", [s.text("Still just `demo`.")])
    first = await orch.handle(ADA, "SCRIPT:which projects do I have?")
    second = await orch.handle(ADA, "SCRIPT:again and now?")
    assert first.text == "You have one project: `demo`."
    assert second.text == "Still just `demo`."

    bodies = orchestrator_requests(model_server)
    assert len(bodies) == 3
    tool_result = bodies[1]["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and '"demo"' in tool_result["content"]
    # The second message's request carries the first turn, tool call and result included.
    history = bodies[2]["messages"]
    assert [m["role"] for m in history] == [
        "user", "assistant", "user", "assistant", "user"]
    # Cache breakpoints: the last tool, the system prompt and the end of the history.
    assert bodies[2]["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert bodies[2]["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert history[3]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    # Reads are not audited; who asked is known to the tool layer.
    assert await runtime.activity.recent(action_prefix="tool.") == []


async def test_a_request_in_plain_words_starts_a_real_run(
        orch: Orchestrator, runtime: Runtime, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-hello", [
        s.bash("printf 'hi\\n' > hello.txt && git add hello.txt && git commit -qm hello"),
        s.text("Committed hello.txt.")])
    model_server.script("SCRIPT:start", [
        s.tool("start_run", {"project": "demo",
                             "prompt": "SCRIPT:agent-hello add hello.txt"}),
        s.text("Started a run on demo.")])
    reply = await orch.handle(ADA, "SCRIPT:start add a hello file --model haiku")
    assert reply.text == "Started a run on demo." and len(reply.runs) == 1
    run = await wait_state(runtime, reply.runs[0])
    assert run.state is RunState.REVIEW and run.model == "haiku"
    assert run.created_by == "telegram:42"
    [entry] = await runtime.activity.recent(action_prefix="tool.")
    assert (entry.actor, entry.action, entry.outcome, entry.detail) == (
        "telegram:42", "tool.start_run", "ok", "telegram:42:")
    assert "SCRIPT:agent-hello add hello.txt" in entry.target
    context = await orch.live_context(ADA, None, None)
    assert f"Run {run.short} on demo: review" in context


async def test_a_destructive_tool_waits_for_the_speakers_button(
        orch: Orchestrator, runtime: Runtime, model_server: ScriptedModelServer,
        repo: Path) -> None:
    await runtime.runs.store.insert(id="3f2a9c1e", project="demo", prompt="p", model="haiku",
                                    use_worktree=0, cwd=str(repo), session_id="s",
                                    state="review")
    model_server.script("SCRIPT:close", [s.tool("archive_run", {"run": "3f2a9c1e"}),
                                         s.text("Press Confirm to close it.")])
    reply = await orch.handle(ADA, "SCRIPT:close the old run")
    assert reply.text == "Press Confirm to close it."
    [[confirm, cancel]] = reply.buttons
    assert confirm.label == "Confirm archive_run" and len(encode(confirm.action).encode()) <= 64
    assert isinstance(confirm.action, Confirm) and confirm.action.yes
    told = orchestrator_requests(model_server)[-1]["messages"][-1]["content"][0]
    assert "waits for Ada to press the confirmation button" in told["content"]
    assert (await runtime.runs.get("3f2a9c1e")).state is RunState.REVIEW

    bob = Speaker("telegram", "7", "Bob", Role.OPERATOR, chat_id="42")
    cid = confirm.action.confirmation_id
    foreign = await orch.confirm(cid, bob, yes=True)
    assert foreign.text.startswith("Only Ada (who asked) or an admin can confirm this")
    assert not foreign.settled
    assert (await runtime.runs.get("3f2a9c1e")).state is RunState.REVIEW
    done = await orch.confirm(cid, ADA, yes=True)
    assert done.text.startswith("Done (Ada confirmed): close run 3f2a9c1e")
    assert (await runtime.runs.get("3f2a9c1e")).state is RunState.CLOSED
    stale = await orch.confirm(cid, ADA, yes=True)
    assert stale.text.startswith("This confirmation has expired or was already used")


async def test_a_viewer_is_offered_only_read_only_tools(
        orch: Orchestrator, model_server: ScriptedModelServer, runtime: Runtime) -> None:
    viewer = Speaker("telegram", "9", "Vi", Role.VIEWER, chat_id="9")
    model_server.script("SCRIPT:sneaky", [
        s.tool("start_run", {"project": "demo", "prompt": "x"}), s.text("I could not.")])
    reply = await orch.handle(viewer, "SCRIPT:sneaky start something")
    assert reply.text == "I could not."
    body = orchestrator_requests(model_server)[0]
    offered = {t["name"] for t in body["tools"]}
    assert "list_runs" in offered and "start_run" not in offered
    result = orchestrator_requests(model_server)[1]["messages"][-1]["content"][0]
    assert result["is_error"] is True and "needs the operator role" in result["content"]
    assert await runtime.runs.store.find() == []


async def test_a_failing_model_api_leaves_the_conversation_intact(
        orch: Orchestrator, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:down", [s.error(529, "overloaded")])
    reply = await orch.handle(ADA, "SCRIPT:down hello?")
    assert reply.error and reply.text.startswith("The model API is not answering (HTTP 529)")
    assert await orch.conversations.history(ADA.conversation, 10_000) == []


async def test_a_tool_loop_that_does_not_converge_is_cut_and_reported(
        orch: Orchestrator, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:loop", [s.tool("list_projects", {})] * 30)
    reply = await orch.handle(ADA, "SCRIPT:loop go")
    assert reply.error and reply.text.startswith(
        f"I stopped after {orch.chat.max_tool_rounds} rounds of tool calls")
    history = await orch.conversations.history(ADA.conversation, 100_000)
    assert history[-1]["role"] == "assistant"
    await orch.conversations.clear(ADA.conversation)
    assert await orch.conversations.history(ADA.conversation, 100_000) == []


def test_model_and_project_can_be_given_inside_the_text() -> None:
    hints = parse_hints("fix the login test --model opus project:api please")
    assert (hints.text, hints.model, hints.project) == ("fix the login test please", "opus",
                                                        "api")
    assert parse_hints("nothing special").model is None
    short = parse_hints("-p api fix the login test")
    assert (short.text, short.project) == ("fix the login test", "api")
    assert parse_hints("fix it --project=web").project == "web"


async def test_history_keeps_the_latest_whole_turns_within_the_budget(
        orch: Orchestrator) -> None:
    conversations, key = orch.conversations, "telegram:1:"
    for n in range(5):
        await conversations.append(key, [
            {"role": "user", "content": [{"type": "text", "text": f"question {n} " + "x" * 400}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{n}",
                                               "name": "list_runs", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{n}",
                                          "content": "[]"}]},
            {"role": "assistant", "content": [{"type": "text", "text": f"answer {n}"}]}])
    kept = await conversations.history(key, budget_tokens=400)  # ~700 characters a turn
    assert kept[0]["content"][0]["text"].startswith("question 3 ")
    assert [m["role"] for m in kept] == ["user", "assistant", "user", "assistant"] * 2
    assert await conversations.history("telegram:2:", 10_000) == []
