"""The board with a long history: each column shows its newest runs, filters narrow it, and
its HTML, CSS and script stay under 100 KB, so it opens quickly on a phone."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from core.runtime import Runtime
from core.types import RunState
from tests.web.site import serving

BUDGET = 100_000  # bytes of HTML + CSS + JS


async def test_a_busy_board_shows_the_newest_runs_of_each_column_within_its_weight_budget(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    states = [RunState.QUEUED, RunState.RUNNING, RunState.WAITING, RunState.REVIEW,
              RunState.FAILED, RunState.MERGED]
    for n in range(360):
        run_id = f"{n:08x}"
        await runtime.runs.store.insert(
            id=run_id, project="demo", prompt=f"task {n}: " + "refactor the parser " * 100,
            model="sonnet", use_worktree=1, cwd=str(repo), branch=f"gluon/{run_id}",
            base_branch="main", base_sha="0" * 40, session_id=str(uuid.uuid4()),
            created_by="telegram:1" if n % 2 else "cli", state=states[n % len(states)],
            state_reason="made by the test", created_at=1_700_000_000 + n)
    async with serving(runtime) as site, site.person() as (http, _):
        board = await http.get("/")
        weight = len(board.content)
        for name in ("app.css", "app.js"):
            weight += len((await http.get(f"/static/{name}")).content)
        mine = await http.get("/", params={"person": "telegram:1"})
    assert weight < BUDGET, weight

    def column(html: str, name: str) -> list[str]:
        part = html.split(f'id="col-{name}"', 1)[1].split('<section class="column"', 1)[0]
        return re.findall(r'<article class="card" id="run-([0-9a-f]+)"', part)

    queued = column(board.text, "queued")
    assert len(queued) == 30 and queued[0] == f"{354:08x}"  # the newest first
    assert len(column(board.text, "done")) == 20
    assert "filter to see others" in board.text
    assert "And 40 more after these." in board.text  # the queue panel: 60 wait
    # Odd runs are telegram:1's: every running one, no queued or waiting one.
    assert column(mine.text, "queued") == column(mine.text, "waiting") == []
    assert len(column(mine.text, "running")) == 30
