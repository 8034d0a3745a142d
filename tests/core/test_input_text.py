"""Text Gluon cannot pass on (a NUL byte, an unpaired surrogate) is refused where it comes in,
with one line that names the parameter, on every surface; nothing is half-done."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.models import Run
from core.runtime import Runtime
from core.types import RunState
from mcp_tools.registry import error_text
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.mcp_tools.client import connected, error

NUL = "fix the\x00 bug"


async def test_a_nul_byte_is_refused_in_every_text_a_run_takes_naming_the_parameter(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:text", [s.ask("Which colour?", ["Red", "Blue"]),
                                        s.text("Painted it.")])
    await runtime.projects.add("demo", str(repo))
    runs = runtime.runs
    refused: dict[str, Callable[[], Awaitable[Run]]] = {
        "prompt": lambda: runs.start_run("demo", NUL),
        "model": lambda: runs.start_run("demo", "SCRIPT:text", model="sonnet\x00"),
        "base": lambda: runs.start_run("demo", "SCRIPT:text", base="main\x00"),
        "attachments": lambda: runs.start_run("demo", "SCRIPT:text", attachments=["a\x00b"]),
    }
    for parameter, call in refused.items():
        with pytest.raises(InvalidInput, match=rf"^{parameter} contains a NUL byte") as caught:
            await call()
        assert "\n" not in str(caught.value)
    assert await runs.find() == []  # nothing was started

    run = await runs.start_run("demo", "SCRIPT:text paint it")
    await wait_state(runtime, run.id, RunState.WAITING)
    [question] = await runs.interactions.pending(run.id)
    with pytest.raises(InvalidInput, match=r"^answer contains a NUL byte"):
        await runs.answer(question.id, "Red\x00")
    with pytest.raises(InvalidInput, match=r"^message contains a NUL byte"):
        await runs.steer(run.id, NUL)
    assert (await runs.interactions.get(question.id)).answer is None
    await runs.answer(question.id, "Red")
    run = await wait_state(runtime, run.id)
    assert run.state is RunState.REVIEW, run.state_reason
    with pytest.raises(InvalidInput, match=r"^message contains a NUL byte"):
        await runs.resume(run.id, NUL)
    with pytest.raises(InvalidInput, match=r"^message contains a NUL byte"):
        await runs.fork(run.id, NUL)
    with pytest.raises(InvalidInput, match=r"^message contains an unpaired surrogate"):
        await runs.resume(run.id, "fix \ud800 it")
    assert (await runs.get(run.id)).state is RunState.REVIEW
    assert len(await runs.find()) == 1


async def test_a_tool_call_with_a_nul_byte_gets_one_line_naming_the_parameter(
        runtime: Runtime, repo: Path) -> None:
    async with connected(runtime) as client:
        await client.call_tool("add_project", {"path": str(repo), "name": "demo"})
        started = error_text(await error(client, "start_run", project="demo", prompt=NUL))
        project = error_text(await error(client, "add_project", path=str(repo),
                                         name="de\x00mo"))
        newline = error_text(await error(client, "add_project", path=str(repo), name="demo\n"))
        rule = error_text(await error(client, "set_tool_policy", project="demo",
                                      tool="Bash\x00", allowed=True))
    assert started == ("prompt contains a NUL byte (\\x00), which cannot be passed on; "
                       "remove it and send the text again")
    assert project.startswith("invalid project name 'de\\x00mo'")
    assert newline.startswith("invalid project name 'demo\\n'")
    assert rule.startswith("tool contains a NUL byte")
    assert await runtime.projects.tool_rules("demo") == []
    assert await runtime.runs.find() == []
