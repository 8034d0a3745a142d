"""Stopping Gluon while agents work: nothing lost, nothing invented, everything on record.

The real Claude Code CLI (in the real sandbox where bubblewrap runs) against the scripted model
server, real git worktrees, and a real runtime stopped the way `gluon serve` stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from core.config import Config
from core.events.bus import RunStateChanged
from core.models import Run
from core.runs.store import RunStore
from core.runtime import Runtime
from core.store.db import Database
from core.types import RunState
from tests.conftest import INSIDE_BASH, daemon_environ, git, until, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

MCP_JSON = '{"mcpServers": {}}\n'


async def opened(config: Config) -> Runtime:
    return await Runtime(config, environ=daemon_environ()).open()


async def start(rt: Runtime, repo: Path, prompt: str) -> str:
    if not await rt.db.fetchone("SELECT 1 FROM projects WHERE name = 'demo'"):
        await rt.projects.add("demo", str(repo))
    return (await rt.runs.start_run("demo", prompt)).id


async def stored_run(config: Config, run_id: str) -> Run:
    """The run as the stopped runtime left it (read from its database, no runtime opened)."""
    db = Database(config.db_path)
    await db.open()
    try:
        return await RunStore(db).get(run_id)
    finally:
        await db.close()


def branch_files(repo: Path, branch: str) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", branch).splitlines())


async def test_stopping_gluon_inside_a_bash_command_commits_no_sandbox_stand_ins(
        config: Config, repo: Path, model_server: ScriptedModelServer) -> None:
    # The repository tracks an empty .ripgreprc of its own; the agent writes a real .mcp.json.
    (repo / ".ripgreprc").write_text("")
    git(repo, "add", ".ripgreprc")
    git(repo, "commit", "-q", "-m", "ripgrep settings")
    model_server.script("SCRIPT:standins", [s.write(".mcp.json", MCP_JSON), s.bash(INSIDE_BASH),
                                            s.text("done")])
    rt = await opened(config)
    try:
        run_id = await start(rt, repo, "SCRIPT:standins set up MCP")
        await wait_state(rt, run_id, RunState.WAITING)  # .mcp.json needs a person's yes
        [request] = await rt.runs.interactions.pending(run_id)
        await rt.runs.answer(request.id, "allow", actor="alice")
        cwd = Path((await rt.runs.get(run_id)).cwd)
        await until(lambda: (cwd / "started.flag").exists(), "the Bash command's start")
    finally:
        await rt.close()  # what `gluon serve` does on SIGTERM

    run = await stored_run(config, run_id)
    assert run.state is RunState.INTERRUPTED
    assert run.branch is not None
    assert branch_files(repo, run.branch) == {"README.md", "app.py", ".ripgreprc", ".mcp.json",
                                              "started.flag"}
    assert git(repo, "show", f"{run.branch}:.mcp.json") == MCP_JSON.strip()
    assert (cwd / ".ripgreprc").is_file() and (cwd / ".mcp.json").read_text() == MCP_JSON
    assert git(cwd, "status", "--porcelain", "--untracked-files=all", "--ignored") == ""


async def test_the_agents_uncommitted_work_is_committed_with_its_task_and_summary(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:msg", [
        s.write("greeting.txt", "hello\n"),
        s.text("Added greeting.txt with a friendly hello."),
    ])
    task = ("SCRIPT:msg Add a greeting file that welcomes every new contributor to the "
            "project warmly\n\nKeep it short.")
    run_id = await start(runtime, repo, task)
    run = await wait_state(runtime, run_id)

    assert run.state is RunState.REVIEW, run.state_reason
    assert run.branch is not None
    subject = git(repo, "log", "-1", "--format=%s", run.branch)
    body = git(repo, "log", "-1", "--format=%b", run.branch)
    assert subject.startswith("SCRIPT:msg Add a greeting file that welcomes")
    assert len(subject) <= 72 and subject.endswith("...")
    assert [c.subject for c in run.commits] == [subject]
    assert run_id in body
    assert "Added greeting.txt with a friendly hello." in body
    assert "uncommitted work of run" not in subject


async def test_a_run_whose_work_cannot_be_committed_fails_and_says_where_its_work_is(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    # An empty repository inside the worktree makes `git add` refuse the whole tree.
    model_server.script("SCRIPT:nocommit", [s.bash("git init -q sub && echo work > work.txt"),
                                            s.text("Wrote work.txt.")])
    run_id = await start(runtime, repo, "SCRIPT:nocommit write work.txt")
    run = await wait_state(runtime, run_id)

    assert run.state is RunState.FAILED, (run.state, run.state_reason)
    assert "could not commit" in run.state_reason and run.cwd in run.state_reason
    assert "sub/" in run.state_reason  # what git said
    assert run.error is not None and "could not commit" in run.error
    assert (Path(run.cwd) / "work.txt").read_text() == "work\n"  # the work is still there
    # Fixing the cause and resuming records it.
    model_server.script("SCRIPT:fixed", [s.bash("rm -rf sub"), s.text("Removed sub.")])
    await runtime.runs.resume(run_id, "SCRIPT:fixed remove the empty repository")
    run = await wait_state(runtime, run_id, RunState.REVIEW, RunState.FAILED)
    assert run.state is RunState.REVIEW, run.state_reason
    assert [f.path for f in run.changed_files] == ["work.txt"]


async def test_what_the_agent_does_while_gluon_shuts_down_is_in_its_logs(
        config: Config, repo: Path, model_server: ScriptedModelServer) -> None:
    # Whether the stopped turn left a (synthetic) reply in the history depends on timing, so
    # the resumed session may be at step 1 or 2: both write after.txt.
    after = s.write("after.txt", "after\n")
    model_server.script("SCRIPT:late", [s.bash(INSIDE_BASH), after, after, s.text("done")])
    rt = await opened(config)
    try:
        run_id = await start(rt, repo, "SCRIPT:late wait, then write after.txt")
        cwd = Path((await rt.runs.get(run_id)).cwd)
        await until(lambda: (cwd / "started.flag").exists(), "the Bash command's start")
        closing = asyncio.create_task(rt.close())
        (cwd / "release.flag").write_text("")  # the command ends while Gluon shuts down
    finally:
        await closing

    rt = await opened(config)  # recovery resumes the run
    try:
        run = await wait_state(rt, run_id, RunState.REVIEW, RunState.FAILED)
        events = await rt.runs.logs(run_id)
    finally:
        await rt.close()
    assert run.state is RunState.REVIEW, run.state_reason
    assert "after.txt" in {f.path for f in run.changed_files}
    # Whenever the agent wrote after.txt (before the shutdown ended or after the restart),
    # `gluon logs` shows it doing so.
    assert any(e.kind == "tool" and "after.txt" in e.summary for e in events), events


async def test_a_run_stopped_before_its_agent_got_the_task_does_its_task_after_a_restart(
        config: Config, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:early", [s.write("task.txt", "done\n"), s.text("Did the task.")])
    rt = await opened(config)
    try:
        await rt.projects.add("demo", str(repo))
        with rt.bus.subscribe(lambda e: isinstance(e, RunStateChanged)
                              and e.new is RunState.RUNNING) as sub:
            run_id = (await rt.runs.start_run("demo", "SCRIPT:early write task.txt")).id
            await sub.get(timeout=30)
    finally:
        await rt.close()  # while its agent is still starting

    rt = await opened(config)
    try:
        run = await wait_state(rt, run_id, RunState.REVIEW, RunState.FAILED)
    finally:
        await rt.close()
    assert run.state is RunState.REVIEW, run.state_reason
    assert [f.path for f in run.changed_files] == ["task.txt"]
    assert run.result_text == "Did the task."


async def left_by_a_dead_daemon(rt: Runtime, repo: Path, prompt: str, state: RunState) -> str:
    """A run as a daemon killed with SIGKILL leaves it in the database."""
    run_id = await rt.runs.store.new_id()
    await rt.runs.store.insert(
        id=run_id, project="demo", prompt=prompt, model="claude-sonnet-4-5", use_worktree=1,
        cwd=str(rt.config.worktrees_dir / "demo" / run_id), branch=f"gluon/{run_id}",
        base_branch="main", base_sha=git(repo, "rev-parse", "HEAD"), session_id=str(uuid.uuid4()),
        pending_prompt=prompt, state=str(state), created_by="cli")
    return run_id


async def test_without_a_daemon_a_command_starts_only_the_runs_it_is_asked_to(
        config: Config, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:orphan", [s.write("orphan.txt", "1\n"), s.text("orphan done")])
    model_server.script("SCRIPT:waiting", [s.write("waiting.txt", "2\n"), s.text("done too")])
    rt = Runtime(config, environ=daemon_environ())
    await rt.open(resume_interrupted=False)  # what a `gluon` command opens without a daemon
    try:
        await rt.projects.add("demo", str(repo))
        orphan = await left_by_a_dead_daemon(rt, repo, "SCRIPT:orphan", RunState.RUNNING)
        waiting = await left_by_a_dead_daemon(rt, repo, "SCRIPT:waiting", RunState.QUEUED)
    finally:
        await rt.close()

    rt = Runtime(config, environ=daemon_environ())
    await rt.open(resume_interrupted=False)  # e.g. `gluon runs`: it only reads
    try:
        assert {r.id: r.state for r in await rt.runs.find()} == {
            orphan: RunState.RUNNING, waiting: RunState.QUEUED}
        assert not rt.runs.is_live(waiting)
        await rt.runs.resume(orphan, "")  # `gluon resume`: that one runs here
        run = await wait_state(rt, orphan, RunState.REVIEW, RunState.FAILED)
        assert run.state is RunState.REVIEW, run.state_reason
        assert [f.path for f in run.changed_files] == ["orphan.txt"]
        assert [t.to_state for t in await rt.runs.store.transitions(orphan)] == [
            RunState.RUNNING, RunState.INTERRUPTED, RunState.QUEUED, RunState.RUNNING,
            RunState.REVIEW]
        assert (await rt.runs.get(waiting)).state is RunState.QUEUED
        assert not [r for r in model_server.requests if r.script_key == "SCRIPT:waiting"]
        await rt.runs.resume(waiting, "")
        run = await wait_state(rt, waiting, RunState.REVIEW, RunState.FAILED)
        assert [f.path for f in run.changed_files] == ["waiting.txt"], run.state_reason
    finally:
        await rt.close()


async def test_a_run_whose_session_was_never_saved_starts_it_afresh_with_its_task(
        repo: Path, config: Config, model_server: ScriptedModelServer) -> None:
    # Gluon killed during the agent's very first model request leaves a started session that
    # Claude Code never saved; resuming it would fail with "No conversation found".
    model_server.script("SCRIPT:unsaved", [s.text("first turn")])
    rt = await opened(config)
    try:
        run_id = await start(rt, repo, "SCRIPT:unsaved")
        assert (await wait_state(rt, run_id)).state is RunState.REVIEW
        for transcript in (config.agent_homes_dir / run_id).glob(".claude/projects/*/*.jsonl"):
            transcript.unlink()
        model_server.script("SCRIPT:unsaved", [s.write("task.txt", "done\n"), s.text("did it")])
        await rt.runs.resume(run_id, "and write task.txt")
        done = await wait_state(rt, run_id)
    finally:
        await rt.close()
    assert done.state is RunState.REVIEW, done.state_reason
    assert git(repo, "show", f"gluon/{run_id}:task.txt") == "done"
    # The fresh session was given the run's task along with the new message.
    assert any("SCRIPT:unsaved" in r.last_user_text() and "and write task.txt"
               in r.last_user_text() for r in model_server.requests)
