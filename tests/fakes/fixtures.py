"""Pytest fixtures and helpers for driving the real Claude Code CLI against the fake model.

Import the fixture into a test module (`from tests.fakes.fixtures import model_server`); pytest
finds fixtures by the names a module holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import claude_agent_sdk
import pytest
from claude_agent_sdk import ClaudeAgentOptions

from tests.fakes.model_server import ScriptedModelServer


def bundled_cli_path() -> str:
    """The Claude Code CLI binary shipped inside the claude-agent-sdk wheel."""
    return str(Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude")


CLAUDE_CLI = bundled_cli_path()


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    """A started `ScriptedModelServer`, stopped after the test."""
    with ScriptedModelServer() as server:
        yield server


def agent_options(
    server: ScriptedModelServer, root: Path, name: str = "agent"
) -> ClaudeAgentOptions:
    """Options for an isolated CLI: its own HOME and git-less cwd under `root`, no settings.

    `acceptEdits` (root may not use bypassPermissions without IS_SANDBOX=1) and Claude Code's
    own system prompt; change fields with `dataclasses.replace(options, ...)`.
    """
    home = root / f"{name}-home"
    cwd = root / f"{name}-cwd"
    home.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    return ClaudeAgentOptions(
        cwd=str(cwd),
        env=server.agent_env(str(home)),
        permission_mode="acceptEdits",
        setting_sources=[],
        system_prompt={"type": "preset", "preset": "claude_code"},
    )
