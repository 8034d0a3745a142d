"""Tools for git itself: a run's commits, files and conflicts, a project's checkout and
branches, syncing and pushing, and pull requests on GitHub."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from core.errors import Conflict
from core.git import listing as git_listing
from core.git import merge as git_merge
from core.git import ops as gitops
from core.git import remote as git_remote
from core.git.remote import PullRequest
from core.merges.pr import pr_body, pr_title
from core.models import Run
from core.runtime import Runtime
from mcp_tools.registry import ToolKit, actor

RunRef = Annotated[str, Field(description="the run's id or a unique prefix of it")]
ProjectRef = Annotated[str, Field(description="the project's name (see list_projects)")]
UNCOMMITTED_LIMIT = 200


class CommitEntry(BaseModel):
    sha: str
    subject: str
    author: str
    timestamp: int = Field(description="author time, unix seconds")


class RunCommits(BaseModel):
    run_id: str
    branch: str | None
    base_sha: str
    commits: list[CommitEntry] = Field(description="oldest first")


class FileEntry(BaseModel):
    path: str
    status: str = Field(description="A added, M modified, D deleted, R renamed, C copied")
    additions: int
    deletions: int
    old_path: str | None = None


class RunFiles(BaseModel):
    run_id: str
    files: list[FileEntry]


class UncommittedEntry(BaseModel):
    path: str
    status: str = Field(description="two-letter code of `git status --short` (?? untracked)")


class GitStatus(BaseModel):
    project: str
    branch: str | None = Field(description="None when HEAD is detached")
    head: str
    dirty: bool
    upstream: str | None
    ahead: int
    behind: int
    uncommitted: list[UncommittedEntry]
    truncated: bool = Field(description=f"more than {UNCOMMITTED_LIMIT} uncommitted paths")


class BranchEntry(BaseModel):
    name: str
    head: str
    subject: str
    merged: bool = Field(description="whether it is merged into the current branch")


class BranchList(BaseModel):
    project: str
    current: str | None
    branches: list[BranchEntry]


class ConflictCheck(BaseModel):
    run_id: str
    branch: str
    base_branch: str
    clean: bool = Field(description="True when the branch merges into its base without conflicts")
    conflicts: list[str]


class SyncOutcome(BaseModel):
    project: str
    branch: str
    upstream: str
    before: str
    after: str
    updated: bool = Field(description="True when the branch moved")
    ahead: int = Field(description="local commits not pushed to the upstream")


class PushOutcome(BaseModel):
    run_id: str
    remote: str
    url: str
    branch: str
    head: str


class PullRequestStatus(BaseModel):
    run_id: str
    branch: str
    pull_request: PullRequest


def register(kit: ToolKit, rt: Runtime) -> None:
    async def repo_of(run: Run) -> Path:
        return Path((await rt.projects.get(run.project)).path)

    async def head_and_base(run: Run) -> tuple[Path, str, str]:
        if not run.base_sha:
            raise Conflict(f"run {run.id!r} has no base commit to compare with")
        return await repo_of(run), run.branch or "HEAD", run.base_sha

    async def branch_of(run: Run) -> tuple[str, str]:
        if not run.branch or not run.base_branch:
            raise Conflict(f"run {run.id!r} worked without a worktree, so it has no branch of "
                           "its own; its changes are already in the project's checkout")
        return run.branch, run.base_branch

    async def conflicts_of(run: Run) -> ConflictCheck:
        branch, base = await branch_of(run)
        result = await git_merge.merge_check(await repo_of(run), branch, base)
        return ConflictCheck(run_id=run.id, branch=branch, base_branch=base,
                             clean=result.merged, conflicts=result.conflicts)

    @kit.tool(read_only=True)
    async def get_run_commits(run: RunRef) -> RunCommits:
        """The commits a run made on its branch since it started (oldest first), read live
        from git, so it also works while the agent is still working. Each has sha, subject,
        author and timestamp."""
        found = await rt.runs.get(run)
        repo, head, base = await head_and_base(found)
        commits = await gitops.commits_between(repo, base, head)
        return RunCommits(run_id=found.id, branch=found.branch, base_sha=base,
                          commits=[CommitEntry(sha=c.sha, subject=c.subject, author=c.author,
                                               timestamp=c.timestamp) for c in commits])

    @kit.tool(read_only=True)
    async def get_run_files(run: RunRef) -> RunFiles:
        """The files a run's branch changed since it started, read live from git: path, status
        (A/M/D/R), lines added and deleted. Use get_run_diff for the content."""
        found = await rt.runs.get(run)
        repo, head, base = await head_and_base(found)
        files = await gitops.changed_files(repo, base, head)
        return RunFiles(run_id=found.id, files=[
            FileEntry(path=f.path, status=f.status, additions=f.additions,
                      deletions=f.deletions, old_path=f.old_path) for f in files])

    @kit.tool(read_only=True)
    async def get_git_status(project: ProjectRef) -> GitStatus:
        """The project's checkout: current branch, head commit, whether it has uncommitted
        changes, commits ahead of/behind its upstream, and the uncommitted paths (at most 200;
        `truncated` says there are more). Use it before merging or syncing."""
        found = await rt.projects.get(project)
        status = await gitops.repo_status(Path(found.path))
        files, truncated = await git_listing.uncommitted_files(Path(found.path), UNCOMMITTED_LIMIT)
        return GitStatus(project=found.name, branch=status.branch, head=status.head,
                         dirty=status.dirty, upstream=status.upstream, ahead=status.ahead,
                         behind=status.behind, truncated=truncated,
                         uncommitted=[UncommittedEntry(path=f.path, status=f.status)
                                      for f in files])

    @kit.tool(read_only=True)
    async def list_branches(
            project: ProjectRef,
            prefix: Annotated[str | None, Field(
                description="only branches whose name starts with this, e.g. 'gluon/'")] = None,
            limit: Annotated[int, Field(ge=1, le=1000,
                                        description="at most this many branches")] = 100,
    ) -> BranchList:
        """The project's local branches, most recently committed first, each with its head
        sha, the subject of its last commit, and whether it is merged into the current branch.
        Run branches are named `gluon/<run id>`."""
        found = await rt.projects.get(project)
        repo = Path(found.path)
        branches = await git_listing.list_branches(repo, prefix, limit)
        return BranchList(project=found.name, current=await gitops.current_branch(repo),
                          branches=[BranchEntry(name=b.name, head=b.head, subject=b.subject,
                                                merged=b.merged) for b in branches])

    @kit.tool(read_only=True)
    async def check_conflicts(run: RunRef) -> ConflictCheck:
        """Whether a run's branch merges cleanly into its base branch right now, and which
        files conflict if not. Nothing is changed (no checkout is touched). Use it before
        merge_run; on conflicts, resolve_conflicts asks the agent to fix them."""
        return await conflicts_of(await rt.runs.get(run))

    @kit.tool(idempotent=True)
    async def sync_project(project: ProjectRef) -> SyncOutcome:
        """Fetch the project's upstream and fast-forward its current branch to it. Refused,
        with a message saying what to do, when the checkout has uncommitted changes, has no
        upstream, or has local commits the upstream lacks (diverged). Use it before starting
        runs so agents work on the latest code."""
        found = await rt.projects.get(project)
        result = await git_remote.sync(Path(found.path))
        return SyncOutcome(project=found.name, branch=result.branch, upstream=result.upstream,
                           before=result.before, after=result.after,
                           updated=result.before != result.after, ahead=result.ahead)

    @kit.tool()
    async def push_branch(run: RunRef) -> PushOutcome:
        """Push a run's branch to the project's `origin` remote (same branch name) and set it
        as the branch's upstream. Needed before create_pr. Refused when the project has no
        origin or the remote rejects the push."""
        found = await rt.runs.get(run)
        branch, _ = await branch_of(found)
        result = await git_remote.push(await repo_of(found), branch)
        return PushOutcome(run_id=found.id, remote=result.remote, url=result.url,
                           branch=result.branch, head=result.head)

    @kit.tool()
    async def create_pr(
            run: RunRef,
            title: Annotated[str | None, Field(
                description="the pull request's title; default: the run's task")] = None,
            body: Annotated[str | None, Field(
                description="the description (Markdown); default: the task, the run's cost, "
                            "its commits and changed files")] = None,
            draft: Annotated[bool, Field(description="open it as a draft")] = False,
    ) -> PullRequestStatus:
        """Open a GitHub pull request from a run's branch into its base branch, with the `gh`
        CLI. Push the branch first with push_branch. Needs `gh` installed and logged in and an
        origin on github.com. Returns the pull request's number and URL."""
        found = await rt.runs.get(run)
        branch, base = await branch_of(found)
        repo = await repo_of(found)
        if body is None:
            since = found.base_sha or base
            commits, files = await asyncio.gather(gitops.commits_between(repo, since, branch),
                                                  gitops.changed_files(repo, since, branch))
            body = pr_body(found, commits, files)
        pr = await git_remote.create_pull_request(repo, branch, base, title or pr_title(found),
                                                  body, draft)
        return PullRequestStatus(run_id=found.id, branch=branch, pull_request=pr)

    @kit.tool(read_only=True)
    async def get_pr_status(run: RunRef) -> PullRequestStatus:
        """The GitHub pull request of a run's branch, via the `gh` CLI: number, URL, state
        (OPEN/CLOSED/MERGED), whether GitHub can merge it, and its CI checks."""
        found = await rt.runs.get(run)
        branch, _ = await branch_of(found)
        pr = await git_remote.pull_request(await repo_of(found), branch)
        return PullRequestStatus(run_id=found.id, branch=branch, pull_request=pr)

    @kit.tool()
    async def resolve_conflicts(
            run: RunRef,
            instructions: Annotated[str | None, Field(
                description="extra guidance for the agent, e.g. which side wins")] = None,
    ) -> Run:
        """When a run's branch no longer merges cleanly into its base (see check_conflicts),
        ask its agent to rebase on the base branch, resolve the conflicting files, run the
        tests and commit: a live run is steered, an ended one is resumed. Returns the run.
        Refused when the branch merges cleanly."""
        found = await rt.runs.get(run)
        check = await conflicts_of(found)
        if check.clean:
            raise Conflict(f"run {found.id!r}: branch {check.branch!r} merges cleanly into "
                           f"{check.base_branch!r}; nothing to resolve")
        base = check.base_branch
        message = (f"Your branch {check.branch} no longer merges cleanly into {base}; these "
                   f"files conflict: {', '.join(check.conflicts)}. Rebase your branch on {base} "
                   f"(`git rebase {base}`), resolve the conflicts in those files keeping the "
                   "intent of both sides, run the tests, and commit the result.")
        if instructions and instructions.strip():
            message += f"\n\n{instructions.strip()}"
        if found.state.is_live:
            return await rt.runs.steer(found.id, message, actor=actor())
        if found.state.is_resumable:
            return await rt.runs.resume(found.id, message, actor=actor())
        raise Conflict(f"run {found.id!r} is {found.state}; a closed or merged run cannot be "
                       "continued, fork it with fork_run instead")
