"""Git operations Gluon needs: status and refs, branches, the safety-net commit, review data
(a run's worktree is made and removed by :mod:`core.git.worktrees`, merges by
:mod:`core.git.merge`; both run git through the calls here).

Every call runs the git CLI (no shell) with a timeout and a fixed environment: the caller's
``GIT_*`` variables are dropped (a ``GIT_DIR`` left over from a hook would point git at the wrong
repository), prompts are off and messages are in the C locale. Config that would change output
formats, sign commits or run other programs is overridden per call. Hooks never run: an agent can
write them (``core.hooksPath`` may point into its worktree) and they would run outside its sandbox.
Commits Gluon makes carry an explicit identity, "Gluon <gluon@localhost>" unless told otherwise.

A user's checkout is never half-changed: a merge is refused when it has uncommitted changes, a
conflicting merge is aborted, and a merge into a branch that is not checked out is computed
without any checkout (``git merge-tree``) and lands by moving the branch ref.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import Conflict, GluonError, InvalidInput, NotFound

TIMEOUT = 30.0
"""Seconds for a query (status, rev-parse, log, diff)."""
SLOW_TIMEOUT = 300.0
"""Seconds for a call that reads or writes the whole tree (worktree add, add, commit, merge)."""

DEFAULT_NAME = "Gluon"
DEFAULT_EMAIL = "gluon@localhost"

_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.quotePath=false",
    "color.ui=false",
    "commit.gpgSign=false",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "log.showSignature=false",
    "merge.autoStash=false",
    "rerere.enabled=false",
    "advice.detachedHead=false",
)
_URL_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")


class GitError(GluonError):
    """A git command failed in a way Gluon did not expect: a bug or a broken repository."""

    def __init__(self, args: Sequence[str], cwd: Path, returncode: int | None, stderr: str):
        self.command = ["git", *(_redact(a) for a in args)]
        self.cwd = cwd
        self.returncode = returncode
        self.stderr = _redact(stderr)
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        detail = lines[0] if lines else "no error output"
        outcome = "timed out" if returncode is None else f"failed with exit code {returncode}"
        super().__init__(f"`{' '.join(self.command)}` {outcome} in {str(cwd)!r}: {detail}")


@dataclass(frozen=True)
class RepoStatus:
    branch: str | None  # None when detached
    head: str  # commit sha; "" while the branch has no commits yet
    dirty: bool  # uncommitted tracked changes or untracked (not ignored) files
    upstream: str | None  # e.g. "origin/main"
    ahead: int  # vs upstream, 0 if none
    behind: int


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # "A" | "M" | "D" | "R" ... as in git diff --name-status
    additions: int  # 0 for binary files
    deletions: int
    old_path: str | None = None  # the path before a rename or copy


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    author: str  # the author's name
    timestamp: int  # unix seconds


@dataclass(frozen=True)
class Worktree:
    path: Path
    head: str | None  # None while the branch has no commits yet
    branch: str | None  # None when detached


@dataclass(frozen=True)
class _Output:
    code: int
    out: str
    err: str


def _redact(text: str) -> str:
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    # GIT_OPTIONAL_LOCKS=0: a status from Gluon never takes index.lock from under the user.
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C", GIT_PAGER="cat", GIT_EDITOR="true",
               GIT_OPTIONAL_LOCKS="0")
    return env


async def _git(
    cwd: Path,
    *args: str,
    ok: tuple[int, ...] | None = (0,),
    time_limit: float = TIMEOUT,
    identity: tuple[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> _Output:
    """Run git in ``cwd``; raise GitError unless the exit code is in ``ok`` (None: any).

    ``env`` adds variables to git's fixed environment: ``GIT_CONFIG_*`` settings that must
    not appear on a command line (an HTTP header holding a secret)."""
    if any("\0" in arg for arg in args):
        # No program can be given one; say so instead of failing on "embedded null byte".
        raise InvalidInput("text with a NUL byte (\\x00) cannot be given to git; remove it "
                           "(from the run's prompt, a branch name or a path) and try again")
    argv = ["git"]
    for setting in _CONFIG:
        argv += ["-c", setting]
    if identity is not None:
        argv += ["-c", f"user.name={identity[0]}", "-c", f"user.email={identity[1]}"]
    if shutil.which("git") is None:
        raise GitError(args, cwd, 127, "git is not installed or not on PATH")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, *args, cwd=cwd, env={**_environment(), **(env or {})},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except (FileNotFoundError, NotADirectoryError):  # git itself was found above
        raise InvalidInput(f"{str(cwd)!r} is not a folder; pass the path of a git "
                           "repository") from None
    try:
        async with asyncio.timeout(time_limit):
            out, err = await proc.communicate()
    except TimeoutError:
        raise GitError(args, cwd, None, f"no answer after {time_limit:g} s") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: never leave git running
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    code = proc.returncode
    assert code is not None
    result = _Output(code, out.decode(errors="replace"), err.decode(errors="replace"))
    if ok is not None and code not in ok:
        if "index.lock': File exists" in result.err:
            raise Conflict(f"another git command is running in {str(cwd)!r} (or one crashed); "
                           "wait for it, or delete the stale index.lock if none is running")
        raise GitError(args, cwd, code, result.err)
    return result


def _check_ref(ref: str, what: str) -> None:
    # A ref starting with "-" would be read as an option; refs come from users and models.
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n\r "):
        raise InvalidInput(f"{what} {ref!r} is not a valid git revision; "
                           "pass a branch name or a commit sha")


async def _commit_sha(repo: Path, ref: str, what: str) -> str:
    _check_ref(ref, what)
    result = await _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", ok=(0, 1))
    if result.code != 0:
        raise NotFound(f"{what} {ref!r} is not a branch or commit in {str(repo)!r}; "
                       "pick an existing branch (`git branch` lists them) or a commit sha")
    return result.out.strip()


async def _branch_sha(repo: Path, branch: str, what: str) -> str:
    _check_ref(branch, what)
    if not await branch_exists(repo, branch):
        raise NotFound(f"{what} {branch!r} is not a branch in {str(repo)!r}; "
                       "pick an existing branch (`git branch` lists them)")
    return await _commit_sha(repo, f"refs/heads/{branch}", what)


def _split_z(text: str) -> list[str]:
    return [field for field in text.split("\0") if field]


async def is_git_repo(path: Path) -> bool:
    """Whether ``path`` is inside the working tree of a git repository."""
    try:
        result = await _git(path, "rev-parse", "--show-toplevel", ok=None)
    except InvalidInput:  # no such folder
        return False
    return result.code == 0


async def repo_root(path: Path) -> Path:
    """The top folder of the working tree that contains ``path``."""
    result = await _git(path, "rev-parse", "--show-toplevel", ok=None)
    if result.code == 0:
        return Path(result.out.strip())
    if "dubious ownership" in result.err:
        raise InvalidInput(f"git refuses {str(path)!r} because another user owns it; if you trust "
                           f"it, run `git config --global --add safe.directory {path}`")
    raise InvalidInput(f"{str(path)!r} is not a git repository; "
                       "run `git init` there or pass the repository's path")


async def repo_status(path: Path) -> RepoStatus:
    """Branch, head, dirtiness and the distance to the upstream of the checkout at ``path``."""
    root = await repo_root(path)
    result = await _git(root, "status", "--porcelain=v2", "--branch", "-z",
                        "--untracked-files=normal")
    head, branch, upstream, ahead, behind, dirty = "", None, None, 0, 0, False
    for record in _split_z(result.out):
        key, _, value = record.partition(" ")
        if key != "#":
            dirty = True
            continue
        name, _, value = value.partition(" ")
        if name == "branch.oid":
            head = "" if value == "(initial)" else value
        elif name == "branch.head":
            branch = None if value == "(detached)" else value
        elif name == "branch.upstream":
            upstream = value
        elif name == "branch.ab":
            plus, minus = value.split()
            ahead, behind = int(plus), -int(minus)
    return RepoStatus(branch, head, dirty, upstream, ahead, behind)


async def current_branch(path: Path) -> str | None:
    """The branch checked out at ``path``, or None when its HEAD is detached."""
    result = await _git(path, "symbolic-ref", "--quiet", "HEAD", ok=(0, 1))
    return result.out.strip().removeprefix("refs/heads/") if result.code == 0 else None


async def branch_exists(repo: Path, branch: str) -> bool:
    if not branch or branch.startswith("-"):
        return False
    result = await _git(repo, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}",
                        ok=None)
    return result.code == 0


async def head_sha(path: Path, ref: str = "HEAD") -> str:
    """The commit sha ``ref`` names in the repository at ``path``."""
    return await _commit_sha(path, ref, "revision")


async def has_commit(repo: Path, sha: str) -> bool:
    """Whether the repository at ``repo`` holds the commit ``sha``."""
    _check_ref(sha, "commit")
    found = await _git(repo, "cat-file", "-e", f"{sha}^{{commit}}", ok=None)
    return found.code == 0


async def discover_repos(folder: Path, max_depth: int = 2) -> list[Path]:
    """Git repositories in a workspace folder, at most ``max_depth`` levels down, sorted.

    A folder with a ``.git`` entry is a repository and is not searched further; hidden folders
    and symlinks are skipped. When ``folder`` itself is a repository it is the only result.
    """
    return await asyncio.to_thread(_find_repos, folder, max_depth)


def _find_repos(folder: Path, max_depth: int) -> list[Path]:
    if not folder.is_dir():
        raise InvalidInput(f"{str(folder)!r} is not a folder; pass a folder that holds projects")
    found: list[Path] = []

    def walk(directory: Path, depth: int) -> None:
        if (directory / ".git").exists():
            found.append(directory)
            return
        if depth >= max_depth:
            return
        try:
            entries = list(os.scandir(directory))
        except OSError:  # unreadable folders are not projects
            return
        for entry in entries:
            if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), depth + 1)

    walk(folder, 0)
    return sorted(found)


async def list_worktrees(repo: Path) -> list[Worktree]:
    """Every worktree of the repository, the main checkout first."""
    result = await _git(repo, "worktree", "list", "--porcelain")
    return _parse_worktrees(result.out)


def _parse_worktrees(porcelain: str) -> list[Worktree]:
    worktrees: list[Worktree] = []
    for block in porcelain.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            fields[key] = value
        if "worktree" in fields and "bare" not in fields:
            head = fields.get("HEAD", "").strip("0") and fields["HEAD"]  # all zeros: unborn
            branch = fields.get("branch")
            worktrees.append(Worktree(
                path=Path(fields["worktree"]).resolve(),
                head=head or None,
                branch=branch.removeprefix("refs/heads/") if branch else None,
            ))
    return worktrees


async def create_branch(repo: Path, branch: str, start: str) -> None:
    """A new branch ``branch`` at commit ``start``, checked out nowhere."""
    _check_ref(branch, "branch")
    if await branch_exists(repo, branch):
        raise Conflict(f"branch {branch!r} already exists in {str(repo)!r}; "
                       "pick another name or delete that branch first")
    await _git(repo, "branch", "--no-track", "--", branch, await _commit_sha(repo, start, "start"))


async def git_common_dir(path: Path) -> Path:
    """The repository's git dir (shared by all its worktrees)."""
    result = await _git(path, "rev-parse", "--path-format=absolute", "--git-common-dir")
    return Path(result.out.strip())


async def config_value(repo: Path, key: str) -> str | None:
    """A git config value as the repository sees it (local, then global), or None."""
    result = await _git(repo, "config", "--get", key, ok=None)
    return result.out.strip() or None if result.code == 0 else None


async def delete_branch(repo: Path, branch: str, force: bool = False) -> None:
    """Delete a local branch; without ``force`` only when its commits are merged."""
    _check_ref(branch, "branch")
    if not await branch_exists(repo, branch):
        raise NotFound(f"branch {branch!r} does not exist in {str(repo)!r}; "
                       "`git branch` lists the branches")
    for worktree in await list_worktrees(repo):
        if worktree.branch == branch:
            raise Conflict(f"branch {branch!r} is checked out in {str(worktree.path)!r}; "
                           "remove that worktree or switch it to another branch first")
    result = await _git(repo, "branch", "-D" if force else "-d", "--", branch, ok=(0, 1))
    if result.code != 0:
        if "not fully merged" in result.err:
            raise Conflict(f"branch {branch!r} has commits that are not merged; merge it "
                           "first, or delete it with force to drop them")
        raise GitError(["branch", "-d", "--", branch], repo, result.code, result.err)


async def commit_all(
    worktree: Path,
    message: str,
    author_name: str = DEFAULT_NAME,
    author_email: str = DEFAULT_EMAIL,
    exclude: tuple[str, ...] = (),
) -> str | None:
    """Commit everything left in ``worktree`` (never ignored files, nor the paths in
    ``exclude``, each a path from the top or a folder); None when it was clean. NUL bytes,
    which a command line cannot carry, are dropped from the message."""
    message = message.replace("\0", "")
    if not message.strip():
        raise InvalidInput("the commit message is empty; pass a message that says what changed")
    await _git(worktree, "add", "--all", "--", ".",
               *(f":(exclude,top,literal){p}" for p in exclude), time_limit=SLOW_TIMEOUT)
    staged = await _git(worktree, "diff", "--cached", "--quiet", "--no-ext-diff", ok=(0, 1))
    if staged.code == 0:
        return None
    await _git(worktree, "commit", "--quiet", "--no-verify", "-m", message,
               identity=(author_name, author_email), time_limit=SLOW_TIMEOUT)
    return await head_sha(worktree)


async def commit_paths(worktree: Path, paths: Sequence[str], message: str) -> str | None:
    """Commit only ``paths`` (from the top of ``worktree``) as they are in the worktree, as
    Gluon; anything else staged or changed stays as it was. None when they had no change."""
    if not paths:
        return None
    specs = [f":(top,literal){p}" for p in paths]
    await _git(worktree, "add", "--all", "--", *specs, time_limit=SLOW_TIMEOUT)
    staged = await _git(worktree, "diff", "--cached", "--quiet", "--no-ext-diff", "--", *specs,
                        ok=(0, 1))
    if staged.code == 0:
        return None
    await _git(worktree, "commit", "--quiet", "--no-verify", "-m", message.replace("\0", ""),
               "--only", "--", *specs, identity=(DEFAULT_NAME, DEFAULT_EMAIL),
               time_limit=SLOW_TIMEOUT)
    return await head_sha(worktree)


async def tracked_paths(worktree: Path, paths: Sequence[str]) -> set[str]:
    """Which of ``paths`` (relative to the top of ``worktree``) git tracks there."""
    if not paths:
        return set()
    result = await _git(worktree, "ls-files", "-z", "--full-name", "--",
                        *(f":(top,literal){p}" for p in paths))
    return set(_split_z(result.out))


async def uncommitted_paths(worktree: Path, *, every_file: bool = False) -> list[str]:
    """Paths with uncommitted changes or untracked (not ignored) in ``worktree``, sorted; an
    untracked folder is one path ending in "/", or with ``every_file`` each file in it."""
    result = await _git(worktree, "status", "--porcelain=v1", "-z",
                        f"--untracked-files={'all' if every_file else 'normal'}")
    paths: list[str] = []
    fields = iter(_split_z(result.out))
    for field in fields:
        status, path = field[:2], field[3:]
        if "R" in status or "C" in status:
            next(fields, None)  # the old path of a rename or copy
        paths.append(path)
    return sorted(paths)


async def commits_between(repo: Path, base: str, head: str) -> list[Commit]:
    """Commits reachable from ``head`` but not from ``base``, oldest first."""
    base_sha = await _commit_sha(repo, base, "base")
    head_sha_ = await _commit_sha(repo, head, "head")
    result = await _git(repo, "log", "--reverse", "-z", "--format=%H%x1f%at%x1f%an%x1f%s",
                        f"{base_sha}..{head_sha_}")
    commits = []
    for record in _split_z(result.out):
        sha, timestamp, author, subject = record.split("\x1f", 3)
        commits.append(Commit(sha=sha, subject=subject, author=author, timestamp=int(timestamp)))
    return commits


async def changed_files(repo: Path, base: str, head: str) -> list[ChangedFile]:
    """Files ``head`` changed since it forked from ``base`` (merge-base..head), with line counts."""
    span = await _three_dot(repo, base, head)
    common = ("diff", "--no-ext-diff", "--no-relative", "--find-renames", "-z")
    names, counts = await asyncio.gather(_git(repo, *common, "--name-status", span),
                                         _git(repo, *common, "--numstat", span))
    lines: dict[str, tuple[int, int]] = {}
    fields = iter(counts.out.split("\0"))
    for field in fields:
        if not field:
            continue
        added, deleted, path = field.split("\t", 2)
        if not path:  # a rename: the old and new paths follow as separate fields
            next(fields)
            path = next(fields)
        lines[path] = (0, 0) if added == "-" else (int(added), int(deleted))
    files = []
    fields = iter(_split_z(names.out))
    for status in fields:
        old_path = next(fields) if status[0] in "RC" else None
        path = next(fields)
        files.append(ChangedFile(path, status[0], *lines.get(path, (0, 0)), old_path=old_path))
    return files


async def file_diff(repo: Path, base: str, head: str, path: str | None = None) -> str:
    """The unified diff of ``head`` against its merge-base with ``base``, or of one file."""
    span = await _three_dot(repo, base, head)
    paths = ["--", path] if path is not None else []
    result = await _git(repo, "diff", "--no-ext-diff", "--no-relative", "--find-renames",
                        span, *paths)
    return result.out


async def _three_dot(repo: Path, base: str, head: str) -> str:
    return f"{await _commit_sha(repo, base, 'base')}...{await _commit_sha(repo, head, 'head')}"
