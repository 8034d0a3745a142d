"""Files as git holds them, in bytes: the files of a commit with their sizes, one file's
content, and the paths a worktree changed since a commit (committed or not, untracked too).

Bytes, never decoded text: these are files people ask for, images among them. The same fixed
environment and configuration as every other git call (see :mod:`core.git.ops`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

from core.errors import InvalidInput, NotFound
from core.git import ops as gitops

REGULAR = ("100644", "100755")  # the modes of plain files in a tree (not links, not submodules)


async def _git_bytes(cwd: Path, *args: str, ok: tuple[int, ...] = (0,),
                     time_limit: float = gitops.TIMEOUT) -> tuple[int, bytes]:
    """Run git in ``cwd``; its exit code and raw output. Raises GitError outside ``ok``."""
    if any("\0" in arg for arg in args):
        raise InvalidInput("a path with a NUL byte (\\x00) cannot be given to git")
    if shutil.which("git") is None:
        raise gitops.GitError(args, cwd, 127, "git is not installed or not on PATH")
    argv = ["git"]
    for setting in gitops._CONFIG:
        argv += ["-c", setting]
    proc = await asyncio.create_subprocess_exec(
        *argv, *args, cwd=cwd, env=gitops._environment(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(time_limit):
            out, err = await proc.communicate()
    except TimeoutError:
        raise gitops.GitError(args, cwd, None, f"no answer after {time_limit:g} s") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: never leave git running
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    code = proc.returncode
    assert code is not None
    if code not in ok:
        raise gitops.GitError(args, cwd, code, err.decode(errors="replace"))
    return code, out


async def tree_files(repo: Path, ref: str) -> dict[str, int]:
    """The plain files of commit ``ref`` (a branch, a sha), by path, with their sizes; raises
    NotFound when ``ref`` is no commit in ``repo``."""
    sha = await gitops._commit_sha(repo, ref, "branch")
    _, out = await _git_bytes(repo, "ls-tree", "-r", "-l", "-z", "--full-tree", sha,
                              time_limit=gitops.SLOW_TIMEOUT)
    files: dict[str, int] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, _obj, size = meta.split(maxsplit=3)
        if kind == b"blob" and mode.decode() in REGULAR:
            files[path.decode(errors="surrogateescape")] = int(size)
    return files


async def read_blob(repo: Path, ref: str, path: str) -> bytes:
    """The content of ``path`` in commit ``ref``."""
    sha = await gitops._commit_sha(repo, ref, "branch")
    code, out = await _git_bytes(repo, "cat-file", "blob", f"{sha}:{path}", ok=(0, 128),
                                 time_limit=gitops.SLOW_TIMEOUT)
    if code != 0:
        raise NotFound(f"{path!r} is not a file of {ref!r}")
    return out


async def changed_paths(worktree: Path, base: str) -> list[str]:
    """The files of ``worktree`` that differ from commit ``base`` and still exist: changed or
    added (committed since, staged or not) and untracked ones git does not ignore; sorted."""
    base_sha = await gitops._commit_sha(worktree, base, "base")
    (_, tracked), (_, untracked) = await asyncio.gather(
        _git_bytes(worktree, "diff", "--name-only", "-z", "--no-renames", "--no-relative",
                   "--diff-filter=d", base_sha, "--"),
        _git_bytes(worktree, "ls-files", "-z", "--others", "--exclude-standard", "--full-name"))
    paths = {p.decode(errors="surrogateescape")
             for p in (*tracked.split(b"\0"), *untracked.split(b"\0")) if p}
    return sorted(paths)
