"""The MCP Inspector (the reference third-party MCP client, run by node) against `gluon mcp`:
it must list every tool with its schemas and annotations, and call them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.config import Config
from core.runtime import Runtime
from mcp_tools.server import build_server
from tests.conftest import make_repo

GLUON = str(Path(sys.executable).parent / "gluon")
INSPECTOR = Path(__file__).parents[1] / "inspector" / "node_modules" / ".bin" / "mcp-inspector"


def inspector(home: Path, *args: str, code: int = 0) -> dict[str, Any]:
    if not INSPECTOR.exists():
        if os.environ.get("GLUON_REQUIRE_INSPECTOR"):
            pytest.fail(f"{INSPECTOR} is missing; run `npm ci --prefix tests/inspector`")
        pytest.skip("the MCP Inspector is not installed; run `npm ci --prefix tests/inspector`")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home.parent),
           "GLUON_HOME": str(home), "ANTHROPIC_API_KEY": "sk-unused"}
    # The Inspector starts the server with a minimal environment plus its `-e` variables.
    # A loaded machine starts `gluon mcp` slowly: wait longer than the Inspector's 15 s.
    done = subprocess.run([str(INSPECTOR), "--cli", "--connect-timeout", "90000", "-e",
                           f"GLUON_HOME={home}", GLUON, "mcp", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == code, done.stderr  # 5: the tool returned an error
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def test_the_inspector_lists_every_tool_and_calls_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    runtime = Runtime(Config(home=home))
    await runtime.open(resume_interrupted=False)
    try:
        await runtime.projects.add("demo", str(make_repo(tmp_path / "demo")))
        _, kit = build_server(runtime)
    finally:
        await runtime.close()

    tools = {t["name"]: t for t in inspector(home, "--method", "tools/list")["tools"]}
    assert set(tools) == set(kit.names) and len(tools) >= 40
    for name, tool in tools.items():
        assert tool["inputSchema"]["type"] == "object", name
        assert tool["outputSchema"]["type"] == "object", name
        hints = tool["annotations"]
        assert hints["readOnlyHint"] is (name in kit.read_only), name
        assert hints["destructiveHint"] is (name in kit.destructive), name

    listed = inspector(home, "--method", "tools/call", "--tool-name", "list_projects")
    assert [p["name"] for p in listed["structuredContent"]["projects"]] == ["demo"]
    shown = inspector(home, "--method", "tools/call", "--tool-name", "get_project",
                      "--tool-arg", "name=demo")
    assert shown["structuredContent"]["branch"] == "main"
    wrong = inspector(home, "--method", "tools/call", "--tool-name", "get_project",
                      "--tool-arg", "name=nope", code=5)
    assert wrong["isError"] is True
    assert "no project named 'nope'" in wrong["content"][0]["text"]
