"""The merge queue in Discord: the real discord.py against the fake Discord, a real run of the
real Claude Code CLI, real git. The Merge button under a finished run asks to confirm in the
run's thread, and once confirmed the merge queue merges the run, which its ping says."""

from __future__ import annotations

from pathlib import Path

from core.merges.states import MergeState
from core.types import RunState
from tests.bots.test_discord import (  # noqa: F401 (fixtures)
    ADA,
    GENERAL,
    Gluon,
    config,
    contents,
    discord_api,
    find,
    gluon,
    run_thread,
)
from tests.conftest import git, wait_state
from tests.fakes import scripts as s
from tests.fakes.discord import FakeDiscord
from tests.fakes.model_server import ScriptedModelServer


async def test_the_merge_button_asks_to_confirm_and_the_queue_merges_the_run(
        gluon: Gluon, discord_api: FakeDiscord,  # noqa: F811 (the fixtures imported above)
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-hello", [
        s.bash("printf 'hi\\n' > hello.txt && git add hello.txt && git commit -qm hello"),
        s.text("Committed hello.txt.")])
    discord_api.slash(GENERAL, ADA, "run", {"project": "demo",
                                            "prompt": "SCRIPT:agent-hello add hello"})
    run_id, thread = await run_thread(discord_api, gluon.runtime)
    assert (await wait_state(gluon.runtime, run_id)).state is RunState.REVIEW
    await discord_api.wait_for(lambda f: any(" finished." in t for t in contents(f, thread)),
                               timeout=30)
    ping = find(discord_api, thread, " finished.")
    [(label, merge)] = ping.buttons
    assert label == "Merge" and "press Merge" in ping.content

    discord_api.click(ping.id, ADA, merge)
    await discord_api.wait_for(lambda f: any("Confirm: queue 1 run(s)" in t
                                             for t in contents(f, thread)), timeout=30)
    asked = find(discord_api, thread, "Confirm: queue 1 run(s)")
    assert await gluon.runtime.merges.list() == []  # not before the confirmation
    discord_api.click(asked.id, ADA, dict(asked.buttons)["Confirm enqueue_merge"])
    await discord_api.wait_for(lambda f: any("was merged into main by the merge queue" in t
                                             for t in contents(f, thread)), timeout=60)
    [entry] = await gluon.runtime.merges.list(include_ended=True)
    assert entry.state is MergeState.MERGED and entry.created_by == "discord:42"
    assert (await gluon.runtime.runs.get(run_id)).state is RunState.MERGED
    repo = Path((await gluon.runtime.projects.get("demo")).path)
    assert git(repo, "show", "main:hello.txt") == "hi"
