"""``gluon worker``: runs dispatched by ``gluon serve`` through Redis, executed by workers on
(what stands for) other hosts, and shown by the coordinator as if they ran there. Real
processes throughout: a redis-server, the coordinator, two workers with data dirs of their own,
the real Claude Code CLI against the scripted model server, a bare git remote."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.bots.cluster_env import Cluster, wait_until
from tests.bots.conftest import Gluon
from tests.conftest import git
from tests.core.jobs.redis_server import RedisServer
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

MCP_JSON = '{"mcpServers": {}}\n'


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def cluster(gluon: Gluon, redis_server: RedisServer) -> Iterator[Cluster]:
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    made = Cluster(gluon, redis_server.url)
    daemon = gluon.serve()
    try:
        gluon.ok("project", "add", str(made.repo))
        yield made
    finally:
        made.close()
        daemon.kill()
        _, err = daemon.communicate(timeout=30)
        # Shown when the test fails: what the coordinator and each worker said.
        print("--- gluon serve ---\n" + err[-20000:])
        for name in made.workers:
            print(f"--- worker {name} ---\n" + made.log_of(name)[-20000:])


def commit(name: str) -> str:
    return (f"printf '{name}\\n' > {name}.txt && git add {name}.txt "
            f"&& git commit -q -m 'Add {name}'")


@pytest.mark.timeout(300)
def test_three_runs_spread_over_two_workers_and_the_coordinator_shows_them(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    for name in ("one", "two", "three"):
        model_server.script(f"SCRIPT:{name}", [s.bash(commit(name)),
                                               s.hold(name, s.text(f"Done {name}."))])
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    runs = {name: cluster.run(f"SCRIPT:{name} add {name}.txt") for name in ("one", "two",
                                                                              "three")}
    # Each worker takes two runs at most: all three run at once, on both workers.
    for run_id in runs.values():
        cluster.wait_state(run_id, "running")
    workers = {run_id: cluster.show(run_id)["worker"] for run_id in runs.values()}
    assert set(workers.values()) == {"w1", "w2"}, workers
    for name in runs:
        model_server.release(name)
    for name, run_id in runs.items():
        shown = cluster.wait_state(run_id, "review")
        run = shown["run"]
        assert run["turns"] >= 1 and run["cost_usd"] > 0, run
        assert [c["subject"] for c in run["commits"]] == [f"Add {name}"], run
        assert run["result_text"] == f"Done {name}.", run
        # The branch came to the user's repository, and its log to the coordinator.
        assert git(cluster.repo, "show", f"gluon/{run_id}:{name}.txt") == name
        logged = cluster.gluon.json("logs", run_id)["events"]
        assert any(e["kind"] == "tool" and f"{name}.txt" in e["summary"] for e in logged)
    listed = cluster.gluon.json("runs")["runs"]
    assert sorted(r["state"] for r in listed) == ["review"] * 3
    events = cluster.gluon.json("events", "--limit", "200")["events"]
    for run_id in runs.values():
        states = [e["data"]["new"] for e in events if e["run_id"] == run_id and e["kind"] ==
                  "RunStateChanged"]
        assert states[0] == "queued" and states[-2:] == ["running", "review"], states


@pytest.mark.timeout(300)
def test_a_steer_and_a_permission_answer_sent_on_the_coordinator_reach_a_run_on_a_worker(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:steer", [s.hold("first", s.text("First turn done.")),
                                         s.bash(commit("steered")), s.text("Steered.")])
    model_server.script("SCRIPT:perm", [s.write(".mcp.json", MCP_JSON), s.text("Wrote it.")])
    cluster.start_worker("w1")
    steered = cluster.run("SCRIPT:steer do the first thing")
    asking = cluster.run("SCRIPT:perm set up MCP")

    cluster.wait_state(steered, "running")
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:steer", timeout=60)
    sent = cluster.gluon.json("steer", steered, "also add steered.txt")
    assert sent["id"] == steered
    # The worker applied it: its agent has the message (the line comes back by the relay).
    wait_until(lambda: any(e["kind"] == "steer" and "also add steered.txt" in e["summary"]
                           for e in cluster.gluon.json("logs", steered)["events"]),
               "the steer on the worker")
    model_server.release("first")

    # The permission request, asked on the worker, is answered on the coordinator.
    waiting = cluster.wait_state(asking, "waiting")
    [request] = waiting["pending"]
    assert request["kind"] == "permission" and ".mcp.json" in request["title"]
    assert cluster.gluon.json("pending")["pending"][0]["id"] == request["id"]
    answered = cluster.gluon.json("answer", request["id"], "allow")
    assert answered["answer"] == "allow"

    run = cluster.wait_state(asking, "review")["run"]
    assert run["result_text"] == "Wrote it."
    assert git(cluster.repo, "show", f"gluon/{asking}:.mcp.json") == MCP_JSON.strip()
    answers = [e for e in cluster.gluon.json("events", "--run", asking)["events"]
               if e["kind"] == "InteractionAnswered"]
    assert [(e["data"]["answer"], e["data"]["answered_by"]) for e in answers] == \
        [("allow", "cli")]

    run = cluster.wait_state(steered, "review")["run"]
    assert run["result_text"] == "Steered."
    assert any("also add steered.txt" in r.last_user_text() for r in model_server.requests)
    assert git(cluster.repo, "show", f"gluon/{steered}:steered.txt") == "steered"
    # Both commands were applied once, on the worker, and are done on the coordinator too.
    assert cluster.redis.exists(f"gluon:cmd:{steered}") == 0
