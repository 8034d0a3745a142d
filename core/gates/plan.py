"""Which gate commands a run gets: from the project's ``.gluon/project.toml`` in the run's
worktree, else detected from its files; and whether the gates run at all.

Only files are read (no subprocess), so a project without gate commands pays next to nothing.
The file is the one on the run's branch: a change the agent makes to it shows in its diff.

``.gluon/project.toml``::

    supervision = "conservative"      # manual | conservative | aggressive
    [gates]
    enabled = true
    lint_fix = "ruff check --fix ."   # "" turns a gate off for the project
    lint = "ruff check ."
    test = "python -m pytest -q"

A command not given there is detected: ruff (``[tool.ruff]`` in pyproject.toml, or ruff.toml),
else eslint (its config files or package.json ``eslintConfig``) for lint; the merge queue's
detection (:func:`core.merges.checks.detect_test_command`) for tests. (The merge queue's
``[projects.X] test_command`` is not a gate: it may need what only a merge has.)
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import Config
from core.gates.types import Gate, Supervision
from core.merges.checks import detect_test_command

PROJECT_FILE = Path(".gluon") / "project.toml"

RUFF_FIX, RUFF = "ruff check --fix .", "ruff check ."
# --no-install: never fetch eslint from the registry inside the sandbox; a project without it
# installed gets a "missing" warning instead.
ESLINT_FIX, ESLINT = "npx --no-install eslint --fix .", "npx --no-install eslint ."
_ESLINT_CONFIGS = ("eslint.config.js", "eslint.config.mjs", "eslint.config.cjs",
                   "eslint.config.ts", ".eslintrc", ".eslintrc.js", ".eslintrc.cjs",
                   ".eslintrc.json", ".eslintrc.yml", ".eslintrc.yaml")
_KEYS = frozenset({"enabled", "lint_fix", "lint", "test"})


@dataclass(frozen=True)
class GatePlan:
    enabled: bool
    commands: dict[Gate, str]  # in the order they run; only the gates that have a command
    supervision: Supervision
    problem: str | None = None  # what is wrong with .gluon/project.toml (then ignored)


def plan_for(config: Config, project: str, worktree: Path) -> GatePlan:
    """The gates of a run of ``project`` working in ``worktree``."""
    settings = config.project(project)
    declared, problem = read_project_file(worktree)
    supervision = Supervision(settings.supervision or declared.get("supervision")
                              or Supervision.MANUAL)
    gates = declared.get("gates", {})
    enabled = config.gates.enabled and settings.gates is not False \
        and gates.get("enabled", True) is not False
    if not enabled:
        return GatePlan(False, {}, supervision, problem)
    lint_fix, lint = _detect_lint(worktree)
    found = {Gate.LINT_FIX: lint_fix, Gate.LINT: lint, Gate.TEST: detect_test_command(worktree)}
    commands: dict[Gate, str] = {}
    for gate in Gate:
        command = gates[gate.value].strip() if gate.value in gates else found[gate]
        if command:
            commands[gate] = command
    return GatePlan(True, commands, supervision, problem)


def read_project_file(worktree: Path) -> tuple[dict[str, Any], str | None]:
    """The checked settings of ``.gluon/project.toml`` (empty when there is none), and what
    is wrong with it when it cannot be used (then the settings are empty)."""
    path = worktree / PROJECT_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError) as exc:
        return {}, f"{PROJECT_FILE} cannot be read ({exc})"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return {}, f"{PROJECT_FILE} is not valid TOML ({exc})"
    problem = _check(data)
    return ({}, problem) if problem else (data, None)


def _check(data: dict[str, Any]) -> str | None:
    supervision = data.get("supervision")
    if supervision is not None and supervision not in set(Supervision):
        return (f"{PROJECT_FILE}: supervision is {supervision!r}; use one of "
                f"{', '.join(Supervision)}")
    gates = data.get("gates", {})
    if not isinstance(gates, dict):
        return f"{PROJECT_FILE}: [gates] must be a table"
    unknown = sorted(set(gates) - _KEYS)
    if unknown:
        return (f"{PROJECT_FILE}: unknown key(s) in [gates]: {', '.join(unknown)}; known: "
                f"{', '.join(sorted(_KEYS))}")
    if not isinstance(gates.get("enabled", True), bool):
        return f"{PROJECT_FILE}: [gates] enabled must be true or false"
    for key in _KEYS - {"enabled"}:
        if key in gates and not isinstance(gates[key], str):
            return f"{PROJECT_FILE}: [gates] {key} must be a command line (a string)"
    return None


def _detect_lint(worktree: Path) -> tuple[str | None, str | None]:
    if (worktree / "ruff.toml").is_file() or (worktree / ".ruff.toml").is_file() \
            or _pyproject_has_ruff(worktree / "pyproject.toml"):
        return RUFF_FIX, RUFF
    if any((worktree / name).is_file() for name in _ESLINT_CONFIGS) \
            or _package_has_eslint(worktree / "package.json"):
        return ESLINT_FIX, ESLINT
    return None, None


def _pyproject_has_ruff(path: Path) -> bool:
    try:
        tool = tomllib.loads(path.read_text()).get("tool", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return isinstance(tool, dict) and "ruff" in tool


def _package_has_eslint(path: Path) -> bool:
    try:
        package = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(package, dict) and "eslintConfig" in package
