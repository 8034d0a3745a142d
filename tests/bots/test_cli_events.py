"""``gluon events`` as a user runs it: the event log of a real daemon, read from a cursor and
followed while a real run of the real Claude Code CLI goes on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.bots.conftest import Gluon, refused, stop
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

LINE = re.compile(r"^ *(\d+)  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  (.*)$")


def parsed(out: str) -> list[tuple[int, str]]:
    lines = [LINE.match(line) for line in out.splitlines()]
    assert all(lines), out
    return [(int(m.group(1)), m.group(2)) for m in lines if m]


def test_events_are_listed_in_order_and_followed_as_they_happen(
        gluon: Gluon, daemon: subprocess.Popen[str], repo: Path,
        model_server: ScriptedModelServer) -> None:
    assert gluon.ok("events").out == "no events yet\n"
    model_server.script("SCRIPT:agent-ev", [s.hold("ev", then=s.text("Done."))])
    gluon.ok("project", "add", str(repo))
    run_id = gluon.json("run", "demo", "SCRIPT:agent-ev tidy up")["id"]
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:agent-ev", 60)
    follower = gluon.start("events", "-f")
    try:
        assert follower.stdout is not None
        seen = [follower.stdout.readline(), follower.stdout.readline()]
        model_server.release("ev")
        seen.append(follower.stdout.readline())
    finally:
        stop(follower)
    events = parsed("".join(seen))
    assert [text for _, text in events] == [
        f"run {run_id} queued: started by cli",
        f"run {run_id} queued -> running: agent started",
        f"run {run_id} running -> review: the agent finished its task"]
    seqs = [seq for seq, _ in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3

    assert parsed(gluon.ok("events", "--run", run_id[:4]).out) == events
    after = gluon.json("events", "--after", str(seqs[0]))
    assert [e["seq"] for e in after["events"]] == seqs[1:]
    assert after["next_cursor"] == seqs[-1]
    assert parsed(gluon.ok("events", "--limit", "1").out) == events[-1:]
    assert "no run 'feedface'" in refused(gluon("events", "--run", "feedface"))
