"""How a run's code moves between the coordinator and a worker: through git, never a shared
disk (DESIGN §8). The three steps the cluster calls:

- coordinator, dispatching: :func:`source_of` a project, the git URL (or path) workers fetch
  it from and push runs' branches to: its ``origin`` (without any credentials in the URL: a
  worker uses its own), else the project's own repository;
- worker, taking a run: :func:`prepare` its worktree from a cache of the project under the
  worker's data dir, on branch ``gluon/<run>``: the source's branch when it has one (a run
  taken over from another worker), else a new branch at the run's start commit;
  after every turn and at the end: :func:`publish` the branch to the source;
- coordinator, when the worker is done: :func:`receive` the branch into the user's repository.

A source that cannot be reached, or lacks the commit a run starts from, is a UserError with
git's reason in one line: the worker refuses the run with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from pathlib import Path

from core.cluster.wire import RunSnapshot
from core.errors import UserError
from core.git.remote import remote_url
from core.models import Project, Run

GIT_TIMEOUT = 300.0
_CREDENTIALS = re.compile(r"(://)[^/@\s]*@")


class CodeUnavailable(UserError):
    """The project's code cannot be fetched from (or pushed to) its source."""


async def source_of(project: Project) -> str:
    """Where workers fetch the project from: its origin's URL, else its repository's path."""
    url = await remote_url(Path(project.path), "origin")
    if url:
        return _CREDENTIALS.sub(r"\1", url)
    return project.path


def cache_of(home: Path, project: str) -> Path:
    """The worker's copy of a project's repository (bare), which its worktrees belong to."""
    return home / "repos" / f"{project}.git"


async def prepare(home: Path, run: RunSnapshot, worktree: Path) -> Path:
    """The run's worktree at ``worktree``, on its branch: the source's when it has it, else a
    new one at the commit the run starts from. Returns the project's cache (its repository)."""
    repo = cache_of(home, run.project)
    if not (repo / "HEAD").is_file():
        repo.parent.mkdir(parents=True, exist_ok=True)
        partial = repo.with_name(repo.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        await _git(home, "clone", "--quiet", "--bare", "--", run.source, str(partial),
                   what=f"clone project {run.project!r} from {run.source}")
        partial.rename(repo)
    await _git(repo, "fetch", "--quiet", "--prune", "--force", run.source,
               "+refs/heads/*:refs/remotes/source/*",
               what=f"fetch project {run.project!r} from {run.source}")
    assert run.branch is not None
    start = f"refs/remotes/source/{run.branch}"
    if not await _ok(repo, "rev-parse", "--verify", "--quiet", start + "^{commit}"):
        start = run.start_sha or run.base_sha or ""
        if not start or not await _ok(repo, "cat-file", "-e", start + "^{commit}"):
            raise CodeUnavailable(
                f"commit {start[:12] or '(none)'} that run {run.run_id} starts from is not at "
                f"{run.source}; push its base branch {run.base_branch!r} there")
    if worktree.exists():  # this worker had the run before: start again from the source
        with contextlib.suppress(UserError):
            await _git(repo, "worktree", "remove", "--force", str(worktree), what="")
        shutil.rmtree(worktree, ignore_errors=True)
        await _ok(repo, "worktree", "prune")
    worktree.parent.mkdir(parents=True, exist_ok=True)
    await _git(repo, "worktree", "add", "--quiet", "-B", run.branch, str(worktree), start,
               what=f"check out run {run.run_id}'s branch")
    return repo


async def publish(run: RunSnapshot, worktree: Path) -> None:
    """Push the run's branch to its source."""
    assert run.branch is not None
    await _git(worktree, "push", "--quiet", "--force", run.source,
               f"refs/heads/{run.branch}:refs/heads/{run.branch}",
               what=f"push run {run.run_id}'s branch to {run.source}")


async def receive(project: Project, run: Run) -> None:
    """Bring the run's branch from the source into the user's repository (nothing to do when
    the source is that repository)."""
    source = await source_of(project)
    if run.branch is None or source == project.path:
        return
    await _git(Path(project.path), "fetch", "--quiet", "--force", source,
               f"+refs/heads/{run.branch}:refs/heads/{run.branch}",
               what=f"fetch run {run.id}'s branch from {source}")


async def _ok(cwd: Path, *args: str) -> bool:
    try:
        await _git(cwd, *args, what="")
    except UserError:
        return False
    return True


async def _git(cwd: Path, *args: str, what: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    proc = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(GIT_TIMEOUT):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        lines = [line.strip() for line in _CREDENTIALS.sub(r"\1***@", err.decode(
            errors="replace")).splitlines() if line.strip()]
        raise CodeUnavailable(f"could not {what}: {lines[-1] if lines else 'git failed'}")
