"""What follows a turn of a run executed on a ``gluon worker``: the quality gates, a formula's
next step and the autonomous loop, decided on the coordinator as in ``gluon serve`` alone, each
fix, step or iteration the run's next attempt on a worker; a coordinator killed before the
decision makes it once after its restart. Real processes: a redis-server, the coordinator, a
worker, the real Claude Code CLI against the scripted model server, a bare git remote."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.bots.cluster_env import Cluster, wait_until
from tests.conftest import git
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

TWO_STEPS = """\
steps:
  - name: first
    prompt: "SCRIPT:w-first begin"
  - name: second
    prompt: "SCRIPT:w-second after {{ previous }}"
"""
# A test gate that waits, the first time, until the test lets it pass ($HOME is the run's
# agent home on the coordinator).
WAITING = ('test -f "$HOME/release" || { touch "$HOME/started"; '
           'while [ ! -f "$HOME/release" ]; do sleep 0.2; done; }\n')
# An auto-fix that puts blanks around an assignment's "=", and tests that want fixed.txt.
FIX = "sed -i 's/^value=1$/value = 1/' mod.py\n"
TEST = 'test -f fixed.txt || { echo "1 failed. SCRIPT:w-fix"; exit 1; }\n'


def commit(name: str, content: str | None = None, path: str | None = None) -> str:
    """A command that commits ``content`` (else ``name``) to ``path`` (else name.txt)."""
    path = path or f"{name}.txt"
    return (f"printf '{content or name}\\n' > {path} && git add {path} "
            f"&& (git diff --cached --quiet || git commit -q -m 'Add {name}')")


def project_files(cluster: Cluster, **files: str) -> None:
    """Commit ``files`` (name: text; a name's "__" is a "/") on main, here and at the remote
    the workers fetch from."""
    for name, text in files.items():
        path = cluster.repo / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(cluster.repo, "add", "-A")
    git(cluster.repo, "commit", "-qm", "project files")
    git(cluster.repo, "push", "-q", "origin", "main")


def states(cluster: Cluster, run_id: str) -> list[tuple[str, str]]:
    events = cluster.gluon.json("events", "--run", run_id, "--limit", "500")["events"]
    return [(e["data"]["new"], e["data"]["reason"]) for e in events
            if e["kind"] == "RunStateChanged"]


def gate_results(cluster: Cluster, run_id: str) -> list[tuple[str, int, str]]:
    results: list[dict[str, Any]] = cluster.gluon.json("gates", run_id)["results"]
    return [(r["gate"], r["attempt"], r["outcome"]) for r in results]


@pytest.mark.timeout(300)
def test_a_formula_goes_on_to_its_next_step_once_after_the_coordinator_is_killed_deciding(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    project_files(cluster, **{".gluon__formulas__two.yml": TWO_STEPS, "gate.sh": WAITING,
                              ".gluon__project.toml": '[gates]\nlint_fix = ""\nlint = ""\n'
                                                      'test = "sh gate.sh"\n'})
    model_server.script("SCRIPT:w-first", [s.bash(commit("first")), s.text("FIRST-1")])
    model_server.script("SCRIPT:w-second", [s.bash(commit("second")), s.text("SECOND-2")])
    cluster.start_worker("w1")
    run_id = str(cluster.gluon.json("formula", "run", "two", "demo")["id"])
    home = cluster.gluon.home / "agent-homes" / run_id

    # The worker ended the first step's attempt; the coordinator runs its test gate, and is
    # killed meanwhile.
    wait_until(lambda: (home / "started").exists(), "the gate after the first step")
    assert cluster.show(run_id)["run"]["state"] == "running"
    killed = cluster.daemon
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    (home / "started").unlink()
    assert cluster.show(run_id)["run"]["state_reason"] == \
        "the agent's turn ended; checking what follows it"

    cluster.daemon = cluster.gluon.serve()
    wait_until(lambda: (home / "started").exists(), "the gate again after the restart")
    (home / "release").touch()
    done = cluster.wait_state(run_id, "review", "failed")["run"]

    assert (done["state"], done["state_reason"]) == ("review", "the agent finished its task")
    assert done["result_text"] == "SECOND-2"
    assert [c["subject"] for c in done["commits"]] == ["Add first", "Add second"]
    assert git(cluster.repo, "show", f"gluon/{run_id}:first.txt") == "first"
    assert git(cluster.repo, "show", f"gluon/{run_id}:second.txt") == "second"
    # The second step ran once, in a session of its own, with the first step's reply.
    first = [r for r in model_server.requests if r.script_key == "SCRIPT:w-first"]
    second = [r for r in model_server.requests if r.script_key == "SCRIPT:w-second"]
    assert len(first) == 2 and len(second) == 2, (first, second)
    assert len({r.session_id for r in second}) == 1
    assert second[0].session_id != first[0].session_id
    assert "after FIRST-1" in second[0].all_text()
    moves = [new for new, why in states(cluster, run_id) if not why.startswith("waiting")]
    assert moves == ["queued", "running", "queued", "running", "review"], moves
    assert gate_results(cluster, run_id) == [("test", 1, "passed"), ("test", 1, "passed")]


@pytest.mark.timeout(300)
def test_a_failing_test_gate_has_the_agent_on_a_worker_fix_it_after_gluon_committed_a_lint_fix(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    project_files(cluster, **{"fix.sh": FIX, "test.sh": TEST,
                              ".gluon__project.toml": '[gates]\nlint_fix = "sh fix.sh"\n'
                                                      'lint = ""\ntest = "sh test.sh"\n'})
    model_server.script("SCRIPT:w-gate", [s.bash(commit("mod", "value=1", "mod.py")),
                                          s.text("Wrote mod.py.")])
    model_server.script("SCRIPT:w-fix", [s.bash(commit("fixed")), s.text("Fixed it.")])
    cluster.start_worker("w1")
    run_id = cluster.run("SCRIPT:w-gate write a module")
    done = cluster.wait_state(run_id, "review", "failed", timeout=180)["run"]

    assert (done["state"], done["result_text"]) == ("review", "Fixed it."), done
    # The fix request reached the agent, in the same session, on the worker.
    [asked] = [r for r in model_server.requests if r.script_key == "SCRIPT:w-fix"][:1]
    assert "Gluon's quality gate" in asked.last_user_text()
    assert "1 failed." in asked.last_user_text()
    assert len({r.session_id for r in model_server.requests if r.script_key}) == 1
    assert gate_results(cluster, run_id) == [
        ("lint_fix", 1, "fixed"), ("test", 1, "failed"), ("lint_fix", 1, "passed"),
        ("test", 2, "passed")]
    # Gluon's lint fix, committed on the coordinator, reached the worker that made the fix.
    subjects = [c["subject"] for c in done["commits"]]
    assert subjects[0] == "Add mod" and subjects[-1] == "Add fixed", subjects
    assert any("Lint auto-fix" in subject for subject in subjects), subjects
    assert git(cluster.repo, "show", f"gluon/{run_id}:mod.py") == "value = 1"
    assert git(cluster.origin, "show", f"gluon/{run_id}:mod.py") == "value = 1"
    assert git(cluster.repo, "show", f"gluon/{run_id}:fixed.txt") == "fixed"
    # No worktree of it is left on the coordinator: the workers push its branch.
    assert not (cluster.gluon.home / "worktrees" / "demo" / run_id).exists()


@pytest.mark.timeout(300)
def test_a_loop_on_a_worker_iterates_until_the_agent_says_it_is_done(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:w-loop", [
        s.bash(commit("one")),
        s.text("One part.\nSTATUS: IN_PROGRESS\nEXIT_SIGNAL: false\nERROR: none")])
    model_server.script("iteration 2/5", [
        s.bash(commit("two")),
        s.text("All done.\nSTATUS: COMPLETE\nEXIT_SIGNAL: true\nERROR: none")])
    cluster.start_worker("w1")
    run_id = str(cluster.gluon.json("run", "demo", "SCRIPT:w-loop build it", "--loop",
                                    "--max-loops", "5")["id"])
    done = cluster.wait_state(run_id, "review", "failed", timeout=180)["run"]

    assert done["state"] == "review", done
    status = cluster.gluon.json("loop", "status", run_id)
    assert (status["state"], status["iteration"]) == ("done", 2), status
    assert status["stopped_reason"] == \
        "done after 2 iteration(s): the agent said it is complete"
    assert [c["subject"] for c in done["commits"]] == ["Add one", "Add two"]
    assert ("queued", "loop 2/5") in states(cluster, run_id)
    assert len({r.session_id for r in model_server.requests if r.script_key}) == 1
