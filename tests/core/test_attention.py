"""What needs a person, over a real runtime: a failed merge-queue entry with retry_merge, a
run gone quiet with steer_run, oldest first, and a project's daily budget near its cap."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from core.events.bus import MergeStep
from core.merges.states import MergeState
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


async def test_a_failed_merge_and_a_quiet_run_are_listed_with_their_actions(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    base = make_config(tmp_path / "home", model_server)
    config = base.model_copy(update={
        # Without the witness, a live run is judged by its quiet time (with it, by the
        # witness's verdict: tests/bots/test_chat_witness.py).
        "witness": base.witness.model_copy(update={"enabled": False}),
        "merge": base.merge.model_copy(update={"check_fixes": 0}),
        "projects": {"demo": base.project("demo").model_copy(
            update={"test_command": "exit 1"})}})
    model_server.script("SCRIPT:a-done", [s.write("NOTES.md", "notes\n"), s.text("Done.")])
    model_server.script("SCRIPT:a-hold", [s.hold("a-hold")])
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        done = await rt.runs.start_run("demo", "SCRIPT:a-done write notes")
        assert (await wait_state(rt, done.id)).state is RunState.REVIEW
        with rt.bus.subscribe(lambda e: isinstance(e, MergeStep)) as sub:
            entry = await rt.merges.enqueue(done.id)
            async with asyncio.timeout(60):
                while (await rt.merges.get(entry.id)).state is not MergeState.FAILED:
                    await sub.get()
        held = await rt.runs.start_run("demo", "SCRIPT:a-hold keep at it")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:a-hold")
        try:
            assert [i.kind for i in await rt.attention.items()] == ["merge"]
            later = time.time() + 3600  # an hour on, the held run has been quiet long
            merge, quiet = await rt.attention.items(now=later)
            assert (merge.kind, merge.action, merge.action_args) == (
                "merge", "retry_merge", {"entry": entry.id})
            assert merge.run_id == done.id and "failed" in merge.text
            assert (quiet.kind, quiet.condition, quiet.action) == ("run", "quiet", "steer_run")
            assert quiet.run_id == held.id and quiet.waited_s > 3000

            await rt.runs.usage.settings.set("projects.demo.daily_budget_usd", 2.0)
            await rt.runs.usage.record(done.id, "demo", 1.7, 1, 1)
            *_, budget = await rt.attention.items("demo")
            assert (budget.kind, budget.project, budget.action) == ("budget", "demo",
                                                                    "set_budget")
            assert budget.action_args == {"scope": "project", "project": "demo"}
            spent = await rt.runs.usage.spent_today("demo")  # its runs cost a little too
            assert f"{spent / 2:.0%} of demo's daily budget spent (${spent:.2f} of $2.00)" \
                == budget.text and spent >= 1.7
        finally:
            model_server.release("a-hold")
            await wait_state(rt, held.id)
