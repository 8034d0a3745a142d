"""Read-only listings of a repository: uncommitted paths, branches, the paths a branch
changed, and a digest of what a worktree holds."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.git import ops as gitops


@dataclass(frozen=True)
class UncommittedFile:
    path: str
    status: str  # the two-letter code of `git status --short`: "M ", " M", "??", "A ", ...


async def uncommitted_files(path: Path, limit: int = 200) -> tuple[list[UncommittedFile], bool]:
    """Uncommitted changes and untracked files of the checkout at ``path``, at most ``limit``;
    the flag says whether there were more."""
    root = await gitops.repo_root(path)
    result = await gitops._git(root, "status", "--porcelain=v1", "-z", "--untracked-files=normal")
    files: list[UncommittedFile] = []
    fields = iter(gitops._split_z(result.out))
    for record in fields:
        code, file = record[:2], record[3:]
        if code[0] in "RC":  # a rename or copy: the old path follows
            next(fields, None)
        if len(files) == limit:
            return files, True
        files.append(UncommittedFile(file, code))
    return files, False


@dataclass(frozen=True)
class Branch:
    name: str
    head: str
    subject: str
    merged: bool  # whether its head is reachable from HEAD (merged into the current branch)


async def list_branches(repo: Path, prefix: str | None = None, limit: int = 100) -> list[Branch]:
    """Local branches, most recently committed first, optionally only those whose name starts
    with ``prefix``."""
    # The subject goes last, so a stray separator in it cannot shift the other fields.
    fields = "%(refname)%1f%(objectname)%1f%(contents:subject)"
    listed, merged = await asyncio.gather(
        gitops._git(repo, "for-each-ref", "--sort=-committerdate", f"--format={fields}",
             "refs/heads/"),
        gitops._git(repo, "for-each-ref", "--merged=HEAD", "--format=%(refname)", "refs/heads/",
             ok=None))  # fails while HEAD has no commits: then nothing is merged
    merged_refs = set(merged.out.splitlines()) if merged.code == 0 else set()
    branches: list[Branch] = []
    for line in listed.out.splitlines():
        ref, sha, subject = line.split("\x1f", 2)
        name = ref.removeprefix("refs/heads/")
        if len(branches) < limit and name.startswith(prefix or ""):
            branches.append(Branch(name, sha, subject, ref in merged_refs))
    return branches


async def branch_heads(repo: Path, branches: Iterable[str]) -> dict[str, str]:
    """The head commit of each of ``branches`` that exists, in one git command (a missing
    branch is left out)."""
    wanted = set(branches)
    for name in wanted:
        gitops._check_ref(name, "branch")
    if not wanted:
        return {}
    result = await gitops._git(repo, "for-each-ref", "--format=%(refname)%1f%(objectname)",
                               *(f"refs/heads/{name}" for name in sorted(wanted)))
    heads: dict[str, str] = {}
    for line in result.out.splitlines():
        ref, sha = line.split("\x1f", 1)
        name = ref.removeprefix("refs/heads/")
        if name in wanted:  # a pattern also matches the branches under it (a/b under a)
            heads[name] = sha
    return heads


async def changed_paths(repo: Path, base: str, head: str) -> list[str]:
    """The paths ``head`` changed since it forked from ``base`` (merge-base..head), sorted;
    a renamed file counts under its old and its new path, as a merge would see them."""
    gitops._check_ref(base, "base")
    gitops._check_ref(head, "head")
    result = await gitops._git(repo, "diff", "--name-only", "-z", "--no-renames",
                               "--no-ext-diff", "--no-relative", f"{base}...{head}")
    return sorted(set(gitops._split_z(result.out)))


UNTRACKED_READ = 1 << 20  # bytes of an untracked file read into a worktree's digest
NOTHING_CHANGED = hashlib.sha256(b"").hexdigest()  # the digest of a worktree with no work


async def work_digest(worktree: Path, base: str) -> str:
    """A digest of what ``worktree`` holds against commit ``base``: its committed and
    uncommitted changes and its untracked (not ignored) files. It changes when the work
    changes, and not when the same work is only committed."""
    gitops._check_ref(base, "base")
    diff, untracked = await asyncio.gather(
        gitops._git(worktree, "diff", "--no-ext-diff", "--binary", "--no-renames", base),
        gitops._git(worktree, "ls-files", "-z", "--others", "--exclude-standard"))
    digest = hashlib.sha256(diff.out.encode())
    for path in sorted(gitops._split_z(untracked.out))[:2000]:
        digest.update(b"\0" + path.encode())
        try:
            with open(worktree / path, "rb") as f:
                digest.update(hashlib.sha256(f.read(UNTRACKED_READ)).digest())
        except OSError:
            digest.update(b"?")  # gone meanwhile, or not a file
    return digest.hexdigest()
