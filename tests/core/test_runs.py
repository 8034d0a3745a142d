"""Runs end to end: the real Claude Code CLI, real git worktrees, the scripted model server."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from core.config import Config
from core.errors import Conflict, InvalidInput, NotFound
from core.runtime import Runtime
from core.types import InteractionStatus, RunState
from tests.conftest import daemon_environ, git, make_config, session_saved, until, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

# Writing outside the run's worktree needs a person's permission (inside it, edits are allowed;
# and in the sandbox Bash is allowed, since it can only touch the worktree).
OUTSIDE = "../{}"


async def started(rt: Runtime, repo: Path, prompt: str, **kw: object) -> str:
    if not await rt.db.fetchone("SELECT 1 FROM projects WHERE name = 'demo'"):
        await rt.projects.add("demo", str(repo))
    run = await rt.runs.start_run("demo", prompt, **kw)  # type: ignore[arg-type]
    return run.id


async def test_a_run_commits_its_work_on_its_own_branch_and_leaves_the_checkout_untouched(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:hello", [
        s.write("hello.txt", "hi there\n"),
        s.text("Wrote hello.txt."),
    ])
    run_id = await started(runtime, repo, "SCRIPT:hello add a greeting")
    run = await wait_state(runtime, run_id)

    assert run.state is RunState.REVIEW, run.state_reason
    assert run.branch == f"gluon/{run_id}"
    assert [f.path for f in run.changed_files] == ["hello.txt"]
    assert len(run.commits) == 1  # the safety net committed the agent's leftover file
    assert git(repo, "show", f"{run.branch}:hello.txt") == "hi there"
    assert not (repo / "hello.txt").exists()
    assert git(repo, "status", "--porcelain") == ""
    assert run.cost_usd > 0 and run.turns >= 1 and run.tool_calls == 1
    assert run.result_text == "Wrote hello.txt."
    log = (runtime.config.logs_dir / run_id / "messages.jsonl").read_text()
    assert "ResultMessage" in log and "hello.txt" in log
    transitions = [t.to_state for t in await runtime.runs.store.transitions(run_id)]
    assert transitions == [RunState.QUEUED, RunState.RUNNING, RunState.REVIEW]


async def test_parallel_runs_work_in_separate_worktrees(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    for n in (1, 2, 3):
        model_server.script(f"SCRIPT:par{n}", [s.write("note.txt", f"run {n}\n"),
                                               s.text(f"done {n}")])
    ids = [await started(runtime, repo, f"SCRIPT:par{n}") for n in (1, 2, 3)]
    runs = await asyncio.gather(*(wait_state(runtime, i) for i in ids))

    assert [r.state for r in runs] == [RunState.REVIEW] * 3
    assert len({r.cwd for r in runs}) == 3
    for n, r in enumerate(runs, start=1):
        assert git(repo, "show", f"{r.branch}:note.txt") == f"run {n}"


async def test_steering_reaches_the_running_agent(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:steer", [s.bash("echo working"), s.slow_text(3),
                                         s.text("took the hint")])
    run_id = await started(runtime, repo, "SCRIPT:steer", )
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:steer" and r.step == 1)
    await runtime.runs.steer(run_id, "please also update the README", actor="alice")
    run = await wait_state(runtime, run_id)

    assert run.state is RunState.REVIEW
    assert any("please also update the README" in r.all_text() for r in model_server.requests
               if r.script_key == "SCRIPT:steer")
    events = [e.summary for e in await runtime.runs.logs(run_id)]
    assert "alice: please also update the README" in events


async def test_interrupt_stops_the_turn_keeps_the_session_and_a_steer_continues_it(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:long", [s.slow_text(30), s.text("continued")])
    run_id = await started(runtime, repo, "SCRIPT:long")
    first = await model_server.await_request(lambda r: r.script_key == "SCRIPT:long")
    await runtime.runs.interrupt(run_id)
    run = await wait_state(runtime, run_id, RunState.WAITING, timeout=15)
    assert "interrupted" in run.state_reason

    await runtime.runs.steer(run_id, "carry on with a shorter answer")
    run = await wait_state(runtime, run_id)
    assert run.state is RunState.REVIEW
    later = [r for r in model_server.requests if "carry on with a shorter answer" in r.all_text()]
    assert later and later[0].session_id == first.session_id


async def test_resume_continues_the_same_session_in_the_same_worktree(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:one", [s.write("a.txt", "a\n"), s.text("first done")])
    model_server.script("SCRIPT:two", [s.write("b.txt", "b\n"), s.text("second done")])
    run_id = await started(runtime, repo, "SCRIPT:one")
    first = await wait_state(runtime, run_id)
    await runtime.runs.resume(run_id, "SCRIPT:two now add b")
    second = await wait_state(runtime, run_id, RunState.REVIEW, RunState.FAILED)

    assert second.state is RunState.REVIEW
    assert second.cwd == first.cwd and second.session_id == first.session_id
    assert {f.path for f in second.changed_files} == {"a.txt", "b.txt"}
    request = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:two")
    assert "SCRIPT:one" in request.all_text()  # the history came along
    assert request.session_id == first.session_id
    assert second.cost_usd > first.cost_usd


async def test_fork_starts_a_new_session_from_the_history_and_leaves_the_original_alone(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:base", [s.write("a.txt", "a\n"), s.text("base done")])
    model_server.script("SCRIPT:alt", [s.write("c.txt", "c\n"), s.text("alt done")])
    parent_id = await started(runtime, repo, "SCRIPT:base")
    parent = await wait_state(runtime, parent_id)
    fork = await runtime.runs.fork(parent_id, "SCRIPT:alt try another way")
    fork_done = await wait_state(runtime, fork.id)

    assert fork_done.state is RunState.REVIEW, fork_done.state_reason
    assert fork_done.parent_id == parent_id and fork_done.cwd != parent.cwd
    assert fork_done.session_id != parent.session_id
    request = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:alt")
    assert "SCRIPT:base" in request.all_text()
    assert {f.path for f in fork_done.changed_files} == {"a.txt", "c.txt"}
    again = await runtime.runs.get(parent_id)
    assert again.state is RunState.REVIEW and not (Path(parent.cwd) / "c.txt").exists()


async def test_cancel_stops_the_agent_and_keeps_the_worktree_and_its_work(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:cancel", [s.write("wip.txt", "half done\n"), s.slow_text(30)])
    run_id = await started(runtime, repo, "SCRIPT:cancel")
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:cancel" and r.step == 1)
    run = await runtime.runs.cancel(run_id, actor="bob")

    assert run.state is RunState.CANCELLED and run.state_reason == "cancelled by bob"
    assert Path(run.cwd, "wip.txt").read_text() == "half done\n"
    assert git(repo, "show", f"{run.branch}:wip.txt") == "half done"
    with pytest.raises(Conflict, match="resume"):
        await runtime.runs.steer(run_id, "hello?")


async def test_a_question_waits_for_a_person_and_is_answered_from_outside(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:ask", [s.ask("Which database?", ["Postgres", "SQLite"]),
                                       s.text("Going with it.")])
    run_id = await started(runtime, repo, "SCRIPT:ask")
    run = await wait_state(runtime, run_id, RunState.WAITING)
    [question] = await runtime.runs.interactions.pending(run_id)
    assert question.title == "Which database?"
    assert question.options == ["Postgres", "SQLite"]
    requests_before = len([r for r in model_server.requests if r.script_key == "SCRIPT:ask"])

    # Nobody answers for a while: nothing is answered on the user's behalf.
    with pytest.raises(TimeoutError):
        await wait_state(runtime, run_id, RunState.RUNNING, RunState.REVIEW, timeout=1.5)
    assert len([r for r in model_server.requests
                if r.script_key == "SCRIPT:ask"]) == requests_before

    answered = await runtime.runs.answer(question.id[:5], "2", actor="carol")
    assert answered.answer == "SQLite" and answered.answered_by == "carol"
    run = await wait_state(runtime, run_id)
    assert run.state is RunState.REVIEW
    follow_up = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:ask"
                                              and r.step == 1)
    assert "SQLite" in " ".join(follow_up.tool_results())
    with pytest.raises(Conflict, match="already answered"):
        await runtime.runs.answer(question.id, "Postgres")


async def test_a_denied_permission_keeps_the_agent_from_acting(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:deny", [s.write(OUTSIDE.format("touched.txt"), "x"),
                                        s.text("ok, not doing it")])
    run_id = await started(runtime, repo, "SCRIPT:deny")
    await wait_state(runtime, run_id, RunState.WAITING)
    [request] = await runtime.runs.interactions.pending(run_id)
    outside = Path((await runtime.runs.get(run_id)).cwd).parent / "touched.txt"
    assert request.title == f"Write {outside}"
    with pytest.raises(InvalidInput, match="allow, allow_run, allow_project or deny"):
        await runtime.runs.answer(request.id, "maybe")
    await runtime.runs.answer(request.id, "deny", actor="dave")
    run = await wait_state(runtime, run_id)

    assert run.state is RunState.REVIEW
    assert not outside.exists()
    follow_up = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:deny"
                                              and r.step == 1)
    assert "dave denied this" in " ".join(follow_up.tool_results())


async def test_allowing_a_tool_for_the_project_is_remembered_for_later_runs(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:perm1", [s.write(OUTSIDE.format("one.txt"), "1"),
                                         s.text("one")])
    model_server.script("SCRIPT:perm2", [s.write(OUTSIDE.format("two.txt"), "2"),
                                         s.text("two")])
    first = await started(runtime, repo, "SCRIPT:perm1")
    await wait_state(runtime, first, RunState.WAITING)
    [request] = await runtime.runs.interactions.pending(first)
    await runtime.runs.answer(request.id, "always")
    assert (await wait_state(runtime, first)).state is RunState.REVIEW

    second = await started(runtime, repo, "SCRIPT:perm2")
    run = await wait_state(runtime, second)
    assert run.state is RunState.REVIEW
    rows = await runtime.db.fetchall("SELECT * FROM interactions WHERE run_id = ?", (second,))
    assert rows == []
    result = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:perm2"
                                           and r.step == 1)
    assert "denied" not in " ".join(result.tool_results())
    rules = await runtime.db.fetchall("SELECT rule FROM permission_rules WHERE project = 'demo'")
    assert [r["rule"] for r in rules] == ["Write"]


async def test_a_run_budget_stops_the_run(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:spend", [s.bash("echo 1"), s.bash("echo 2"), s.bash("echo 3"),
                                         s.text("spent")])
    config = make_config(tmp_path / "home", model_server, allowed_tools=["Bash"])
    async with Runtime(config, environ=daemon_environ()) as rt:
        run_id = await started(rt, repo, "SCRIPT:spend", budget_usd=0.0001)
        run = await wait_state(rt, run_id)
    assert run.state is RunState.FAILED
    assert "budget of $0.00" in run.state_reason


async def test_a_merge_conflict_changes_nothing_and_a_clean_merge_brings_the_runs_commits(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:merge", [s.write("feature.txt", "new\n"),
                                         s.write("README.md", "agent version\n"),
                                         s.text("done")])
    run_id = await started(runtime, repo, "SCRIPT:merge")
    run = await wait_state(runtime, run_id)
    base = git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("user version\n")
    git(repo, "commit", "-qam", "user edit")
    head = git(repo, "rev-parse", "HEAD")
    outcome = await runtime.review.merge(run_id)

    assert not outcome.merged and outcome.conflicts == ["README.md"]
    assert "README.md" in outcome.message
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / "README.md").read_text() == "user version\n"
    assert not (repo / "feature.txt").exists()
    assert (await runtime.runs.get(run_id)).state is RunState.REVIEW

    git(repo, "reset", "-q", "--hard", base)
    outcome = await runtime.review.merge(run_id)
    assert outcome.merged and outcome.run.state is RunState.MERGED
    assert (repo / "feature.txt").read_text() == "new\n"
    assert (repo / "README.md").read_text() == "agent version\n"
    assert not Path(run.cwd).exists()
    with pytest.raises(Conflict, match="merged"):
        await runtime.review.merge(run_id)


async def test_a_killed_agent_process_fails_the_run_and_it_can_be_resumed(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:kill", [s.write("kept.txt", "kept\n"), s.hold("never")])
    model_server.script("SCRIPT:after", [s.text("back again")])
    run_id = await started(runtime, repo, "SCRIPT:kill")
    held = await model_server.await_request(lambda r: r.script_key == "SCRIPT:kill"
                                            and r.step == 1)
    await until(lambda: session_saved(runtime.config.home, held.session_id), "the session saved")
    cwd = (await runtime.runs.get(run_id)).cwd
    os.kill(agent_pid(cwd), signal.SIGKILL)
    run = await wait_state(runtime, run_id)

    assert run.state is RunState.FAILED and "exited unexpectedly" in run.state_reason
    assert git(repo, "show", f"{run.branch}:kept.txt") == "kept"
    await runtime.runs.resume(run_id, "SCRIPT:after continue")
    run = await wait_state(runtime, run_id, RunState.REVIEW, RunState.FAILED)
    assert run.state is RunState.REVIEW
    request = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:after")
    assert request.session_id == held.session_id


def agent_pid(cwd: str) -> int:
    """The Claude Code process working in ``cwd``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") == cwd and b"claude" in (entry / "cmdline").read_bytes():
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no agent process in {cwd}")


async def test_agents_never_see_the_daemons_secrets(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:env", [s.bash("env"), s.text("looked")])
    config = make_config(tmp_path / "home", model_server, allowed_tools=["Bash"])
    async with Runtime(config, environ=daemon_environ()) as rt:
        run_id = await started(rt, repo, "SCRIPT:env")
        await wait_state(rt, run_id)
    request = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:env"
                                            and r.step == 1)
    seen = " ".join(request.tool_results())
    assert "HOME=" in seen and str(config.agent_homes_dir / run_id) in seen
    assert "TELEGRAM-SECRET-TOKEN" not in seen and "mcp-bearer-secret" not in seen
    assert "GLUON_" not in seen


async def test_bad_input_gets_an_actionable_message_and_creates_nothing(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    with pytest.raises(NotFound, match="no project named 'nope'; known projects: demo"):
        await runtime.runs.start_run("nope", "do it")
    with pytest.raises(InvalidInput, match="unknown model 'gpt4'; use opus, sonnet, haiku"):
        await runtime.runs.start_run("demo", "do it", model="gpt4")
    with pytest.raises(InvalidInput, match="base branch 'nope' does not exist"):
        await runtime.runs.start_run("demo", "do it", base="nope")
    with pytest.raises(InvalidInput, match="prompt is empty"):
        await runtime.runs.start_run("demo", "   ")
    with pytest.raises(NotFound, match="no run 'abc'"):
        await runtime.runs.get("abc")
    assert await runtime.runs.find() == []


async def test_a_missing_api_key_is_reported_before_anything_starts(
        tmp_path: Path, repo: Path) -> None:
    config = Config.model_validate({"home": str(tmp_path / "home")})
    async with Runtime(config, environ={"PATH": os.environ["PATH"]}) as rt:
        await rt.projects.add("demo", str(repo))
        with pytest.raises(InvalidInput, match="set ANTHROPIC_API_KEY"):
            await rt.runs.start_run("demo", "do it")
        assert await rt.runs.find() == []


async def test_an_ambiguous_run_prefix_asks_for_more_characters(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    for run_id in ("abc111", "abc222"):
        await runtime.runs.store.insert(
            id=run_id, project="demo", prompt="p", model="sonnet", use_worktree=0,
            cwd=str(repo), session_id=run_id, state=RunState.REVIEW)
    with pytest.raises(Exception, match="ambiguous"):
        await runtime.runs.get("abc")
    assert (await runtime.runs.get("abc1")).id == "abc111"


async def test_pending_questions_expire_when_the_run_is_cancelled(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:expire", [s.ask("Proceed?", ["yes", "no"])])
    run_id = await started(runtime, repo, "SCRIPT:expire")
    await wait_state(runtime, run_id, RunState.WAITING)
    [question] = await runtime.runs.interactions.pending(run_id)
    await runtime.runs.cancel(run_id)
    assert (await runtime.runs.interactions.get(question.id)).status is \
        InteractionStatus.EXPIRED
    with pytest.raises(Conflict, match="already expired"):
        await runtime.runs.answer(question.id, "yes")


async def test_old_worktrees_are_cleaned_up_and_come_back_when_the_run_is_resumed(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:old", [s.write("old.txt", "old\n"), s.text("done")])
    model_server.script("SCRIPT:again", [s.text("still here")])
    run_id = await started(runtime, repo, "SCRIPT:old")
    run = await wait_state(runtime, run_id)
    assert await runtime.review.cleanup(older_than_days=1) == []

    assert await runtime.review.cleanup(older_than_days=0) == [run_id]
    assert not Path(run.cwd).exists()
    assert git(repo, "show", f"{run.branch}:old.txt") == "old"
    await runtime.runs.resume(run_id, "SCRIPT:again look again")
    run = await wait_state(runtime, run_id, RunState.REVIEW, RunState.FAILED)
    assert run.state is RunState.REVIEW and not run.worktree_removed
    assert Path(run.cwd, "old.txt").read_text() == "old\n"


async def test_runs_beyond_a_concurrency_limit_changed_at_runtime_wait_in_the_queue_in_order(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    await runtime.runs.usage.settings.change("agents.max_concurrent", 1)
    model_server.script("SCRIPT:q1", [s.hold("q1")])
    model_server.script("SCRIPT:q2", [s.text("second")])
    model_server.script("SCRIPT:q3", [s.text("third")])
    ids = [await started(runtime, repo, f"SCRIPT:q{n}") for n in (1, 2, 3)]
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:q1")
    assert [(await runtime.runs.get(i)).state for i in ids] == [
        RunState.RUNNING, RunState.QUEUED, RunState.QUEUED]
    model_server.release("q1")
    runs = [await wait_state(runtime, i) for i in ids]
    assert [r.state for r in runs] == [RunState.REVIEW] * 3
    started_at = [r.started_at or 0 for r in runs]
    assert started_at == sorted(started_at)
    assert (runs[1].started_at or 0) >= (runs[0].ended_at or 0)


async def test_a_runs_log_is_read_as_its_tail_or_page_by_page_after_an_event(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await runtime.runs.store.insert(id="feed0001", project="demo", prompt="p", model="sonnet",
                                    state=RunState.REVIEW, use_worktree=0, cwd=str(repo),
                                    session_id="00000000-0000-0000-0000-000000000002")
    for n in range(7):
        await runtime.runs.store.add_event("feed0001", "text", f"line {n}")
    tail = await runtime.runs.logs("feed0001", limit=3)
    assert [e.summary for e in tail] == ["line 4", "line 5", "line 6"]
    pages, after = [], 0
    while True:  # a reader that keeps its place never skips an event
        page = await runtime.runs.logs("feed0001", after, 3) if after else (
            await runtime.runs.logs("feed0001", limit=100))[:3]
        if not page:
            break
        pages.append([e.summary for e in page])
        after = page[-1].id
    assert pages == [["line 0", "line 1", "line 2"], ["line 3", "line 4", "line 5"],
                     ["line 6"]]
