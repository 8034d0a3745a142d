"""The run page shows what the quality gates said about the run's work."""

from __future__ import annotations

from pathlib import Path

from core.config import GatesConfig
from core.runtime import Runtime
from tests.conftest import daemon_environ, git, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.web.site import serving


async def test_the_run_page_shows_each_gate_with_its_outcome_and_command(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    (repo / ".gluon").mkdir()
    (repo / ".gluon" / "project.toml").write_text(
        '[gates]\nlint = "echo \'Found 2 errors.\'; exit 1"\ntest = "true"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "gates")
    model_server.script("SCRIPT:x", [s.text("Done.")])
    config = make_config(tmp_path / "home", model_server)
    config = config.model_copy(update={"gates": GatesConfig(max_fixes=0)})
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        run = await wait_state(rt, (await rt.runs.start_run("demo", "SCRIPT:x go")).id)
        # In the checkout, without a worktree of its own: no gates.
        checkout = await wait_state(rt, (await rt.runs.start_run(
            "demo", "SCRIPT:x again", worktree=False)).id)
        async with serving(rt) as site, site.person() as (http, _):
            page = (await http.get(f"/runs/{run.id}")).text
            plain = (await http.get(f"/runs/{checkout.id}")).text

    assert "<h2>Quality gates</h2>" in page
    assert ('<tr data-gate="lint"><td>Lint</td><td><span class="tag bad">2 errors left</span>'
            "</td><td>1</td><td><code>echo &#39;Found 2 errors.&#39;; exit 1</code></td></tr>"
            ) in page
    assert checkout.state_reason == "the agent finished its task"
    assert "Quality gates" not in plain
