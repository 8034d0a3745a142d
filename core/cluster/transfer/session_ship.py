"""An agent's session transcript between hosts, through Redis, so a run whose worker died goes
on elsewhere from its last turn, in the same Claude Code session.

Claude Code keeps a session in its ``HOME``: ``.claude/projects/<encoded cwd>/<session>.jsonl``
(every message of the session), and, when the session has them, files under
``.claude/projects/<encoded cwd>/<session>/`` (subagents' transcripts, large tool results).
``<encoded cwd>`` is the working directory with every character but ASCII letters and digits
replaced by ``-`` (:func:`encoded_cwd`), so it differs between hosts whose worktrees differ.

- :func:`ship`, on the worker after every turn: those files, as a gzip'd tar, to the hash
  ``gluon:session:<run>`` (fields ``data``, ``session_id``, ``fence``, ``cwd``, ``home``,
  ``size``, ``shipped_at``), in one script that refuses a fence older than the stored one;
  the session is kept :data:`core.cluster.keys.SESSION_SECONDS` after its last ship.
- :func:`restore`, on the host that takes the run over: the files, written under its agent
  home for its own worktree, where its CLI finds them to resume the session; the paths of the
  old worktree and home in the transcript become the new ones (the agent would otherwise go on
  editing files at the old host's paths). It raises the stored fence to the caller's, so the
  host that lost the run can no longer ship over it.
- :func:`copy`, on the host that starts a fork of the run: the same, without taking the
  session (the run's holder goes on shipping it), for the fork's own agent home and worktree,
  where the CLI forks a session of the fork's own from it.

The Redis client must return bytes (``decode_responses=False``, redis-py's default).
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import re
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import redis.asyncio as aioredis

from core.cluster import keys
from core.jobs.types import LeaseLost

MAX_NAME = 200  # Claude Code shortens longer encoded paths and adds a hash

_SHIP = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'fence') or '-1')
if cur > tonumber(ARGV[1]) then return {0, cur} end
redis.call('HSET', KEYS[1], 'fence', ARGV[1], 'session_id', ARGV[2], 'data', ARGV[3],
           'cwd', ARGV[4], 'home', ARGV[5], 'size', ARGV[6], 'shipped_at', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[8])
return {1, cur}
"""

_RESTORE = """
local h = redis.call('HMGET', KEYS[1], 'fence', 'session_id', 'data', 'cwd', 'home')
if not h[3] then return false end
local cur = tonumber(h[1])
if cur > tonumber(ARGV[1]) then return {0, h[1]} end
if tonumber(ARGV[1]) > cur then redis.call('HSET', KEYS[1], 'fence', ARGV[1]) end
return {1, h[1], h[2], h[3], h[4], h[5]}
"""


@dataclass(frozen=True)
class Restored:
    """A session written back by :func:`restore`."""

    session_id: str
    transcript: Path  # the ``<session>.jsonl`` where this host's CLI finds it
    fence: int  # the fence of the host that shipped it


def key(run_id: str) -> str:
    return keys.session(run_id)


def encoded_cwd(cwd: str | Path) -> str:
    """The folder name Claude Code keeps the sessions of working directory ``cwd`` under
    (its CLI 2.1: every UTF-16 unit but ``[A-Za-z0-9]`` becomes ``-``; past 200 characters,
    the first 200 and ``-`` and a base-36 hash of the path)."""
    path = str(cwd)
    units = path.encode("utf-16-le")
    codes = [int.from_bytes(units[i:i + 2], "little") for i in range(0, len(units), 2)]
    name = "".join(chr(c) if chr(c).isascii() and chr(c).isalnum() else "-" for c in codes)
    if len(name) <= MAX_NAME:
        return name
    value = 0
    for c in codes:  # Java's String.hashCode, as the CLI computes it
        value = (value * 31 + c) & 0xFFFFFFFF
    if value >= 1 << 31:
        value -= 1 << 32
    return f"{name[:MAX_NAME]}-{_base36(abs(value))}"


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _check_binary(redis: aioredis.Redis) -> None:
    if redis.connection_pool.connection_kwargs.get("decode_responses"):
        raise TypeError("session shipping stores bytes: give it a redis.asyncio.Redis made "
                        "with decode_responses=False")


def find_transcript(home: Path, session_id: str) -> Path | None:
    """The session's transcript in the agent home ``home``, the newest if there are several."""
    found = list(home.glob(f".claude/projects/*/{_session_name(session_id)}.jsonl"))
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _session_name(session_id: str) -> str:
    if not session_id or not all(c.isalnum() or c in "-_" for c in session_id):
        raise ValueError(f"{session_id!r} is not a Claude Code session id")
    return session_id


def _pack(transcript: Path, session_id: str) -> tuple[bytes, int]:
    """The session's files (relative to its project folder) as a gzip'd tar; its size
    before compression."""
    folder = transcript.parent
    files = [transcript, *sorted(p for p in (folder / session_id).rglob("*") if p.is_file())]
    raw = io.BytesIO()
    size = 0
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path in files:
            data = path.read_bytes()
            if path.suffix == ".jsonl" and not data.endswith(b"\n"):
                data = data[:data.rfind(b"\n") + 1]  # a line the CLI is still writing
            size += len(data)
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size, info.mtime, info.mode = len(data), int(path.stat().st_mtime), 0o600
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0), size


async def ship(redis: aioredis.Redis, run_id: str, session_id: str, *, home: Path, cwd: Path,
               fence: int) -> int | None:
    """Store the transcript of session ``session_id`` from the agent home ``home`` (the agent
    working in ``cwd``) under ``gluon:session:<run_id>``; the bytes stored, or None when the
    CLI has saved no transcript yet. Raises :class:`LeaseLost` when a holder with a newer
    ``fence`` has shipped or restored the session since."""
    _check_binary(redis)
    transcript = find_transcript(home, session_id)
    if transcript is None:
        return None
    data, size = await asyncio.to_thread(_pack, transcript, _session_name(session_id))
    ok, stored = await redis.eval(_SHIP, 1, key(run_id), fence, session_id, data,
                                  str(cwd), str(home), size, repr(time.time()),
                                  keys.SESSION_SECONDS)
    if not ok:
        raise LeaseLost(f"cannot ship the session of run {run_id!r} with fence {fence}: a "
                        f"newer holder (fence {stored}) has it; stop working on the run here")
    return len(data)


async def restore(redis: aioredis.Redis, run_id: str, *, home: Path, cwd: Path,
                  fence: int) -> Restored | None:
    """Write the session shipped for ``run_id`` into the agent home ``home`` for an agent
    working in ``cwd``, and hold the session at ``fence``; None when nothing was shipped.
    Raises :class:`LeaseLost` when a holder with a newer fence has it."""
    _check_binary(redis)
    got: Any = await redis.eval(_RESTORE, 1, key(run_id), fence)
    if got is None:
        return None
    if not got[0]:
        raise LeaseLost(f"cannot take the session of run {run_id!r} with fence {fence}: a "
                        f"newer holder (fence {int(got[1])}) has it")
    stored_fence, session_id, data, old_cwd, old_home = got[1:]
    return await _write(data, _session_name(session_id.decode()), old_cwd.decode(),
                        old_home.decode(), home=home, cwd=cwd, fence=int(stored_fence))


async def copy(redis: aioredis.Redis, run_id: str, session_id: str, *, home: Path,
               cwd: Path) -> Restored | None:
    """Write the session ``session_id`` shipped for ``run_id`` into the agent home ``home``
    for an agent working in ``cwd``, without taking it: a fork of the run starts a session
    of its own from it. None when nothing was shipped for the run, or another session."""
    _check_binary(redis)
    got: list[Any] = await redis.hmget(key(run_id), ["fence", "session_id", "data", "cwd",
                                                     "home"])
    fence, shipped, data, old_cwd, old_home = got
    if data is None or shipped is None or shipped.decode() != _session_name(session_id):
        return None
    return await _write(data, session_id, old_cwd.decode(), old_home.decode(), home=home,
                        cwd=cwd, fence=int(fence))


async def _write(data: bytes, session: str, old_cwd: str, old_home: str, *, home: Path,
                 cwd: Path, fence: int) -> Restored:
    folder = home / ".claude" / "projects" / encoded_cwd(cwd)
    moves = {old_cwd: str(cwd), old_home: str(home)}
    await asyncio.to_thread(_unpack, data, folder, session, moves)
    return Restored(session_id=session, transcript=folder / f"{session}.jsonl", fence=fence)


def _unpack(data: bytes, folder: Path, session_id: str, moves: dict[str, str]) -> None:
    # What an earlier attempt on this host left of the session gives way to the shipped one.
    (folder / f"{session_id}.jsonl").unlink(missing_ok=True)
    shutil.rmtree(folder / session_id, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)), mode="r") as tar:
        for member in tar.getmembers():
            name = PurePosixPath(member.name)
            inside = name.parts and name.parts[0] in (f"{session_id}.jsonl", session_id)
            if not member.isfile() or name.is_absolute() or ".." in name.parts or not inside:
                raise ValueError(f"the shipped session holds {member.name!r}, which is not a "
                                 "file of the session")
            extracted = tar.extractfile(member)
            assert extracted is not None
            content = extracted.read()
            if name.suffix == ".jsonl":
                content = _moved(content, moves)
            target = folder.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)


def _moved(content: bytes, moves: dict[str, str]) -> bytes:
    """The transcript with each old path (as JSON writes it in a string) replaced by the new
    one, where it is a whole path or a path's first part."""
    text = content.decode("utf-8", errors="surrogateescape")
    quoted = {json.dumps(old)[1:-1]: json.dumps(new)[1:-1]
              for old, new in moves.items() if old and old != new}
    if quoted:
        pattern = "|".join(re.escape(old) for old in sorted(quoted, key=len, reverse=True))
        text = re.sub(f"(?:{pattern})(?![\\w.-])", lambda m: quoted[m.group(0)], text)
    return text.encode("utf-8", errors="surrogateescape")


async def drop(redis: aioredis.Redis, run_id: str) -> None:
    """Forget the session shipped for ``run_id`` (the run is over for good)."""
    await redis.delete(key(run_id))
