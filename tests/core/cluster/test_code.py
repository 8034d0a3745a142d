"""A run's code between hosts through git: two worker hosts (two data dirs), a bare remote as
the project's source, and the user's repository on the coordinator."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cluster.transfer.code import (
    SANDBOX_STAND_INS,
    BranchMoved,
    SourceUnreachable,
    WorkerCode,
    git_reason,
    receive,
)
from core.cluster.transfer.source import Source
from core.errors import NotFound
from tests.conftest import git
from tests.core.cluster.conftest import RUN, commit


def host(tmp_path: Path, name: str) -> WorkerCode:
    return WorkerCode(tmp_path / name / "gluon-home")


async def test_a_worker_works_from_the_base_and_its_pushed_branch_reaches_the_user(
        tmp_path: Path, user_repo: Path, source: Source) -> None:
    base = git(user_repo, "rev-parse", "main")
    code = host(tmp_path, "a")
    checkout = await code.prepare("demo", source, RUN, base)
    assert checkout.worktree == tmp_path / "a/gluon-home/worktrees/demo" / RUN
    assert checkout.repo == tmp_path / "a/gluon-home/repos/demo.git"
    assert not checkout.resumed and checkout.start == base
    assert git(checkout.worktree, "branch", "--show-current") == f"gluon/{RUN}"
    assert (checkout.worktree / "app.py").read_text().startswith("def add")
    # The paths the agents' Bash sandbox protects in the cache they share are there for good,
    # read-only, so no run's command makes or deletes one under another's.
    for name in SANDBOX_STAND_INS:
        stand_in = checkout.repo / name
        assert stand_in.is_file() and stand_in.stat().st_mode & 0o777 == 0o444, name

    head = commit(checkout.worktree, "notes.txt", "from host a\n")
    assert await code.publish(checkout) == head
    assert await code.publish(checkout) is None  # nothing new since
    assert git(Path(source.url), "rev-parse", f"gluon/{RUN}") == head

    assert await receive(user_repo, source, RUN) == head
    assert git(user_repo, "show", f"gluon/{RUN}:notes.txt") == "from host a"
    assert git(user_repo, "rev-parse", "main") == base  # the user's branches are untouched


async def test_a_run_taken_over_by_another_host_goes_on_from_its_pushed_branch(
        tmp_path: Path, user_repo: Path, source: Source) -> None:
    base = git(user_repo, "rev-parse", "main")
    a, b = host(tmp_path, "a"), host(tmp_path, "b")
    on_a = await a.prepare("demo", source, RUN, base)
    first = commit(on_a.worktree, "one.txt", "1\n")
    await a.publish(on_a)
    commit(on_a.worktree, "unpushed.txt", "lost with host a\n")  # host a dies here

    on_b = await b.prepare("demo", source, RUN, base)
    assert on_b.resumed and on_b.start == first
    assert (on_b.worktree / "one.txt").read_text() == "1\n"
    assert not (on_b.worktree / "unpushed.txt").exists()
    second = commit(on_b.worktree, "two.txt", "2\n")
    assert await b.publish(on_b) == second

    # Host a comes back (it only seemed dead) and pushes: refused, host b's work stays.
    commit(on_a.worktree, "late.txt", "late\n")
    with pytest.raises(BranchMoved, match="another host has taken run"):
        await a.publish(on_a)
    assert git(Path(source.url), "rev-parse", f"gluon/{RUN}") == second


async def test_an_agent_that_rewrote_its_history_still_publishes(
        tmp_path: Path, user_repo: Path, source: Source) -> None:
    code = host(tmp_path, "a")
    checkout = await code.prepare("demo", source, RUN, "main")
    commit(checkout.worktree, "draft.txt", "draft\n")
    await code.publish(checkout)
    git(checkout.worktree, "commit", "-q", "--amend", "-m", "better message")
    amended = git(checkout.worktree, "rev-parse", "HEAD")
    assert await code.publish(checkout) == amended
    assert await receive(user_repo, source, RUN) == amended


async def test_a_push_the_source_refuses_says_why(
        tmp_path: Path, user_repo: Path, source: Source) -> None:
    git(Path(source.url), "config", "receive.denyNonFastForwards", "true")  # protected refs
    code = host(tmp_path, "a")
    checkout = await code.prepare("demo", source, RUN, "main")
    commit(checkout.worktree, "draft.txt", "draft\n")
    await code.publish(checkout)
    git(checkout.worktree, "commit", "-q", "--amend", "-m", "rewritten")
    with pytest.raises(SourceUnreachable) as refused:
        await code.publish(checkout)
    assert str(refused.value).startswith(f"cannot push 'gluon/{RUN}' of project 'demo' to ")
    assert str(refused.value).endswith("[remote rejected] (non-fast-forward)")


async def test_preparing_again_on_the_same_host_starts_from_what_the_source_has(
        tmp_path: Path, user_repo: Path, source: Source) -> None:
    code = host(tmp_path, "a")
    checkout = await code.prepare("demo", source, RUN, "main")
    pushed = commit(checkout.worktree, "one.txt", "1\n")
    await code.publish(checkout)
    commit(checkout.worktree, "unpushed.txt", "x\n")  # the worker restarts here
    again = await code.prepare("demo", source, RUN, "main")
    assert again.worktree == checkout.worktree and again.start == pushed
    assert not (again.worktree / "unpushed.txt").exists()
    assert await code.publish(again) is None

    await code.release(again)
    assert not again.worktree.exists()
    assert git(again.repo, "branch", "--list", f"gluon/{RUN}") == ""
    assert git(Path(source.url), "rev-parse", f"gluon/{RUN}") == pushed


async def test_a_source_that_cannot_be_reached_is_refused_with_gits_reason(
        tmp_path: Path) -> None:
    code = host(tmp_path, "a")
    with pytest.raises(SourceUnreachable) as refused:
        await code.prepare("demo", Source(str(tmp_path / "nowhere.git")), RUN, "main")
    message = str(refused.value)
    assert "cannot fetch project 'demo' from" in message
    assert "does not appear to be a git repository" in message and "\n" not in message

    with pytest.raises(SourceUnreachable, match="Could not resolve host|Failed to connect"):
        await code.prepare("demo", Source("http://127.0.0.1:9/git/demo.git"), RUN, "main")


async def test_a_base_the_source_does_not_have_is_refused(
        tmp_path: Path, user_repo: Path, source: Source) -> None:
    local_only = commit(user_repo, "local.txt", "never pushed\n")
    with pytest.raises(NotFound, match="is not at the source of project 'demo'"):
        await host(tmp_path, "a").prepare("demo", source, RUN, local_only)


async def test_receiving_a_run_that_pushed_nothing_says_so(
        user_repo: Path, source: Source) -> None:
    with pytest.raises(NotFound, match="has pushed no work"):
        await receive(user_repo, source, RUN)


async def test_receiving_through_the_users_remote_uses_its_own_url(
        tmp_path: Path, user_repo: Path, source: Source) -> None:
    # The user's origin holds credentials the source (from a job payload) never carries;
    # a rewrite rule maps the credential-free URL back to the bare remote for this test.
    git(user_repo, "remote", "set-url", "origin", "https://user:secret@git.example.com/demo.git")
    git(user_repo, "config", f"url.{source.url}.insteadOf",
        "https://user:secret@git.example.com/demo.git")
    code = host(tmp_path, "a")
    checkout = await code.prepare("demo", source, RUN, "main")
    head = commit(checkout.worktree, "x.txt", "x\n")
    await code.publish(checkout)
    assert await receive(user_repo, Source("https://git.example.com/demo.git"), RUN) == head


def test_gits_reason_is_one_line_with_the_remotes_own_message() -> None:
    stderr = ("remote: the Gluon cluster token is missing or wrong\n"
              "fatal: unable to access 'http://h/git/demo.git/': The requested URL returned "
              "error: 403\n")
    assert git_reason(stderr) == (
        "unable to access 'http://h/git/demo.git/': The requested URL returned error: 403 "
        "(the Gluon cluster token is missing or wrong)")
    assert git_reason("fatal: https://tok@h/x.git not found\n") == "https://***@h/x.git not found"
