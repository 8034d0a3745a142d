"""The merge queue: finished runs merged one at a time per base branch, each only after its
checks passed on the rebased result.

An entry goes through recorded states (:mod:`core.merges.states`), each change stored with its
reason and logged as a :class:`~core.events.bus.MergeStep`:

- **rebasing**: the run's branch is rebased onto the current base, in the run's own worktree
  (the user's checkout is never touched). A conflict asks the run's agent to resolve it
  (**resolving**: the run is resumed in its session and worktree), at most
  ``[merge] conflict_fixes`` times; then the entry fails, with the files named.
- **checking**: a project whose origin is on GitHub (and ``[github] token`` set) gets its
  branch pushed (never over someone else's push), its pull request opened or updated, and its
  check runs waited for (:mod:`core.merges.pulls`); any other project runs its test command
  in the sandbox on the rebased branch. Failed checks resume the agent with the failure
  (``[merge] check_fixes`` times), then it is rebased and checked again.
- **merging**: the base is moved to the checked commit: the pull request is merged with the
  project's ``merge_method``, or the local base fast-forwarded. A base that moved meanwhile
  sends the entry back to rebasing (``[merge] rebases`` times at most).
- **merged**: the run is marked merged (its chats are pinged), its branch (local and remote)
  and worktree are removed.

One task works on each line (project and base branch); entries of different lines go on in
parallel. A crash or kill at any point resumes the entry from its recorded state: every step is
safe to repeat, and a merge that already happened is recognised, never done twice.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import difflib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from core.access.activity import ActivityLog
from core.config import Config
from core.errors import Conflict, NotFound, UserError
from core.events.bus import EventBus, MergeStep, RunStateChanged
from core.events.log import EventLog
from core.git import ops as gitops
from core.git import rebase as git_rebase
from core.git.merge import merge_branch
from core.github.client import GitHubClient, GitHubError
from core.github.repos import RepoIndex
from core.merges import checks, pulls
from core.merges.states import MergeState, allowed
from core.merges.store import MergeStore
from core.merges.types import MergeEntry
from core.models import Run
from core.runs.review import Review
from core.runs.service import RunManager
from core.types import RunState

log = logging.getLogger(__name__)

ACTOR = "merge queue"
IDLE_CHECK = 60.0  # seconds between looks at a line that waits on nothing it is told about
S = MergeState


class Wait(Exception):
    """The entry cannot go on yet (its run is working); look again when something changes."""


class MergeQueue:
    def __init__(self, config: Config, store: MergeStore, runs: RunManager, review: Review,
                 events: EventLog, bus: EventBus, activity: ActivityLog,
                 github: GitHubClient, repos: RepoIndex) -> None:
        self.config = config
        self.store = store
        self.runs = runs
        self.review = review
        self.events = events
        self.bus = bus
        self.activity = activity
        self.github = github
        self.repos = repos
        self.pulls = pulls.PullRequests(config, store, github, repos, self._move, self._get)
        self._lanes: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._wake: dict[tuple[str, str], asyncio.Event] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._finishing: set[asyncio.Future[None]] = set()
        self._closing = False
        # A link to the chat thread that follows a run, for its pull request (set by the chat
        # layer, which knows the threads).
        self.thread_link: Callable[[str], Awaitable[str | None]] | None = None

    # -- people ------------------------------------------------------------------------------

    async def enqueue(self, run_ref: str, actor: str = "cli") -> MergeEntry:
        """Put a finished run (in review) in its base branch's line; its entry (the open one,
        if it is already in line)."""
        run = await self.runs.get(run_ref)
        existing = await self.store.open_of_run(run.id)
        if existing is not None:
            self._start_lane(existing)  # a command's own runtime works on it too
            return existing
        if not run.branch or not run.base_branch:
            raise Conflict(f"run {run.id!r} worked without a worktree; its changes are already "
                           "in the checkout, nothing to merge")
        if run.state is not RunState.REVIEW:
            hint = ("wait for it to finish" if run.state.is_live else
                    "it is already merged or closed" if run.state.is_final else
                    f"resume it with `gluon resume {run.id} \"...\"` and let it finish first")
            raise Conflict(f"run {run.id!r} is {run.state}; only finished runs (in review) can "
                           f"be queued for merging ({hint})")
        project = await self.runs.projects.get(run.project)
        repo = Path(project.path)
        if not await gitops.branch_exists(repo, run.branch):
            raise Conflict(f"run {run.id!r}: its branch {run.branch!r} is gone; fork the run "
                           "to redo its work")
        head = await gitops.head_sha(repo, f"refs/heads/{run.branch}")
        now = time.time()
        async with self.store.transaction():
            entry_id = await self.store.insert(
                run_id=run.id, project=run.project, base=run.base_branch, branch=run.branch,
                created_by=actor, reason=f"queued by {actor}", expected_head=head, at=now)
            entry = await self._get(entry_id)
            await self._log(entry, f"queued by {actor}")
        await self.activity.record(actor, "merge.enqueue", run.id, "ok", entry_id)
        self._start_lane(entry)
        return entry

    async def list(self, project: str | None = None, *, include_ended: bool = True,
                   limit: int = 100) -> list[MergeEntry]:
        if project is not None:
            project = (await self.runs.projects.get(project)).name
        return await self.store.find(project=project, open_only=not include_ended, limit=limit)

    async def get(self, ref: str) -> MergeEntry:
        """An entry by its id (or a unique prefix), or the latest entry of a run."""
        ref = ref.strip().lower()
        found = await self.store.by_prefix(ref) if ref else []
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise Conflict(f"{ref!r} matches {len(found)} merge entries "
                           f"({', '.join(e.id for e in found)}); give more of the id")
        with contextlib.suppress(NotFound, Conflict):
            run = await self.runs.get(ref)
            entry = await self.store.latest_of_run(run.id)
            if entry is not None:
                return entry
        close = difflib.get_close_matches(
            ref, [e.id for e in await self.store.find(limit=200)], n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}?" if close else "see `gluon merge list`"
        raise NotFound(f"no merge-queue entry {ref!r} (nor a run with one); {hint}")

    async def transitions(self, ref: str) -> builtins.list[tuple[str | None, str, str, float]]:
        return await self.store.transitions((await self.get(ref)).id)

    async def cancel(self, ref: str, actor: str = "cli") -> MergeEntry:
        """Take an entry out of the queue (its run stays in review; a fix its agent is making
        goes on)."""
        entry = await self.get(ref)
        if not entry.state.is_open and entry.state is not S.FAILED:
            raise Conflict(f"merge entry {entry.id} is already {entry.state}; nothing to cancel")
        entry = await self._move(entry, S.CANCELLED, f"cancelled by {actor}")
        await self.activity.record(actor, "merge.cancel", entry.run_id, "ok", entry.id)
        self._poke(entry)
        return entry

    async def retry(self, ref: str, actor: str = "cli") -> MergeEntry:
        """Put a failed entry back at the end of its line, with its agent's fixes counted
        from zero again."""
        entry = await self.get(ref)
        if entry.state is not S.FAILED:
            raise Conflict(f"merge entry {entry.id} is {entry.state}; only a failed entry can "
                           "be retried")
        run = await self.runs.get(entry.run_id)
        if run.state is not RunState.REVIEW:
            raise Conflict(f"run {run.id!r} is {run.state}; let it finish (review) before "
                           "retrying its merge")
        project = await self.runs.projects.get(run.project)
        head = await gitops.head_sha(Path(project.path), f"refs/heads/{entry.branch}")
        async with self.store.transaction():
            await self.store.requeue(entry.id)
            entry = await self._move(entry, S.WAITING, f"retried by {actor}",
                                     conflict_fixes=0, check_fixes=0, rebases=0,
                                     expected_head=head, ended_at=None, files=[])
        await self.activity.record(actor, "merge.retry", entry.run_id, "ok", entry.id)
        self._start_lane(entry)
        return entry

    # -- the lines ---------------------------------------------------------------------------

    async def start(self, *, resume: bool = True) -> None:
        """Go on with every open entry, from its recorded state (``resume``: the daemon; a
        short-lived command works only on what it queues itself)."""
        self._closing = False
        if resume:
            for entry in await self.store.uncleaned():
                try:
                    await self._finish(entry)
                except Exception:
                    log.exception("could not finish merge entry %s", entry.id)
            for entry in await self.store.heads():
                self._start_lane(entry)
        self._watcher = asyncio.create_task(self._watch(), name="merge queue: run states")

    async def close(self) -> None:
        self._closing = True
        tasks = [*self._lanes.values(), *([self._watcher] if self._watcher else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)
        self._lanes.clear()
        self._watcher = None

    async def idle(self) -> None:
        """Wait until no line has work (for tests and a command that waits)."""
        while self._lanes:
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)

    def _start_lane(self, entry: MergeEntry) -> None:
        if self._closing:
            return
        lane = (entry.project, entry.base)
        self._poke(entry)
        task = self._lanes.get(lane)
        if task is None or task.done():
            self._lanes[lane] = asyncio.create_task(
                self._work(lane), name=f"merge queue: {entry.project} {entry.base}")

    def _poke(self, entry: MergeEntry) -> None:
        self._wake.setdefault((entry.project, entry.base), asyncio.Event()).set()

    async def _watch(self) -> None:
        """Wake a line when the run of its first entry changes state."""
        with self.bus.subscribe(lambda e: isinstance(e, RunStateChanged)) as sub:
            async for event in sub:
                for (project, _base), wake in list(self._wake.items()):
                    if project == event.project:
                        wake.set()

    async def _work(self, lane: tuple[str, str]) -> None:
        wake = self._wake.setdefault(lane, asyncio.Event())
        try:
            while True:
                wake.clear()
                head = next((e for e in await self.store.heads()
                             if (e.project, e.base) == lane), None)
                if head is None:
                    return
                try:
                    await self._step(head)
                    continue
                except Wait:
                    pass
                except UserError as exc:
                    await self._fail(head, str(exc))
                    continue
                except Exception as exc:
                    log.exception("merge entry %s failed in %s", head.id, head.state)
                    await self._fail(head, f"{type(exc).__name__}: {exc}"[:300])
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_CHECK):
                        await wake.wait()
        finally:
            if self._lanes.get(lane) is asyncio.current_task():
                del self._lanes[lane]

    # -- one step of an entry ----------------------------------------------------------------

    async def _step(self, entry: MergeEntry) -> None:
        run = await self.runs.get(entry.run_id)
        if run.state is RunState.MERGED:
            await self._move(entry, S.CANCELLED, "the run was merged by other means")
            return
        if run.state is RunState.CLOSED:
            await self._move(entry, S.CANCELLED, "the run was closed")
            return
        if entry.state is S.RESOLVING:
            await self._resolving(entry, run)
            return
        if run.state.is_live:
            raise Wait  # someone resumed it: merge what it ends with
        if run.state is not RunState.REVIEW:
            await self._fail(entry, f"run {run.short} is {run.state}; resume it and let it "
                             "finish, then retry the merge")
            return
        if entry.state is S.WAITING:
            await self._move(entry, S.REBASING, "first in line: rebasing onto the base")
        elif entry.state is S.REBASING:
            await self._rebase(entry, run)
        elif entry.state is S.CHECKING:
            await self._check(entry, run)
        elif entry.state is S.MERGING:
            await self._merge(entry, run)

    async def _rebase(self, entry: MergeEntry, run: Run) -> None:
        run = await self.runs.prepare_worktree(run)
        worktree, repo = Path(run.cwd), await self._repo(run)
        await git_rebase.abort_rebase(worktree)  # one a crash left half-done
        head = await gitops.head_sha(worktree)
        expected = await self.store.expected_head(entry.id)
        if expected and head != expected and not await git_rebase.is_ancestor(
                repo, expected, head):
            await self._fail(entry, f"{entry.branch} was rewritten by someone else (it no "
                             f"longer contains {expected[:8]}); look at it, then retry")
            return
        github = await self.pulls.repo_of(run)
        onto = (await git_rebase.fetch(repo, entry.base) if github
                else await gitops.head_sha(repo, f"refs/heads/{entry.base}"))
        if await git_rebase.is_ancestor(repo, onto, head):  # already on it (or merged it in)
            result = git_rebase.RebaseResult(rebased=True, head=head, conflicts=[])
        else:
            result = await git_rebase.rebase(worktree, onto)
        if result.rebased:
            if await git_rebase.is_ancestor(repo, result.head, onto):
                await self._move(entry, S.CHECKING, f"nothing left to merge: {entry.base} "
                                 "already has its changes", head=result.head, onto=onto,
                                 expected_head=result.head)
                return
            await self._move(entry, S.CHECKING, f"rebased onto {entry.base} ({onto[:8]}); "
                             "checking", head=result.head, onto=onto,
                             expected_head=result.head, files=[])
            return
        files = result.conflicts
        listed = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        if entry.conflict_fixes >= self.config.merge.conflict_fixes:
            await self._fail(entry, f"conflicts with {entry.base} in {listed}; the agent "
                             f"tried {entry.conflict_fixes} time(s); resolve them, or retry "
                             "to let the agent try again", files=files)
            return
        message = (f"Your branch {entry.branch} conflicts with {entry.base}, which moved on "
                   f"since you started, in: {listed}. Rebase your branch onto {entry.base} "
                   f"(`git rebase {onto[:12]}`), resolve the conflicts keeping the intent of "
                   "both sides, run the tests, and make sure the rebase is finished and "
                   "committed.")
        await self._ask_agent(entry, run, message, f"conflicts in {listed}; the agent is "
                              "resolving them", files, conflict=True)

    async def _check(self, entry: MergeEntry, run: Run) -> None:
        assert entry.head is not None
        worktree, repo = Path(run.cwd), await self._repo(run)
        if await gitops.head_sha(worktree) != entry.head:
            await self._move(entry, S.REBASING, "the branch moved after it was rebased; "
                             "rebasing again")
            return
        github = await self.pulls.repo_of(run)
        if github:
            link = await self.thread_link(run.id) if self.thread_link else None
            failed = await self.pulls.checks(entry, run, repo, github, link)
        else:
            outcome = await checks.run_tests(self.config, run.project, worktree,
                                             agent_home=self.config.agent_homes_dir / run.id)
            if outcome.passed:
                what = (f"`{outcome.command}` passed" if outcome.command else
                        "no test command (configure projects.<name>.test_command)")
                await self._move(entry, S.MERGING, f"{what}; merging")
                return
            why = "timed out" if outcome.timed_out else "failed"
            failed = (f"`{outcome.command}` {why}", outcome.output[-3000:], [str(outcome.command)])
        if failed is None:
            return
        summary, detail, names = failed
        if entry.check_fixes >= self.config.merge.check_fixes:
            await self._fail(entry, f"{summary} on the rebased branch; the agent tried "
                             f"{entry.check_fixes} time(s); fix it, or retry", files=names)
            return
        message = (f"Your branch {entry.branch}, rebased onto {entry.base}, does not pass "
                   f"its checks: {summary}.\n\n{detail}\n\nFix the cause, run the checks "
                   "again, and commit.")
        await self._ask_agent(entry, run, message, f"{summary}; the agent is fixing it", names,
                              conflict=False)

    async def _merge(self, entry: MergeEntry, run: Run) -> None:
        assert entry.head is not None and entry.onto is not None
        repo = await self._repo(run)
        github = await self.pulls.repo_of(run)
        if github:
            outcome = await self.pulls.merge(entry, repo, github)
            if isinstance(outcome, pulls.Merged):
                await self._merged(entry, outcome.commit, outcome.how)
            elif isinstance(outcome, pulls.BaseMoved):
                await self._base_moved(entry, outcome.base_now)
            return
        base_now = await gitops.head_sha(repo, f"refs/heads/{entry.base}")
        if await git_rebase.is_ancestor(repo, entry.head, base_now):
            await self._merged(entry, base_now, "already")  # merged before a crash
            return
        if base_now != entry.onto:
            await self._base_moved(entry, base_now)
            return
        result = await merge_branch(repo, entry.head, entry.base,
                                    message=f"Merge {entry.branch}")
        assert result.merged and result.commit is not None  # a fast-forward cannot conflict
        await self._merged(entry, result.commit, "fast-forwarded")

    async def _base_moved(self, entry: MergeEntry, base_now: str) -> None:
        if entry.rebases + 1 >= self.config.merge.rebases:
            await self._fail(entry, f"{entry.base} kept moving while the entry was checked "
                             f"({entry.rebases + 1} rebases); retry when it is quieter")
            return
        await self._move(entry, S.REBASING, f"{entry.base} moved to {base_now[:8]} during the "
                         "checks; rebasing again", rebases=entry.rebases + 1)

    # -- the agent's fixes -------------------------------------------------------------------

    async def _ask_agent(self, entry: MergeEntry, run: Run, message: str, reason: str,
                         files: builtins.list[str], *, conflict: bool) -> None:
        counts = ({"conflict_fixes": entry.conflict_fixes + 1} if conflict else
                  {"check_fixes": entry.check_fixes + 1})
        entry = await self._move(entry, S.RESOLVING, reason, files=files, **counts)
        await self.runs.resume(run.id, message, actor=ACTOR)

    async def _resolving(self, entry: MergeEntry, run: Run) -> None:
        if run.state.is_live:
            raise Wait
        if run.state is RunState.REVIEW and (run.ended_at or 0) < entry.updated_at:
            # Gluon stopped between recording the step and resuming the run.
            await self.runs.resume(run.id, f"Merge queue: {entry.reason}", actor=ACTOR)
            raise Wait
        if run.state is not RunState.REVIEW:
            await self._fail(entry, f"the agent's fix ended {run.state}: "
                             f"{(run.state_reason or run.error or '')[:200]}")
            return
        head = await gitops.head_sha(await self._repo(run), f"refs/heads/{entry.branch}")
        await self._move(entry, S.REBASING, "the agent's fix is in; rebasing again",
                         expected_head=head)

    # -- the end -----------------------------------------------------------------------------

    async def _merged(self, entry: MergeEntry, commit: str, how: str) -> None:
        entry = await self._move(entry, S.MERGED, f"{how} into {entry.base}",
                                 merged_commit=commit, ended_at=time.time())
        await self.activity.record(entry.created_by, "merge.merged", entry.run_id, "ok", commit)
        # A shutdown now waits for the run to be marked merged and cleaned up (see close).
        finishing = asyncio.ensure_future(self._finish(entry))
        self._finishing.add(finishing)
        finishing.add_done_callback(self._finishing.discard)
        await asyncio.shield(finishing)

    async def _finish(self, entry: MergeEntry) -> None:
        """Mark the run merged and remove its branch (here and on the remote) and worktree;
        safe to repeat."""
        run = await self.runs.get(entry.run_id)
        if run.state is RunState.REVIEW:
            run = await self.runs.transition(
                run.id, RunState.MERGED, f"merged into {entry.base} by the merge queue "
                f"({entry.merged_commit[:8] if entry.merged_commit else ''})")
        repo = await self._repo(run)
        github = await self.pulls.repo_of(run)
        if github:
            try:
                await self.github.delete_branch(github, entry.branch)
            except GitHubError as exc:
                log.warning("could not delete %s on GitHub: %s", entry.branch, exc)
        elif await gitops.config_value(repo, "remote.origin.url"):
            await git_rebase.delete_remote_branch(repo, entry.branch)
        if run.branch and await gitops.branch_exists(repo, run.branch):
            await self.review.delete_branch(run.id, actor=ACTOR)
        await self.store.update(entry.id, cleaned=True)

    async def _fail(self, entry: MergeEntry, reason: str, *,
                    files: builtins.list[str] | None = None) -> None:
        current = await self._get(entry.id)
        if not current.state.is_open:
            return
        extra: dict[str, object] = {"files": files} if files is not None else {}
        await self._move(current, S.FAILED, reason, ended_at=time.time(), **extra)

    # -- records -----------------------------------------------------------------------------

    async def _repo(self, run: Run) -> Path:
        return Path((await self.runs.projects.get(run.project)).path)

    async def _get(self, entry_id: str) -> MergeEntry:
        entry = await self.store.get(entry_id)
        if entry is None:
            raise NotFound(f"merge entry {entry_id} is gone (its run was deleted)")
        return entry

    async def _move(self, entry: MergeEntry, new: MergeState, reason: str,
                    **fields: object) -> MergeEntry:
        """Record the entry's move to ``new`` (a Conflict if it is no longer where it was:
        cancelled meanwhile), with its MergeStep event."""
        if not allowed(entry.state, new):
            raise Conflict(f"merge entry {entry.id} is {entry.state}; it cannot become {new}")
        if new in (S.CANCELLED, S.MERGED, S.FAILED):
            fields.setdefault("ended_at", time.time())
        async with self.store.transaction():
            if not await self.store.set_state(entry.id, entry.state, new, reason[:500],
                                               time.time(), **fields):
                now = await self._get(entry.id)
                raise Conflict(f"merge entry {entry.id} is {now.state} now; it was not moved "
                               f"to {new}")
            moved = await self._get(entry.id)
            await self._log(moved, reason)
        log.info("merge entry %s (run %s): %s -> %s: %s", entry.id, entry.run_id, entry.state,
                 new, reason)
        return moved

    async def _log(self, entry: MergeEntry, reason: str) -> None:
        event = await self.events.append(MergeStep(
            run_id=entry.run_id, project=entry.project, entry_id=entry.id,
            state=str(entry.state), reason=reason[:500], base=entry.base, files=entry.files))
        self.events.publish(event)
