"""The quality gates' results through a real MCP client, after a real run of the Claude Code
CLI against the scripted model server."""

from __future__ import annotations

from pathlib import Path

from core.config import GatesConfig
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, git, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.mcp_tools.client import call, connected


async def test_get_gate_results_and_get_run_say_which_gate_failed_and_which_passed(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    (repo / ".gluon").mkdir()
    (repo / ".gluon" / "project.toml").write_text(
        '[gates]\nlint = "echo \'Found 2 errors.\'; exit 1"\ntest = "echo \'3 passed\'"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "gates")
    model_server.script("SCRIPT:x", [s.write("x.txt", "x\n"), s.text("Done.")])
    config = make_config(tmp_path / "home", model_server)
    config = config.model_copy(update={"gates": GatesConfig(max_fixes=0)})
    async with Runtime(config, environ=daemon_environ()) as rt, connected(rt) as client:
        await call(client, "add_project", path=str(repo))
        run = await call(client, "start_run", project="demo", prompt="SCRIPT:x please")
        done = await wait_state(rt, run["id"])
        assert done.state is RunState.REVIEW
        assert done.state_reason == ("quality gates failed: lint still fails (2 errors left) "
                                     "after 0 fixes")

        got = await call(client, "get_gate_results", run=run["id"][:6])
        assert got["run_id"] == run["id"]
        assert got["gates"] == [{"gate": "lint", "passed": False, "attempts": 1,
                                 "command": "echo 'Found 2 errors.'; exit 1",
                                 "summary": "2 errors left"}]
        [result] = got["results"]
        assert (result["outcome"], result["attempt"], result["output"]) == (
            "failed", 1, "Found 2 errors.\n")
        detail = await call(client, "get_run", run=run["id"])
        assert detail["gates"] == got["gates"]
