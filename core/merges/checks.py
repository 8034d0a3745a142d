"""The merge queue's local test gate: a project's tests, run on a rebased branch in the sandbox.

The command is the one the caller gives, else the project's ``test_command``, else one detected
from the files in the worktree (pytest, ``npm test``, ``go test``, ``cargo test``). It runs with
:func:`core.agent.sandboxed.run_command`: in the worktree, inside the same bubblewrap sandbox
agents get (the code under test is an agent's), with a small clean environment, in its own
process group killed as a whole when it outlasts ``merge.test_timeout_minutes``.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.agent.sandboxed import OUTPUT_TAIL as OUTPUT_TAIL  # how much output is kept
from core.agent.sandboxed import run_command
from core.config import Config

PYTEST = "python -m pytest -q"
NPM_TEST = "npm test"
GO_TEST = "go test ./..."
CARGO_TEST = "cargo test"


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest test class, despite its name

    passed: bool
    command: str | None  # None: the project has no test command (configured or detected)
    output: str  # the last ~4,000 characters of what it printed (stdout+stderr)
    seconds: float
    timed_out: bool = False


def detect_test_command(worktree: Path) -> str | None:
    """The test command a project's files imply, or None; first match wins: pytest config (or a
    ``tests/`` folder of ``test_*.py``), a ``package.json`` test script, ``go.mod``,
    ``Cargo.toml``. Only files are read; no toolchain needs to be installed."""
    if _uses_pytest(worktree):
        return PYTEST
    if _has_npm_test(worktree / "package.json"):
        return NPM_TEST
    if (worktree / "go.mod").is_file():
        return GO_TEST
    if (worktree / "Cargo.toml").is_file():
        return CARGO_TEST
    return None


async def run_tests(config: Config, project: str, worktree: Path, *, agent_home: Path,
                    command: str | None = None) -> TestOutcome:
    """Run the project's tests in ``worktree`` in the sandbox and say whether they passed.

    ``command`` overrides the configured and the detected one. Without any, the outcome is a
    pass with ``command`` None: there is nothing to hold a merge back. ``agent_home`` is the
    command's HOME (created when missing); caches the tests write there stay out of the branch.
    Raises :class:`~core.agent.sandbox.SandboxUnavailable` when ``agents.sandbox`` is
    "required" and the sandbox cannot run.
    """
    command = _chosen(command) or _chosen(config.project(project).test_command) \
        or detect_test_command(worktree)
    if command is None:
        return TestOutcome(passed=True, command=None, seconds=0.0, output=(
            f"no test command: project {project!r} sets no test_command and none was detected "
            "(pytest, npm test, go test, cargo test), so no tests ran"))
    outcome = await run_command(config, project, worktree, agent_home, command,
                                config.merge.test_timeout_minutes * 60)
    return TestOutcome(passed=outcome.passed, command=command, output=outcome.output,
                       seconds=outcome.seconds, timed_out=outcome.timed_out)


def _chosen(command: str | None) -> str | None:
    return command.strip() or None if command is not None else None


# Detection.

_PLACEHOLDER = "no test specified"  # npm init's: echo "Error: no test specified" && exit 1


def _uses_pytest(worktree: Path) -> bool:
    if (worktree / "pytest.ini").is_file():
        return True
    if _pyproject_has_pytest(worktree / "pyproject.toml"):
        return True
    if _ini_has_section(worktree / "setup.cfg", "tool:pytest"):
        return True
    if _ini_has_section(worktree / "tox.ini", "pytest"):
        return True
    tests = worktree / "tests"
    return tests.is_dir() and next(tests.rglob("test_*.py"), None) is not None


def _pyproject_has_pytest(path: Path) -> bool:
    text = _read(path)
    if text is None:
        return False
    try:
        tool = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:
        return re.search(r"^\s*\[tool\.pytest[\].]", text, re.MULTILINE) is not None
    return isinstance(tool, dict) and "pytest" in tool


def _ini_has_section(path: Path, section: str) -> bool:
    text = _read(path)
    if text is None:
        return False
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return re.search(rf"^\s*\[{re.escape(section)}\]", text, re.MULTILINE) is not None
    return parser.has_section(section)


def _has_npm_test(path: Path) -> bool:
    text = _read(path)
    if text is None:
        return False
    try:
        scripts = json.loads(text).get("scripts")
    except (ValueError, AttributeError):
        return False
    test = scripts.get("test") if isinstance(scripts, dict) else None
    return isinstance(test, str) and bool(test.strip()) and _PLACEHOLDER not in test


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace") if path.is_file() else None
    except OSError:
        return None
