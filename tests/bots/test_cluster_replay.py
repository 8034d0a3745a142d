"""A run taken over from a killed worker: the steers that worker had given its agent during
the turn it never finished reach the next worker's agent (once), and once the run has ended
its transient Redis keys are gone and the ones kept expire. Real processes throughout, as in
``test_workers``: a redis-server, ``gluon serve``, ``gluon worker``s, the real Claude Code CLI
against the scripted model server."""

from __future__ import annotations

import json

import pytest

from tests.bots.cluster_env import Cluster, wait_until
from tests.bots.test_workers import MCP_JSON, commit
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

FIRST = "Also keep notes of what you do."
SECOND = "And name the failover in the last message."
DAY = 86400


def applied(cluster: Cluster, run_id: str) -> bool:
    """Every command sent to the run was applied on its worker and done on the coordinator."""
    return cluster.redis.xlen(f"gluon:cmd:{run_id}") == 0


@pytest.mark.timeout(300)
def test_a_steer_applied_by_a_worker_killed_mid_turn_reaches_the_next_workers_agent_once(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:replay", [
        s.hold("one", s.text("Turn one done.")), s.hold("two", s.bash(commit("second"))),
        s.bash(commit("second")), s.bash(commit("second")), s.text("Finished.")])
    cluster.start_worker("w1")
    run_id = cluster.run("SCRIPT:replay do it in two parts")
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:replay", timeout=60)
    # A steer during the first turn, which ends and is shipped.
    cluster.gluon.json("steer", run_id, FIRST)
    wait_until(lambda: applied(cluster, run_id), "the first steer applied on w1")
    model_server.release("one")
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:replay" and r.step == 1,
                                  timeout=60)
    wait_until(lambda: cluster.redis.exists(f"gluon:session:{run_id}"), "a shipped session")
    # A steer during the turn in flight: applied on w1, which is killed before the turn ends.
    cluster.gluon.json("steer", run_id, SECOND)
    wait_until(lambda: applied(cluster, run_id), "the second steer applied on w1")
    assert any(e["kind"] == "steer" and SECOND in e["summary"]
               for e in cluster.gluon.json("logs", run_id)["events"])
    cluster.kill_worker("w1")

    cluster.start_worker("w2")
    resumed = model_server.wait_for_request(
        lambda r: r.script_key == "SCRIPT:replay"
        and "Gluon restarted while you were working" in json.dumps(r.messages), timeout=60)
    said = json.dumps(resumed.messages)
    assert SECOND in resumed.last_user_text(), resumed.last_user_text()
    # Each steer is in the agent's session once: the first as shipped, or given again when
    # the ship did not hold it yet; never both.
    assert said.count(json.dumps(SECOND)[1:-1]) == 1, said
    assert said.count(json.dumps(FIRST)[1:-1]) == 1, said
    assert "Turn one done." in said  # the same session
    assert "message(s) sent to its agent on the worker before are given to it again" in \
        cluster.log_of("w2")

    model_server.release("two")
    shown = cluster.wait_state(run_id, "review")
    assert shown["worker"] == "w2" and shown["run"]["result_text"] == "Finished."
    # The run is over: its transient keys go, what is kept expires.
    transient = [f"gluon:dispatch:{run_id}", f"gluon:refusals:{run_id}:1",
                 f"gluon:cmd:{run_id}", f"gluon:progress:{run_id}", f"gluon:replay:{run_id}",
                 f"gluon:lease:run:{run_id}"]
    wait_until(lambda: not cluster.redis.exists(*transient), "the run's transient keys gone")
    kept = {f"gluon:session:{run_id}": 30 * DAY, f"gluon:fence:run:{run_id}": DAY,
            f"gluon:exec:key:run.exec:{run_id}:1": 7 * DAY,
            f"gluon:jobs:key:run.start:{run_id}:1": 7 * DAY}
    for key, most in kept.items():
        assert 0 < cluster.redis.ttl(key) <= most, key
    assert cluster.redis.get(f"gluon:fence:run:{run_id}") == "2"
    # Nothing else lasts but what the whole cluster shares (its jobs expire too).
    lasting = {str(k) for k in cluster.redis.keys("*") if cluster.redis.ttl(k) == -1}
    assert not [k for k in lasting if run_id in k or ":job:" in k], lasting
    assert {k.split(":")[1] for k in lasting} <= {"relay", "workers", "exec", "jobs"}, lasting

    # Resumed once its fence has expired: the fence goes on from the newest a worker had.
    cluster.redis.delete(f"gluon:fence:run:{run_id}")
    cluster.gluon.json("resume", run_id, "One more thing.")
    wait_until(lambda: f"run {run_id} (attempt 2, " in cluster.log_of("w2"), "w2 taking it")
    assert f"run {run_id} (attempt 2, fence 3)" in cluster.log_of("w2")
    wait_until(lambda: cluster.show(run_id)["run"]["turns"] > shown["run"]["turns"],
               "the resumed turn")
    assert cluster.wait_state(run_id, "review", "failed")["run"]["state"] == "review"


@pytest.mark.timeout(300)
def test_an_answer_to_a_request_of_a_killed_workers_agent_is_told_to_the_next_workers_agent(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:asked", [s.write(".mcp.json", MCP_JSON), s.text("Wrote it.")])
    cluster.start_worker("w1")
    run_id = cluster.run("SCRIPT:asked set up MCP")
    [asked] = cluster.wait_state(run_id, "waiting")["pending"]
    cluster.kill_worker("w1")
    # Answered once w1 is gone: its agent, which asked, will never hear it.
    assert cluster.gluon.json("answer", asked["id"], "allow")["answer"] == "allow"

    cluster.start_worker("w2")
    # w2's agent starts the turn again and asks again; the earlier answer reaches it as a
    # message, as it would after a restart of a Gluon running the run itself.
    again = wait_until(lambda: [p for p in cluster.show(run_id)["pending"]
                                if p["id"] != asked["id"]], "w2's agent asking again")
    cluster.gluon.json("answer", again[0]["id"], "allow")
    told = model_server.wait_for_request(
        lambda r: r.script_key == "SCRIPT:asked" and "While you were stopped, the user "
        f"answered your request '{asked['title']}': allow" in json.dumps(r.messages), timeout=60)
    assert json.dumps(told.messages).count("While you were stopped") == 1
    assert cluster.wait_state(run_id, "review")["worker"] == "w2"
