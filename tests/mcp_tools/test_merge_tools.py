"""The merge-queue tools through a real MCP client, on real runs of the Claude Code CLI against
the scripted model server, merged in real git repositories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import Client

from core.config import Config
from core.runtime import Runtime
from core.types import RunState
from mcp_tools.registry import error_text
from tests.conftest import daemon_environ, git, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.mcp_tools.client import call, connected, error


async def refused(client: Client, tool: str, /, **arguments: Any) -> str:
    """The message of a call that must fail, without the "Error executing tool" prefix."""
    return error_text(await error(client, tool, **arguments))


def gluon_branches(repo: Path) -> list[str]:
    return [b for b in git(repo, "branch", "--format=%(refname:short)").splitlines()
            if b.startswith("gluon/")]


async def test_merge_the_green_ones_queues_the_finished_run_skips_the_working_one_and_merges(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:notes", [s.write("NOTES.md", "notes\n"), s.text("Done.")])
    model_server.script("SCRIPT:busy", [s.hold("busy", then=s.text("done"))])
    before = git(repo, "rev-parse", "main")
    config = make_config(tmp_path / "home", model_server)
    async with Runtime(config, environ=daemon_environ()) as rt, connected(rt) as client:
        await call(client, "add_project", path=str(repo))
        done = await call(client, "start_run", project="demo", prompt="SCRIPT:notes please")
        assert (await wait_state(rt, done["id"])).state is RunState.REVIEW
        busy = await call(client, "start_run", project="demo", prompt="SCRIPT:busy")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:busy")

        queued = await call(client, "enqueue_merge", project="demo")

        [entry] = queued["entries"]
        assert (entry["run_id"], entry["position"], entry["state"]) == (done["id"], 1,
                                                                         "waiting")
        assert (entry["base"], entry["branch"]) == ("main", f"gluon/{done['id']}")
        assert queued["skipped"] == [{"run_id": busy["id"], "reason": (
            f"run {busy['id']} is running; queue it once it has finished (review)")}]
        await rt.merges.idle()
        [ended] = (await call(client, "list_merge_queue", include_ended=True))["entries"]
        assert (ended["id"], ended["state"], ended["position"]) == (entry["id"], "merged", 0)
        assert ended["reason"] == "fast-forwarded into main"
        assert git(repo, "rev-parse", "main") != before
        assert git(repo, "show", "main:NOTES.md") == "notes"
        assert gluon_branches(repo) == [f"gluon/{busy['id']}"]
        assert (await rt.runs.get(done["id"])).state is RunState.MERGED
        assert (await call(client, "list_merge_queue"))["entries"] == []

        # Nothing is left to queue: the one that is still working says why.
        said = await refused(client, "enqueue_merge", project="demo")
        assert said == (f"nothing was queued for merging: run {busy['id']} is running; queue "
                        "it once it has finished (review)")
        said = await refused(client, "enqueue_merge", runs=[done["id"]])
        assert said.startswith(f"nothing was queued for merging: run '{done['id']}' is merged")
        model_server.release("busy")
        await wait_state(rt, busy["id"])


def with_failing_tests(config: Config) -> Config:
    return config.model_copy(update={
        "merge": config.merge.model_copy(update={"check_fixes": 0}),
        "projects": {"demo": config.project("demo").model_copy(update={
            "test_command": "echo 'add is broken' >&2; exit 3"})}})


async def test_a_failed_entry_is_retried_and_cancelled_by_entry_or_run_id(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:x", [s.write("x.txt", "x\n"), s.text("Done.")])
    before = git(repo, "rev-parse", "main")
    config = with_failing_tests(make_config(tmp_path / "home", model_server))
    async with Runtime(config, environ=daemon_environ()) as rt, connected(rt) as client:
        await call(client, "add_project", path=str(repo))
        run = await call(client, "start_run", project="demo", prompt="SCRIPT:x please")
        assert (await wait_state(rt, run["id"])).state is RunState.REVIEW

        [entry] = (await call(client, "enqueue_merge", runs=[run["id"][:6], "ffff"],
                              project="demo"))["entries"]
        await rt.merges.idle()
        [failed] = (await call(client, "list_merge_queue", project="demo",
                               include_ended=True))["entries"]
        assert failed["state"] == "failed" and "failed on the rebased branch" in failed["reason"]
        assert git(repo, "rev-parse", "main") == before

        # "Merge the green ones" leaves a failed one alone, and says how to retry it.
        said = await refused(client, "enqueue_merge", project="demo")
        assert said.startswith(f"nothing was queued for merging: run {run['id']}'s merge "
                               "failed (")
        assert said.endswith(f"retry it with retry_merge entry={entry['id']}")

        retried = await call(client, "retry_merge", entry=run["id"])  # the run's latest entry
        assert (retried["id"], retried["state"], retried["position"]) == (entry["id"],
                                                                           "waiting", 1)
        assert retried["reason"] == "retried by mcp"
        await rt.merges.idle()
        cancelled = await call(client, "cancel_merge", entry=entry["id"][:5])
        assert (cancelled["state"], cancelled["reason"]) == ("cancelled", "cancelled by mcp")
        assert (await rt.runs.get(run["id"])).state is RunState.REVIEW
        assert gluon_branches(repo) == [f"gluon/{run['id']}"]

        said = await refused(client, "cancel_merge", entry=entry["id"])
        assert said == f"merge entry {entry['id']} is already cancelled; nothing to cancel"
        said = await refused(client, "retry_merge", entry=entry["id"])
        assert said == (f"merge entry {entry['id']} is cancelled; only a failed entry can be "
                        "retried")


async def test_merge_tools_refuse_what_cannot_be_merged_in_one_line(
        runtime: Runtime, repo: Path) -> None:
    async with connected(runtime) as client:
        await call(client, "add_project", path=str(repo))
        said = await refused(client, "enqueue_merge")
        assert said == ("say what to merge: name the runs (runs) or a project (project) whose "
                        "finished runs to queue")
        assert await refused(client, "enqueue_merge", runs=[]) == said
        said = await refused(client, "enqueue_merge", project="demo")
        assert said == ("project 'demo' has no finished runs (in review) to merge; see "
                        "list_runs")
        assert "no project named 'gone'" in await refused(client, "enqueue_merge",
                                                        project="gone")
        said = await refused(client, "enqueue_merge", runs=["ffff", "eeee"])
        assert said.startswith("nothing was queued for merging: no run 'ffff'")
        assert "; no run 'eeee'" in said
        assert "no merge-queue entry 'abc'" in await refused(client, "retry_merge", entry="abc")
        assert "no merge-queue entry 'abc'" in await refused(client, "cancel_merge", entry="abc")
        assert "no project named 'gone'" in await refused(client, "list_merge_queue",
                                                        project="gone")
        assert (await call(client, "list_merge_queue", include_ended=True))["entries"] == []
