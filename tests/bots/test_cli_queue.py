"""``gluon queue``: the work queue from the command line, as a user runs it (no daemon: the
queued runs wait for ``gluon serve``)."""

from __future__ import annotations

from pathlib import Path

from tests.bots.conftest import Gluon, refused


def test_queue_add_list_move_and_cancel(gluon: Gluon, repo: Path) -> None:
    gluon.ok("project", "add", str(repo))
    first = gluon.ok("queue", "add", "demo", "first task")
    assert first.out.startswith("queued run ") and "(priority 0)" in first.out
    assert "waits in the queue until `gluon serve` starts" in first.out
    later = gluon.json("queue", "add", "demo", "later task", "--at", "+2h", "--priority", "-3")
    urgent = gluon.json("queue", "add", "demo", "urgent task", "--priority", "7",
                        "--key", "ticket-42")
    assert gluon.json("queue", "add", "demo", "again", "--key", "ticket-42")["id"] == \
        urgent["id"]
    assert (later["priority"], later["source"], later["created_by"]) == (-3, "cli", "cli")

    listed = gluon.json("queue", "list")
    ids = [i["id"] for i in listed["items"]]
    assert ids[0] == urgent["id"] and ids[2] == later["id"] and len(ids) == 3
    assert listed["items"][2]["why"].startswith("starts ")
    table = gluon.ok("queue", "list").out.splitlines()
    assert table[0].split() == ["#", "RUN", "PROJECT", "PRIO", "WHY", "BY", "PROMPT"]
    assert table[1].split()[:4] == ["1", urgent["id"], "demo", "7"]
    assert "cli (cli)" in table[1] and "urgent task" in table[1]

    moved = gluon.ok("queue", "move", urgent["id"][:5], "-10")
    assert moved.out.strip() == f"run {urgent['id']} now has priority -10"
    assert [i["id"] for i in gluon.json("queue", "list")["items"]][-1] == urgent["id"]

    done = gluon.ok("queue", "cancel", later["id"], "--yes")
    assert done.out.startswith(f"run {later['id']} cancelled: cancelled by cli")
    assert len(gluon.json("queue", "list", "--project", "demo")["items"]) == 2
    said = refused(gluon("queue", "cancel", later["id"]))  # no terminal, no --yes
    assert "needs a confirmation; pass --yes" in said


def test_queue_commands_refuse_bad_input_in_one_line(gluon: Gluon, repo: Path) -> None:
    gluon.ok("project", "add", str(repo))
    assert "start time 'soonish' is not understood" in refused(
        gluon("queue", "add", "demo", "x", "--at", "soonish"))
    assert "priority" in refused(gluon("queue", "add", "demo", "x", "--priority", "300"))
    assert "no project named 'gone'" in refused(gluon("queue", "add", "gone", "x"))
    assert "no run 'ffff'" in refused(gluon("queue", "move", "ffff", "3"))
    assert gluon.ok("queue", "list").out.strip() == "nothing is queued"
