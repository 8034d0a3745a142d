"""The merge queue's own cost per entry: rebase, merge and cleanup, without the checks or the agent.

    uv run python bench/merge_queue.py [--files 20000] [--entries 20] [--github]

On a generated repository (``bench/gen_repo.py``: ``--files`` files in nested folders, one
commit, checked out on ``main``) whose ``origin`` is a bare clone of it, with the real runtime,
the real Claude Code CLI and the scripted model server (``tests/fakes``):

1. ``--entries`` runs are started; each writes a new file of its own and ends, so all are in
   review with one commit on their branch.
2. A commit lands on ``main`` (and origin's) after the runs started: every entry, the first
   too, has to rebase onto a base that moved.
3. All the runs are queued at once (``runtime.merges.enqueue``), then
   ``runtime.merges.idle()`` waits until the line is empty.

Local (the default): origin is a local file remote and the runs' branches are pushed there
beforehand, as a person sharing them would, so the queue's remote step (deleting the branch on
origin) really runs. The project's ``test_command`` is ``true``, run in the sandbox as every
check is: the check is trivial. The queue rebases in the run's worktree, fast-forwards ``main``
in the user's checkout and cleans up.

``--github``: origin is ``https://github.com/octo/bench.git`` (rewritten by git to the bare
clone) and the fake GitHub (``tests/fakes/github.py``) serves it from that bare repository.
The queue fetches, rebases, pushes the branch, opens its pull request, reads its check runs
(one check, passed at once), merges it through the REST API (a real merge in the bare
repository) and deletes the branch through the API.

From each entry's recorded transitions (``runtime.merges.transitions``) and timings of the steps
(wrapped on this runtime's objects; nothing in ``core/`` changes), it prints p50, p90 and max
over the entries of the overhead: from ``rebasing`` to the next entry's ``rebasing`` (for the
last, to ``idle()`` returning), minus the check; split into ``rebasing`` -> ``merged`` (the
rebase, the move to the checks, the merge) and the cleanup after ``merged``
(the run marked merged, its branch deleted on origin and here, its worktree removed, the next
entry picked). The check's own time, which is left out, is printed too: locally the time in
``checking``; on GitHub the reads of the check runs (the push and the pull request, which
happen in ``checking``, count as overhead). The CPU time of Gluon's process and of its git and
sandbox processes per entry is printed as well: wall times stretch when the machine is busy.

On 2 cores most of the cleanup is removing the run's worktree (20,000 files: about 2 s, the
same as ``rm -rf``), which the line waits for before it takes the next entry.

It fails (exit 1) unless every entry merged, ``main`` (origin's, on GitHub) gained exactly the
runs' files, and no run branch is left here or on origin. This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.gen_repo import generate_repo  # noqa: E402
from bench.run_start import pct  # noqa: E402
from core.config import Config  # noqa: E402
from core.git import rebase as git_rebase  # noqa: E402
from core.merges import MergeState  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.types import RunState  # noqa: E402
from tests.conftest import daemon_environ, wait_state  # noqa: E402
from tests.fakes import scripts as s  # noqa: E402
from tests.fakes.github import Check, FakeGitHub  # noqa: E402
from tests.fakes.model_server import ScriptedModelServer  # noqa: E402

PROJECT = "bench"
GITHUB_REPO = "octo/bench"
GITHUB_ORIGIN = f"https://github.com/{GITHUB_REPO}.git"
GIT_ENV = {"GIT_AUTHOR_NAME": "Bench User", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "Bench User", "GIT_COMMITTER_EMAIL": "bench@localhost",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


class BenchFailed(Exception):
    """What was measured is not what was meant (an entry did not merge, a file is missing)."""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, timeout=300).stdout.strip()


def run_file(n: int) -> str:
    """The new file run ``n`` writes, next to generated ones."""
    return f"src/pkg{n % 25:03d}/mod{n % 32:02d}/queued_{n:03d}.py"


def make_repo(tmp: Path, files: int, github: bool) -> tuple[Path, Path]:
    """The user's checkout (on main) and the bare clone that is its ``origin``."""
    repo, bare = tmp / "repo", tmp / "origin.git"
    generate_repo(repo, files)
    git(tmp, "clone", "--quiet", "--bare", str(repo), str(bare))
    if github:
        git(repo, "remote", "add", "origin", GITHUB_ORIGIN)
        git(repo, "config", f"url.{bare}.insteadOf", GITHUB_ORIGIN)
    else:
        git(repo, "remote", "add", "origin", str(bare))
    git(repo, "fetch", "--quiet", "origin")
    return repo, bare


def bench_config(home: Path, server: ScriptedModelServer, concurrent: int,
                 github: FakeGitHub | None) -> Config:
    return Config.model_validate({
        "home": str(home),
        "anthropic": {"api_key": "sk-test", "base_url": server.base_url},
        # No spare worktrees: a 20,000-file checkout each, which only the runs' start needs.
        "agents": {"max_concurrent": concurrent, "max_concurrent_per_project": concurrent,
                   "warm": 0, "spare_worktrees": 0},
        "projects": {PROJECT: {"test_command": "true"}},
        "merge": {"poll_seconds": 0.2},
        **({"github": {"token": github.token, "api_url": github.api_url}} if github else {}),
    })


async def finished_runs(rt: Runtime, server: ScriptedModelServer, entries: int) -> list[str]:
    """Start ``entries`` runs that each write their own file, and wait until all are in review."""
    ids: list[str] = []
    for n in range(entries):
        key = f"SCRIPT:queued-{n:03d}"
        server.script(key, [s.write(run_file(n), f'"""Queued change {n}."""\n\nVALUE = {n}\n'),
                            s.text("Done.")])
        ids.append((await rt.runs.start_run(PROJECT, f"{key} please")).id)
    for run_id in ids:
        run = await wait_state(rt, run_id, RunState.REVIEW, RunState.FAILED, RunState.CANCELLED,
                               RunState.INTERRUPTED, RunState.WAITING, timeout=600)
        if run.state is not RunState.REVIEW:
            raise BenchFailed(f"run {run_id} ended {run.state}: {run.state_reason}")
    return ids


class Stopwatch:
    """When each call of a step started (wall clock, as the transitions) and how long it took.
    A step is wrapped on this runtime's object (or its module): nothing in ``core/`` changes."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[float, float]]] = {}

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        original: Callable[..., Awaitable[Any]] = getattr(owner, attr)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            at, started = time.time(), time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.calls.setdefault(label, []).append((at, time.perf_counter() - started))
        setattr(owner, attr, timed)

    def within(self, label: str, start: float, end: float) -> float:
        """The time of the calls that started in [start, end): one entry's, as the line works
        on one entry at a time."""
        return sum(took for at, took in self.calls.get(label, []) if start <= at < end)


def cpu_seconds() -> tuple[float, float]:
    """CPU time (user + system) of this process (Gluon, the fakes) and of its ended children
    (git, the sandboxed check): unlike wall times, not stretched by other work on the machine."""
    me, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                        resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def spans(rows: list[tuple[str | None, str, str, float]]) -> dict[str, float]:
    """When the entry first started rebasing and was merged, and the time it spent in each
    state (summed when it came back to one)."""
    out: dict[str, float] = {}
    for (_, state, _, at), (_, _, _, until) in zip(rows, rows[1:], strict=False):
        out[state] = out.get(state, 0.0) + until - at
    out["start"] = next(at for _, new, _, at in rows if new == "rebasing")
    out["merged_at"] = next(at for _, new, _, at in rows if new == "merged")
    out["rebases"] = sum(1 for _, new, _, _ in rows if new == "rebasing")
    return out


def steps_to_time(rt: Runtime, github: bool) -> Stopwatch:
    watch = Stopwatch()
    watch.wrap(rt.review, "delete_branch", "worktree")
    if github:
        client = rt.merges.github
        watch.wrap(git_rebase, "fetch", "fetch")
        watch.wrap(git_rebase, "remote_head", "push")  # where the branch is on origin, then
        watch.wrap(git_rebase, "push_with_lease", "push")
        watch.wrap(client, "create_pull", "pull request")
        watch.wrap(client, "all_check_runs", "checks")
        watch.wrap(client, "merge_pull", "merge call")
        watch.wrap(client, "delete_branch", "remote")
    else:
        watch.wrap(git_rebase, "delete_remote_branch", "remote")
    return watch


async def verify(rt: Runtime, repo: Path, bare: Path, entries: list[str], branches: list[str],
                 before: str, github: FakeGitHub | None) -> None:
    ended = [await rt.merges.get(e) for e in entries]
    failed = [f"{e.id} {e.state}: {e.reason}" for e in ended if e.state is not MergeState.MERGED]
    if failed:
        raise BenchFailed("not merged: " + "; ".join(failed))
    where = bare if github else repo
    added = set(git(where, "diff", "--name-only", "--diff-filter=A", before, "main").splitlines())
    if added != {run_file(n) for n in range(len(entries))}:
        raise BenchFailed(f"main gained {len(added)} files, not the {len(entries)} of the runs")
    remote = {line.partition("\trefs/heads/")[2]
              for line in git(repo, "ls-remote", "--heads", "origin").splitlines()}
    local = set(git(repo, "branch", "--format=%(refname:short)").splitlines())
    left = sorted(set(branches) & (remote | local))
    if left:
        raise BenchFailed(f"run branches left behind (here or on origin): {left}")
    if git(repo, "status", "--porcelain"):
        raise BenchFailed("the user's checkout is not clean after the merges")
    if github is not None:
        merged = [p for p in github.pulls(GITHUB_REPO) if p.merged]
        if len(merged) != len(entries):
            raise BenchFailed(f"{len(merged)} pull requests merged, not {len(entries)}")


async def measure(rt: Runtime, repo: Path, bare: Path, run_ids: list[str],
                  github: FakeGitHub | None) -> dict[str, list[float]]:
    branches = [str((await rt.runs.get(r)).branch) for r in run_ids]
    if github is None:
        git(repo, "push", "--quiet", "origin", *branches)  # the queue pushes them on GitHub
    # main moves after the runs started: the first entry has to rebase too.
    (repo / "CHANGELOG.md").write_text("main moved while the runs worked\n")
    git(repo, "add", "CHANGELOG.md")
    git(repo, "commit", "--quiet", "-m", "main moves on")
    git(repo, "push", "--quiet", "origin", "main")
    before = git(repo, "rev-parse", "main")
    # The runs' checkouts are still being written back to disk; that is their cost, not the
    # queue's (the first worktree removals would otherwise wait for it).
    flushing = time.perf_counter()
    os.sync()
    print(f"setup's writes flushed to disk in {time.perf_counter() - flushing:.1f}s", flush=True)
    watch = steps_to_time(rt, github is not None)

    started, cpu = time.time(), cpu_seconds()
    entries = [(await rt.merges.enqueue(run_id, actor="bench")).id for run_id in run_ids]
    await rt.merges.idle()
    done, cpu_used = time.time(), [b - a for a, b in zip(cpu, cpu_seconds(), strict=True)]
    await verify(rt, repo, bare, entries, branches, before, github)

    timed = sorted([spans(await rt.merges.transitions(e)) for e in entries],
                   key=lambda span: span["start"])
    ends = [span["start"] for span in timed[1:]] + [done]
    labels = ["worktree", "remote"] + (
        ["fetch", "push", "pull request", "merge call"] if github else [])
    figures: dict[str, list[float]] = {k: [] for k in (
        "total", "overhead", "rebase", "merge", "cleanup", "check", "checking", *labels)}
    for span, end in zip(timed, ends, strict=True):
        check = (watch.within("checks", span["start"], end) if github
                 else span.get("checking", 0.0))
        figures["total"].append(end - span["start"] - check)
        figures["overhead"].append(span["merged_at"] - span["start"] - check)
        figures["rebase"].append(span.get("rebasing", 0.0))
        figures["merge"].append(span.get("merging", 0.0))
        figures["cleanup"].append(end - span["merged_at"])
        figures["check"].append(check)
        figures["checking"].append(span.get("checking", 0.0))
        for label in labels:
            figures[label].append(watch.within(label, span["start"], end))
    figures["wall"] = [done - started]
    figures["cpu"] = cpu_used
    figures["rebases"] = [span["rebases"] for span in timed]
    return figures


async def bench(tmp: Path, files: int, entries: int, concurrent: int,
                github: FakeGitHub | None) -> dict[str, list[float]]:
    t = time.perf_counter()
    repo, bare = make_repo(tmp, files, github is not None)
    if github is not None:
        github.add_repo(GITHUB_REPO, bare=bare)
        github.checks_by(lambda full_name, sha: [Check("tests", "success")])
    print(f"repository: {files} files, generated with its bare origin in "
          f"{time.perf_counter() - t:.1f}s", flush=True)
    server = ScriptedModelServer()
    server.start()
    rt = Runtime(bench_config(tmp / "gluon-home", server, concurrent, github),
                 environ=daemon_environ())
    try:
        await rt.open()
        await rt.projects.add(PROJECT, str(repo))
        t = time.perf_counter()
        run_ids = await finished_runs(rt, server, entries)
        print(f"{entries} runs in review (each wrote its own file) in "
              f"{time.perf_counter() - t:.1f}s", flush=True)
        return await measure(rt, repo, bare, run_ids, github)
    finally:
        await rt.close()
        server.stop()


def report(figures: dict[str, list[float]], files: int, entries: int, github: bool) -> None:
    def row(label: str, key: str) -> None:
        ms = [v * 1000 for v in figures[key]]
        print(f"  {label:<52} p50 {pct(ms, .5):6.0f} ms  p90 {pct(ms, .9):6.0f} ms  "
              f"max {max(ms):6.0f} ms")
    if github:
        print(f"\nmerge queue on GitHub (the fake, served from a bare repository), a "
              f"{files}-file repository: {entries} entries queued at once on main, each fetched "
              "and rebased (main had moved), pushed, its pull request opened, its one check "
              "read (passed), merged through the API, cleaned up. Per entry:")
    else:
        print(f"\nmerge queue on a {files}-file repository with a local bare origin: {entries} "
              "entries queued at once on main, each rebased (main had moved), checked with "
              "`true` in the sandbox, fast-forwarded into the user's checkout, cleaned up. "
              "Per entry:")
    row("overhead: all but the check", "total")
    row("  rebasing -> merged, minus the check", "overhead")
    row("    the rebase (rebasing -> checking)", "rebase")
    if github:
        row("      of which git fetch", "fetch")
        row("    push: ls-remote, push (in checking)", "push")
        row("    pull request opened (in checking)", "pull request")
    row("    the merge (merging -> merged)", "merge")
    if github:
        row("      of which the merge API call", "merge call")
    row("  cleanup (merged -> next entry rebasing)", "cleanup")
    row("    worktree and branch removed here", "worktree")
    row("    branch deleted " + ("through the API" if github else "on origin"), "remote")
    if github:
        row("excluded: the checks (reading the check runs)", "check")
        row("(all of checking: push, pull request, checks)", "checking")
    else:
        row("excluded: the check (checking -> merging)", "check")
    wall, (own, children) = figures["wall"][0], figures["cpu"]
    print(f"  all {entries} merged in {wall:.1f}s ({wall / entries:.2f}s per entry, checks "
          f"included); rebases per entry: {statistics.mean(figures['rebases']):.1f}")
    print(f"  CPU time per entry, checks included: {own / entries * 1000:.0f} ms in Gluon's "
          f"process, {children / entries * 1000:.0f} ms in its git and sandbox processes "
          f"(on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end: wall "
          "times stretch when the machine is busy)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=20000, help="files in the repository")
    parser.add_argument("--entries", type=int, default=20, help="runs queued for merging")
    parser.add_argument("--github", action="store_true",
                        help="the project's origin on (the fake) GitHub: push, PR, merge")
    parser.add_argument("--concurrent", type=int, default=4,
                        help="runs the agents make at once beforehand (agents.max_concurrent)")
    parser.add_argument("--tmpdir", help="where to make the temp dir (default: $TMPDIR or /tmp)")
    args = parser.parse_args()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="gluon-bench-", dir=args.tmpdir))
    os.environ["GLUON_HOME"] = str(tmp / "gluon-home")
    fake = FakeGitHub() if args.github else None
    try:
        if fake is not None:
            fake.start()
        figures = asyncio.run(bench(tmp, args.files, args.entries, args.concurrent, fake))
    except BenchFailed as exc:
        sys.exit(f"merge_queue: {exc}")
    finally:
        if fake is not None:
            fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report(figures, args.files, args.entries, args.github)
    print(f"benchmark took {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
