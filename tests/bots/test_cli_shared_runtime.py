"""Several ``gluon`` commands at once without a daemon: the first one's Gluon serves the others
while it lives, and when it ends, a command still following a run takes the data dir over and
sees its run to the end."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.bots.conftest import RUN_ID, Gluon, finish, stop
from tests.conftest import session_saved
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def test_two_waiting_runs_without_a_daemon_both_see_their_run_to_the_end(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:first", [s.hold("first", then=s.text("First is done."))])
    # The second run's turn is cut short (interrupted) when the first command ends: what that
    # left in its session depends on timing, so the resumed session may be at step 0, 1 or 2.
    model_server.script("SCRIPT:second", [s.hold("second", then=s.text("Second is done.")),
                                          s.text("Second is done."), s.text("Second is done.")])
    gluon.ok("project", "add", str(repo))

    first = gluon.start("run", "demo", "SCRIPT:first the first task", "--wait")
    second = None
    try:
        model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:first", 60)
        second = gluon.start("run", "demo", "SCRIPT:second the second task", "--wait")
        model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:second", 60)

        model_server.release("first")  # the first command ends while the second run works
        one = finish(first)
        model_server.release("second")
        two = finish(second)
    finally:
        stop(first)
        if second is not None:
            stop(second)

    assert one.code == 0 and one.err == "", one.err
    assert "First is done." in one.out
    assert two.code == 0, two
    assert "Traceback" not in two.err and "detached" not in two.out, two
    run_id = RUN_ID.findall(two.out)[0]
    assert "Second is done." in two.out
    assert "has ended; this command takes run" in two.out
    assert f"run {run_id} review: " in two.out
    assert gluon.json("show", run_id)["run"]["state"] == "review"


def test_a_run_started_in_a_killed_commands_gluon_is_taken_over_by_the_command_following_it(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:owner", [s.hold("owner")])
    # The run has done a step, and its session is on disk, when its Gluon is killed.
    model_server.script("SCRIPT:taken", [s.bash("echo first step"),
                                         s.hold("taken", then=s.text("Finished elsewhere.")),
                                         s.text("Finished elsewhere.")])
    gluon.ok("project", "add", str(repo))

    owner = gluon.start("run", "demo", "SCRIPT:owner keeps Gluon up", "--wait")
    follower = None
    try:
        model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:owner", 60)
        # Without --wait too: with no daemon, a command stays with the run it started.
        follower = gluon.start("run", "demo", "SCRIPT:taken the task")
        stepped = model_server.wait_for_request(
            lambda r: r.script_key == "SCRIPT:taken" and r.step == 1, 60)
        deadline = time.monotonic() + 60
        while not session_saved(gluon.home, stepped.session_id):
            assert time.monotonic() < deadline, "the session was not saved in 60 s"
            time.sleep(0.05)
        assert gluon.daemon_pid() == owner.pid

        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
        # The follower notices, takes the data dir over and resumes its run from its session.
        try:
            resumed = model_server.wait_for_request(
                lambda r: r.script_key == "SCRIPT:taken"
                and "Gluon restarted" in r.last_user_text(), 60)
        except TimeoutError:
            follower.kill()
            raise AssertionError(follower.communicate()) from None
        deadline = time.monotonic() + 30
        while gluon.daemon_pid() != follower.pid and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gluon.daemon_pid() == follower.pid
        model_server.release("taken")
        done = finish(follower)
    finally:
        stop(owner)
        if follower is not None:
            stop(follower)

    assert done.code == 0 and "Traceback" not in done.err, done
    run_id = RUN_ID.findall(done.out)[0]
    assert "Finished elsewhere." in done.out
    assert f"run {run_id} review: " in done.out
    assert resumed.session_id is not None
    detail = gluon.json("show", run_id)
    states = [t["to_state"] for t in detail["transitions"]]
    assert states[-1] == "review" and "interrupted" in states, states


def test_ctrl_c_on_a_command_using_another_commands_gluon_cancels_only_its_own_run(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:stays", [s.hold("stays", then=s.text("Still here."))])
    model_server.script("SCRIPT:leaves", [s.hold("leaves")])
    gluon.ok("project", "add", str(repo))

    owner = gluon.start("run", "demo", "SCRIPT:stays the long task", "--wait")
    leaving = None
    try:
        model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:stays", 60)
        leaving = gluon.start("run", "demo", "SCRIPT:leaves a task given up", "--wait")
        model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:leaves", 60)
        leaving.send_signal(signal.SIGINT)
        left = finish(leaving)
        model_server.release("stays")
        stayed = finish(owner)
    finally:
        stop(owner)
        if leaving is not None:
            stop(leaving)

    assert left.code == 130 and "Traceback" not in left.err, left
    left_id = RUN_ID.findall(left.out)[0]
    assert f"cancelled run {left_id}; its work is kept" in left.out
    assert stayed.code == 0 and "Still here." in stayed.out, stayed
    assert gluon.json("show", left_id)["run"]["state"] == "cancelled"
