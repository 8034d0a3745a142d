"""The board's merge queue panel over HTTP, as a browser sends its forms, over a real runtime
with real runs and real git: the entries in line on a base branch in the order they merge,
with where each is and why; Cancel takes one out and Retry puts a failed one back, through
the same tools as chat (cancelling after a confirmation); the panel comes live with each
step."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from core.config import Config
from core.events.bus import MergeStep
from core.merges.states import MergeState
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.web.site import messages, serving

# The checks of the first entry go on until the test lets them end, then fail.
CHECKS = "while [ ! -e release.flag ]; do sleep 0.1; done; exit 1"


def config_for(home: Path, server: ScriptedModelServer) -> Config:
    base = make_config(home, server)
    return base.model_copy(update={
        "merge": base.merge.model_copy(update={"check_fixes": 0}),
        "projects": {"demo": base.project("demo").model_copy(
            update={"test_command": CHECKS})}})


async def finished(rt: Runtime, server: ScriptedModelServer, key: str, path: str) -> str:
    server.script(key, [s.write(path, f"{key}\n"), s.text("Done.")])
    run = await rt.runs.start_run("demo", f"{key} please")
    assert (await wait_state(rt, run.id, timeout=120)).state is RunState.REVIEW
    return run.id


async def reached(rt: Runtime, entry_id: str, state: MergeState) -> None:
    """Wait (on the event bus) until the entry is in ``state``."""
    with rt.bus.subscribe(lambda e: isinstance(e, MergeStep) and e.entry_id == entry_id) as sub:
        async with asyncio.timeout(120):
            while (await rt.merges.get(entry_id)).state is not state:
                await sub.get()


def panel_of(page: str) -> str:
    return page.split('id="panel-merges"', 1)[1].split("</section>", 1)[0]


async def test_the_merge_queue_panel_shows_the_line_and_cancels_and_retries_entries(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    config = config_for(tmp_path / "home", model_server)
    async with Runtime(config, environ=daemon_environ()) as runtime:
        await runtime.projects.add("demo", str(repo))
        first = await finished(runtime, model_server, "SCRIPT:notes", "NOTES.md")
        second = await finished(runtime, model_server, "SCRIPT:todo", "TODO.md")
        async with serving(runtime) as site, site.person() as (http, csrf):
            assert "Nothing is in line to be merged" in panel_of((await http.get("/")).text)
            after = await runtime.events.last_seq()
            async with http.stream("GET", "/events", params={"after": after}) as stream:
                lines = stream.aiter_lines()
                ahead = await runtime.merges.enqueue(first, actor="telegram:5")
                [update] = await messages(lines, 1)
                while "patch" not in json.loads(update.data):  # the last of its batch has it
                    [update] = await messages(lines, 1)
            live = json.loads(update.data)["patch"]["panels"]["merges"]
            assert f'href="/runs/{first}"' in live and "<code>" in live

            behind = await runtime.merges.enqueue(second)
            await reached(runtime, ahead.id, MergeState.CHECKING)
            panel = panel_of((await http.get("/")).text)
            assert "demo → main" in panel
            assert panel.index(f"/runs/{first}") < panel.index(f"/runs/{second}")
            assert "1. <a" in panel and "2. <a" in panel and "checking" in panel
            assert f'name="entry" value="{behind.id}"' in panel

            form = {"csrf": csrf, "back": "/", "entry": behind.id}
            held = await http.post("/do/cancel_merge", data=form)  # first says what it does
            assert held.status_code == 200 and ">Confirm</button>" in held.text
            assert f"take run {second[:8]}" in held.text and "out of the merge queue" in held.text
            assert (await runtime.merges.get(behind.id)).state is MergeState.WAITING
            done = await http.post("/do/cancel_merge", data={**form, "confirmed": "1"})
            assert done.status_code == 303
            assert (await runtime.merges.get(behind.id)).state is MergeState.CANCELLED
            page = (await http.get("/")).text
            assert "Done: cancel merge." in page
            assert "Ended lately" in panel_of(page) and "cancelled by cli" in panel_of(page)

            (Path((await runtime.runs.get(first)).cwd) / "release.flag").touch()
            await reached(runtime, ahead.id, MergeState.FAILED)
            panel = panel_of((await http.get("/")).text)
            assert "failed on the rebased branch" in panel
            assert 'action="/do/retry_merge"' in panel
            retried = await http.post("/do/retry_merge", data={"csrf": csrf, "back": "/",
                                                               "entry": ahead.id})
            assert retried.status_code == 303
            await reached(runtime, ahead.id, MergeState.FAILED)
        states = [t[1] for t in await runtime.merges.transitions(ahead.id)]
    assert states.count("failed") == 2 and "waiting" in states[1:], states
    assert not (repo / "NOTES.md").exists() and not (repo / "TODO.md").exists()
