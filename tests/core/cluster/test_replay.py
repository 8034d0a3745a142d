"""The steers kept for a worker that takes a run over, on a real ``redis-server``: kept only
under the run's newest fence, forgotten once a shipped transcript holds them, and given again
(once) to the agent of the next worker when the transcript it resumes does not."""

from __future__ import annotations

import json
from pathlib import Path

import redis.asyncio as aioredis

from core.cluster import keys
from core.cluster.transfer import replay
from core.runs.prompts import RESTART_PROMPT

RUN = "3f2a9c1e"


def transcript(path: Path, *said: str) -> Path:
    """A Claude Code transcript whose user messages are ``said`` (the last one as content
    blocks), with the lines the CLI writes around them."""
    lines: list[object] = [{"type": "queue-operation", "operation": "enqueue",
                            "content": "queued, not said"}]
    for i, text in enumerate(said):
        content: object = text if i < len(said) - 1 else [{"type": "text", "text": text}]
        lines += [{"type": "user", "message": {"role": "user", "content": content}},
                  {"type": "assistant", "message": {"role": "assistant", "content": [
                      {"type": "text", "text": f"Answer {i}."}]}}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"type": "us')
    return path


async def test_a_steer_is_kept_under_the_newest_fence_only(redis: aioredis.Redis) -> None:
    await redis.set(keys.fence(RUN), 2)
    assert not await replay.record(redis, RUN, fence=1, attempt=1, command_id=7, text="old")
    assert await replay.record(redis, RUN, fence=2, attempt=1, command_id=8, text="new")
    assert set(await redis.hkeys(keys.replay(RUN))) == {"8"}
    assert 0 < await redis.ttl(keys.replay(RUN)) <= keys.LEFTOVER_SECONDS


async def test_the_steers_a_shipped_transcript_holds_are_forgotten_and_the_rest_given_again(
        redis: aioredis.Redis, tmp_path: Path) -> None:
    await redis.set(keys.fence(RUN), 1)
    for command, text in ((3, "Add the tests too."), (4, "Mind the README."),
                          (5, "queued, not said"), (6, "the tests")):
        await replay.record(redis, RUN, fence=1, attempt=1, command_id=command, text=text)
    await redis.hset(keys.replay(RUN), "2", json.dumps({"attempt": 0, "text": "earlier"}))
    shipped = transcript(tmp_path / "a.jsonl", "SCRIPT:x the task", "Add the tests too.")
    assert await replay.trim(redis, RUN, fence=1, shipped=replay.read(shipped)) == 1
    assert sorted(await redis.hkeys(keys.replay(RUN))) == ["2", "4", "5", "6"]

    # Another worker, fence 2, resumes that transcript: the attempt's two steers it does not
    # hold come again, in order; the steer of another attempt does not.
    await redis.set(keys.fence(RUN), 2)
    taken = await replay.take_over(redis, RUN, attempt=1, transcript=shipped)
    texts = ["Mind the README.", "queued, not said", "the tests"]
    assert taken == replay.Replayed({4, 5, 6}, texts)
    first = replay.prompt(RESTART_PROMPT, taken.texts)
    assert first == "\n\n".join([RESTART_PROMPT, replay.HEADER, *texts])
    assert replay.prompt(first, taken.texts) == first  # never twice in one message
    assert replay.prompt(first, ["Also this."]) == f"{first}\n\nAlso this."
    # Its first turn ends, shipped with that message: nothing is left to give again.
    mine = transcript(tmp_path / "b.jsonl", "SCRIPT:x the task", "Add the tests too.", first)
    assert not await replay.trim(redis, RUN, fence=1, shipped=replay.read(mine))  # a stale worker
    assert await replay.trim(redis, RUN, fence=2, shipped=replay.read(mine)) == 3
    assert (await replay.take_over(redis, RUN, attempt=1, transcript=mine)).texts == []
    # Nothing shipped at all: the agent starts afresh and hears every steer of the attempt.
    await replay.record(redis, RUN, fence=2, attempt=1, command_id=7, text="Go on.")
    assert (await replay.take_over(redis, RUN, attempt=1, transcript=None)).texts == ["Go on."]
