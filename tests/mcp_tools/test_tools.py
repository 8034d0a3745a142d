"""The MCP tools, through a real MCP client (JSON-RPC over an in-memory transport)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core.runtime import Runtime
from mcp_tools.registry import Caller, default_caller, error_text
from tests.mcp_tools.client import connected, error

DESTRUCTIVE = {"remove_project", "cancel_run", "merge_run", "archive_run", "delete_branch",
               "cleanup", "revoke_chat_user", "revoke_web_sessions", "cancel_queued",
               "remove_schedule", "enqueue_merge", "cancel_merge"}


async def test_every_tool_describes_itself_and_declares_its_effects(runtime: Runtime) -> None:
    async with connected(runtime) as client:
        tools = (await client.list_tools()).tools
        names = {t.name for t in tools}
        assert {"add_project", "start_run", "get_run", "steer_run", "interrupt_run", "cancel_run",
                "resume_run", "fork_run", "answer_question", "merge_run", "get_usage"} <= names
        for t in tools:
            assert t.description and len(t.description) > 40, t.name
            assert t.annotations is not None, t.name
            assert t.annotations.destructive_hint is (t.name in DESTRUCTIVE), t.name
            assert t.output_schema is not None, t.name
        read_only = {t.name for t in tools if t.annotations and t.annotations.read_only_hint}
        assert {"list_runs", "get_run", "get_run_logs", "list_projects", "get_usage"} <= read_only
        assert not read_only & {"start_run", "cancel_run", "answer_question", "add_project"}

async def test_a_tool_returns_structured_results_over_json_rpc(
        runtime: Runtime, repo: Path) -> None:
    async with connected(runtime) as client:
        added = await client.call_tool("add_project", {"path": str(repo)})
        assert not added.is_error
        assert added.structured_content is not None
        assert added.structured_content["name"] == "demo"
        listed = await client.call_tool("list_projects", {})
        assert listed.structured_content == {"projects": [added.structured_content]}

async def test_a_mistake_comes_back_as_one_actionable_line(runtime: Runtime, repo: Path) -> None:
    async with connected(runtime) as client:
        result = await client.call_tool("start_run", {"project": "nope", "prompt": "fix it"})
        assert result.is_error
        text = result.content[0].text  # type: ignore[union-attr]
        assert text.endswith("no project named 'nope'; add one with `gluon project add PATH`")
        assert "\n" not in text and "Traceback" not in text
        wrong_type = await client.call_tool("list_runs", {"limit": "many"})
        assert wrong_type.is_error

async def test_changes_are_written_to_the_audit_log_with_who_made_them(
        runtime: Runtime, repo: Path) -> None:
    async with connected(runtime) as client:
        token = default_caller.set(Caller("telegram:42"))
        try:
            await client.call_tool("add_project", {"path": str(repo), "name": "api"})
            await client.call_tool("add_project", {"path": str(repo), "name": "again"})
            await client.call_tool("list_projects", {})
        finally:
            default_caller.reset(token)
        entries = [e for e in await runtime.activity.recent() if e.action.startswith("tool.")]
        assert [(e.actor, e.action) for e in entries] == [
            ("telegram:42", "tool.add_project"), ("telegram:42", "tool.add_project")]
        assert entries[0].outcome.startswith("refused: ")
        assert entries[1].outcome == "ok"


async def test_long_run_lists_come_in_pages(runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    for n in range(7):
        await runtime.runs.store.insert(
            id=f"00000{n}", project="demo", prompt=f"task {n}", model="sonnet",
            use_worktree=0, cwd=str(repo), session_id=f"s{n}", state="review",
            created_at=1000.0 + n)
    async with connected(runtime) as client:
        seen: list[str] = []
        cursor = None
        for _ in range(4):
            page = await client.call_tool("list_runs", {"limit": 3, "cursor": cursor})
            assert page.structured_content is not None
            seen += [r["prompt"] for r in page.structured_content["runs"]]
            cursor = page.structured_content["next_cursor"]
            if cursor is None:
                break
        bad = await client.call_tool("list_runs", {"cursor": "junk"})
    assert seen == [f"task {n}" for n in reversed(range(7))]
    assert bad.is_error


async def test_an_unknown_run_id_suggests_the_runs_it_may_have_meant(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await runtime.runs.store.insert(id="3f2a9c1e", project="demo", prompt="p", model="sonnet",
                                    use_worktree=0, cwd=str(repo), session_id="s",
                                    state="review")
    async with connected(runtime) as client:
        typo = await client.call_tool("get_run", {"run": "3f2a9c1f"})
        unrelated = await client.call_tool("get_run", {"run": "zzzz"})
    assert typo.is_error and unrelated.is_error
    assert typo.content[0].text.endswith(  # type: ignore[union-attr]
        "no run '3f2a9c1f'; did you mean 3f2a9c1e?")
    assert unrelated.content[0].text.endswith(  # type: ignore[union-attr]
        "no run 'zzzz'; list runs with `gluon runs`")


async def test_an_unexpected_failure_says_what_failed_and_logs_the_traceback(
        runtime: Runtime, repo: Path, caplog: pytest.LogCaptureFixture) -> None:
    await runtime.projects.add("demo", str(repo))
    uploads = runtime.config.home / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "notes.txt").write_text("the spec\n")
    # A file where Gluon keeps the folder of staged attachments: not a mistake a caller made.
    (uploads / "runs").write_text("in the way\n")
    async with connected(runtime) as client:
        with caplog.at_level(logging.ERROR, logger="mcp_tools.registry"):
            text = await error(client, "start_run", project="demo", prompt="read the spec",
                               attachments=[str(uploads / "notes.txt")])
    reason = error_text(text)
    assert reason.startswith("start_run failed: NotADirectoryError: "), reason
    assert str(uploads / "runs") in reason
    assert reason.endswith("(see the daemon log for the traceback)")
    [logged] = [r for r in caplog.records if r.exc_info]
    assert "start_run" in logged.getMessage()
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], NotADirectoryError)
    [entry] = await runtime.activity.recent(action_prefix="tool.")
    assert entry.outcome.startswith("failed: NotADirectoryError: ")
