"""Where a new run works: its worktree and branch (``gluon/<run id>`` from its base branch),
or the project's own checkout; and the commit it starts from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.agent.warm import WarmAgents
from core.config import Config
from core.errors import Conflict, InvalidInput
from core.git import ops as gitops
from core.models import Project, Run


@dataclass(frozen=True)
class Workplace:
    run_id: str
    cwd: Path
    branch: str | None
    base: str | None
    base_sha: str


async def plan(config: Config, warm: WarmAgents, project: Project, run_id: str, *,
               worktree: bool, base: str | None, take_warm: bool) -> Workplace:
    """Check the base branch and choose where the run works; with ``take_warm``, a warm
    agent waiting at the base commit gives the run its id (and worktree)."""
    repo = Path(project.path)
    if not worktree:
        if base is not None:
            raise InvalidInput("--base needs a worktree; drop --no-worktree or --base")
        return Workplace(run_id, repo, None, await gitops.current_branch(repo),
                         await gitops.head_sha(repo))
    base = base or await gitops.current_branch(repo)
    if base is None:
        raise Conflict(f"project {project.name!r} is on a detached HEAD; pass --base BRANCH")
    if not await gitops.branch_exists(repo, base):
        raise InvalidInput(f"base branch {base!r} does not exist in project "
                           f"{project.name!r}; pass an existing branch with --base")
    base_sha = await gitops.head_sha(repo, base)
    if take_warm:
        run_id = warm.claim(project.name, repo, base_sha) or run_id
    return Workplace(run_id, config.worktrees_dir / project.name / run_id, f"gluon/{run_id}",
                     base, base_sha)


async def base_commit(project: Project, run: Run) -> str:
    """The commit a run queued to start later starts from: its base branch's head now (the
    checkout's head, for a run without a worktree)."""
    ref = run.base_branch if run.use_worktree and run.base_branch else "HEAD"
    return await gitops.head_sha(Path(project.path), ref)
