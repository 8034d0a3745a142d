"""An agent's session transcript moves between hosts through a real ``redis-server``, and the
real Claude Code CLI on the second host resumes the session from it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.agent.launcher import agent_environment
from core.agent.session import AgentResult, AgentSpec, Decision, SdkRunner
from core.agent.setup import bundled_cli
from core.cluster.transfer.code import WorkerCode
from core.cluster.transfer.session_ship import (
    copy,
    drop,
    encoded_cwd,
    find_transcript,
    key,
    restore,
    ship,
)
from core.cluster.transfer.source import Source
from core.jobs.types import LeaseLost
from tests.conftest import daemon_environ, git
from tests.core.cluster.conftest import RUN, commit
from tests.core.jobs.redis_server import RedisServer
from tests.fakes.model_server import ScriptedModelServer, text, write
from tests.fakes.transcript import content_blocks


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def allow(name: str, tool_input: dict[str, Any], tool_use_id: str | None) -> Decision:
    return Decision(allow=True)


async def agent_turn(server: ScriptedModelServer, *, cwd: Path, home: Path, session_id: str,
                     resume: bool, prompt: str) -> AgentResult:
    """One turn of the real CLI through Gluon's agent edge, in ``cwd`` with HOME ``home``."""
    env = agent_environment(daemon_environ(), home=home, git_identity={}, provider={
        "ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": server.base_url})
    spec = AgentSpec(cwd=cwd, model="sonnet", session_id=session_id, resume=resume,
                     command=[bundled_cli()], env=env, launcher_dir=home.parent / "launchers")
    session = await SdkRunner().open(spec, allow)
    try:
        await session.send(prompt)
        async for event, _ in session.events():
            if isinstance(event, AgentResult):
                return event
        raise AssertionError("the session ended without a result")
    finally:
        await session.close()


async def test_a_run_resumes_on_another_host_with_its_code_and_its_session(
        tmp_path: Path, model_server: ScriptedModelServer, source: Source,
        redis: aioredis.Redis) -> None:
    # Host a's data dir is deep, so its worktree's session folder is past the CLI's 200
    # characters and needs the CLI's hash of the path.
    a = WorkerCode(tmp_path / ("host-a-" + "a" * 120))
    b = WorkerCode(tmp_path / "host-b")
    on_a = await a.prepare("demo", source, RUN, "main")
    home_a, home_b = a.home / "agent-homes" / RUN, b.home / "agent-homes" / RUN
    home_a.mkdir(parents=True)
    notes_a = on_a.worktree / "notes.txt"
    model_server.script("SCRIPT:ship", [write(str(notes_a), "from host a\n"),
                                        text("Wrote the notes."), text("Went on, on host b.")])
    session_id = str(uuid.uuid4())
    first = await agent_turn(model_server, cwd=on_a.worktree, home=home_a,
                             session_id=session_id, resume=False,
                             prompt="SCRIPT:ship write the notes")
    assert first.result == "Wrote the notes."
    transcript = find_transcript(home_a, session_id)
    assert transcript is not None and len(encoded_cwd(on_a.worktree)) > 200
    assert transcript.parent.name == encoded_cwd(on_a.worktree)  # the CLI's own naming

    # After the turn: the agent's work goes to the source, its session to Redis.
    commit(on_a.worktree, "notes.txt", notes_a.read_text())
    await a.publish(on_a)
    shipped = await ship(redis, RUN, session_id, home=home_a, cwd=on_a.worktree, fence=1)
    assert shipped is not None and 0 < shipped < transcript.stat().st_size

    # Host a dies; host b takes the run over with a newer lease.
    on_b = await b.prepare("demo", source, RUN, "main")
    restored = await restore(redis, RUN, home=home_b, cwd=on_b.worktree, fence=2)
    assert restored is not None and restored.session_id == session_id
    assert restored.transcript.parent.name == encoded_cwd(on_b.worktree)
    assert (on_b.worktree / "notes.txt").read_text() == "from host a\n"
    second = await agent_turn(model_server, cwd=on_b.worktree, home=home_b,
                              session_id=session_id, resume=True, prompt="go on")

    assert second.result == "Went on, on host b." and second.session_id == session_id
    request = model_server.requests[-1]
    assert request.script_key == "SCRIPT:ship" and request.step == 2
    said = request.all_text()
    assert "SCRIPT:ship write the notes" in said and "Wrote the notes." in said
    [written] = [block["input"] for message in request.messages
                 for block in content_blocks(message.get("content"))
                 if block.get("type") == "tool_use"]
    # The earlier turn's paths are host b's now: the agent goes on in its own worktree.
    assert written == {"file_path": str(on_b.worktree / "notes.txt"),
                       "content": "from host a\n"}
    assert str(on_a.worktree) not in json.dumps(request.body)

    # Host a comes back: its ship is refused, host b's session stays.
    with pytest.raises(LeaseLost, match="newer holder"):
        await ship(redis, RUN, session_id, home=home_a, cwd=on_a.worktree, fence=1)
    assert await ship(redis, RUN, session_id, home=home_b, cwd=on_b.worktree, fence=2)
    assert git(on_b.worktree, "log", "-1", "--format=%s") == "add notes.txt"


def fake_session(home: Path, cwd: Path, session_id: str) -> Path:
    """A transcript as the CLI keeps it, with a subagent's transcript beside it, caught in the
    middle of a line."""
    folder = home / ".claude" / "projects" / encoded_cwd(cwd)
    (folder / session_id / "subagents").mkdir(parents=True)
    (folder / session_id / "subagents" / "agent-1.jsonl").write_text('{"sub": 1}\n')
    transcript = folder / f"{session_id}.jsonl"
    lines = [{"type": "user", "cwd": str(cwd), "message": f"edit {cwd}/app.py"},
             {"type": "assistant", "message": f"read {cwd}-other/x and {home}/.bashrc"}]
    # The last line is one the CLI is still writing.
    transcript.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"type": "as')
    return transcript


async def test_only_the_newest_lease_ships_or_takes_a_session(
        tmp_path: Path, redis: aioredis.Redis) -> None:
    session_id = str(uuid.uuid4())
    home_a, cwd_a = tmp_path / "a" / "home", tmp_path / "a" / "wt"
    home_b, cwd_b = tmp_path / "b" / "home", tmp_path / "b" / "wt"
    fake_session(home_a, cwd_a, session_id)

    assert await restore(redis, RUN, home=home_b, cwd=cwd_b, fence=1) is None
    assert await ship(redis, RUN, session_id, home=home_b, cwd=cwd_b, fence=1) is None
    assert await ship(redis, RUN, session_id, home=home_a, cwd=cwd_a, fence=3)
    with pytest.raises(LeaseLost):
        await ship(redis, RUN, session_id, home=home_a, cwd=cwd_a, fence=2)
    with pytest.raises(LeaseLost):
        await restore(redis, RUN, home=home_b, cwd=cwd_b, fence=2)

    stale = home_b / ".claude" / "projects" / encoded_cwd(cwd_b) / session_id / "old.jsonl"
    stale.parent.mkdir(parents=True)
    stale.write_text("left by an earlier attempt on host b\n")
    restored = await restore(redis, RUN, home=home_b, cwd=cwd_b, fence=4)
    assert restored is not None and restored.fence == 3
    lines = [json.loads(line) for line in restored.transcript.read_text().splitlines()]
    assert lines == [
        {"type": "user", "cwd": str(cwd_b), "message": f"edit {cwd_b}/app.py"},
        # A path that only starts like the worktree's is another path: it stays.
        {"type": "assistant", "message": f"read {cwd_a}-other/x and {home_b}/.bashrc"}]
    subagent = restored.transcript.parent / session_id / "subagents" / "agent-1.jsonl"
    assert subagent.read_text() == '{"sub": 1}\n' and not stale.exists()
    with pytest.raises(LeaseLost):  # host a, still at fence 3, lost the session to host b
        await ship(redis, RUN, session_id, home=home_a, cwd=cwd_a, fence=3)

    await drop(redis, RUN)
    assert await redis.exists(key(RUN)) == 0
    assert await restore(redis, RUN, home=home_b, cwd=cwd_b, fence=5) is None


async def test_a_fork_copies_its_parents_session_without_taking_it_from_the_parents_host(
        tmp_path: Path, redis: aioredis.Redis) -> None:
    session_id = str(uuid.uuid4())
    home_a, cwd_a = tmp_path / "a" / "home", tmp_path / "a" / "wt"
    home_f, cwd_f = tmp_path / "f" / "home", tmp_path / "f" / "wt-fork"
    fake_session(home_a, cwd_a, session_id)
    assert await copy(redis, RUN, session_id, home=home_f, cwd=cwd_f) is None  # none shipped
    assert await ship(redis, RUN, session_id, home=home_a, cwd=cwd_a, fence=2)
    assert await copy(redis, RUN, str(uuid.uuid4()), home=home_f, cwd=cwd_f) is None

    copied = await copy(redis, RUN, session_id, home=home_f, cwd=cwd_f)
    assert copied is not None and copied.session_id == session_id and copied.fence == 2
    assert copied.transcript.parent.name == encoded_cwd(cwd_f)
    first = json.loads(copied.transcript.read_text().splitlines()[0])
    assert first == {"type": "user", "cwd": str(cwd_f), "message": f"edit {cwd_f}/app.py"}
    # The parent's host still holds its session: it ships the next turn as before.
    assert await ship(redis, RUN, session_id, home=home_a, cwd=cwd_a, fence=2)


async def test_a_redis_client_that_decodes_text_is_refused(
        tmp_path: Path, redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        with pytest.raises(TypeError, match="decode_responses=False"):
            await ship(client, RUN, str(uuid.uuid4()), home=tmp_path, cwd=tmp_path, fence=1)
    finally:
        await client.aclose()


def test_the_session_folder_is_named_as_claude_code_names_it() -> None:
    assert encoded_cwd("/srv/gluon/worktrees/my_app/3f2a") == "-srv-gluon-worktrees-my-app-3f2a"
    assert encoded_cwd("/tmp/Résumé 2") == "-tmp-R-sum--2"
    long = "/" + "x" * 250
    assert encoded_cwd(long).startswith("-" + "x" * 199 + "-")
    assert encoded_cwd(long) != encoded_cwd(long + "y")
