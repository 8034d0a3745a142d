"""``gluon worker``: runs dispatched by ``gluon serve`` through Redis, executed by workers on
(what stands for) other hosts, and shown by the coordinator as if they ran there. Real
processes throughout: a redis-server, the coordinator, two workers with data dirs of their own,
the real Claude Code CLI against the scripted model server, a bare git remote."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from core.cluster.wire import Entry, EntryType
from tests.bots.cluster_env import API_KEY, MCP_TOKEN, Cluster, wait_until
from tests.bots.conftest import GLUON, Gluon, stop
from tests.conftest import git
from tests.core.jobs.redis_server import RedisServer, free_port
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

MCP_JSON = '{"mcpServers": {}}\n'
TELEGRAM_TOKEN = "123456:TELEGRAM-SECRET-0123456789"


def commit(name: str) -> str:
    """A command that commits {name}.txt, once (again, it changes nothing)."""
    return (f"printf '{name}\\n' > {name}.txt && git add {name}.txt "
            f"&& (git diff --cached --quiet || git commit -q -m 'Add {name}')")


@pytest.mark.timeout(300)
def test_ten_runs_spread_over_three_workers_and_the_coordinator_shows_them(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    names = [f"r{n}" for n in range(10)]
    for name in names:
        model_server.script(f"SCRIPT:{name}", [s.bash(commit(name)),
                                               s.hold(name, s.text(f"Done {name}."))])
    # The workers' secrets, and the coordinator's (see the fixture): no Redis payload may
    # ever hold them.
    monitor = cluster.monitor()
    for worker in ("w1", "w2", "w3"):
        cluster.start_worker(worker, GLUON_TELEGRAM_TOKEN=TELEGRAM_TOKEN,
                             GLUON_WORKER_MAX_RUNS="1")
    runs = {name: cluster.run(f"SCRIPT:{name} add {name}.txt") for name in names}
    # One run at a time on each worker, held until three run at once: one on each.
    def three_running() -> list[str] | None:
        ids = [r["id"] for r in cluster.gluon.json("runs")["runs"] if r["state"] == "running"]
        return ids if len(ids) == 3 else None
    running = wait_until(three_running, "three runs running at once", timeout=180)
    assert {cluster.show(run_id)["worker"] for run_id in running} == {"w1", "w2", "w3"}
    for name in names:
        model_server.release(name)
    workers = {}
    for name, run_id in runs.items():
        shown = cluster.wait_state(run_id, "review", timeout=180)
        workers[run_id] = shown["worker"]
        run = shown["run"]
        assert run["turns"] >= 1 and run["cost_usd"] > 0, run
        assert [c["subject"] for c in run["commits"]] == [f"Add {name}"], run
        assert run["result_text"] == f"Done {name}.", run
        # The branch came to the user's repository, and its log to the coordinator.
        assert git(cluster.repo, "show", f"gluon/{run_id}:{name}.txt") == name
        logged = cluster.gluon.json("logs", run_id)["events"]
        assert any(e["kind"] == "tool" and f"{name}.txt" in e["summary"] for e in logged)
        events = cluster.gluon.json("events", "--run", run_id)["events"]
        states = [e["data"]["new"] for e in events if e["kind"] == "RunStateChanged"]
        assert states[0] == "queued" and states[-2:] == ["running", "review"], states
        # Never back in the queue once its worker started it.
        assert set(states[states.index("running"):]) == {"running", "review"}, states
    assert set(workers.values()) == {"w1", "w2", "w3"}, workers
    listed = cluster.gluon.json("runs")["runs"]
    assert sorted(r["state"] for r in listed) == ["review"] * 10
    for worker in ("w1", "w2", "w3"):
        done = cluster.log_of(worker).count(f"worker {worker} is done with run")
        assert done == list(workers.values()).count(worker), (worker, workers)
    monitor.terminate()
    monitor.wait(timeout=10)
    written = (cluster.gluon.cwd / "redis-monitor.log").read_text(errors="replace")
    assert '"XADD" "gluon:relay"' in written and '"run.exec"' in written  # it saw it all
    for secret in (API_KEY, MCP_TOKEN, TELEGRAM_TOKEN, "TELEGRAM-SECRET", "sk-ant-"):
        assert secret not in written, secret


@pytest.mark.timeout(300)
def test_a_steer_and_a_permission_answer_sent_on_the_coordinator_reach_a_run_on_a_worker(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:steer", [s.hold("first", s.text("First turn done.")),
                                         s.bash(commit("steered")), s.text("Steered.")])
    model_server.script("SCRIPT:perm", [s.write(".mcp.json", MCP_JSON), s.text("Wrote it.")])
    model_server.script("SCRIPT:stop", [s.hold("never", s.text("Never said."))])
    cluster.start_worker("w1", GLUON_WORKER_MAX_RUNS="3")
    steered = cluster.run("SCRIPT:steer do the first thing")
    asking = cluster.run("SCRIPT:perm set up MCP")
    stopped = cluster.run("SCRIPT:stop wait for ever")

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

    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:stop", timeout=60)
    cancelled = cluster.gluon.json("cancel", stopped, "--yes")
    assert (cancelled["state"], cancelled["state_reason"]) == ("cancelled", "cancelled by cli")


def failover_script(model_server: ScriptedModelServer) -> None:
    """Turn one commits first.txt; the second turn (a steer) waits on "two", so the worker
    stops during it, the first turn's work pushed. Resumed elsewhere, the session goes on from
    the second turn (its request held until "two"), or from a later step when the shipped
    transcript has the steer already (the CLI closes the unanswered turn with "No response
    requested.", and an interrupted one with a line of its own): from any of them it commits
    second.txt (once) and finishes."""
    model_server.script("SCRIPT:failover", [
        s.bash(commit("first")), s.hold("one", s.text("Turn one done.")),
        s.hold("two", s.bash(commit("second"))), s.bash(commit("second")),
        s.bash(commit("second")), s.text("Finished after the failover.")])


def in_second_turn_on_w1(cluster: Cluster, model_server: ScriptedModelServer) -> str:
    """A run of the failover script started on worker w1 (w2 up too) and taken to its second
    turn; its id."""
    failover_script(model_server)
    cluster.start_worker("w1")
    run_id = cluster.run("SCRIPT:failover do it in two parts")
    cluster.wait_state(run_id, "running")
    cluster.start_worker("w2")
    in_second_turn(cluster, model_server, run_id)
    return run_id


def in_second_turn(cluster: Cluster, model_server: ScriptedModelServer, run_id: str) -> None:
    """Take the run to its second turn: the first turn's commit pushed, the second held."""
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:failover" and r.step == 1,
                                  timeout=60)
    cluster.gluon.json("steer", run_id, "now the second part")
    wait_until(lambda: any(e["kind"] == "steer" for e in cluster.gluon.json(
        "logs", run_id)["events"]), "the steer on the worker")
    model_server.release("one")
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:failover" and r.step == 2,
                                  timeout=60)
    wait_until(lambda: subprocess.run(
        ["git", "cat-file", "-e", f"gluon/{run_id}:first.txt"], cwd=cluster.origin,
        capture_output=True).returncode == 0, "the first turn's commit at the remote")
    wait_until(lambda: cluster.redis.exists(f"gluon:session:{run_id}"),
               "the first turn's session in Redis")


@pytest.mark.timeout(300)
def test_a_run_whose_worker_is_killed_is_finished_by_another_worker_in_the_same_session(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    failover_script(model_server)
    cluster.start_worker("w1")
    run_id = cluster.run("SCRIPT:failover do it in two parts")
    cluster.wait_state(run_id, "running")
    assert cluster.show(run_id)["worker"] == "w1"
    in_second_turn(cluster, model_server, run_id)

    cluster.kill_worker("w1")
    wait_until(lambda: cluster.show(run_id)["run"]["state_reason"].startswith(
        "worker w1 stopped holding the run"), "the coordinator noticing")
    cluster.start_worker("w2")
    # w2 takes the run once w1's lease runs out, restores the session and goes on in it.
    resumed = model_server.wait_for_request(
        lambda r: r.script_key == "SCRIPT:failover"
        and "Gluon restarted while you were working" in json.dumps(r.messages), timeout=60)
    assert "Turn one done." in json.dumps(resumed.messages)  # the same session
    model_server.release("two")
    shown = cluster.wait_state(run_id, "review")
    run = shown["run"]
    assert shown["worker"] == "w2"
    assert run["result_text"] == "Finished after the failover."
    assert [c["subject"] for c in run["commits"]] == ["Add first", "Add second"]
    assert git(cluster.repo, "show", f"gluon/{run_id}:first.txt") == "first"
    assert git(cluster.repo, "show", f"gluon/{run_id}:second.txt") == "second"
    assert f"run {run_id} (attempt 1, fence 2)" in cluster.log_of("w2")


@pytest.mark.timeout(300)
def test_a_worker_that_comes_back_after_its_run_was_taken_over_is_fenced(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    run_id = in_second_turn_on_w1(cluster, model_server)

    cluster.kill_worker("w1", signal.SIGSTOP)  # hung, or cut off: its lease runs out
    model_server.wait_for_request(
        lambda r: r.script_key == "SCRIPT:failover"
        and "Gluon restarted while you were working" in json.dumps(r.messages), timeout=60)
    assert cluster.show(run_id)["worker"] == "w2"
    cluster.kill_worker("w1", signal.SIGCONT)
    wait_until(lambda: f"lost the lease of run {run_id} to another worker (w2): stopped"
               in cluster.log_of("w1"), "w1 stopping its agent")
    # What a stale worker says is dropped: here, that the run failed, under fence 1.
    stale = Entry("w1", run_id, 1, 10_000, EntryType.EVENT, {
        "kind": "RunStateChanged", "at": time.time(), "fields": {
            "old": "running", "new": "failed", "reason": "the agent failed"}})
    cluster.redis.xadd("gluon:relay", dict(stale.fields()))  # type: ignore[arg-type]
    wait_until(lambda: cluster.redis.xlen("gluon:relay") == 0, "the relay read")
    assert cluster.show(run_id)["run"]["state"] == "running"

    model_server.release("two")
    run = cluster.wait_state(run_id, "review")["run"]
    assert [c["subject"] for c in run["commits"]] == ["Add first", "Add second"]
    events = cluster.gluon.json("events", "--run", run_id)["events"]
    states = [e["data"]["new"] for e in events if e["kind"] == "RunStateChanged"]
    assert states[:3] == ["queued", "queued", "running"] and states[-1] == "review", states
    assert set(states) == {"queued", "running", "review"}, states  # w1's end never came


@pytest.mark.timeout(300)
def test_workers_are_listed_drained_and_undrained_and_doctor_names_each(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:later", [s.text("Done later.")])
    cluster.start_worker("w1")
    [listed] = cluster.gluon.json("workers")["workers"]
    assert listed["name"] == "w1" and listed["max_runs"] == 2 and not listed["draining"]
    assert listed["pid"] == cluster.workers["w1"].pid and not listed["stale"]
    drained = cluster.gluon.json("workers", "drain", "w1")
    assert drained["draining"] is True
    assert "no worker named 'w9'" in cluster.gluon("workers", "drain", "w9").err

    run_id = cluster.run("SCRIPT:later some work")
    shown = cluster.wait_state(run_id, "queued")
    wait_until(lambda: "none is up and taking runs" in cluster.show(run_id)["run"][
        "state_reason"], "the run waiting for a worker")
    assert wait_until(lambda: cluster.gluon.json("workers")["workers"][0]["draining"],
                      "the heartbeat saying w1 drains")
    doctor = cluster.gluon("doctor")
    line = next(x for x in doctor.out.splitlines() if "w1:" in x)
    assert line.split()[0] == "ok" and "draining" in line and "gluon " in line, doctor.out
    assert shown["worker"] is None

    # A run cancelled before any worker took it: no worker will.
    dropped = cluster.run("SCRIPT:later other work")
    cancelled = cluster.gluon.json("cancel", dropped, "--yes")
    assert (cancelled["state"], cancelled["state_reason"]) == ("cancelled", "cancelled by cli")

    cluster.gluon.json("workers", "undrain", "w1")
    assert cluster.wait_state(run_id, "review")["worker"] == "w1"
    assert cluster.show(dropped)["run"]["state"] == "cancelled"
    said = cluster.log_of("w1")
    assert f"run {dropped} (attempt 1) is no longer to be run; dropped" in said
    assert f"runs run {dropped}" not in said
    human = cluster.gluon("workers").out
    assert human.splitlines()[1].split()[:2] == ["w1", "up"], human


@pytest.mark.timeout(300)
def test_a_run_no_worker_can_take_fails_with_each_workers_reason(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    cluster.origin.rename(cluster.origin.with_name("gone.git"))  # the project's remote
    cluster.start_worker("w1", GLUON_WORKER_PROJECTS="other")
    cluster.start_worker("w2")
    run_id = cluster.run("SCRIPT:never add a file")
    run = cluster.wait_state(run_id, "failed")["run"]
    assert run["state_reason"].startswith("no worker could take the run: "), run
    assert "w1: it serves only the projects other" in run["state_reason"]
    assert f"w2: cannot fetch project 'demo' from {cluster.origin}" in run["error"], run
    assert "refused run" in cluster.log_of("w2")


@pytest.mark.timeout(120)
def test_a_worker_started_before_redis_says_so_in_one_line_and_joins_once_it_answers(
        gluon: Gluon, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "late-redis", port=free_port())
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [GLUON, "worker", "--name", "early"], cwd=tmp_path, stdout=out, stderr=out,
            stdin=subprocess.DEVNULL, env={**gluon.env, "GLUON_HOME": str(tmp_path / "w"),
                                           "GLUON_CLUSTER_REDIS_URL": server.url})
    try:
        said = wait_until(lambda: [x for x in log.read_text().splitlines()
                                   if "does not answer" in x], "the worker's complaint")
        assert "cluster.redis_url" in said[0] and server.url in said[0], said
        assert "trying again in" in said[0] and "Traceback" not in log.read_text()
        with server, redis.Redis.from_url(server.url) as client:
            wait_until(lambda: client.hget("gluon:workers", "early"), "the worker joining")
            assert "worker early takes runs from" in log.read_text()
            worker.terminate()
            assert worker.wait(timeout=30) == 0
            assert client.hget("gluon:workers", "early") is None  # it left the list
    finally:
        stop(worker)  # type: ignore[arg-type]


@pytest.mark.timeout(300)
def test_a_coordinator_restart_loses_nothing_a_worker_relays_and_watches_its_runs_again(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:alone", [s.hold("a", s.text("Done alone."))])
    model_server.script("SCRIPT:across", [s.hold("b", s.text("First part.")),
                                          s.bash(commit("across")), s.text("Done across.")])
    cluster.start_worker("w1")
    alone = cluster.run("SCRIPT:alone finish while the coordinator is away")
    across = cluster.run("SCRIPT:across go on across the restart")
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:alone", timeout=60)
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:across", timeout=60)
    cluster.wait_state(alone, "running")
    cluster.wait_state(across, "running")

    daemon = cluster.daemon
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=60) == 0
    # The run ends on the worker while nobody reads the relay: its news waits in Redis.
    model_server.release("a")
    wait_until(lambda: f"is done with run {alone}" in cluster.log_of("w1"), "the run's end")
    assert cluster.redis.xlen("gluon:relay") > 0

    cluster.daemon = cluster.gluon.serve()
    run = cluster.wait_state(alone, "review")["run"]
    assert run["result_text"] == "Done alone."
    states = [e["data"]["new"] for e in cluster.gluon.json("events", "--run", alone)["events"]
              if e["kind"] == "RunStateChanged"]
    assert states == ["queued", "queued", "running", "review"], states

    # The other run still executes on the worker: the coordinator watches it again, and a
    # steer sent now reaches it.
    assert cluster.show(across)["run"]["state"] == "running"
    cluster.gluon.json("steer", across, "now commit across.txt")
    wait_until(lambda: any(e["kind"] == "steer" for e in cluster.gluon.json(
        "logs", across)["events"]), "the steer on the worker")
    model_server.release("b")
    run = cluster.wait_state(across, "review")["run"]
    assert run["result_text"] == "Done across."
    assert git(cluster.repo, "show", f"gluon/{across}:across.txt") == "across"


@pytest.mark.timeout(120)
def test_a_worker_with_the_wrong_redis_password_says_which_setting_and_the_right_one_joins(
        gluon: Gluon, tmp_path: Path) -> None:
    with RedisServer(tmp_path / "locked", password="right-password-123") as server:
        env = {**gluon.env, "GLUON_CLUSTER_REDIS_URL": server.url}
        log = tmp_path / "wrong.log"
        with log.open("wb") as out:
            wrong = subprocess.Popen(
                [GLUON, "worker", "--name", "wrong"], cwd=tmp_path, stdout=out, stderr=out,
                stdin=subprocess.DEVNULL, env={**env, "GLUON_HOME": str(tmp_path / "w1"),
                                               "GLUON_CLUSTER_PASSWORD": "wrong-password"})
        try:
            said = wait_until(lambda: [x for x in log.read_text().splitlines()
                                       if "refused Gluon's credentials" in x], "the refusal")
            assert "cluster.password" in said[0] and "wrong-password" not in log.read_text()
        finally:
            stop(wrong)  # type: ignore[arg-type]
        right = subprocess.Popen(
            [GLUON, "worker", "--name", "right"], cwd=tmp_path, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            env={**env, "GLUON_HOME": str(tmp_path / "w2"),
                 "GLUON_CLUSTER_PASSWORD": "right-password-123"})
        try:
            with redis.Redis.from_url(server.url, password="right-password-123") as client:
                wait_until(lambda: client.hget("gluon:workers", "right"), "the worker joining")
        finally:
            stop(right)  # type: ignore[arg-type]


@pytest.mark.timeout(300)
def test_a_worker_stopped_with_sigterm_hands_its_run_over_at_once(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    run_id = in_second_turn_on_w1(cluster, model_server)

    cluster.kill_worker("w1", signal.SIGTERM)
    assert cluster.workers["w1"].returncode == 0
    said = cluster.log_of("w1")
    assert f"worker w1 handed run {run_id} over" in said and "Traceback" not in said
    assert cluster.redis.hget("gluon:workers", "w1") is None
    model_server.wait_for_request(
        lambda r: r.script_key == "SCRIPT:failover"
        and "Gluon restarted while you were working" in json.dumps(r.messages), timeout=60)
    model_server.release("two")
    shown = cluster.wait_state(run_id, "review")
    assert shown["worker"] == "w2"
    assert [c["subject"] for c in shown["run"]["commits"]] == ["Add first", "Add second"]


@pytest.mark.timeout(300)
def test_a_run_whose_worker_died_is_cancelled_on_the_coordinator_and_no_worker_takes_it(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:orphan", [s.hold("orphan", s.text("Never said."))])
    cluster.start_worker("w1")
    run_id = cluster.run("SCRIPT:orphan wait for ever")
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:orphan", timeout=60)
    cluster.kill_worker("w1")
    wait_until(lambda: cluster.show(run_id)["run"]["state_reason"].startswith(
        "worker w1 stopped holding the run"), "the coordinator noticing")
    cancelled = cluster.gluon.json("cancel", run_id, "--yes")
    assert (cancelled["state"], cancelled["state_reason"]) == ("cancelled", "cancelled by cli")
    cluster.start_worker("w2")
    wait_until(lambda: f"run {run_id} (attempt 1) is no longer to be run; dropped"
               in cluster.log_of("w2"), "w2 dropping the run's job")
    assert cluster.show(run_id)["run"]["state"] == "cancelled"


@pytest.mark.timeout(300)
def test_a_fork_starts_on_another_worker_from_the_parents_conversation_and_keeps_its_own(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:parent", [s.bash(commit("parent")), s.text("Parent done.")])
    failover_script(model_server)
    cluster.start_worker("w1")
    parent = cluster.run("SCRIPT:parent add parent.txt")
    assert cluster.wait_state(parent, "review")["worker"] == "w1"
    # The fork goes to a worker that never ran the parent: only Redis has its session.
    cluster.gluon.json("workers", "drain", "w1")
    cluster.start_worker("w2")
    forked = cluster.gluon.json("fork", parent, "SCRIPT:failover do it in two parts")
    fork = forked["id"]
    assert forked["parent_id"] == parent
    cluster.wait_state(fork, "running")
    assert cluster.show(fork)["worker"] == "w2"
    first = model_server.wait_for_request(
        lambda r: r.script_key == "SCRIPT:failover" and r.step == 0, timeout=60)
    # Its first request holds the parent's conversation: its task, its tool call, its last
    # words; then the fork's task, in a session of the fork's own.
    said = first.all_text()
    assert "SCRIPT:parent add parent.txt" in said and "Parent done." in said, said
    assert "SCRIPT:failover do it in two parts" in first.last_user_text()
    assert first.session_id != cluster.show(parent)["run"]["session_id"]
    assert f"run {fork} forks session" in cluster.log_of("w2")

    # Its worker dies in its second turn: the next worker goes on in the fork's session (the
    # parent's turns, then the fork's), not in a new fork of the parent's.
    in_second_turn(cluster, model_server, fork)
    cluster.kill_worker("w2")
    cluster.start_worker("w3")
    resumed = model_server.wait_for_request(
        lambda r: r.script_key == "SCRIPT:failover"
        and "Gluon restarted while you were working" in json.dumps(r.messages), timeout=60)
    said = json.dumps(resumed.messages)
    assert "Parent done." in said and "Turn one done." in said
    model_server.release("two")
    shown = cluster.wait_state(fork, "review")
    assert shown["worker"] == "w3"
    assert [c["subject"] for c in shown["run"]["commits"]] == [
        "Add parent", "Add first", "Add second"]
    assert git(cluster.repo, "show", f"gluon/{fork}:second.txt") == "second"
    assert cluster.show(parent)["run"]["state"] == "review"


@pytest.mark.timeout(300)
def test_a_fork_of_a_run_still_working_on_a_worker_starts_from_its_last_turn(
        cluster: Cluster, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:live", [
        s.bash(commit("first")), s.hold("one", s.text("Turn one done.")),
        s.hold("two", s.text("Parent done."))])
    model_server.script("SCRIPT:branch", [s.bash(commit("branch")), s.text("Branch done.")])
    cluster.start_worker("w1", GLUON_WORKER_MAX_RUNS="1")
    parent = cluster.run("SCRIPT:live do it in two turns")
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:live" and r.step == 1,
                                  timeout=60)
    cluster.gluon.json("steer", parent, "now the second turn")
    wait_until(lambda: any(e["kind"] == "steer" for e in cluster.gluon.json(
        "logs", parent)["events"]), "the steer on the worker")
    model_server.release("one")
    model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:live" and r.step == 2,
                                  timeout=60)
    wait_until(lambda: cluster.redis.exists(f"gluon:session:{parent}"),
               "the first turn's session in Redis")

    # w1 has no room: the fork runs on w2, from the first turn's commit and conversation.
    cluster.start_worker("w2")
    forked = cluster.gluon.json("fork", parent, "SCRIPT:branch try it another way")
    shown = cluster.wait_state(forked["id"], "review")
    assert shown["worker"] == "w2"
    [first] = [r for r in model_server.requests if r.script_key == "SCRIPT:branch"
               and r.step == 0]
    assert "Turn one done." in first.all_text() and "Parent done." not in first.all_text()
    assert [c["subject"] for c in shown["run"]["commits"]] == ["Add first", "Add branch"]
    assert cluster.show(parent)["run"]["state"] == "running"

    model_server.release("two")
    run = cluster.wait_state(parent, "review")["run"]
    assert run["result_text"] == "Parent done."
    assert git(cluster.repo, "show", f"gluon/{forked['id']}:first.txt") == "first"
