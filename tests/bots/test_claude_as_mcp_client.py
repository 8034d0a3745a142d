"""The real Claude Code CLI as an MCP client of `gluon mcp`: a scripted model calls Gluon's
tools, and the calls have their real effects in Gluon's database."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.fakes import scripts as s
from tests.fakes.fixtures import bundled_cli_path
from tests.fakes.model_server import ScriptedModelServer

GLUON = str(Path(sys.executable).parent / "gluon")


def test_claude_code_calls_gluon_tools_over_stdio(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    gluon_home = tmp_path / "gluon-home"
    model_server.script("SCRIPT:outer", [
        s.tool("mcp__gluon__add_project", {"path": str(repo), "name": "api"}),
        s.tool("mcp__gluon__list_projects", {}),
        s.tool("mcp__gluon__start_run", {"project": "api", "prompt": "SCRIPT:inner"}),
        s.text("started it"),
    ])
    model_server.script("SCRIPT:inner", [s.text("inner agent here")])
    mcp_config = {"mcpServers": {"gluon": {
        "type": "stdio", "command": GLUON, "args": ["mcp"],
        "env": {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
                "GLUON_HOME": str(gluon_home), "GLUON_SERVER_PORT": "0",
                "ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": model_server.base_url}}}}
    home = tmp_path / "claude-home"
    home.mkdir()
    done = subprocess.run(
        [bundled_cli_path(), "-p", "SCRIPT:outer", "--mcp-config", json.dumps(mcp_config),
         "--strict-mcp-config", "--allowedTools",
         "mcp__gluon__add_project,mcp__gluon__list_projects,mcp__gluon__start_run",
         "--output-format", "json"],
        cwd=tmp_path, env={"PATH": os.environ["PATH"], **model_server.agent_env(str(home))},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["result"] == "started it"

    listed = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:outer"
                                           and r.step == 2)
    assert '"name":"api"' in listed.tool_results()[-1].replace(" ", "")
    started = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:outer"
                                            and r.step == 3)
    run = json.loads(started.tool_results()[-1])
    assert run["project"] == "api" and run["branch"] == f"gluon/{run['id']}"
    with sqlite3.connect(gluon_home / "gluon.db") as db:
        assert db.execute("SELECT project, prompt FROM runs").fetchall() == [
            ("api", "SCRIPT:inner")]
        actors = {r[0] for r in db.execute("SELECT actor FROM activity WHERE action LIKE 'tool.%'")}
    assert actors == {"mcp"}
