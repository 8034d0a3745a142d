"""The ``gluon`` command as a user runs it: with a minimal environment and no terminal (in the
test's process, or as a subprocess where the process matters), against real git repositories,
a real data dir and the real Claude Code CLI talking to the scripted model server."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.bots.conftest import (
    COMMIT_HELLO,
    RUN_ID,
    Done,
    Gluon,
    finish,
    refused,
    run_id_of,
    stop,
)
from tests.conftest import git, make_repo
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


def test_a_run_started_with_wait_commits_on_its_own_branch_and_is_reported_for_review(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:hello", [s.bash(COMMIT_HELLO), s.text("Committed hello.txt.")])
    head = git(repo, "rev-parse", "HEAD")

    added = gluon.ok("project", "add", str(repo))
    assert added.out.strip() == f"added project demo ({repo})"
    # The console script itself: what it prints on stderr as a process, to its very end.
    done = gluon.process("run", "demo", "SCRIPT:hello write hello.txt and commit it", "--wait")
    assert done.code == 0, done

    run_id = run_id_of(done)
    assert f"run {run_id} review: " in done.out
    assert done.err == ""  # nothing but what the agent did: no warnings, no tracebacks
    assert git(repo, "log", "-1", "--format=%s", f"gluon/{run_id}") == "Add hello.txt"
    assert git(repo, "show", f"gluon/{run_id}:hello.txt") == "hello"
    assert git(repo, "rev-parse", "HEAD") == head  # the user's checkout is untouched
    assert git(repo, "branch", "--show-current") == "main"
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / "hello.txt").exists()

    shown = gluon.json("show", run_id[:4])
    run = shown["run"]
    assert (run["id"], run["state"], run["branch"]) == (run_id, "review", f"gluon/{run_id}")
    assert run["cost_usd"] > 0 and run["turns"] >= 1
    assert [f["path"] for f in run["changed_files"]] == ["hello.txt"]
    assert [c["subject"] for c in run["commits"]] == ["Add hello.txt"]
    assert shown["live"] is False and shown["pending"] == []
    assert [r["id"] for r in gluon.json("runs")["runs"]] == [run_id]


def test_bad_input_is_refused_with_one_line_on_stderr_and_nothing_is_lost(
        gluon: Gluon, repo: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    # These need no project; each runs on a data dir of its own.
    not_git = gluon("project", "add", str(plain), env=gluon.elsewhere("home-a"))
    unknown_run = gluon("show", "abcdef12", env=gluon.elsewhere("home-b"))
    bad_config = gluon("runs", env={**gluon.env, "GLUON_AGENTS_MAX_CONCURRENT": "0"})
    gluon.ok("project", "add", str(repo))

    assert "no project named 'nope'; known projects: demo" in refused(
        gluon("run", "nope", "do it"))
    other = make_repo(tmp_path / "other")
    assert "a project named 'demo' already exists" in refused(
        gluon("project", "add", str(other), "--name", "demo"))
    assert "unknown model 'gpt4'" in refused(gluon("run", "demo", "do it", "--model", "gpt4"))
    no_key = {k: v for k, v in gluon.env.items() if k != "ANTHROPIC_API_KEY"}
    assert "ANTHROPIC_API_KEY" in refused(gluon("run", "demo", "do it", env=no_key))
    assert "is not a git repository" in refused(not_git)
    assert "no run 'abcdef12'" in refused(unknown_run)
    assert "config key 'agents.max_concurrent' has value '0'" in refused(bad_config)

    # Nothing was half-done: no run row is left behind, no branch, the project is intact.
    assert gluon.json("runs")["runs"] == []
    assert git(repo, "branch", "--format=%(refname:short)") == "main"


def test_commands_given_at_the_same_time_without_a_daemon_all_succeed(gluon: Gluon) -> None:
    listings = [gluon.start("runs") for _ in range(3)]
    try:
        results = [finish(p) for p in listings]
    finally:
        for p in listings:
            stop(p)
    assert all(r == Done(0, "no runs\n", "") for r in results), results


def test_a_finished_run_refuses_steering_and_ambiguous_ids_and_merges_only_when_safe(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:feature", [
        s.bash("printf 'agent\\n' > feature.txt && git add feature.txt "
               "&& git commit -q -m 'Add feature'"),
        s.text("Done.")])
    gluon.ok("project", "add", str(repo))
    run_id = run_id_of(gluon.ok("run", "demo", "SCRIPT:feature add the feature", "--wait"))
    head = git(repo, "rev-parse", "HEAD")

    steer = refused(gluon("steer", run_id, "also add tests"))
    assert f"run '{run_id}' is review, not live" in steer and "gluon resume" in steer

    # A second run whose id shares the first hex digit: that digit alone is ambiguous.
    twin = run_id[0] + ("1" if run_id[1] == "0" else "0") + run_id[2:]
    with sqlite3.connect(gluon.home / "gluon.db") as db:
        db.execute("CREATE TEMP TABLE twin AS SELECT * FROM runs WHERE id = ?", (run_id,))
        db.execute("UPDATE twin SET id = ?, branch = NULL", (twin,))
        db.execute("INSERT INTO runs SELECT * FROM twin")
    assert "is ambiguous" in refused(gluon("show", run_id[0]))

    unconfirmed = refused(gluon("merge", run_id))
    assert "needs a confirmation; pass --yes" in unconfirmed
    assert git(repo, "rev-parse", "HEAD") == head

    # Main moved on with a conflicting feature.txt: the merge lists it and changes nothing.
    (repo / "feature.txt").write_text("user\n")
    git(repo, "add", "feature.txt")
    git(repo, "commit", "-q", "-m", "user feature")
    user_head = git(repo, "rev-parse", "HEAD")
    conflict = gluon("merge", run_id, "--yes")
    assert conflict.code == 1, conflict
    assert "conflicts in feature.txt" in conflict.out + conflict.err
    assert git(repo, "rev-parse", "HEAD") == user_head
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "feature.txt").read_text() == "user\n"

    # Without that commit but with uncommitted work in the checkout: refused, work kept.
    git(repo, "reset", "-q", "--hard", head)
    (repo / "README.md").write_text("# demo, edited\n")
    dirty = refused(gluon("merge", run_id, "--yes"))
    assert "has uncommitted changes; commit or stash them" in dirty
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / "README.md").read_text() == "# demo, edited\n"

    git(repo, "checkout", "--", "README.md")
    merged = gluon.ok("merge", run_id, "--yes")
    assert merged.out.strip() == f"merged gluon/{run_id} into main"
    assert (repo / "feature.txt").read_text() == "agent\n"
    assert "Add feature" in git(repo, "log", "--format=%s", "main")
    assert git(repo, "status", "--porcelain") == ""


def test_a_question_is_answered_from_another_shell_and_cannot_be_answered_twice(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    key = "SCRIPT:ask-db"
    model_server.script(key, [s.ask("Which database should I use?", ["Postgres", "SQLite"]),
                              s.text("Using the chosen database.")])
    gluon.ok("project", "add", str(repo))
    waiting = gluon.start("run", "demo", f"{key} set up the database", "--wait")
    try:
        model_server.wait_for_request(lambda r: r.script_key == key and r.step == 0, 60)
        pending: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not pending and time.monotonic() < deadline:  # retry: the agent asks in a moment
            listed = gluon("pending", "--json")
            if listed.code == 0:
                pending = json.loads(listed.out)["pending"]
            if not pending:
                time.sleep(0.2)
        assert len(pending) == 1, "the question never showed up in `gluon pending`"
        question = pending[0]
        assert question["kind"] == "question" and "database" in question["title"]

        answered = gluon.ok("answer", question["id"], "Postgres")
        assert f"answered question {question['id']}" in answered.out
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, (out, err)
    finally:
        stop(waiting)
    run_id = RUN_ID.findall(out)[0]
    assert "question from the agent: " in out and f"run {run_id} review: " in out
    followup = model_server.wait_for_request(lambda r: r.script_key == key and r.step == 1, 5)
    assert "Postgres" in followup.last_user_text()

    again = refused(gluon("answer", question["id"], "SQLite"))
    assert f"question '{question['id']}' was already answered" in again


def test_doctor_prints_a_line_per_check_and_passes_with_credentials(gluon: Gluon) -> None:
    done = gluon.ok("doctor")
    lines = done.out.strip().splitlines()
    names = ["git", "claude cli", "sandbox", "credentials", "database", "disk"]
    assert len(lines) == len(names), done.out
    for line, name in zip(lines, names, strict=True):
        assert re.match(rf"(ok|warn)\s+{name}\s", line), line
    assert lines[3].startswith("ok ")
    # CI installs bubblewrap and socat: the sandbox must be reported as working.
    assert re.match(r"ok\s+sandbox\s+auto: agents run in bubblewrap", lines[2]), lines[2]


def test_doctor_says_plainly_when_agents_are_not_sandboxed(gluon: Gluon) -> None:
    gluon.env["GLUON_AGENTS_SANDBOX"] = "off"
    line = gluon.ok("doctor").out.splitlines()[2]
    assert re.match(r"warn\s+sandbox\s+off .*agents run on the host", line), line


def test_pairing_codes_and_the_audit_log_from_the_command_line(gluon: Gluon) -> None:
    code = gluon.json("pair", "--role", "viewer")
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", code["code"]) and code["role"] == "viewer"
    assert gluon.ok("pair", "--list").out.strip() == "nobody yet; run `gluon pair` for a code"
    assert refused(gluon("pair", "--revoke", "telegram")).endswith(
        "--revoke takes PLATFORM:USER_ID, e.g. telegram:123456")
    entries = gluon.json("activity", "--action", "tool.")["entries"]
    assert [(e["actor"], e["action"], e["outcome"]) for e in entries] == [
        ("cli", "tool.create_pairing_code", "ok")]
    assert "tool.create_pairing_code" in gluon.ok("activity").out


def test_show_counts_the_subagents_a_run_spawned(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:lead", [
        s.tool("Task", {"description": "look around", "prompt": "SCRIPT:helper look around",
                        "subagent_type": "general-purpose"}),
        s.text("Asked a helper."), s.text("The helper found app.py.")])
    model_server.script("SCRIPT:helper", [s.bash("ls"), s.text("Found it.")])
    gluon.ok("project", "add", str(repo))
    run_id = run_id_of(gluon.ok("run", "demo", "SCRIPT:lead look around", "--wait"))

    shown = gluon.ok("show", run_id).out
    assert "  subagents: 1 started, 1 done" in shown.splitlines()
    run = gluon.json("show", run_id)["run"]
    assert (run["subagents_started"], run["subagents_done"]) == (1, 1)
