"""``gluon merge``: the merge queue from the command line, as a user runs it without a daemon
(the command then stays until its entries have ended)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.bots.conftest import COMMIT_HELLO, Gluon, refused, run_id_of
from tests.conftest import git
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

ENTRY_FIELDS = {"id", "run_id", "project", "base", "branch", "state", "reason", "position",
                "created_by", "created_at", "updated_at", "ended_at", "conflict_fixes",
                "check_fixes", "rebases", "files", "head", "onto", "pull_request",
                "pull_request_url", "merged_commit", "cleaned"}


def test_merge_add_without_a_daemon_stays_until_the_run_is_merged(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:hello", [s.bash(COMMIT_HELLO), s.text("Committed.")])
    gluon.ok("project", "add", str(repo))
    run_id = run_id_of(gluon.ok("run", "demo", "SCRIPT:hello commit hello", "--wait"))

    done = gluon.ok("merge", "add", run_id, "--yes")

    lines = done.out.splitlines()
    assert lines[0].startswith("queued entry ") and lines[0].endswith(
        f": run {run_id} into main (position 1, waiting): queued by cli")
    entry_id = lines[0].split()[2].rstrip(":")
    assert lines[1].startswith("no Gluon daemon is running, so this command stays")
    steps = [line.split()[4].rstrip(":") for line in lines[2:]
             if line.startswith(f"entry {entry_id} (run {run_id}) ")]
    assert steps == ["rebasing", "checking", "merging", "merged"], done.out
    assert lines[-1] == "1 of 1 merged"
    assert git(repo, "show", "main:hello.txt") == "hello"
    assert git(repo, "branch", "--list", f"gluon/{run_id}") == ""
    assert gluon.json("show", run_id)["run"]["state"] == "merged"

    listed = gluon.json("merge", "list", "--all")
    assert list(listed) == ["entries"]
    [entry] = listed["entries"]
    assert set(entry) == ENTRY_FIELDS
    assert (entry["id"], entry["run_id"], entry["state"], entry["position"], entry["base"],
            entry["branch"], entry["created_by"], entry["cleaned"]) == (
        entry_id, run_id, "merged", 0, "main", f"gluon/{run_id}", "cli", True)
    assert entry["merged_commit"] == git(repo, "rev-parse", "main")
    table = gluon.ok("merge", "list", "--all").out.splitlines()
    assert table[0].split() == ["#", "ENTRY", "RUN", "PROJECT", "BASE", "STATE", "PR",
                                "REASON"]
    assert table[1].split()[:6] == ["-", entry_id, run_id, "demo", "main", "merged"]
    assert gluon.json("merge", "list") == {"entries": []}
    assert gluon.ok("merge", "list").out.strip() == "the merge queue is empty"


def test_merge_commands_refuse_what_they_cannot_do_in_one_line(
        gluon: Gluon, repo: Path) -> None:
    gluon.ok("project", "add", str(repo))
    said = refused(gluon("merge", "add", "--yes"))
    assert said == ("gluon: say what to merge: `gluon merge add RUN [RUN...]`, or "
                    "`gluon merge add --project NAME` for all its finished runs")
    said = refused(gluon("merge", "add", "ffff"))  # no terminal, no --yes
    assert "needs a confirmation; pass --yes" in said
    said = refused(gluon("merge", "add", "ffff", "--yes"))
    assert said.startswith("gluon: nothing was queued for merging: no run 'ffff'")
    said = refused(gluon("merge", "add", "--project", "demo", "--yes"))
    assert "project 'demo' has no finished runs (in review) to merge" in said
    assert "no merge-queue entry 'ffff'" in refused(gluon("merge", "retry", "ffff"))
    assert "no merge-queue entry 'ffff'" in refused(gluon("merge", "cancel", "ffff", "--yes"))
    assert "no run 'ffff'" in refused(gluon("merge", "ffff", "--yes"))  # merge now


def test_a_merge_that_fails_its_tests_exits_1_and_is_retried_or_cancelled(
        gluon: Gluon, repo: Path, model_server: ScriptedModelServer) -> None:
    gluon.home.mkdir()
    (gluon.home / "config.toml").write_text(
        '[merge]\ncheck_fixes = 0\n\n[projects.demo]\ntest_command = "exit 3"\n')
    model_server.script("SCRIPT:hello", [s.bash(COMMIT_HELLO), s.text("Committed.")])
    gluon.ok("project", "add", str(repo))
    run_id = run_id_of(gluon.ok("run", "demo", "SCRIPT:hello commit hello", "--wait"))
    before = git(repo, "rev-parse", "main")

    done = gluon("merge", "add", "--project", "demo", "--yes", "--json")

    assert (done.code, done.err) == (1, ""), done
    data = json.loads(done.out)
    assert data["skipped"] == []
    [entry] = data["entries"]
    assert (entry["run_id"], entry["state"]) == (run_id, "failed")
    assert entry["reason"].startswith("`exit 3` failed on the rebased branch")
    assert git(repo, "rev-parse", "main") == before

    again = gluon("merge", "retry", run_id)  # the run's latest entry; stays, fails again
    assert again.code == 1, again
    assert again.out.startswith(f"retrying entry {entry['id']}: run {run_id} into main "
                                "(position 1, waiting): retried by cli")
    assert again.err.strip().startswith(f"not merged: entry {entry['id']}: run {run_id} into "
                                        "main (failed): `exit 3` failed")
    cancelled = gluon.ok("merge", "cancel", entry["id"], "--yes")
    assert cancelled.out.strip() == (f"cancelled entry {entry['id']}: run {run_id} into main "
                                     "(cancelled): cancelled by cli")
    assert gluon.json("show", run_id)["run"]["state"] == "review"


def test_with_a_daemon_merge_add_returns_at_once_and_wait_follows_the_entry_to_its_end(
        gluon: Gluon, daemon: subprocess.Popen[str], repo: Path,
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:hello", [s.bash(COMMIT_HELLO), s.text("Committed.")])
    model_server.script("SCRIPT:notes", [s.write("NOTES.md", "notes\n"), s.text("Done.")])
    gluon.ok("project", "add", str(repo))
    first = run_id_of(gluon.ok("run", "demo", "SCRIPT:hello commit hello", "--wait"))
    second = run_id_of(gluon.ok("run", "demo", "SCRIPT:notes write notes", "--wait"))

    queued = gluon.ok("merge", "add", first, "--yes")
    [line] = queued.out.splitlines()
    assert line.startswith("queued entry ") and f": run {first} into main (" in line
    followed = gluon.ok("merge", "add", second, "--yes", "--wait")

    assert "no Gluon daemon is running" not in followed.out
    assert followed.out.splitlines()[-1] == "1 of 1 merged"
    assert f"(run {second}) merged: " in followed.out and f"(run {first})" not in followed.out
    listed = gluon.json("merge", "list", "--all")["entries"]
    assert sorted((e["run_id"], e["state"], e["created_by"]) for e in listed) == sorted(
        [(first, "merged", "cli"), (second, "merged", "cli")])
    assert git(repo, "show", "main:hello.txt") == "hello"
    assert git(repo, "show", "main:NOTES.md") == "notes"
