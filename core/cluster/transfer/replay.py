"""The messages a run's worker gave its agent that the last shipped session may not hold, so
a worker that takes the run over gives them to its agent again: a steer is not lost with the
worker that took it. A *steer* here is any such message: a steer, or an answer to a request
of an earlier worker's agent, which that agent is told as a message (see
:class:`core.cluster.on_worker.relay.CommandInbox`).

A worker's agent session reaches Redis only at the end of each turn (see
:mod:`core.cluster.transfer.session_ship`). A steer applied during a turn that never ends there (the
worker was killed) is in no shipped session, though the coordinator has marked it applied and
dropped it from the run's command stream. So:

- :func:`record`, on the worker, before a steer goes to its agent: the steer's text under its
  id on the coordinator in ``gluon:replay:<run>`` (with the attempt it belongs to), only while
  the worker's fence is the run's newest;
- :func:`trim`, on the worker, after each ship: the steers the shipped transcript holds
  leave the hash;
- :func:`take_over`, on the worker taking the run over: the steers of the attempt that the
  restored transcript does not hold, given to the agent after the message it resumes
  with, in that message (:func:`prompt`); and the ids of all, which this worker treats as
  applied if they come through the command stream again. They stay in the hash until a ship
  of this worker holds them, so a worker that dies before its first turn ends passes them on.

A steer counts as held when a user message of the session is its text, or gives it again
after :data:`HEADER`: one sent again word for word, its first time held, counts as held too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from core.cluster import keys

log = logging.getLogger(__name__)

HEADER = ("These messages were sent to you before the restart, but the session you resume "
          "does not hold them:")

# Record only under the run's newest fence (a worker that lost the run records nothing).
_RECORD = """
if redis.call('get', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('hset', KEYS[1], ARGV[2], ARGV[3])
redis.call('expire', KEYS[1], ARGV[4])
return 1
"""
# Drop the steers a shipped session holds, under the run's newest fence only.
_TRIM = """
if redis.call('get', KEYS[2]) ~= ARGV[1] then return 0 end
for i = 2, #ARGV do redis.call('hdel', KEYS[1], ARGV[i]) end
return 1
"""


@dataclass(frozen=True)
class Replayed:
    """What a worker taking a run over does with the steers of its attempt."""

    ids: set[int]  # every steer of the attempt seen on a worker: applied, never taken again
    texts: list[str]  # those the restored session does not hold, in the order they came


async def record(redis: aioredis.Redis, run_id: str, *, fence: int, attempt: int,
                 command_id: int, text: str) -> bool:
    """Keep a steer until a shipped session holds it; False when ``fence`` is not the run's
    newest (another worker has the run)."""
    value = json.dumps({"attempt": attempt, "text": text})
    return bool(await redis.eval(_RECORD, 2, keys.replay(run_id), keys.fence(run_id),
                                 str(fence), str(command_id), value, keys.LEFTOVER_SECONDS))


def read(transcript: Path | None) -> str:
    """A transcript's text as it is now ("" when there is none). Read *before* it is shipped,
    it is a part of what the ship holds (the CLI only appends), which :func:`trim` may rely
    on; read after, it may hold messages the ship does not."""
    if transcript is None:
        return ""
    try:
        return transcript.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


async def trim(redis: aioredis.Redis, run_id: str, *, fence: int, shipped: str) -> int:
    """After a ship: forget the steers that ``shipped`` (the transcript's text as :func:`read`
    before the ship) holds; how many (none when ``fence`` is not the run's newest)."""
    said = _said(shipped)
    held = [command for command, (_, text) in (await _recorded(redis, run_id)).items()
            if _holds(said, text)]
    if not held or not await redis.eval(_TRIM, 2, keys.replay(run_id), keys.fence(run_id),
                                        str(fence), *map(str, held)):
        return 0
    return len(held)


async def take_over(redis: aioredis.Redis, run_id: str, *, attempt: int,
                    transcript: Path | None) -> Replayed:
    """The steers of ``attempt`` for a worker taking the run over, its agent resuming
    ``transcript`` (None: it starts afresh)."""
    said = _said(await asyncio.to_thread(read, transcript))
    ids: set[int] = set()
    texts: list[str] = []
    for command, (of, text) in sorted((await _recorded(redis, run_id)).items()):
        if of != attempt:
            continue
        ids.add(command)
        if not _holds(said, text):
            texts.append(text)
    return Replayed(ids, texts)


def prompt(message: str, texts: list[str]) -> str:
    """``message`` (what the agent resumes with) followed by the steers not in it yet."""
    missing = [text for text in texts if not _holds([message], text)]
    if not missing:
        return message
    return "\n\n".join([message, *([] if HEADER in message else [HEADER]), *missing])


async def _recorded(redis: aioredis.Redis, run_id: str) -> dict[int, tuple[int, str]]:
    """Command id -> (attempt, text) of the steers kept for the run."""
    found: dict[int, tuple[int, str]] = {}
    for command, value in (await redis.hgetall(keys.replay(run_id))).items():
        try:
            data = json.loads(value)
            found[int(command)] = (int(data["attempt"]), str(data["text"]))
        except (ValueError, KeyError, TypeError):
            log.warning("run %s: replay entry %r is not one; ignored", run_id, command)
    return found


def _said(transcript: str) -> list[str]:
    """The text of every user message in a Claude Code transcript's text."""
    said: list[str] = []
    for line in transcript.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line the CLI was still writing
        if not isinstance(entry, dict) or entry.get("type") != "user":
            continue
        content = (entry.get("message") or {}).get("content")
        if isinstance(content, str):
            said.append(content)
        elif isinstance(content, list):
            said.extend(str(block.get("text", "")) for block in content
                        if isinstance(block, dict) and block.get("type") == "text")
    return said


def _holds(said: list[str], text: str) -> bool:
    """Whether one of the user messages ``said`` is ``text``, or gives it again (one of the
    paragraphs after :data:`HEADER` in a message made by :func:`prompt`)."""
    for message in said:
        if message == text:
            return True
        _, header, given = message.partition(HEADER)
        if header and f"\n\n{text}\n\n" in f"{given}\n\n":
            return True
    return False
