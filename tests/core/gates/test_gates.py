"""Quality gates on real runs: the real Claude Code CLI against the scripted model, the gate
commands (sh scripts named in the repository's .gluon/project.toml) in the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from core.config import GatesConfig
from core.events.bus import RunNote
from core.gates.types import Gate, Outcome
from core.models import Run
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, git, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

# A linter that reports every line with BAD in a Python file; its output names the script the
# agent's next turn plays (the fix request quotes it).
LINT = ('if grep -n BAD *.py; then echo "Found $(grep -c BAD *.py | '
        "awk -F: '{s+=$2} END {print s}') errors. {key}\"; exit 1; fi\n")
# An auto-fix that puts blanks around an assignment's "=".
FIX = "sed -i 's/^value=1$/value = 1/' *.py\n"
# Tests of app.add.
TEST = ('python3 -c "from app import add; assert add(2, 3) == 5" 2>&1 || '
        '{ echo "1 failed. {key}"; exit 1; }\n')

MakeRuntime = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def make_rt(tmp_path: Path, model_server: ScriptedModelServer
                  ) -> AsyncIterator[MakeRuntime]:
    opened: list[Runtime] = []

    async def make(**settings: Any) -> Runtime:
        config = make_config(tmp_path / "home", model_server)
        project = settings.pop("project", {})
        config = config.model_copy(update={
            "gates": GatesConfig(**{"enabled": True, **settings}),
            "projects": {"demo": config.project("demo").model_copy(update=project)}})
        rt = Runtime(config, environ=daemon_environ())
        await rt.open()
        opened.append(rt)
        return rt

    yield make
    for rt in opened:
        await rt.close()


def project_files(repo: Path, toml: str, **scripts: str) -> None:
    (repo / ".gluon").mkdir(exist_ok=True)
    (repo / ".gluon" / "project.toml").write_text(toml)
    for name, text in scripts.items():
        (repo / f"{name}.sh").write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "gates")


async def start(rt: Runtime, repo: Path, prompt: str) -> Run:
    """Start a run on ``repo`` and wait until it ends."""
    await rt.projects.add("demo", str(repo))
    run = await rt.runs.start_run("demo", prompt)
    return await wait_state(rt, run.id, RunState.REVIEW, RunState.FAILED, timeout=180)


async def notes(rt: Runtime, run_id: str) -> list[tuple[str, str]]:
    page = await rt.events.after(0, 1000, kinds=[RunNote], run_id=run_id)
    return [(e.source, e.text) for e in page.events if isinstance(e, RunNote)]


def sessions(model_server: ScriptedModelServer) -> set[str | None]:
    return {r.session_id for r in model_server.requests if r.script_key}


async def test_lint_fix_is_committed_and_the_agent_fixes_the_rest_in_its_own_session(
        make_rt: MakeRuntime, repo: Path, model_server: ScriptedModelServer) -> None:
    project_files(repo, '[gates]\nlint_fix = "sh fix.sh"\nlint = "sh lint.sh"\ntest = ""\n',
                  fix=FIX, lint=LINT.replace("{key}", "SCRIPT:fix-lint"))
    model_server.script("SCRIPT:start", [s.write("mod.py", "value=1\nBAD = 2\n"),
                                         s.text("Wrote mod.py.")])
    model_server.script("SCRIPT:fix-lint", [s.write("mod.py", "value = 1\nGOOD = 2\n"),
                                            s.text("Fixed the lint.")])
    rt = await make_rt()
    done = await start(rt, repo, "SCRIPT:start write a module")

    assert done.state is RunState.REVIEW, done.state_reason
    assert done.result_text == "Fixed the lint."
    assert len(sessions(model_server)) == 1  # the fix went on in the same session
    results = [(r.gate, r.attempt, r.outcome) for r in await rt.gates.results(done.id)]
    assert results == [(Gate.LINT_FIX, 1, Outcome.FIXED), (Gate.LINT, 1, Outcome.FAILED),
                       (Gate.LINT_FIX, 1, Outcome.PASSED), (Gate.LINT, 2, Outcome.PASSED)]
    said = [text for _, text in await notes(rt, done.id)]
    assert said == ["🧹 Lint auto-fix changed mod.py; Gluon committed it",
                    "🧹 Lint: 1 error left; asking the agent to fix them (1/3)",
                    "🧹 Lint passed after 1 fix"]
    log = git(Path(done.cwd), "log", "--format=%an: %s", f"{done.base_sha}..HEAD")
    assert "Gluon: Lint auto-fix by Gluon (`sh fix.sh`)" in log.splitlines()
    fixed = git(Path(done.cwd), "show", "HEAD:mod.py")
    assert fixed == "value = 1\nGOOD = 2"
    [lint] = [g for g in await rt.gates.summary(done.id) if g.gate is Gate.LINT]
    assert (lint.passed, lint.attempts, lint.command) == (True, 2, "sh lint.sh")


async def test_a_lint_gate_gives_up_after_three_fixes_and_manual_supervision_sends_the_run_to_review(  # noqa: E501
        make_rt: MakeRuntime, repo: Path, model_server: ScriptedModelServer) -> None:
    project_files(repo, '[gates]\nlint = "sh lint.sh"\ntest = ""\n',
                  lint=LINT.replace("{key}", "SCRIPT:shrug"))
    model_server.script("SCRIPT:start", [s.write("mod.py", "BAD = 1\n"), s.text("Done.")])
    model_server.script("SCRIPT:shrug", [s.text("I could not.")])
    rt = await make_rt()
    done = await start(rt, repo, "SCRIPT:start go")

    assert done.state is RunState.REVIEW
    assert done.state_reason == ("quality gates failed: lint still fails (1 error left) "
                                 "after 3 fixes")
    shrugs = [r for r in model_server.requests if r.script_key == "SCRIPT:shrug"]
    assert len(shrugs) == 3
    said = await notes(rt, done.id)
    assert [t for _, t in said][:3] == [
        f"🧹 Lint: 1 error left; asking the agent to fix them ({i}/3)" for i in (1, 2, 3)]
    assert said[-1] == ("policy", "✋ Manual supervision: lint still fails (1 error left) after "
                                  "3 fixes; the run goes to review with the gate failing")
    [lint] = await rt.gates.summary(done.id)
    assert (lint.gate, lint.passed, lint.attempts, lint.summary) == (
        Gate.LINT, False, 4, "1 error left")


async def test_a_failing_test_gate_makes_the_agent_fix_the_code(
        make_rt: MakeRuntime, repo: Path, model_server: ScriptedModelServer) -> None:
    project_files(repo, '[gates]\nlint = ""\ntest = "sh test.sh"\n',
                  test=TEST.replace("{key}", "SCRIPT:fix-test"))
    model_server.script("SCRIPT:start", [
        s.write("app.py", "def add(a, b):\n    return a - b\n"), s.text("Refactored.")])
    model_server.script("SCRIPT:fix-test", [
        s.write("app.py", "def add(a, b):\n    return a + b\n"), s.text("Fixed add.")])
    rt = await make_rt()
    done = await start(rt, repo, "SCRIPT:start refactor")

    assert done.state is RunState.REVIEW, done.state_reason
    assert done.result_text == "Fixed add."
    fix = next(r for r in model_server.requests if r.script_key == "SCRIPT:fix-test")
    assert "AssertionError" in fix.all_text()  # the agent saw the failure
    assert [t for _, t in await notes(rt, done.id)] == [
        "🧪 Tests failed (1 failure); asking the agent to fix them (1/3)",
        "🧪 Tests passed after 1 fix"]
    assert (Path(done.cwd) / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


async def test_a_missing_lint_program_is_said_once_per_run_and_skipped(
        make_rt: MakeRuntime, repo: Path, model_server: ScriptedModelServer) -> None:
    project_files(repo, '[gates]\nlint = "no-such-linter ."\ntest = "sh test.sh"\n',
                  test=TEST.replace("{key}", "SCRIPT:never"))
    model_server.script("SCRIPT:start", [s.text("Nothing to do.")])
    model_server.script("SCRIPT:again", [s.text("Still nothing.")])
    rt = await make_rt()
    done = await start(rt, repo, "SCRIPT:start look")
    assert done.state is RunState.REVIEW, done.state_reason
    await rt.runs.resume(done.id, "SCRIPT:again look again")
    done = await wait_state(rt, done.id, RunState.REVIEW, RunState.FAILED, timeout=120)

    assert done.state is RunState.REVIEW, done.state_reason
    said = [t for _, t in await notes(rt, done.id)]
    warning = ("⚠️ Lint: `no-such-linter .` could not run (its program is not installed); "
               "the gate is skipped")
    assert said == [warning, "🧪 Tests passed", "🧪 Tests passed"]
    outcomes = [(r.gate, r.outcome) for r in await rt.gates.results(done.id)]
    assert outcomes == [(Gate.LINT, Outcome.MISSING), (Gate.TEST, Outcome.PASSED)] * 2


async def test_conservative_supervision_resumes_the_agent_once_more_after_the_gates_give_up(
        make_rt: MakeRuntime, repo: Path, model_server: ScriptedModelServer) -> None:
    project_files(repo, 'supervision = "conservative"\n[gates]\nlint = "sh lint.sh"\n'
                  'test = ""\n', lint=LINT.replace("{key}", "SCRIPT:shrug"))
    model_server.script("SCRIPT:start", [s.write("mod.py", "BAD = 1\n"), s.text("Done.")])
    model_server.script("SCRIPT:shrug", [s.text("I could not.")])
    rt = await make_rt(max_fixes=1)
    done = await start(rt, repo, "SCRIPT:start go")

    assert done.state is RunState.REVIEW
    assert len([r for r in model_server.requests if r.script_key == "SCRIPT:shrug"]) == 2
    policy = [t for source, t in await notes(rt, done.id) if source == "policy"]
    assert policy == [
        "🛟 Conservative supervision: lint still fails (1 error left) after 1 fix; giving "
        "the agent one more try",
        "✋ Conservative supervision: lint still fails (1 error left) after one more try; the "
        "run goes to review with the gate failing"]
    assert done.state_reason == ("quality gates failed: lint still fails (1 error left) "
                                 "after 2 fixes")
    attempts = [(r.gate, r.attempt) for r in await rt.gates.results(done.id)]
    assert attempts == [(Gate.LINT, 1), (Gate.LINT, 2), (Gate.LINT, 3)]
    reasons = [t.reason for t in await rt.runs.store.transitions(done.id)]
    assert "lint still fails (1 error left); conservative supervision resumed the agent" \
        in reasons


@pytest.mark.parametrize("where", ["config", "project file"])
async def test_gates_switched_off_for_a_project_do_not_run(
        make_rt: MakeRuntime, repo: Path, model_server: ScriptedModelServer,
        where: str) -> None:
    enabled = "enabled = false\n" if where == "project file" else ""
    project_files(repo, f'[gates]\n{enabled}lint = "sh lint.sh"\n',
                  lint=LINT.replace("{key}", "SCRIPT:shrug"))
    model_server.script("SCRIPT:start", [s.write("mod.py", "BAD = 1\n"), s.text("Done.")])
    rt = await make_rt(project={"gates": False} if where == "config" else {})
    done = await start(rt, repo, "SCRIPT:start go")

    assert done.state is RunState.REVIEW
    assert done.state_reason == "the agent finished its task"
    assert await rt.gates.results(done.id) == []
    assert await notes(rt, done.id) == []
