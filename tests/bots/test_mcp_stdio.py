"""`gluon mcp`: the tools over stdio, through a real MCP client speaking JSON-RPC."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

GLUON = str(Path(sys.executable).parent / "gluon")


async def test_an_mcp_client_drives_a_run_through_gluon_mcp_over_stdio(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:stdio", [s.write("via-mcp.txt", "hello\n"), s.text("done")])
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "GLUON_HOME": str(tmp_path / "home"), "GLUON_SERVER_PORT": "0",
           "ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": model_server.base_url}
    params = StdioServerParameters(command=GLUON, args=["mcp"], env=env)
    async with Client(params) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["merge_run"].annotations is not None
        assert tools["merge_run"].annotations.destructive_hint is True
        added = await client.call_tool("add_project", {"path": str(repo)})
        assert added.structured_content and added.structured_content["name"] == "demo"
        run = await client.call_tool("start_run", {"project": "demo",
                                                   "prompt": "SCRIPT:stdio"})
        assert run.structured_content is not None
        run_id = run.structured_content["id"]
        waited = await client.call_tool("wait_for_run", {"run": run_id,
                                                         "timeout_seconds": 60})
        assert waited.structured_content is not None
        assert waited.structured_content["run"]["state"] == "review"
        bad = await client.call_tool("merge_run", {"run": "nope"})
        assert bad.is_error
    assert (tmp_path / "home" / "gluon.db").is_file()
    assert "via-mcp.txt" in {f["path"] for f in waited.structured_content["run"]["changed_files"]}
