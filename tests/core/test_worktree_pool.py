"""Spare worktrees: a run takes one over instead of checking out a new one."""

from __future__ import annotations

from pathlib import Path

from core.git import ops as gitops
from core.git.worktree_pool import WorktreePool
from tests.conftest import git


async def test_a_run_takes_over_a_spare_worktree_on_its_own_branch(
        tmp_path: Path, repo: Path) -> None:
    pool = WorktreePool(tmp_path / "wt", size=1, refill_delay=0)
    base = git(repo, "rev-parse", "HEAD")
    await pool.checkout("demo", repo, tmp_path / "wt" / "demo" / "r1", "gluon/r1", base)
    pool.refill_later("demo", repo, base)
    await pool.settle()
    [spare] = pool.spares("demo")

    target = tmp_path / "wt" / "demo" / "r2"
    await pool.checkout("demo", repo, target, "gluon/r2", base)

    assert not spare.exists() and (target / "app.py").is_file()
    assert git(target, "rev-parse", "--abbrev-ref", "HEAD") == "gluon/r2"
    assert git(target, "rev-parse", "HEAD") == base
    assert git(target, "status", "--porcelain") == ""
    assert "locked" not in git(repo, "worktree", "list", "--porcelain").split(str(target))[1]
    await pool.close()


async def test_a_spare_made_before_the_base_moved_is_brought_up_to_date(
        tmp_path: Path, repo: Path) -> None:
    pool = WorktreePool(tmp_path / "wt", size=1, refill_delay=0)
    old = git(repo, "rev-parse", "HEAD")
    await pool.checkout("demo", repo, tmp_path / "wt" / "demo" / "r1", "gluon/r1", old)
    pool.refill_later("demo", repo, old)
    await pool.settle()
    (repo / "app.py").write_text("def add(a, b):\n    return b + a\n")
    git(repo, "commit", "-qam", "newer")
    new = git(repo, "rev-parse", "HEAD")

    target = tmp_path / "wt" / "demo" / "r2"
    await pool.checkout("demo", repo, target, "gluon/r2", new)

    assert git(target, "rev-parse", "HEAD") == new
    assert "b + a" in (target / "app.py").read_text()
    assert git(target, "status", "--porcelain") == ""
    await pool.close()


async def test_spares_left_by_a_previous_gluon_are_adopted_and_broken_ones_removed(
        tmp_path: Path, repo: Path) -> None:
    first = WorktreePool(tmp_path / "wt", size=1, refill_delay=0)
    base = git(repo, "rev-parse", "HEAD")
    await first.checkout("demo", repo, tmp_path / "wt" / "demo" / "r1", "gluon/r1", base)
    first.refill_later("demo", repo, base)
    await first.settle()
    await first.close()
    junk = tmp_path / "wt" / "demo" / ".spare-junk"
    junk.mkdir()
    (junk / "half-written").write_text("x")

    second = WorktreePool(tmp_path / "wt", size=1, refill_delay=0)
    await second.adopt("demo", repo)
    assert second.spares("demo") == first.spares("demo")
    assert not junk.exists()
    await second.drop("demo", repo)
    assert len(await gitops.list_worktrees(repo)) == 2  # the checkout and run r1's worktree
