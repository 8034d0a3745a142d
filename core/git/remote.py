"""A project's remotes: fetching and fast-forwarding, pushing a run's branch, and pull requests
on GitHub through the ``gh`` CLI.

Git runs through ``core.git.ops._git`` (fixed environment, no prompts, a timeout). ``gh`` is
looked up on PATH at call time and runs with prompts off and a timeout too. Every refusal is a
``UserError`` that says what to do: no remote, a dirty or diverged checkout, no ``gh``, a remote
that is not on GitHub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import Conflict, NotFound
from core.git.ops import (
    SLOW_TIMEOUT,
    _branch_sha,
    _git,
    _redact,
    config_value,
    repo_root,
    repo_status,
)

GH_TIMEOUT = 60.0
"""Seconds for one ``gh`` call (it talks to the GitHub API)."""


@dataclass(frozen=True)
class SyncResult:
    branch: str
    upstream: str
    before: str  # the branch's head before the sync
    after: str  # and after it
    ahead: int  # local commits the upstream does not have


@dataclass(frozen=True)
class PushResult:
    remote: str
    url: str  # without credentials
    branch: str
    head: str


class StatusCheck(BaseModel):
    """One CI check of a pull request (a GitHub check run or a commit status)."""

    name: str = ""
    context: str = ""  # commit statuses have a context instead of a name
    status: str = ""  # QUEUED, IN_PROGRESS, COMPLETED (check runs)
    conclusion: str | None = None  # SUCCESS, FAILURE, ... (check runs)
    state: str | None = None  # SUCCESS, PENDING, FAILURE, ERROR (commit statuses)


class PullRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    number: int
    url: str
    state: str = Field(description="OPEN, CLOSED or MERGED")
    mergeable: str = Field(default="UNKNOWN", description="MERGEABLE, CONFLICTING or UNKNOWN")
    checks: list[StatusCheck] = Field(default_factory=list, validation_alias="statusCheckRollup")


async def remote_url(repo: Path, remote: str = "origin") -> str | None:
    """The fetch URL of ``remote``, credentials removed, or None when there is no such remote."""
    url = await config_value(repo, f"remote.{remote}.url")
    return _redact(url) if url else None


async def _require_remote(repo: Path, remote: str) -> str:
    url = await remote_url(repo, remote)
    if url is None:
        raise Conflict(f"{str(repo)!r} has no remote {remote!r}; add one with "
                       f"`git remote add {remote} URL`, then try again")
    return url


def _first_line(text: str) -> str:
    lines = [line.strip() for line in _redact(text).splitlines() if line.strip()]
    return lines[0] if lines else "no error output"


async def sync(path: Path) -> SyncResult:
    """Fetch the current branch's upstream and fast-forward the branch to it.

    Refused, with nothing changed but the fetched remote refs, when HEAD is detached, the branch
    has no upstream, the checkout has uncommitted changes, or the branch has diverged.
    """
    root = await repo_root(path)
    status = await repo_status(root)
    if status.branch is None:
        raise Conflict(f"{str(root)!r} is on a detached HEAD; check out a branch, then sync")
    if status.upstream is None:
        raise Conflict(f"branch {status.branch!r} in {str(root)!r} has no upstream; set one "
                       f"with `git branch --set-upstream-to origin/{status.branch}`")
    remote = await config_value(root, f"branch.{status.branch}.remote") or "origin"
    if remote != ".":
        fetched = await _git(root, "fetch", "--quiet", "--prune", "--", remote, ok=None,
                             time_limit=SLOW_TIMEOUT)
        if fetched.code != 0:
            raise Conflict(f"`git fetch {remote}` failed: {_first_line(fetched.err)}; check the "
                           "remote's URL, the network and the credentials")
    status = await repo_status(root)
    assert status.branch is not None and status.upstream is not None
    before = status.head
    if status.behind and status.ahead:
        raise Conflict(f"branch {status.branch!r} has diverged from {status.upstream!r} "
                       f"({status.ahead} local, {status.behind} upstream commits); merge or "
                       "rebase it by hand, e.g. `git pull --rebase`")
    if status.behind:
        if status.dirty:
            raise Conflict(f"{str(root)!r} has uncommitted changes; commit or stash them, "
                           "then sync again")
        merged = await _git(root, "merge", "--ff-only", "--quiet", "@{upstream}", ok=None,
                            time_limit=SLOW_TIMEOUT)
        if merged.code != 0:
            raise Conflict(f"could not fast-forward {status.branch!r} to {status.upstream!r}: "
                           f"{_first_line(merged.err)}")
        status = await repo_status(root)
    return SyncResult(branch=status.branch or "", upstream=status.upstream or "", before=before,
                      after=status.head, ahead=status.ahead)


async def push(repo: Path, branch: str, remote: str = "origin", *,
               to: str | None = None) -> PushResult:
    """Push the local ``branch`` to the branch of the same name on ``remote`` and make that its
    upstream; with ``to``, to that branch of the remote instead (no upstream is set). A push
    the remote rejects (not a fast-forward, protected) is a Conflict."""
    root = await repo_root(repo)
    head = await _branch_sha(root, branch, "branch")
    url = await _require_remote(root, remote)
    target = to or branch
    if target.startswith("-"):
        raise Conflict(f"{target!r} is not a branch name")
    upstream = () if to else ("--set-upstream",)
    pushed = await _git(root, "push", "--quiet", *upstream, "--porcelain", remote,
                        f"refs/heads/{branch}:refs/heads/{target}", ok=None,
                        time_limit=SLOW_TIMEOUT)
    if pushed.code != 0:
        detail = ("the remote has commits the branch does not have"
                  if "[rejected]" in pushed.out or "non-fast-forward" in pushed.err
                  else _first_line(pushed.err or pushed.out))
        raise Conflict(f"pushing {branch!r} to {remote!r} ({url}) failed: {detail}; fetch and "
                       "integrate the remote's changes, or check the credentials")
    return PushResult(remote=remote, url=url, branch=target, head=head)


async def fetch_branch(repo: Path, source: str, branch: str, remote: str = "origin") -> str:
    """Fetch ``source`` (a ref of ``remote``: ``refs/heads/x``, ``refs/pull/7/head``) into the
    local ``branch``, fast-forward only; the sha it ends on. A local branch that cannot be
    fast-forwarded (it has commits of its own, or it is checked out) is kept as it is."""
    root = await repo_root(repo)
    await _require_remote(root, remote)
    if branch.startswith("-") or source.startswith("-"):
        raise Conflict(f"{branch!r} is not a branch name")
    fetched = await _git(root, "fetch", "--quiet", remote, f"{source}:refs/heads/{branch}",
                         ok=None, time_limit=SLOW_TIMEOUT)
    if fetched.code != 0:
        kept = await _git(root, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}",
                          ok=None)
        if kept.code != 0:
            raise Conflict(f"`git fetch {remote} {source}` failed: {_first_line(fetched.err)}; "
                           "check the remote's URL, the network and the credentials")
    return await _branch_sha(root, branch, "branch")


async def _github_remote(repo: Path) -> str:
    url = await remote_url(repo, "origin")
    if url is None or "github.com" not in url:
        shown = f"is {url}" if url else "is not set"
        raise Conflict(f"pull requests need a GitHub remote, but the origin of {str(repo)!r} "
                       f"{shown}; add one with `git remote add origin "
                       "https://github.com/OWNER/REPO.git`")
    return url


async def _gh(repo: Path, *args: str) -> str:
    """Run ``gh`` in ``repo``; its stdout, or a Conflict with its first error line."""
    executable = shutil.which("gh")
    if executable is None:
        raise Conflict("the GitHub CLI `gh` is not installed on the Gluon host; install it "
                       "(https://cli.github.com) and run `gh auth login`")
    env = {**os.environ, "GH_PROMPT_DISABLED": "1", "NO_COLOR": "1", "GH_NO_UPDATE_NOTIFIER": "1"}
    proc = await asyncio.create_subprocess_exec(
        executable, *args, cwd=repo, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(GH_TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        raise Conflict(f"`gh {' '.join(args[:2])}` gave no answer after {GH_TIMEOUT:g} s; "
                       "check the network and `gh auth status`, then try again") from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        message = _first_line(err.decode(errors="replace") or out.decode(errors="replace"))
        if "no pull requests found" in message:
            raise NotFound(f"{message}; create one with create_pr")
        raise Conflict(f"`gh {' '.join(args[:2])}` failed: {message}")
    return out.decode(errors="replace")


async def create_pull_request(repo: Path, branch: str, base: str, title: str, body: str,
                              draft: bool = False) -> PullRequest:
    """Open a pull request from ``branch`` (already pushed) into ``base`` on GitHub."""
    await _github_remote(repo)
    args = ["pr", "create", "--head", branch, "--base", base, "--title", title, "--body", body]
    out = await _gh(repo, *[*args, "--draft"] if draft else args)
    urls = re.findall(r"https://\S+/pull/(\d+)", out)
    url = next((line.strip() for line in reversed(out.splitlines()) if "/pull/" in line), "")
    if not urls:
        raise Conflict(f"`gh pr create` did not print the pull request's URL: {_first_line(out)}")
    return PullRequest(number=int(urls[-1]), url=url, state="OPEN")


async def pull_request(repo: Path, branch: str) -> PullRequest:
    """The pull request whose head is ``branch``: state, mergeability and CI checks."""
    await _github_remote(repo)
    out = await _gh(repo, "pr", "view", branch, "--json",
                    "number,url,state,mergeable,statusCheckRollup")
    try:
        data = json.loads(out)
        data["statusCheckRollup"] = data.get("statusCheckRollup") or []
        return PullRequest.model_validate(data)
    except (ValueError, TypeError, AttributeError, ValidationError):
        raise Conflict(f"`gh pr view` printed something unexpected: {_first_line(out)}; check "
                       "`gh --version` (2.0 or later is needed)") from None

