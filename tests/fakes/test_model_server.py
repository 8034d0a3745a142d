"""The scripted model server drives the real Claude Code CLI (through claude_agent_sdk) offline."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeSDKClient,
    Message,
    PermissionResultAllow,
    PermissionResultDeny,
    ResultMessage,
    StreamEvent,
    TextBlock,
    ToolPermissionContext,
)

from tests.fakes.fixtures import CLAUDE_CLI, agent_options, model_server
from tests.fakes.model_server import (
    ScriptedModelServer,
    ask,
    bash,
    error,
    hold,
    select_step,
    slow_text,
    text,
    tool,
    write,
)

__all__ = ["model_server"]  # the fixture is used by name


async def run_turn(client: ClaudeSDKClient, prompt: str) -> list[Message]:
    """Send `prompt` and collect the messages up to and including its ResultMessage."""
    await client.query(prompt)
    async with asyncio.timeout(30):
        return [m async for m in client.receive_response()]


def result_of(messages: list[Message]) -> ResultMessage:
    results = [m for m in messages if isinstance(m, ResultMessage)]
    assert len(results) == 1, messages
    return results[0]


def texts(messages: list[Message]) -> list[str]:
    return [
        block.text
        for m in messages
        if isinstance(m, AssistantMessage)
        for block in m.content
        if isinstance(block, TextBlock)
    ]


# -- script selection, without a CLI --------------------------------------------------------


def user(*blocks: str | dict[str, object]) -> dict[str, object]:
    content = [{"type": "text", "text": b} if isinstance(b, str) else b for b in blocks]
    return {"role": "user", "content": content}


def assistant(s: str = "...") -> dict[str, object]:
    return {"role": "assistant", "content": [{"type": "text", "text": s}]}


def system(s: str) -> dict[str, object]:
    return {"role": "system", "content": s}


def tool_result(s: str) -> dict[str, object]:
    return {"type": "tool_result", "tool_use_id": "toolu_1", "content": s}


KEYS = ["SCRIPT:a", "SCRIPT:b", "SCRIPT:a-long"]


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([user("hello")], (None, -1)),
        ([user("<system-reminder>x</system-reminder>", "do SCRIPT:a")], ("SCRIPT:a", 0)),
        ([user("SCRIPT:a"), assistant(), user(tool_result("out"))], ("SCRIPT:a", 1)),
        # a key echoed by a tool, or inside a mid-turn `system` entry, selects nothing
        ([user("SCRIPT:a"), assistant(), user(tool_result("SCRIPT:b"))], ("SCRIPT:a", 1)),
        (
            [user("SCRIPT:a"), assistant(), user(tool_result("x")), system("SCRIPT:b steer")],
            ("SCRIPT:a", 1),
        ),
        # the last keyed prompt wins, and the longest key in it
        ([user("SCRIPT:a"), assistant(), user("now SCRIPT:b")], ("SCRIPT:b", 0)),
        ([user("SCRIPT:a-long")], ("SCRIPT:a-long", 0)),
        # a follow-up prompt without a key continues the script
        ([user("SCRIPT:a"), assistant(), user("more")], ("SCRIPT:a", 1)),
        # interrupted before the first token: no assistant message, only the marker
        (
            [user("SCRIPT:a\n", "[Request interrupted by user]\n", "go on")],
            ("SCRIPT:a", 1),
        ),
        # interrupted after partial text: the marker does not count twice
        (
            [user("SCRIPT:a"), assistant("tick"), user("[Request interrupted by user]", "go on")],
            ("SCRIPT:a", 1),
        ),
        # interrupted while a tool ran: the tool_use already counted
        (
            [
                user("SCRIPT:a"),
                assistant(),
                user(
                    tool_result("The user doesn't want to proceed with this tool use."),
                    "[Request interrupted by user for tool use]\n",
                    "go on",
                ),
            ],
            ("SCRIPT:a", 1),
        ),
    ],
)
def test_the_last_keyed_prompt_picks_the_script_and_assistant_turns_pick_the_step(
    messages: list[dict[str, object]], expected: tuple[str | None, int]
) -> None:
    assert select_step({"messages": messages}, KEYS) == expected


# -- the HTTP surface, with the anthropic client ---------------------------------------------

WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def test_the_anthropic_client_gets_scripted_json_and_streamed_messages(
    model_server: ScriptedModelServer,
) -> None:
    model_server.script(
        "SCRIPT:weather", [tool("get_weather", {"city": "Oslo"}, text="Checking."), text("Sunny.")]
    )
    client = anthropic.AsyncAnthropic(base_url=model_server.base_url, api_key="sk-t", max_retries=0)
    messages: Any = [{"role": "user", "content": "SCRIPT:weather in Oslo?"}]
    first = await client.messages.create(
        model="claude-test-1", max_tokens=100, tools=[WEATHER_TOOL], messages=messages
    )
    assert first.stop_reason == "tool_use"
    assert first.model == "claude-test-1"
    assert [b.type for b in first.content] == ["text", "tool_use"]
    tool_use = first.content[1]
    assert tool_use.type == "tool_use" and tool_use.input == {"city": "Oslo"}
    assert tool_use.id.startswith("toolu_")
    result: Any = [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "12C sun"}]
    messages += [
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": result},
    ]
    async with client.messages.stream(
        model="claude-test-1", max_tokens=100, tools=[WEATHER_TOOL], messages=messages
    ) as stream:
        streamed = "".join([t async for t in stream.text_stream])
        second = await stream.get_final_message()
    assert streamed == "Sunny."
    assert second.stop_reason == "end_turn"
    assert second.id != first.id and second.id.startswith("msg_")
    assert second.usage.input_tokens > 0 and second.usage.output_tokens > 0
    assert [(r.script_key, r.step) for r in model_server.requests] == [
        ("SCRIPT:weather", 0),
        ("SCRIPT:weather", 1),
    ]
    assert model_server.requests[1].last_user_text() == "12C sun"
    counted = await client.messages.count_tokens(model="claude-test-1", messages=messages)
    assert counted.input_tokens > 0
    await client.close()


async def test_unknown_routes_get_404_and_unscripted_prompts_get_ok(
    model_server: ScriptedModelServer,
) -> None:
    async with httpx.AsyncClient(base_url=model_server.base_url) as http:
        missing = await http.get("/v1/models")
        plain = await http.post(
            "/v1/messages?beta=true",
            json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert missing.status_code == 404 and missing.json()["type"] == "error"
    assert model_server.unhandled == ["GET /v1/models"]
    assert plain.json()["content"] == [{"type": "text", "text": "ok"}]
    assert model_server.requests[0].script_key is None


async def test_a_cli_title_request_gets_ok_but_a_plain_client_without_tools_is_scripted(
    model_server: ScriptedModelServer,
) -> None:
    model_server.script("SCRIPT:t", [text("scripted")])
    prompt = [{"role": "user", "content": "<session>SCRIPT:t fix it</session> Write a title"}]
    cli_system = [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1"}]
    async with httpx.AsyncClient(base_url=model_server.base_url) as http:
        title = await http.post(
            "/v1/messages", json={"model": "m", "system": cli_system, "messages": prompt}
        )
        plain = await http.post("/v1/messages", json={"model": "m", "messages": prompt})
    assert title.json()["content"][0]["text"] == "ok"
    assert plain.json()["content"][0]["text"] == "scripted"
    assert [(r.script_key, r.step) for r in model_server.requests] == [(None, -1), ("SCRIPT:t", 0)]


async def test_an_error_step_answers_with_the_status_and_an_anthropic_error_body(
    model_server: ScriptedModelServer,
) -> None:
    model_server.script("SCRIPT:fail", [error(529, "too busy")])
    async with httpx.AsyncClient(base_url=model_server.base_url) as http:
        reply = await http.post(
            "/v1/messages",
            json={"model": "m", "messages": [{"role": "user", "content": "SCRIPT:fail"}]},
        )
    assert reply.status_code == 529
    assert reply.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "too busy"},
    }


def test_waiting_for_a_request_that_never_comes_times_out_and_stop_is_idempotent() -> None:
    server = ScriptedModelServer()
    with server, pytest.raises(TimeoutError):
        server.wait_for_request(lambda r: True, timeout=0.05)
    server.stop()


# -- the real CLI ------------------------------------------------------------------------------


def test_the_bundled_cli_exists() -> None:
    assert Path(CLAUDE_CLI).is_file()


async def test_a_write_step_creates_the_file_and_every_response_has_its_own_id(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script(
        "SCRIPT:write-hello",
        [write("hello.txt", "hi there\n", text="Writing."), bash("echo ok"), text("Wrote it.")],
    )
    options = agent_options(model_server, tmp_path)
    async with ClaudeSDKClient(options) as client:
        messages = await run_turn(client, "SCRIPT:write-hello please")
    assert (Path(str(options.cwd)) / "hello.txt").read_text() == "hi there\n"
    result = result_of(messages)
    assert not result.is_error and result.result == "Wrote it."
    ids = {m.message_id for m in messages if isinstance(m, AssistantMessage)}
    assert len(ids) == 3  # the text+tool_use response arrives as two messages with one id
    assert [r.step for r in model_server.requests] == [0, 1, 2]
    assert {r.session_id for r in model_server.requests} == {result.session_id}


async def test_bash_output_comes_back_to_the_model_in_the_next_request(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script("SCRIPT:bash", [bash("echo $((6*7))"), text("The answer is 42.")])
    async with ClaudeSDKClient(agent_options(model_server, tmp_path)) as client:
        messages = await run_turn(client, "SCRIPT:bash compute")
    assert result_of(messages).result == "The answer is 42."
    after_tool = model_server.wait_for_request(lambda r: r.step == 1, timeout=1)
    assert after_tool.last_user_text() == "42"


async def test_the_users_answer_to_ask_user_question_reaches_the_model(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script(
        "SCRIPT:ask", [ask("Which database?", ["Postgres", "SQLite"]), text("SQLite it is.")]
    )
    asked: list[dict[str, Any]] = []

    async def answer(
        name: str, inp: dict[str, Any], ctx: ToolPermissionContext
    ) -> PermissionResultAllow | PermissionResultDeny:
        asked.append(inp)
        answers = {q["question"]: q["options"][1]["label"] for q in inp["questions"]}
        return PermissionResultAllow(updated_input={**inp, "answers": answers})

    options = dataclasses.replace(agent_options(model_server, tmp_path), can_use_tool=answer)
    async with ClaudeSDKClient(options) as client:
        messages = await run_turn(client, "SCRIPT:ask set up the db")
    assert asked[0]["questions"][0]["question"] == "Which database?"
    assert result_of(messages).result == "SQLite it is."
    answered = model_server.wait_for_request(lambda r: r.step == 1, timeout=1)
    assert '"Which database?"="SQLite"' in answered.last_user_text()


async def test_a_denied_bash_command_is_not_run_and_the_model_sees_the_denial(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script("SCRIPT:touch", [bash("touch x"), text("Could not.")])
    asked: list[str] = []

    async def deny(
        name: str, inp: dict[str, Any], ctx: ToolPermissionContext
    ) -> PermissionResultAllow | PermissionResultDeny:
        asked.append(f"{name}: {inp.get('command')}")
        return PermissionResultDeny(message="The user said no.")

    options = dataclasses.replace(
        agent_options(model_server, tmp_path), permission_mode="default", can_use_tool=deny
    )
    async with ClaudeSDKClient(options) as client:
        messages = await run_turn(client, "SCRIPT:touch make a file")
    assert asked == ["Bash: touch x"]
    assert not (Path(str(options.cwd)) / "x").exists()
    assert result_of(messages).result == "Could not."
    denied = model_server.wait_for_request(lambda r: r.step == 1, timeout=1)
    assert "The user said no." in denied.last_user_text()


@pytest.mark.parametrize("after_first_token", [False, True])
async def test_interrupting_a_slow_stream_aborts_the_turn_and_the_next_prompt_goes_on(
    model_server: ScriptedModelServer, tmp_path: Path, after_first_token: bool
) -> None:
    model_server.script("SCRIPT:slow", [slow_text(20), text("after the interrupt")])
    options = dataclasses.replace(
        agent_options(model_server, tmp_path), include_partial_messages=after_first_token
    )
    async with ClaudeSDKClient(options) as client:
        await client.query("SCRIPT:slow talk for a while")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:slow")
        if after_first_token:  # the partial text then stays in the history
            async with asyncio.timeout(10):
                async for message in client.receive_messages():
                    if isinstance(message, StreamEvent) and "text_delta" in str(message.event):
                        break
        started = time.monotonic()
        await client.interrupt()
        async with asyncio.timeout(10):
            interrupted = [m async for m in client.receive_response()]
        assert time.monotonic() - started < 5
        result = result_of(interrupted)
        assert result.is_error and result.terminal_reason == "aborted_streaming"
        await asyncio.to_thread(model_server.wait_streams_closed, 5)
        follow_up = await run_turn(client, "carry on")
    assert texts(follow_up) == ["after the interrupt"]
    assert [r.step for r in model_server.requests] == [0, 1]
    if after_first_token:
        assert "tick" in model_server.requests[1].all_text()


async def test_an_error_step_ends_the_run_with_an_error_result_within_seconds(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script("SCRIPT:broken", [error(400, "scripted failure")])
    started = time.monotonic()
    async with ClaudeSDKClient(agent_options(model_server, tmp_path)) as client:
        messages = await run_turn(client, "SCRIPT:broken do it")
    result = result_of(messages)
    assert result.is_error
    assert "scripted failure" in (result.result or "")
    assert time.monotonic() - started < 10


async def test_two_concurrent_sessions_each_follow_their_own_script(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script("SCRIPT:red", [write("color.txt", "red"), text("red done")])
    model_server.script(
        "SCRIPT:blue", [bash("echo blue"), write("color.txt", "blue"), text("blue done")]
    )

    async def session(key: str, name: str) -> tuple[str, ResultMessage]:
        options = agent_options(model_server, tmp_path, name=name)
        async with ClaudeSDKClient(options) as client:
            result = result_of(await run_turn(client, f"{key} paint"))
        return (Path(str(options.cwd)) / "color.txt").read_text(), result

    (red_file, red), (blue_file, blue) = await asyncio.gather(
        session("SCRIPT:red", "red"), session("SCRIPT:blue", "blue")
    )
    assert (red_file, red.result) == ("red", "red done")
    assert (blue_file, blue.result) == ("blue", "blue done")
    by_session = {
        sid: sorted(r.step for r in model_server.requests if r.session_id == sid)
        for sid in (red.session_id, blue.session_id)
    }
    assert by_session == {red.session_id: [0, 1], blue.session_id: [0, 1, 2]}


async def test_a_message_sent_mid_turn_reaches_the_model_without_restarting_the_script(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script(
        "SCRIPT:steer", [hold("first", bash("echo one")), bash("echo two"), text("end")]
    )
    async with ClaudeSDKClient(agent_options(model_server, tmp_path)) as client:
        await client.query("SCRIPT:steer start")
        await model_server.await_request(lambda r: r.step == 0)
        await client.query("STEER: use blue")
        model_server.release("first")
        async with asyncio.timeout(30):
            messages = [m async for m in client.receive_response()]
    assert result_of(messages).result == "end"
    steered = model_server.wait_for_request(lambda r: "STEER: use blue" in r.all_text(), timeout=1)
    assert steered.script_key == "SCRIPT:steer" and steered.step in (1, 2)
    assert [r.step for r in model_server.requests] == [0, 1, 2]


async def test_a_resumed_session_continues_the_script_where_it_stopped(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model_server.script("SCRIPT:resume", [text("first answer"), text("second answer")])
    options = agent_options(model_server, tmp_path)
    async with ClaudeSDKClient(options) as client:
        first = result_of(await run_turn(client, "SCRIPT:resume hello"))
    resumed = dataclasses.replace(options, resume=first.session_id)
    async with ClaudeSDKClient(resumed) as client:
        second = result_of(await run_turn(client, "and again"))
    assert (first.result, second.result) == ("first answer", "second answer")
    assert second.session_id == first.session_id
