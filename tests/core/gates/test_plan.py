"""Which gates a run gets, read from files only: .gluon/project.toml, the config, detection."""

from __future__ import annotations

from pathlib import Path

from core.config import Config
from core.gates.plan import ESLINT, ESLINT_FIX, RUFF, RUFF_FIX, plan_for
from core.gates.policy import AGGRESSIVE_ROUNDS, decide
from core.gates.types import Gate, Supervision
from core.merges.checks import PYTEST


def config(tmp_path: Path, **project: object) -> Config:
    return Config.model_validate({"home": str(tmp_path / "home"),
                                  "projects": {"demo": project}})


def write(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)


def test_a_project_without_lint_or_tests_has_no_gate_commands(tmp_path: Path) -> None:
    write(tmp_path, "app.py", "x = 1\n")
    plan = plan_for(config(tmp_path), "demo", tmp_path)
    assert (plan.enabled, plan.commands, plan.supervision) == (True, {}, Supervision.MANUAL)


def test_ruff_and_pytest_are_detected_from_pyproject(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.ruff]\nline-length = 100\n[tool.pytest.ini_options]\n")
    plan = plan_for(config(tmp_path), "demo", tmp_path)
    assert plan.commands == {Gate.LINT_FIX: RUFF_FIX, Gate.LINT: RUFF, Gate.TEST: PYTEST}


def test_eslint_is_detected_from_its_config_and_npm_test_from_package_json(
        tmp_path: Path) -> None:
    write(tmp_path, "eslint.config.js", "export default [];\n")
    write(tmp_path, "package.json", '{"scripts": {"test": "node --test"}}')
    # The merge queue's test_command (which may need what only a merge has) is not a gate.
    plan = plan_for(config(tmp_path, test_command="make test"), "demo", tmp_path)
    assert plan.commands == {Gate.LINT_FIX: ESLINT_FIX, Gate.LINT: ESLINT,
                             Gate.TEST: "npm test"}


def test_the_project_file_names_commands_turns_gates_off_and_sets_the_policy(
        tmp_path: Path) -> None:
    write(tmp_path, "ruff.toml", "")
    write(tmp_path, ".gluon/project.toml",
          'supervision = "aggressive"\n[gates]\nlint_fix = ""\ntest = "sh t.sh"\n')
    plan = plan_for(config(tmp_path), "demo", tmp_path)
    assert plan.commands == {Gate.LINT: RUFF, Gate.TEST: "sh t.sh"}
    assert plan.supervision is Supervision.AGGRESSIVE
    # The operator's config outranks the repository's file.
    assert plan_for(config(tmp_path, supervision="conservative"), "demo",
                    tmp_path).supervision is Supervision.CONSERVATIVE
    write(tmp_path, ".gluon/project.toml", "[gates]\nenabled = false\n")
    assert not plan_for(config(tmp_path), "demo", tmp_path).enabled


def test_a_bad_project_file_is_reported_and_the_detected_commands_are_used(
        tmp_path: Path) -> None:
    write(tmp_path, "ruff.toml", "")
    write(tmp_path, ".gluon/project.toml", '[gates]\nlint = "x"\nlnt = "y"\n')
    plan = plan_for(config(tmp_path), "demo", tmp_path)
    assert plan.problem is not None and "unknown key(s) in [gates]: lnt" in plan.problem
    assert plan.commands == {Gate.LINT_FIX: RUFF_FIX, Gate.LINT: RUFF}
    write(tmp_path, ".gluon/project.toml", "[gates\n")
    plan = plan_for(config(tmp_path), "demo", tmp_path)
    assert plan.problem is not None and "is not valid TOML" in plan.problem


def test_gates_off_globally_or_for_the_project_in_the_config(tmp_path: Path) -> None:
    write(tmp_path, "ruff.toml", "")
    off = Config.model_validate({"home": str(tmp_path), "gates": {"enabled": False}})
    assert not plan_for(off, "demo", tmp_path).enabled
    assert not plan_for(config(tmp_path, gates=False), "demo", tmp_path).enabled


def test_supervision_policies_decide_what_happens_when_the_gates_give_up() -> None:
    failing = "lint still fails (2 errors left)"
    assert not decide(Supervision.MANUAL, 0, failing, 3, cost_usd=0, budget_usd=None).resume
    assert decide(Supervision.CONSERVATIVE, 0, failing, 3, cost_usd=0, budget_usd=None).resume
    assert not decide(Supervision.CONSERVATIVE, 1, failing, 3, cost_usd=0,
                      budget_usd=None).resume
    aggressive = [decide(Supervision.AGGRESSIVE, n, failing, 3, cost_usd=1.0,
                         budget_usd=5.0).resume for n in range(AGGRESSIVE_ROUNDS + 1)]
    assert aggressive == [True] * AGGRESSIVE_ROUNDS + [False]
    spent = decide(Supervision.AGGRESSIVE, 0, failing, 3, cost_usd=5.0, budget_usd=5.0)
    assert not spent.resume and "spent its budget ($5.00)" in spent.text
