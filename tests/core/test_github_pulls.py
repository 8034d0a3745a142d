"""Gluon's GitHub client opens, finds, edits and merges pull requests, deletes branches and
reads check runs, against the fake GitHub serving a real bare repository that the project
pushes to: a merge really moves the base branch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import GitHubConfig
from core.github.client import (
    GitHubClient,
    GitHubError,
    MergeMethod,
    PullHeadMoved,
    PullNotMergeable,
)
from tests.conftest import git
from tests.fakes.github import Check, FakeGitHub

REPO = "octo/demo"


@dataclass
class Project:
    work: Path  # a clone whose origin is ``bare``
    bare: Path

    def commit(self, branch: str, path: str, text: str, message: str) -> str:
        """A commit on ``branch`` (made from main when new), pushed; its sha."""
        if git(self.work, "branch", "--list", branch):
            git(self.work, "checkout", "-q", branch)
        else:
            git(self.work, "checkout", "-q", "-b", branch, "origin/main")
        (self.work / path).write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", branch)
        git(self.work, "fetch", "-q", "origin")
        return git(self.work, "rev-parse", "HEAD")

    def sha(self, ref: str) -> str:
        return git(self.bare, "rev-parse", ref)

    def show(self, fmt: str, ref: str) -> str:
        return git(self.bare, "log", "-1", f"--format={fmt}", ref)


@pytest.fixture
def project(tmp_path: Path, repo: Path) -> Project:
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    return Project(work, bare)


@pytest.fixture
def github(project: Project) -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo(REPO, bare=project.bare)
        yield fake


@pytest.fixture
async def client(github: FakeGitHub) -> AsyncIterator[GitHubClient]:
    gh = GitHubClient(GitHubConfig.model_validate({"token": github.token,
                                                   "api_url": github.api_url}))
    yield gh
    await gh.close()


async def test_a_pull_request_is_opened_found_by_its_branch_and_edited(
        project: Project, client: GitHubClient) -> None:
    head = project.commit("gluon/ab12", "app.py", "def add(a, b):\n    return b + a\n",
                          "Add the other way round")
    made = await client.create_pull(REPO, head="gluon/ab12", base="main", title="Add",
                                    body="Adds.")
    assert (made["state"], made["head"]["ref"], made["head"]["sha"], made["base"]["ref"],
            made["merged"], made["draft"]) == ("open", "gluon/ab12", head, "main", False, False)
    assert made["html_url"].endswith(f"/octo/demo/pull/{made['number']}")
    edited = await client.update_pull(REPO, made["number"], title="Add, reversed",
                                      body="Adds b to a.")
    assert (edited["title"], edited["body"]) == ("Add, reversed", "Adds b to a.")
    closed = await client.update_pull(REPO, made["number"], state="closed")
    assert (closed["state"], closed["merged"]) == ("closed", False)
    again = await client.create_pull(REPO, head="gluon/ab12", base="main", title="Add, again",
                                     body="")
    found = await client.pulls_of_branch(REPO, "gluon/ab12")
    assert [p["number"] for p in found] == [again["number"], made["number"]]  # newest first
    assert "merged" not in found[0] and found[0]["merged_at"] is None  # as GitHub lists them
    assert [p["number"] for p in await client.pulls_of_branch(REPO, "gluon/ab12",
                                                              state="open")] == [again["number"]]
    assert await client.pulls_of_branch(REPO, "gluon/other") == []


async def test_github_refuses_a_pull_request_from_a_branch_it_lacks_or_with_nothing_new(
        project: Project, client: GitHubClient) -> None:
    with pytest.raises(GitHubError, match="422 Validation Failed.*head"):
        await client.create_pull(REPO, head="gluon/never-pushed", base="main", title="x",
                                 body="")
    git(project.work, "push", "-q", "origin", "main:gluon/same")
    with pytest.raises(GitHubError, match="No commits between main and gluon/same"):
        await client.create_pull(REPO, head="gluon/same", base="main", title="x", body="")


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
async def test_each_merge_method_really_moves_the_base_branch(
        project: Project, client: GitHubClient, method: MergeMethod) -> None:
    head = project.commit("gluon/ab12", "notes.md", "notes\n", "Write notes")
    main = project.commit("main", "README.md", "# demo, moved on\n", "Reword the README")
    made = await client.create_pull(REPO, head="gluon/ab12", base="main", title="Notes",
                                    body="")
    merged = await client.merge_pull(REPO, made["number"], sha=head, method=method)
    assert project.sha("main") == merged
    assert git(project.bare, "show", "main:notes.md") == "notes"
    assert git(project.bare, "show", "main:README.md") == "# demo, moved on"
    parents = project.show("%P", merged).split()
    if method == "merge":
        assert parents == [main, head]
        assert project.show("%s", merged) == "Merge pull request #1 from octo/gluon/ab12"
    elif method == "squash":
        assert parents == [main]
        assert project.show("%s", merged) == "Notes (#1)"
    else:
        assert parents == [main] and merged != head
        assert (project.show("%s|%an|%cn", merged)) == "Write notes|Test User|GitHub"
    pull = await client.pull(REPO, made["number"])
    assert (pull["state"], pull["merged"], pull["merge_commit_sha"]) == ("closed", True, merged)


async def test_a_rebase_merge_writes_new_commits_even_when_the_branch_is_on_its_base(
        project: Project, client: GitHubClient) -> None:
    head = project.commit("gluon/ab12", "notes.md", "notes\n", "Write notes")
    made = await client.create_pull(REPO, head="gluon/ab12", base="main", title="Notes",
                                    body="")
    merged = await client.merge_pull(REPO, made["number"], sha=head, method="rebase")
    assert merged != head and project.sha("main") == merged
    assert project.show("%P", merged) == project.show("%P", head)


async def test_a_merge_at_a_head_that_moved_is_refused_until_asked_at_the_new_head(
        project: Project, client: GitHubClient) -> None:
    first = project.commit("gluon/ab12", "notes.md", "notes\n", "Write notes")
    made = await client.create_pull(REPO, head="gluon/ab12", base="main", title="Notes",
                                    body="")
    second = project.commit("gluon/ab12", "notes.md", "more notes\n", "Write more notes")
    assert (await client.pull(REPO, made["number"]))["head"]["sha"] == second
    main = project.sha("main")
    with pytest.raises(PullHeadMoved, match=f"no longer has head {first[:12]}"):
        await client.merge_pull(REPO, made["number"], sha=first, method="squash")
    assert project.sha("main") == main
    merged = await client.merge_pull(REPO, made["number"], sha=second, method="squash")
    assert git(project.bare, "show", f"{merged}:notes.md") == "more notes"


async def test_a_pull_request_that_conflicts_with_its_base_is_not_mergeable(
        project: Project, client: GitHubClient) -> None:
    head = project.commit("gluon/ab12", "app.py", "def add(a, b):\n    return b + a\n",
                          "Swap the operands")
    main = project.commit("main", "app.py", "def add(a, b):\n    return sum((a, b))\n",
                          "Use sum")
    made = await client.create_pull(REPO, head="gluon/ab12", base="main", title="Swap",
                                    body="")
    pull = await client.pull(REPO, made["number"])
    assert (pull["mergeable"], pull["mergeable_state"]) == (False, "dirty")
    with pytest.raises(PullNotMergeable, match="Pull Request is not mergeable; rebase"):
        await client.merge_pull(REPO, made["number"], sha=head, method="merge")
    assert project.sha("main") == main
    assert (await client.pull(REPO, made["number"]))["state"] == "open"


async def test_mergeable_is_null_while_github_computes_it(
        project: Project, github: FakeGitHub, client: GitHubClient) -> None:
    github.repos[REPO].mergeable_delay = 1
    project.commit("gluon/ab12", "notes.md", "notes\n", "Write notes")
    made = await client.create_pull(REPO, head="gluon/ab12", base="main", title="Notes",
                                    body="")
    assert (made["mergeable"], made["mergeable_state"]) == (None, "unknown")
    pull = await client.pull(REPO, made["number"])
    assert (pull["mergeable"], pull["mergeable_state"]) == (True, "clean")


async def test_deleting_a_branch_removes_it_and_closes_its_pull_request(
        project: Project, client: GitHubClient) -> None:
    project.commit("gluon/ab12", "notes.md", "notes\n", "Write notes")
    made = await client.create_pull(REPO, head="gluon/ab12", base="main", title="Notes",
                                    body="")
    await client.delete_branch(REPO, "gluon/ab12")
    assert git(project.bare, "branch", "--list", "gluon/ab12") == ""
    assert (await client.pull(REPO, made["number"]))["state"] == "closed"
    await client.delete_branch(REPO, "gluon/ab12")  # already gone: no error


async def test_a_pull_request_closed_by_hand_is_seen_closed(
        project: Project, github: FakeGitHub, client: GitHubClient) -> None:
    project.commit("gluon/ab12", "notes.md", "notes\n", "Write notes")
    made = await client.create_pull(REPO, head="gluon/ab12", base="main", title="Notes",
                                    body="")
    github.close_pull(REPO, made["number"])
    [closed] = await client.pulls_of_branch(REPO, "gluon/ab12", state="closed")
    assert (closed["number"], closed["merged_at"]) == (made["number"], None)
    with pytest.raises(PullNotMergeable):
        await client.merge_pull(REPO, made["number"], sha=closed["head"]["sha"], method="merge")


async def test_check_runs_are_in_progress_then_completed_and_follow_the_pushed_head(
        project: Project, github: FakeGitHub, client: GitHubClient) -> None:
    def checks(full_name: str, sha: str) -> list[Check]:
        fixed = "return a + b" in (github.file_at(full_name, sha, "app.py") or "")
        return [Check("tests", "success" if fixed else "failure",
                      "" if fixed else "test_add failed", in_progress_reads=2),
                Check("deploy-preview", None)]

    github.checks_by(checks)
    broken = project.commit("gluon/ab12", "app.py", "def add(a, b):\n    return a - b\n",
                            "Subtract")
    running = await client.all_check_runs(REPO, broken)
    assert [(r["name"], r["status"], r["conclusion"]) for r in running] == [
        ("tests", "in_progress", None), ("deploy-preview", "in_progress", None)]
    assert await client.check_runs(REPO, "gluon/ab12") == []  # none completed yet
    [failed] = await client.check_runs(REPO, broken)
    assert (failed["name"], failed["conclusion"], failed["output"]["summary"],
            failed["head_sha"]) == ("tests", "failure", "test_add failed", broken)
    assert failed["html_url"].startswith("https://")
    fixed = project.commit("gluon/ab12", "app.py", "def add(a, b):\n    return a + b\n",
                           "Add again")
    for _ in range(2):  # the two reads that see it in progress
        [tests, _preview] = await client.all_check_runs(REPO, "gluon/ab12")
        assert (tests["head_sha"], tests["status"]) == (fixed, "in_progress")
    github.complete_check(REPO, fixed, "deploy-preview", "success", "deployed")
    done = await client.all_check_runs(REPO, "gluon/ab12")
    assert [(r["name"], r["status"], r["conclusion"]) for r in done] == [
        ("tests", "completed", "success"), ("deploy-preview", "completed", "success")]
    assert github.checked(REPO) == [broken, fixed]
    with pytest.raises(GitHubError, match="No commit found for SHA"):
        await client.all_check_runs(REPO, "0" * 40)
