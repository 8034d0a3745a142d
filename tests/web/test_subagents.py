"""The status page shows how many subagents a run's agent spawned and how many are done."""

from __future__ import annotations

import uuid
from pathlib import Path

from core.runtime import Runtime
from core.types import RunState
from tests.web.site import serving


async def test_the_board_card_and_the_run_page_count_a_runs_subagents(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    for run_id, started, done in (("0000000a", 3, 2), ("0000000b", 0, 0)):
        await runtime.runs.store.insert(
            id=run_id, project="demo", prompt="map the parser", model="sonnet",
            use_worktree=1, cwd=str(repo), branch=f"gluon/{run_id}", base_branch="main",
            base_sha="0" * 40, session_id=str(uuid.uuid4()), created_by="cli",
            state=RunState.RUNNING, state_reason="waiting for 1 subagent",
            created_at=1_700_000_000)
        await runtime.runs.store.update(run_id, subagents_started=started,
                                        subagents_done=done)
    async with serving(runtime) as site, site.person() as (http, _):
        board = (await http.get("/")).text
        page = (await http.get("/runs/0000000a")).text
        other = (await http.get("/runs/0000000b")).text

    card = board.split('id="run-0000000a"', 1)[1].split("</article>", 1)[0]
    assert "3 subagents: 2 done" in card
    assert "subagent" not in board.split('id="run-0000000b"', 1)[1].split("</article>", 1)[0]
    assert "<dt>Subagents</dt><dd>3 started, 2 done</dd>" in page
    assert "Subagents" not in other
