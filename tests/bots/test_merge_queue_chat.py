""""Merge the green ones" in Discord: three finished runs of one project merged in order by the
merge queue, one after its agent resolved a conflict, each run's thread pinged, nothing left
behind. The real discord.py against the fake Discord, the real CLI against the scripted model."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.events.bus import MergeStep
from core.merges.states import MergeState
from core.runtime import Runtime
from core.types import RunState
from tests.bots.test_discord import (  # noqa: F401  (fixtures)
    ADA,
    GENERAL,
    Gluon,
    config,
    contents,
    discord_api,
    find,
    gluon,
)
from tests.conftest import git, wait_state
from tests.core.merges.test_merge_queue import RESOLVE
from tests.fakes import scripts as s
from tests.fakes.discord import FakeDiscord
from tests.fakes.model_server import ScriptedModelServer

WORK = {  # each run's change; the last two both change app.py's second line
    "SCRIPT:notes": s.write("NOTES.md", "notes\n"),
    "SCRIPT:check": s.write("app.py", "def add(a, b):\n    return a + b  # checked\n"),
    "SCRIPT:sub": s.write("app.py", "def add(a, b):\n    return a + b\n\n\n"
                                    "def sub(a, b):\n    return a - b\n"),
}


async def started_in_threads(fake: FakeDiscord, runtime: Runtime,
                             model_server: ScriptedModelServer) -> list[tuple[str, int]]:
    """Three runs asked for in #general, each finished in its own thread."""
    made: list[tuple[str, int]] = []
    for key, change in WORK.items():
        model_server.script(key, [change, s.text("Done.")])
        model_server.script(f"{key}-start", [
            s.tool("start_run", {"project": "demo", "prompt": f"{key} go"}),
            s.text("Started.")])
        request = fake.user_message(GENERAL, ADA, f"{key}-start please", mentions_bot=True)
        await fake.wait_for(lambda f, r=request: any(t.starter_message_id == r  # type: ignore[misc]
                                                     for t in f.threads.values()), timeout=60)
        [thread] = [t for t in fake.threads.values() if t.starter_message_id == request]
        [run] = [r for r in await runtime.runs.store.find() if r.prompt == f"{key} go"]
        assert (await wait_state(runtime, run.id, timeout=120)).state is RunState.REVIEW
        made.append((run.id, thread.id))
    return made


async def test_merge_the_green_ones_merges_three_runs_in_order_and_pings_each_thread(
        gluon: Gluon, discord_api: FakeDiscord,  # noqa: F811
        model_server: ScriptedModelServer, repo: Path) -> None:
    runtime = gluon.runtime
    runs = await started_in_threads(discord_api, runtime, model_server)
    model_server.script("conflicts with main", [s.bash(RESOLVE), s.text("Resolved.")])
    model_server.script("SCRIPT:green", [
        s.tool("enqueue_merge", {"project": "demo"}),
        s.text("Press Confirm to queue them for merging.")])

    discord_api.user_message(GENERAL, ADA, "SCRIPT:green merge the green ones",
                             mentions_bot=True)
    await discord_api.wait_for(
        lambda f: any("Press Confirm" in t for t in contents(f, GENERAL)), timeout=30)
    asked = find(discord_api, GENERAL, "Press Confirm")
    labels = dict(asked.buttons)
    assert await runtime.merges.list() == []  # nothing before the confirmation
    with runtime.bus.subscribe(lambda e: isinstance(e, MergeStep)) as steps:
        discord_api.click(asked.id, ADA, labels["Confirm enqueue_merge"])
        async with asyncio.timeout(240):
            while len(entries := await runtime.merges.list()) < 3 or any(
                    e.state.is_open for e in entries):
                await steps.get()
    await runtime.merges.idle()

    by_run = {e.run_id: e for e in entries}
    assert [by_run[run_id].state for run_id, _ in runs] == [MergeState.MERGED] * 3
    merged_at = [by_run[run_id].ended_at or 0 for run_id, _ in runs]
    assert merged_at == sorted(merged_at)  # in the order they finished
    assert by_run[runs[2][0]].conflict_fixes == 1
    app = (repo / "app.py").read_text()
    assert "# checked" in app and "def sub" in app and (repo / "NOTES.md").exists()
    assert git(repo, "branch", "--list", "gluon/*") == ""
    assert "refs/heads/gluon/" not in git(repo, "worktree", "list", "--porcelain")
    for run_id, thread in runs:
        assert (await runtime.runs.get(run_id)).state is RunState.MERGED
        await discord_api.wait_for(
            lambda f, t=thread: any("was merged" in c for c in contents(f, t)),  # type: ignore[misc]
            timeout=30)
        ping = find(discord_api, thread, "was merged")
        assert ping.content.startswith(f"<@{ADA}>") and "main" in ping.content
