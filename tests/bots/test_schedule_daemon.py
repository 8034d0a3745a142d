"""Schedules in ``gluon serve``: made from the command line, fired by the daemon's scheduler,
and a slot that came while the daemon was killed fires once after restarts."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

from tests.bots.conftest import Gluon, refused, stop
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def runs_of(gluon: Gluon, key: str) -> list[dict[str, object]]:
    return [r for r in gluon.json("runs", "--limit", "500")["runs"]
            if str(r["id"]) and gluon_run(gluon, str(r["id"]))["key"] == key]


def gluon_run(gluon: Gluon, run_id: str) -> dict[str, object]:
    run = gluon.json("show", run_id)["run"]
    assert isinstance(run, dict)
    return run


def wait_for_runs(gluon: Gluon, key: str, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 60
    while len(found := runs_of(gluon, key)) < count:
        assert time.monotonic() < deadline, f"no run for {key} in 60 s"
        time.sleep(0.2)
    return found


def test_a_slot_due_while_the_daemon_was_killed_fires_once_after_restarts(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:nightly", [s.text("nightly done")])
    gluon.ok("project", "add", str(repo))
    daemon = gluon.serve()
    try:
        added = gluon.json("schedule", "add", "demo", "0 3 * * *", "SCRIPT:nightly",
                           "--tz", "UTC")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
    finally:
        stop(daemon)
    # The daemon stays down across the schedule's slot: two minutes ago, say.
    slot = (int(time.time()) // 60 - 2) * 60
    with sqlite3.connect(gluon.home / "gluon.db") as db:
        db.execute("UPDATE schedules SET next_fire_at = ? WHERE id = ?", (slot, added["id"]))
    key = f"cron:{added['id']}:{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(slot))}"

    daemon = gluon.serve()
    try:
        [run] = wait_for_runs(gluon, key, 1)
        daemon.send_signal(signal.SIGKILL)  # and killed again, right after it fired
        daemon.wait(timeout=30)
    finally:
        stop(daemon)
    daemon = gluon.serve()
    try:
        listed = gluon.json("schedule", "list")["schedules"]
        [schedule] = listed
        assert schedule["last_fire_at"] == slot and schedule["fires"] == 1
        assert schedule["next_fire_at"] > time.time()
        assert [r["id"] for r in runs_of(gluon, key)] == [run["id"]]
        deadline = time.monotonic() + 60
        while gluon_run(gluon, str(run["id"]))["state"] not in ("review", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        done = gluon_run(gluon, str(run["id"]))
        assert (done["state"], done["source"], done["result_text"]) == (
            "review", "cron", "nightly done")
        assert len(gluon.json("runs")["runs"]) == 1
    finally:
        stop(daemon)


def test_schedule_commands_add_list_pause_resume_remove(gluon: Gluon, repo: Path) -> None:
    gluon.ok("project", "add", str(repo))
    added = gluon.ok("schedule", "add", "demo", "0 7 * * mon-fri", "hunt flaky tests",
                     "--tz", "Europe/Berlin", "--overlap", "queue")
    first = added.out.splitlines()[0]
    assert first.startswith("schedule ") and "`0 7 * * mon-fri` (Europe/Berlin), next " in first
    assert "schedules fire while `gluon serve` runs" in added.out
    [listed] = gluon.json("schedule", "list")["schedules"]
    table = gluon.ok("schedule", "list").out.splitlines()
    assert table[0].split() == ["ID", "PROJECT", "CRON", "TZ", "OVERLAP", "NEXT", "LAST",
                                "PROMPT"]
    assert listed["id"] in table[1] and "queue" in table[1]
    assert "paused" in gluon.ok("schedule", "pause", listed["id"]).out
    assert "next " in gluon.ok("schedule", "resume", listed["id"]).out
    assert "needs a confirmation" in refused(gluon("schedule", "remove", listed["id"]))
    gone = gluon.ok("schedule", "remove", listed["id"], "--yes")
    assert gone.out.strip() == f"removed schedule {listed['id']}; the runs it started are kept"
    assert "`0 9 * *`: 4 fields, expected 5" in refused(
        gluon("schedule", "add", "demo", "0 9 * *", "x"))
    assert "unknown time zone 'Nowhere/Land'" in refused(
        gluon("schedule", "add", "demo", "0 9 * * *", "x", "--tz", "Nowhere/Land"))
    assert json.loads(gluon.ok("schedule", "list", "--json").out) == {"schedules": []}
