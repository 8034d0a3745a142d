"""A run's code between hosts: workers fetch the project and push the run's branch to its
source (see :mod:`core.cluster.transfer.source`) after every turn; the coordinator fetches the
branch into the user's repository.

Worker side, :class:`WorkerCode` on the worker's data dir:

- one bare cache repository per project, ``GLUON_HOME/repos/<project>.git``, made on first
  use and fetched (``+refs/heads/*`` into ``refs/remotes/origin/*``) for every run;
- the run's worktree ``GLUON_HOME/worktrees/<project>/<run>`` on branch ``gluon/<run>``: from
  the run's base, or, when the source already has ``gluon/<run>`` (the run worked on another
  host before, which died), from that branch. A run always starts on a host from what its
  source has: whatever an earlier attempt on this host left unpushed is dropped, as its
  session transcript is (see :mod:`core.cluster.transfer.session_ship`);
- :meth:`WorkerCode.publish` pushes the branch with ``--force-with-lease`` against what this
  host last pushed (or found at the source), recorded in ``refs/gluon/pushed/<run>`` of the
  cache: the agent may rewrite its history, but a host whose run was taken over by another
  cannot overwrite the newer host's work.

Coordinator side, :func:`receive` brings ``gluon/<run>`` into the user's repository, so
``gluon diff``, pull requests and the merge queue see the work, and :func:`send_back` pushes
what Gluon committed on it there (a quality gate's fix) back to the source. A source that
cannot be reached raises :class:`SourceUnreachable` with git's reason in one line.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from core.cluster.transfer.source import Source, token_env, without_credentials
from core.errors import Conflict, InvalidInput, NotFound
from core.git import ops as gitops
from core.git import worktrees as git_worktrees
from core.projects.service import check_name

log = logging.getLogger(__name__)

PUSHED = "refs/gluon/pushed"
"""Where a worker's cache records, per run, the commit its source had after the last push."""
RECEIVE_RETRIES = (1.0, 2.0)  # seconds before each new try of a failed fetch of a branch


class SourceUnreachable(Conflict):
    """Git could not fetch from or push to a project's source (network, credentials, URL)."""


class BranchMoved(Conflict):
    """The run's branch at the source is not what this host last pushed: another host has
    taken the run over (a lease this host lost)."""


@dataclass(frozen=True)
class Checkout:
    """A run's worktree on a worker host, and where its branch goes."""

    project: str
    source: Source
    run_id: str
    repo: Path  # the project's bare cache repository
    worktree: Path
    branch: str  # gluon/<run>
    start: str  # the commit the worktree started from
    resumed: bool  # True when the branch came from the source (the run worked elsewhere)


def run_branch(run_id: str) -> str:
    return f"gluon/{run_id}"


def git_reason(stderr: str) -> str:
    """Git's reason for a failure, in one line: its fatal (or error) line, plus the remote's
    own message when it sent one."""
    lines = [line.strip() for line in gitops._redact(stderr).splitlines() if line.strip()]
    remote = [line.removeprefix("remote:").strip() for line in lines
              if line.startswith("remote:") and line.removeprefix("remote:").strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    reason = fatal[0] if fatal else (lines[0] if lines else "no error output")
    reason = reason.removeprefix("fatal: ").removeprefix("error: ")
    if remote and remote[0] not in reason:
        reason = f"{reason} ({remote[0]})"
    return reason


def _rejection(porcelain: str) -> str | None:
    """Why the source refused a push, from ``git push --porcelain``'s line for the ref
    (``!<TAB>src:dst<TAB>[remote rejected] (reason)``)."""
    for line in porcelain.splitlines():
        flag, _, rest = line.partition("\t")
        if flag == "!":
            return rest.partition("\t")[2].strip() or None
    return None


def _check_run_id(run_id: str) -> str:
    if not run_id or not all(c.isalnum() or c in "-_" for c in run_id):
        raise InvalidInput(f"{run_id!r} is not a run id; use letters, digits, '-' and '_'")
    return run_id


# Claude Code's Bash sandbox protects these paths at the top of the repository a worktree
# belongs to, which for a worker's runs is its cache; a missing one it makes for the command
# (an empty file) and deletes after it. Two runs of a project on one worker share the cache: one
# run's command deleting a stand-in the other's is about to mount fails that command. Kept
# there for good (empty, read-only), they are mounted as they are and never made or deleted.
SANDBOX_STAND_INS = (".claude", ".mcp.json", "glab-cli")


def _pin_stand_ins(cache: Path) -> None:
    for name in SANDBOX_STAND_INS:
        path = cache / name
        if not path.exists() and not path.is_symlink():
            path.touch(mode=0o444)


class WorkerCode:
    """The code of the runs a worker host works on, under its data dir ``home``; ``token``
    is the cluster token, sent only to the coordinator's own git route."""

    def __init__(self, home: Path, token: str | None = None) -> None:
        self.home = home
        self._token = token
        self._locks: dict[str, asyncio.Lock] = {}

    def cache(self, project: str) -> Path:
        return self.home / "repos" / f"{check_name(project)}.git"

    def worktree(self, project: str, run_id: str) -> Path:
        return self.home / "worktrees" / check_name(project) / _check_run_id(run_id)

    async def prepare(self, project: str, source: Source, run_id: str, base: str) -> Checkout:
        """Fetch ``project`` from ``source`` and check out the run's worktree on
        ``gluon/<run>``: from the source's ``gluon/<run>`` when it has one, else from ``base``
        (a commit or a branch of the source)."""
        repo, worktree = self.cache(project), self.worktree(project, run_id)
        branch = run_branch(run_id)
        async with self._locks.setdefault(project, asyncio.Lock()):
            await self._fetch(repo, source, project)
            await asyncio.to_thread(_pin_stand_ins, repo)
            at_source = await _sha(repo, f"refs/remotes/origin/{branch}")
            start = at_source or await self._base(repo, source, project, run_id, base)
            await git_worktrees.remove_worktree(repo, worktree)
            if await gitops.branch_exists(repo, branch):
                await gitops._git(repo, "branch", "-D", "--", branch)
            worktree.parent.mkdir(parents=True, exist_ok=True)
            await git_worktrees.create_worktree(repo, worktree, branch, start)
            await _record_pushed(repo, run_id, at_source)
        return Checkout(project=project, source=source, run_id=run_id, repo=repo,
                        worktree=worktree, branch=branch, start=start,
                        resumed=at_source is not None)

    async def publish(self, checkout: Checkout) -> str | None:
        """Push the run's branch to its source; the commit pushed, or None when the source
        already has it. Raises :class:`BranchMoved` when the source's branch is no longer
        what this host last pushed, :class:`SourceUnreachable` when the push fails."""
        repo, branch, source = checkout.repo, checkout.branch, checkout.source
        head = await gitops.head_sha(repo, f"refs/heads/{branch}")
        expected = await _sha(repo, f"{PUSHED}/{checkout.run_id}")
        if head == expected:
            return None
        pushed = await gitops._git(
            repo, "push", "--porcelain", f"--force-with-lease=refs/heads/{branch}:{expected or ''}",
            "--", source.url, f"refs/heads/{branch}:refs/heads/{branch}",
            ok=None, time_limit=gitops.SLOW_TIMEOUT, env=self._env(source))
        if pushed.code != 0:
            if "stale info" in pushed.out or "stale info" in pushed.err:
                raise BranchMoved(
                    f"branch {branch!r} at {source.url} is no longer what this host pushed "
                    f"last: another host has taken run {checkout.run_id!r} over; stop working "
                    "on it here")
            raise SourceUnreachable(
                f"cannot push {branch!r} of project {checkout.project!r} to {source.url}: "
                f"{_rejection(pushed.out) or git_reason(pushed.err or pushed.out)}")
        await _record_pushed(repo, checkout.run_id, head)
        return head

    async def release(self, checkout: Checkout) -> None:
        """Remove the run's worktree and local branch from this host (the run ended here, or
        went to another host); its branch at the source stays."""
        async with self._locks.setdefault(checkout.project, asyncio.Lock()):
            await git_worktrees.remove_worktree(checkout.repo, checkout.worktree)
            if await gitops.branch_exists(checkout.repo, checkout.branch):
                await gitops._git(checkout.repo, "branch", "-D", "--", checkout.branch)
            await _record_pushed(checkout.repo, checkout.run_id, None)

    def _env(self, source: Source) -> dict[str, str]:
        return token_env(source, self._token)

    async def _fetch(self, repo: Path, source: Source, project: str) -> None:
        if not (repo / "HEAD").exists():
            repo.mkdir(parents=True, exist_ok=True)
            await gitops._git(repo, "init", "--quiet", "--bare")
        fetched = await gitops._git(
            repo, "fetch", "--quiet", "--prune", "--no-tags", "--", source.url,
            "+refs/heads/*:refs/remotes/origin/*",
            ok=None, time_limit=gitops.SLOW_TIMEOUT, env=self._env(source))
        if fetched.code != 0:
            raise SourceUnreachable(f"cannot fetch project {project!r} from {source.url}: "
                                    f"{git_reason(fetched.err)}")

    async def _base(self, repo: Path, source: Source, project: str, run_id: str,
                    base: str) -> str:
        if base.startswith("-") or not base:
            raise InvalidInput(f"{base!r} is not a branch or commit")
        found = (await _sha(repo, f"refs/remotes/origin/{base}")
                 or await _sha(repo, f"{base}^{{commit}}"))
        if found is None:
            raise NotFound(f"the base {base!r} of run {run_id!r} is not at the source of "
                           f"project {project!r} ({source.url}); push it there, or set "
                           f"[projects.{project}] remote to where it is")
        return found


async def _sha(repo: Path, ref: str) -> str | None:
    result = await gitops._git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
                               ref, ok=None)
    return result.out.strip() or None if result.code == 0 else None


async def _record_pushed(repo: Path, run_id: str, sha: str | None) -> None:
    ref = f"{PUSHED}/{run_id}"
    if sha is None:
        await gitops._git(repo, "update-ref", "-d", ref)
    else:
        await gitops._git(repo, "update-ref", ref, sha)


async def receive(repo: Path, source: Source, run_id: str) -> str:
    """Bring run ``run_id``'s branch ``gluon/<run>`` from ``source`` into the user's
    repository at ``repo`` (coordinator side); its commit. For the coordinator's own route the
    workers pushed straight into ``repo``: then this only checks the branch is there."""
    branch = run_branch(_check_run_id(run_id))
    if not source.coordinator:
        remote = await _remote_named(repo, source.url)
        for wait in (*RECEIVE_RETRIES, None):
            fetched = await gitops._git(
                repo, "fetch", "--quiet", "--no-tags", "--", remote or source.url,
                f"+refs/heads/{branch}:refs/heads/{branch}", ok=None,
                time_limit=gitops.SLOW_TIMEOUT)
            if fetched.code == 0 or wait is None or any(
                    lasting in fetched.err for lasting in ("couldn't find remote ref",
                                                           "checked out")):
                break
            # Another worktree of the repository being added or removed as the fetch looked
            # at every ref ("bad object worktrees/.../HEAD"), or the network: once more.
            log.info("fetching %s from %s failed (%s); trying again in %g s", branch,
                     source.url, git_reason(fetched.err), wait)
            await asyncio.sleep(wait)
        if fetched.code != 0:
            reason = git_reason(fetched.err)
            if "couldn't find remote ref" in fetched.err:
                raise NotFound(f"run {run_id!r} has pushed no work to {source.url} yet "
                               f"(no branch {branch!r} there)")
            if "checked out" in fetched.err:
                raise Conflict(f"cannot update {branch!r} in {str(repo)!r}: {reason}; remove "
                               "that worktree first")
            raise SourceUnreachable(f"cannot fetch {branch!r} from {source.url}: {reason}")
    sha = await _sha(repo, f"refs/heads/{branch}")
    if sha is None:
        raise NotFound(f"run {run_id!r} has pushed no work to {str(repo)!r} yet (no branch "
                       f"{branch!r})")
    return sha


async def send_back(repo: Path, source: Source, run_id: str, expected: str) -> str | None:
    """Push ``gluon/<run>`` from the user's repository at ``repo`` to ``source`` (coordinator
    side) after Gluon committed on it here (a quality gate's lint auto-fix), so the run's next
    worker starts from it; only over what the source had (``expected``). The commit pushed;
    None for the coordinator's own route, which is ``repo`` itself."""
    if source.coordinator:
        return None
    branch = run_branch(_check_run_id(run_id))
    head = await gitops.head_sha(repo, f"refs/heads/{branch}")
    remote = await _remote_named(repo, source.url)
    pushed = await gitops._git(
        repo, "push", "--porcelain", f"--force-with-lease=refs/heads/{branch}:{expected}",
        "--", remote or source.url, f"refs/heads/{branch}:refs/heads/{branch}", ok=None,
        time_limit=gitops.SLOW_TIMEOUT)
    if pushed.code != 0:
        raise SourceUnreachable(
            f"cannot push {branch!r} to {source.url}: "
            f"{_rejection(pushed.out) or git_reason(pushed.err or pushed.out)}")
    return head


async def _remote_named(repo: Path, url: str) -> str | None:
    """The user's remote whose URL (credentials aside) is ``url``: fetching through it uses
    its own URL, credentials and ``insteadOf`` rules."""
    listed = await gitops._git(repo, "config", "--get-regexp", r"^remote\..*\.url$", ok=None)
    for line in listed.out.splitlines():
        key, _, value = line.partition(" ")
        if without_credentials(value.strip()) == url:
            return key.removeprefix("remote.").removesuffix(".url")
    return None
