"""`gluon attention`: what needs a person, oldest first, each with the tool that deals with it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.bots.conftest import Gluon, stop
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def test_a_waiting_question_and_a_failed_run_are_listed_oldest_first_with_their_actions(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    ask, fail = "SCRIPT:att-ask", "SCRIPT:att-fail"
    model_server.script(ask, [s.ask("Which database should I use?", ["Postgres", "SQLite"]),
                              s.text("Using it.")])
    model_server.script(fail, [s.error(400, "scripted failure")])
    gluon.ok("project", "add", str(repo))
    assert gluon.ok("attention").out.strip() == "nothing needs you"
    waiting = gluon.start("run", "demo", f"{ask} set up the database", "--wait")
    try:
        model_server.wait_for_request(lambda r: r.script_key == ask and r.step == 0, 60)
        items: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not items and time.monotonic() < deadline:  # the agent asks in a moment
            items = json.loads(gluon.ok("attention", "--json").out)["items"]
            if not items:
                time.sleep(0.2)
        assert [i["kind"] for i in items] == ["question"], items

        failed = gluon("run", "demo", f"{fail} break", "--wait")
        assert failed.code != 0, failed
        items = json.loads(gluon.ok("attention", "--json").out)["items"]
        question, run = items
        assert question["kind"] == "question" and "database" in question["text"]
        assert question["action"] == "answer_question"
        assert question["action_args"] == {"id": question["ref"]}
        assert run["kind"] == "run" and run["condition"] == "failed"
        assert run["action"] == "resume_run" and run["action_args"] == {"run": run["run_id"]}
        assert run["project"] == question["project"] == "demo"
        assert question["since"] <= run["since"] and question["waited_s"] >= run["waited_s"]

        only = json.loads(gluon.ok("attention", "--project", "demo", "--json").out)["items"]
        assert [i["ref"] for i in only] == [question["ref"], run["ref"]]
        table = gluon.ok("attention").out
        assert table.index("answer_question") < table.index("resume_run")
        gluon.ok("answer", question["ref"], "Postgres")
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, (out, err)
    finally:
        stop(waiting)
    items = json.loads(gluon.ok("attention", "--json").out)["items"]
    assert [i["kind"] for i in items] == ["run"]
