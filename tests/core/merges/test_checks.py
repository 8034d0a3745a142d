"""The merge queue's test gate: real git worktrees, real commands, under real bubblewrap.

The sandbox is "required" here, so these tests fail (never skip) where it cannot run. The
sandbox shows only /usr, /etc and the run's own files: the Python running this suite (its
virtualenv and base install) is handed in read-only, as a user's toolchain would be with
``sandbox_read_only``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from core.config import Config
from core.merges.checks import (
    CARGO_TEST,
    GO_TEST,
    NPM_TEST,
    OUTPUT_TAIL,
    PYTEST,
    detect_test_command,
    run_tests,
)
from tests.conftest import git, make_repo

PYPROJECT = '[project]\nname = "demo"\nversion = "0"\n\n[tool.pytest.ini_options]\n' \
            'addopts = "-p no:cacheprovider"\n'
PASSING = "from app import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
FAILING = "from app import add\n\n\ndef test_add():\n    assert add(2, 2) == 5\n"


def make_config(tmp_path: Path, *, sandbox: str = "required", timeout_minutes: float = 5,
                **project: object) -> Config:
    return Config.model_validate({
        "home": str(tmp_path / "gluon-home"),
        "agents": {"sandbox": sandbox, "sandbox_read_only": [sys.prefix, sys.base_prefix]},
        "merge": {"test_timeout_minutes": timeout_minutes},
        "projects": {"demo": project},
    })


def worktree_with(tmp_path: Path, files: dict[str, str]) -> Path:
    """A run's worktree (its own branch, in the repository's worktree list) with ``files``
    committed on top of the demo repository."""
    repo = make_repo(tmp_path / "demo")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "the run's work")
    worktree = tmp_path / "worktrees" / "run1"
    git(repo, "worktree", "add", "-q", "-b", "gluon/run1", str(worktree))
    return worktree


def home_of(config: Config) -> Path:
    return config.agent_homes_dir / "merge-run1"


async def test_a_passing_pytest_project_passes_in_the_sandbox(tmp_path: Path) -> None:
    worktree = worktree_with(tmp_path, {"pyproject.toml": PYPROJECT,
                                        "tests/test_add.py": PASSING})
    config = make_config(tmp_path)
    outcome = await run_tests(config, "demo", worktree, agent_home=home_of(config))
    assert outcome.passed, outcome.output
    assert outcome.command == PYTEST and not outcome.timed_out
    assert "1 passed" in outcome.output
    assert outcome.seconds > 0


async def test_a_failing_pytest_project_fails_and_its_output_shows_the_assertion(
        tmp_path: Path) -> None:
    worktree = worktree_with(tmp_path, {"pyproject.toml": PYPROJECT,
                                        "tests/test_add.py": FAILING})
    config = make_config(tmp_path)
    outcome = await run_tests(config, "demo", worktree, agent_home=home_of(config))
    assert not outcome.passed and not outcome.timed_out
    assert "assert 4 == 5" in outcome.output
    assert "1 failed" in outcome.output


async def test_the_configured_command_wins_over_the_detected_one_and_a_given_one_over_both(
        tmp_path: Path) -> None:
    worktree = worktree_with(tmp_path, {"tests/test_add.py": FAILING})
    config = make_config(tmp_path, test_command="echo configured ran; test -f app.py")
    configured = await run_tests(config, "demo", worktree, agent_home=home_of(config))
    assert configured.passed, configured.output
    assert configured.command == "echo configured ran; test -f app.py"
    assert "configured ran" in configured.output
    given = await run_tests(config, "demo", worktree, agent_home=home_of(config),
                            command="echo given ran; exit 3")
    assert not given.passed and given.command == "echo given ran; exit 3"
    assert given.output.strip() == "given ran"


async def test_only_the_end_of_a_long_output_is_kept(tmp_path: Path) -> None:
    worktree = worktree_with(tmp_path, {})
    config = make_config(tmp_path, test_command="seq 1 100000; echo the end; exit 1")
    outcome = await run_tests(config, "demo", worktree, agent_home=home_of(config))
    assert not outcome.passed
    assert len(outcome.output) == OUTPUT_TAIL
    assert outcome.output.endswith("99999\n100000\nthe end\n")


async def test_a_project_without_a_test_command_passes_with_none(tmp_path: Path) -> None:
    worktree = worktree_with(tmp_path, {"docs/guide.md": "# guide\n"})
    config = make_config(tmp_path)
    outcome = await run_tests(config, "demo", worktree, agent_home=home_of(config))
    assert outcome.passed and outcome.command is None
    assert outcome.output.startswith("no test command")


async def test_the_tests_see_no_secret_the_daemon_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"ANTHROPIC_API_KEY": "sk-ant-DAEMON-KEY", "GH_TOKEN": "ghp_DAEMON_TOKEN",
               "GLUON_TELEGRAM_TOKEN": "123:TELEGRAM-SECRET", "AWS_SECRET_ACCESS_KEY": "AWS-X"}
    for name, value in {**secrets, "DATABASE_URL": "postgres://tests"}.items():
        monkeypatch.setenv(name, value)
    worktree = worktree_with(tmp_path, {})
    config = make_config(tmp_path, test_command="env; cat /proc/1/environ | tr '\\0' '\\n'",
                         env_allow=["DATABASE_URL"])
    outcome = await run_tests(config, "demo", worktree, agent_home=home_of(config))
    assert outcome.passed, outcome.output
    for name, value in secrets.items():
        assert name not in outcome.output and value not in outcome.output
    assert f"HOME={home_of(config)}" in outcome.output
    assert "DATABASE_URL=postgres://tests" in outcome.output  # allowed for this project


def sleeping(marker: str) -> list[int]:
    """Processes on this machine running ``sleep <marker>`` (a zombie has no command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[:2] == [b"sleep", marker.encode()]:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("sandbox", ["required", "off"])
async def test_tests_that_run_too_long_are_stopped_with_every_process_they_started(
        tmp_path: Path, sandbox: str) -> None:
    marker = f"{4000 + os.getpid() % 1000}.{len(sandbox)}"  # unique to this test's sleep
    worktree = worktree_with(tmp_path, {})
    config = make_config(tmp_path, sandbox=sandbox, timeout_minutes=0.02,
                         test_command=f"sleep {marker} & echo started; wait")
    outcome = await run_tests(config, "demo", worktree, agent_home=home_of(config))
    assert outcome.timed_out and not outcome.passed
    assert "started" in outcome.output
    assert sleeping(marker) == []


def detected(tmp_path: Path, files: dict[str, str]) -> str | None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return detect_test_command(tmp_path)


NPM_PLACEHOLDER = 'echo "Error: no test specified" && exit 1'


@pytest.mark.parametrize(("files", "command"), [
    ({"pyproject.toml": PYPROJECT}, PYTEST),
    ({"pyproject.toml": "[tool.pytest]\nminversion = '9.0'\n"}, PYTEST),
    ({"pytest.ini": "[pytest]\n"}, PYTEST),
    ({"setup.cfg": "[metadata]\nname = demo\n\n[tool:pytest]\ntestpaths = t\n"}, PYTEST),
    ({"tox.ini": "[tox]\nenvlist = py311\n\n[pytest]\naddopts = -q\n"}, PYTEST),
    ({"tests/unit/test_parse.py": "def test_x():\n    pass\n"}, PYTEST),
    ({"package.json": json.dumps({"scripts": {"test": "vitest run"}})}, NPM_TEST),
    ({"go.mod": "module example.com/demo\n\ngo 1.22\n"}, GO_TEST),
    ({"Cargo.toml": '[package]\nname = "demo"\nversion = "0.1.0"\n'}, CARGO_TEST),
    # The first match wins: a Python project with a package.json for its docs site.
    ({"package.json": json.dumps({"scripts": {"test": "jest"}}), "pytest.ini": "[pytest]\n"},
     PYTEST),
    ({"package.json": json.dumps({"scripts": {"test": NPM_PLACEHOLDER}}),
      "go.mod": "module m\n"}, GO_TEST),
], ids=["pyproject", "pyproject-tool-pytest", "pytest.ini", "setup.cfg", "tox.ini",
        "tests-folder", "npm", "go", "cargo", "pytest-before-npm", "npm-placeholder-then-go"])
def test_the_test_command_is_detected_from_the_projects_files(
        tmp_path: Path, files: dict[str, str], command: str) -> None:
    assert detected(tmp_path, files) == command


@pytest.mark.parametrize("files", [
    {},
    {"pyproject.toml": '[project]\nname = "demo"\n\n[tool.ruff]\nline-length = 99\n'},
    {"setup.cfg": "[metadata]\nname = demo\n", "tox.ini": "[tox]\nenvlist = py311\n"},
    {"tests/fixtures.json": "{}", "app_test.txt": ""},
    {"package.json": json.dumps({"scripts": {"test": NPM_PLACEHOLDER}})},
    {"package.json": json.dumps({"scripts": {"build": "tsc"}})},
    {"package.json": "{ not json"},
], ids=["empty", "pyproject-without-pytest", "ini-without-pytest", "tests-without-tests",
        "npm-placeholder", "npm-without-test", "broken-package-json"])
def test_a_project_without_tests_has_no_detected_command(
        tmp_path: Path, files: dict[str, str]) -> None:
    assert detected(tmp_path, files) is None


async def test_a_process_that_leaves_the_group_does_not_hold_the_outcome_back(
        tmp_path: Path) -> None:
    """Unsandboxed, a daemon the tests start in a session of its own survives the group's
    kill and keeps the output pipe open: the outcome comes anyway, with what was printed."""
    marker = f"{5000 + os.getpid() % 1000}.5"
    worktree = worktree_with(tmp_path, {})
    config = make_config(tmp_path, sandbox="off",
                         test_command=f"setsid sleep {marker} & echo checked")
    try:
        outcome = await run_tests(config, "demo", worktree, agent_home=home_of(config))
    finally:
        for pid in sleeping(marker):
            os.kill(pid, signal.SIGKILL)
    assert outcome.passed and not outcome.timed_out
    assert outcome.output == "checked\n"
