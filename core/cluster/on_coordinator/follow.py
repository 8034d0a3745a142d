"""What follows a turn a worker's agent ended well: the coordinator's follow-up hooks
(:mod:`core.runs.follow_ups`: the quality gates, a formula's next step, the autonomous loop),
asked by the run's supervisor here once the worker is done with the attempt.

The worker hands the turn back (:mod:`core.cluster.on_worker.replica`) and the relay's ingest
records its result on the run (``turn_result``), which stays live here.
:meth:`FollowThrough.decide` asks the hooks with it in a worktree of the run's branch made here
for them (the gates run lint and tests in it, in the sandbox, and may commit a fix; a loop
reads its todo file and what the run changed), and removes it before the run's next attempt is
dispatched, since workers push that branch; a commit made here goes to the project's source,
where the next worker fetches the branch. The answer is applied as a local run's supervisor
applies it (a follow-up queues the run again, its next start is the next attempt on a worker),
and the result is cleared in the same transaction, so a turn is decided once. A coordinator
that stops before that decides at its next start, when the run's start job comes back: its
supervisor decides before it dispatches anything.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from core.agent.session import AgentResult
from core.cluster.transfer.code import run_branch, send_back
from core.cluster.transfer.source import Source
from core.errors import GluonError
from core.git import ops as gitops
from core.git import worktrees as git_worktrees
from core.models import Run
from core.runs import follow_ups
from core.runs.follow_ups import Finish, FollowUp
from core.runs.service import RunManager
from core.types import RunState

log = logging.getLogger(__name__)


class FollowThrough:
    def __init__(self, runs: RunManager, source: Callable[[str], Awaitable[Source]]) -> None:
        """``source``: where a project's workers fetch its code (by project name)."""
        self.runs = runs
        self.source = source

    async def pending(self, run_id: str) -> bool:
        """Whether a turn a worker handed back waits for the hooks here."""
        return (await self.runs.store.hidden(run_id))["turn_result"] is not None

    async def decide(self, run_id: str) -> None:
        """Ask the hooks with the turn waiting on the run (if any) and apply their answer:
        queued again with their next prompt, ended as they say, or ready for review."""
        text = (await self.runs.store.hidden(run_id))["turn_result"]
        if text is None:
            return
        run = await self.runs.store.get(run_id)
        if run.state not in (RunState.RUNNING, RunState.WAITING):  # ended meanwhile
            await self.runs.store.update(run_id, turn_result=None)
            return
        answer: FollowUp | Finish | None = None
        try:
            result = follow_ups.decode(text)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("run %s: the turn its worker handed back is unreadable (%s); it goes "
                        "to review", run_id, exc)
        else:
            answer = await self._ask(run, result)
        state, reason, fields = (follow_ups.landing(answer) if answer is not None
                                 else (RunState.REVIEW, follow_ups.DONE, {}))
        await self.runs.transition(run_id, state, reason, turn_result=None, **fields)

    async def _ask(self, run: Run, result: AgentResult) -> FollowUp | Finish | None:
        hooks = self.runs.follow_ups
        project = await self.runs.projects.named(run.project)
        repo = Path(project.path)
        branch = run.branch or run_branch(run.id)
        if not run.use_worktree or not await gitops.branch_exists(repo, branch):
            return await follow_ups.ask(hooks, run, result)  # nothing of its work is here
        here = self.runs.config.worktrees_dir / run.project / run.id
        try:
            await _clear(repo, here)
            before = await gitops.head_sha(repo, f"refs/heads/{branch}")
            here.parent.mkdir(parents=True, exist_ok=True)
            await git_worktrees.add_worktree(repo, here, branch)
        except (GluonError, OSError) as exc:
            log.warning("run %s: no worktree of its branch for what follows its turn: %s",
                        run.id, exc)
            await self.runs.note(run, "cluster", f"⚠ The run's branch could not be checked "
                                 f"out here for the quality gates and the loop: {exc}")
            return await follow_ups.ask(hooks, run, result)
        try:
            return await follow_ups.ask(hooks, run.model_copy(update={"cwd": str(here)}),
                                        result)
        finally:
            await _clear(repo, here)
            if await gitops.head_sha(repo, f"refs/heads/{branch}") != before:
                await self._send_back(run, repo, before)

    async def _send_back(self, run: Run, repo: Path, before: str) -> None:
        """What the hooks committed on the branch, to the source the next worker fetches."""
        try:
            source = await self.source(run.project)
            sha = await send_back(repo, source, run.id, before)
        except GluonError as exc:
            log.warning("run %s: %s", run.id, exc)
            await self.runs.note(run, "cluster", f"⚠ What Gluon committed on the run's branch "
                                 f"could not reach its workers: {exc}")
            return
        if sha is not None:
            log.info("run %s: Gluon's commit %s pushed to %s", run.id, sha[:12], source.url)


async def _clear(repo: Path, worktree: Path) -> None:
    """No worktree at ``worktree`` (one a coordinator that died left there included)."""
    await git_worktrees.remove_worktree(repo, worktree)
    if worktree.exists():
        await asyncio.to_thread(shutil.rmtree, worktree, ignore_errors=True)
