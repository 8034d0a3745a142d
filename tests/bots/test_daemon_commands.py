"""Commands to a run whose `gluon serve` was killed wait in the run's channel for it to go on."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from bots.cli.client import ToolClient, connect
from core.events.bus import EventBus
from core.runs.command_store import CommandStore
from core.runs.commands import CommandKind, SqliteCommandChannel
from core.runs.interaction_store import InteractionStore
from core.runs.interactions import Interactions
from core.store.db import Database
from core.types import InteractionStatus
from tests.bots.test_daemon_recovery import Daemon, config_for, daemon, env  # noqa: F401
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


async def pending_of(client: ToolClient, run_id: str) -> list[dict[str, Any]]:
    """The run's open questions, once the daemon (another process) has recorded one."""
    for _ in range(600):
        pending: list[dict[str, Any]] = (await client.call("list_pending", {"run": run_id})
                                         )["pending"]
        if pending:
            return pending
        await asyncio.sleep(0.1)
    raise AssertionError("the agent's question was not recorded in 60 s")


async def test_an_answer_given_while_gluon_is_down_reaches_the_agent_when_the_run_goes_on(
        env: dict[str, str], daemon: Daemon, repo: Path,  # noqa: F811
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:downask", [s.ask("Which database?", ["Postgres", "SQLite"]),
                                           s.text("Going with it.")])
    # Carol answers in her own words; the key in them picks the fake model's reply to the
    # message that tells the agent (a real model reads the answer; the fake reads keys).
    model_server.script("SCRIPT:answered", [s.text("Going with SQLite.")])
    answer = "SQLite, it is small (SCRIPT:answered)"
    await daemon.start()
    config = config_for(env)
    async with connect(config) as client:
        await client.call("add_project", {"path": str(repo), "name": "demo"})
        run = await client.call("start_run", {"project": "demo", "prompt": "SCRIPT:downask"})
        [question] = await pending_of(client, run["id"])
    assert daemon.kill(signal.SIGKILL) == -signal.SIGKILL

    # Answered while no Gluon runs, by a process with only the database (as the status page
    # or a worker would), the way every surface answers: the record, and the run's wake-up.
    db = Database(config.db_path)
    await db.open()
    try:
        interactions = Interactions(InteractionStore(db), EventBus())
        assert (await interactions.get(question["id"])).status is InteractionStatus.PENDING
        async with db.transaction():
            await interactions.answer(question["id"], answer, "carol")
            channel = SqliteCommandChannel(CommandStore(db))
            await channel.send(run["id"], CommandKind.ANSWER, "carol",
                               interaction_id=question["id"])
    finally:
        await db.close()

    await daemon.start()
    async with connect(config) as client:
        for _ in range(10):
            waited = await client.call("wait_for_run", {"run": run["id"],
                                                        "timeout_seconds": 30})
            if waited["done"]:
                break
        detail = await client.call("get_run", {"run": run["id"]})
        events = await client.call("get_run_logs", {"run": run["id"], "limit": 200})

    assert detail["run"]["state"] == "review", detail["run"]["state_reason"]
    assert detail["run"]["result_text"] == "Going with SQLite."
    told = [r for r in model_server.requests if "While you were stopped" in r.all_text()]
    assert told, "the agent was never told the answer"
    assert (f"the user answered your request 'Which database?': {answer}"
            in told[0].last_user_text())
    # Told once, and nobody answered for the person: the only answer is carol's.
    assert told[-1].all_text().count("While you were stopped") == 1
    answers = [e["summary"] for e in events["events"] if e["kind"] == "answer"]
    assert answers == [f"carol: {answer}"], answers
