"""A merge entry's GitHub side, for a project whose origin is on GitHub (and ``[github] token``
set): its branch pushed (never over someone else's push), its pull request opened or updated
with a body that says what the run did, its check runs waited for, and the pull request merged
with the project's ``merge_method``. The merge queue (:mod:`core.merges.service`) decides what
each outcome means for the entry."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from core.config import Config
from core.errors import Conflict, UserError
from core.git import ops as gitops
from core.git import rebase as git_rebase
from core.github.client import GitHubClient, GitHubError, PullHeadMoved, PullNotMergeable
from core.github.repos import RepoIndex
from core.merges import pr
from core.merges.states import MergeState
from core.merges.store import MergeStore
from core.merges.types import MergeEntry
from core.models import Run

FAILED_CHECKS = frozenset({"failure", "timed_out", "cancelled", "action_required",
                           "startup_failure", "stale"})
S = MergeState
Move = Callable[..., Awaitable[MergeEntry]]


@dataclass(frozen=True)
class Merged:
    commit: str
    how: str


@dataclass(frozen=True)
class BaseMoved:
    base_now: str


class PullRequests:
    def __init__(self, config: Config, store: MergeStore, github: GitHubClient,
                 repos: RepoIndex, move: Move,
                 get: Callable[[str], Awaitable[MergeEntry]]) -> None:
        """``move`` records an entry's move to a state (the queue's), ``get`` reads one."""
        self.config = config
        self.store = store
        self.github = github
        self.repos = repos
        self._move = move
        self._get = get

    async def repo_of(self, run: Run) -> str | None:
        """owner/name of the project's GitHub origin, when Gluon may talk to GitHub."""
        if not self.github.configured:
            return None
        return await self.repos.repo_of(run.project)

    async def _pull_request(self, entry: MergeEntry, run: Run, repo: Path, github: str,
                            thread_url: str | None) -> dict[str, object] | None:
        """The entry's open pull request (opened or updated now), or None when it was closed
        by hand (the entry is cancelled then)."""
        pulls = await self.github.pulls_of_branch(github, entry.branch)
        if entry.pull_request is not None:
            mine = next((p for p in pulls if p.get("number") == entry.pull_request), None)
            if mine is not None and mine.get("state") == "closed" and not mine.get("merged_at"):
                await self._move(entry, S.CANCELLED, f"pull request #{entry.pull_request} was "
                                 "closed on GitHub")
                return None
        open_pulls = [p for p in pulls if p.get("state") == "open"]
        body = pr.pr_body(run, await gitops.commits_between(repo, entry.onto or entry.base,
                                                           entry.branch),
                          await gitops.changed_files(repo, entry.onto or entry.base,
                                                     entry.branch),
                          thread_url)
        if open_pulls:
            pull = open_pulls[0]
            await self.github.update_pull(github, int(str(pull["number"])), body=body)
        else:
            pull = await self.github.create_pull(github, head=entry.branch, base=entry.base,
                                                 title=pr.pr_title(run), body=body)
        number, url = int(str(pull["number"])), str(pull.get("html_url") or "")
        if number != entry.pull_request:
            await self.store.update(entry.id, pull_request=number, pull_request_url=url)
        return pull

    async def checks(self, entry: MergeEntry, run: Run, repo: Path, github: str,
                     thread_url: str | None) -> tuple[str, str, list[str]] | None:
        """Push, open or update the pull request, wait for its checks: None when they passed
        (the entry moved on), else what failed."""
        assert entry.head is not None
        remote = await git_rebase.remote_head(repo, entry.branch)
        if remote != entry.head:
            pushed_before = await self.store.pushed(entry.id)
            if remote is not None and remote != pushed_before and not (
                    await gitops.has_commit(repo, remote)
                    and await git_rebase.is_ancestor(repo, remote, entry.head)):
                raise Conflict(f"{entry.branch} on origin has commits Gluon did not push "
                               f"({remote[:8]}); someone else pushed to it: look at it, then "
                               "retry")
            await git_rebase.push_with_lease(repo, entry.branch, remote)
            await self.store.update(entry.id, pushed=entry.head)
        if await self._pull_request(entry, run, repo, github, thread_url) is None:
            return None
        deadline = entry.updated_at + self.config.merge.checks_timeout_minutes * 60
        seen_none_since = time.monotonic()
        while True:
            runs = await self.github.all_check_runs(github, entry.head)
            if runs and all(r.get("status") == "completed" for r in runs):
                failed = [r for r in runs if r.get("conclusion") in FAILED_CHECKS]
                if not failed:
                    await self._move(entry, S.MERGING, f"{len(runs)} check(s) passed on "
                                     f"#{entry.pull_request or ''}; merging".replace(" on #;",
                                                                                    ";"))
                    return None
                names = [str(r.get("name")) for r in failed]
                detail = "\n".join(
                    f"- {r.get('name')}: {r.get('conclusion')} {r.get('html_url') or ''}\n"
                    f"  {((r.get('output') or {}).get('summary') or '')[:500]}" for r in failed)
                return f"check(s) {', '.join(names)} failed", detail, names
            if not runs and time.monotonic() - seen_none_since > 2 * self.config.merge.poll_seconds:
                await self._move(entry, S.MERGING, "no checks are configured on GitHub; "
                                 "merging")
                return None
            if time.time() > deadline:
                raise Conflict(f"the checks of {entry.branch} did not finish in "
                               f"{self.config.merge.checks_timeout_minutes:g} minutes")
            await asyncio.sleep(self.config.merge.poll_seconds)
            current = await self._get(entry.id)
            if current.state is not S.CHECKING:
                return None  # cancelled meanwhile
            pulls = await self.github.pulls_of_branch(github, entry.branch)
            mine = next((p for p in pulls if p.get("number") == current.pull_request), None)
            if mine is not None and mine.get("state") == "closed" and not mine.get("merged_at"):
                await self._move(current, S.CANCELLED, f"pull request #{current.pull_request} "
                                 "was closed on GitHub")
                return None

    async def merge(self, entry: MergeEntry, repo: Path,
                    github: str) -> Merged | BaseMoved | None:
        """Merge the entry's pull request: merged (now or before a crash), the base moved
        (rebase again), or None (it was closed on GitHub: the entry is cancelled)."""
        assert entry.head is not None and entry.pull_request is not None
        pull = await self.github.pull(github, entry.pull_request)
        if pull.get("merged"):
            sha = str(pull.get("merge_commit_sha") or entry.head)
            return Merged(sha, f"#{entry.pull_request} is merged")
        if pull.get("state") == "closed":
            await self._move(entry, S.CANCELLED, f"pull request #{entry.pull_request} was "
                             "closed on GitHub")
            return None
        method = self.config.project(entry.project).merge_method
        try:
            sha = await self.github.merge_pull(github, entry.pull_request, sha=entry.head,
                                               method=method)
        except (PullHeadMoved, PullNotMergeable):
            return BaseMoved(await git_rebase.fetch(repo, entry.base))
        with contextlib.suppress(UserError, GitHubError):
            await git_rebase.fetch(repo, entry.base)
        return Merged(sha, f"merged #{entry.pull_request} ({method})")
