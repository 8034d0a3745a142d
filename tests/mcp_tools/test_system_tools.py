"""The system tools (workspaces, budgets, settings, tool policies, activity, doctor, stats),
through a real MCP client on a real runtime."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from mcp.types import CallToolResult

from core.errors import BudgetExceeded
from core.runtime import Runtime
from core.store.db import Database
from mcp_tools.registry import Caller, default_caller
from tests.conftest import make_repo
from tests.mcp_tools.client import call, connected

SYSTEM_TOOLS = {"list_workspaces", "remove_workspace", "get_usage_by_project", "set_budget",
                "get_activity", "run_doctor", "get_settings", "set_setting", "set_tool_policy",
                "get_stats"}


def error_of(result: CallToolResult) -> str:
    assert result.is_error
    text: str = result.content[0].text  # type: ignore[union-attr]
    assert "\n" not in text and "Traceback" not in text
    return text


async def add_run(rt: Runtime, project: str, cost: float) -> str:
    """A finished run with spend recorded, as the supervisor leaves it."""
    run = await rt.runs.start_run(project, "do it", worktree=False)
    await rt.runs.cancel(run.id)
    await rt.runs.usage.record(run.id, project, cost, 1000, 200)
    return run.id


async def test_the_system_tools_describe_themselves_and_change_nothing_destructive(
        runtime: Runtime) -> None:
    async with connected(runtime) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= SYSTEM_TOOLS
        for name in SYSTEM_TOOLS:
            t = tools[name]
            assert t.description and len(t.description) > 40, name
            assert t.annotations is not None and t.annotations.destructive_hint is False, name
            assert t.output_schema is not None, name
        assert tools["remove_workspace"].annotations.idempotent_hint  # type: ignore[union-attr]
        props = tools["set_budget"].input_schema["properties"]
        assert "description" in props["daily_usd"]


async def test_removing_a_workspace_keeps_its_projects_without_the_link(
        runtime: Runtime, tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    make_repo(folder / "alpha")
    async with connected(runtime) as client:
        await call(client, "add_workspace", path=str(folder))
        listed = await call(client, "list_workspaces")
        assert [(w["path"], w["projects"]) for w in listed["workspaces"]] == [
            (str(folder), ["alpha"])]
        removed = await call(client, "remove_workspace", path=str(folder))
        assert removed == {"path": str(folder), "removed": True, "unlinked_projects": ["alpha"]}
        again = await call(client, "remove_workspace", path=str(folder))
        assert again["removed"] is False
        assert (await call(client, "list_workspaces"))["workspaces"] == []
    project = await runtime.projects.get("alpha")
    assert project.workspace is None


async def test_a_project_budget_override_refuses_new_runs_once_spent(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await add_run(runtime, "demo", 0.05)
    async with connected(runtime) as client:
        budget = await call(client, "set_budget", scope="project", project="demo",
                            daily_usd=0.01)
        assert budget["daily_budget_usd"] == 0.01 and budget["spent_today_usd"] == 0.05
        with pytest.raises(BudgetExceeded, match="project 'demo' has spent its daily budget"):
            await runtime.runs.usage.check_budgets("demo")
        refused = await client.call_tool("start_run", {"project": "demo", "prompt": "more"})
        assert "daily budget of $0.01" in error_of(refused)
        cleared = await call(client, "set_budget", scope="project", project="demo",
                             daily_usd=None)
        assert cleared["override_usd"] is None and cleared["daily_budget_usd"] is None
    await runtime.runs.usage.check_budgets("demo")


async def test_a_global_budget_override_shows_in_the_usage_report(runtime: Runtime) -> None:
    async with connected(runtime) as client:
        await call(client, "set_budget", scope="global", daily_usd=2.5)
        report = await call(client, "get_usage")
        assert report["daily_budget_usd"] == 2.5
        assert (await call(client, "get_settings"))["overrides"] == {
            "agents.daily_budget_usd": 2.5}


async def test_a_bad_budget_is_refused_naming_the_parameter_and_what_it_accepts(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    async with connected(runtime) as client:
        negative = await client.call_tool("set_budget", {"scope": "global", "daily_usd": -1})
        assert "daily_usd must be a positive number of US dollars" in error_of(negative)
        missing = await client.call_tool("set_budget", {"scope": "project", "daily_usd": 1})
        assert "project is required when scope is 'project'" in error_of(missing)
        unknown = await client.call_tool("set_budget", {"scope": "project", "project": "nope",
                                                        "daily_usd": 1})
        assert "no project named 'nope'; known projects: demo" in error_of(unknown)
        bad_scope = await client.call_tool("set_budget", {"scope": "world", "daily_usd": 1})
        assert bad_scope.is_error
    assert await runtime.runs.usage.settings.all() == {}


async def test_usage_by_project_lists_each_day_with_todays_spend(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await add_run(runtime, "demo", 0.25)
    async with connected(runtime) as client:
        usage = await call(client, "get_usage_by_project", project="demo", days=3)
        assert [d["runs"] for d in usage["by_day"]] == [0, 0, 1]
        assert usage["by_day"][-1]["cost_usd"] == 0.25
        assert usage["by_day"][-1]["input_tokens"] == 1000
        assert usage["today_cost_usd"] == 0.25
        bad = await client.call_tool("get_usage_by_project", {"project": "demo", "days": 0})
        assert "days must be a whole number from 1 to 366" in error_of(bad)


async def test_the_activity_log_can_be_filtered_by_actor_and_action(
        runtime: Runtime, repo: Path) -> None:
    async with connected(runtime) as client:
        token = default_caller.set(Caller("telegram:7"))
        try:
            await call(client, "add_project", path=str(repo))
        finally:
            default_caller.reset(token)
        await call(client, "set_setting", key="agents.max_concurrent", value=3)
        mine = await call(client, "get_activity", actor="telegram:7", action_prefix="tool.")
        assert [e["action"] for e in mine["entries"]] == ["tool.add_project"]
        tools = await call(client, "get_activity", action_prefix="tool.", limit=1)
        assert [e["action"] for e in tools["entries"]] == ["tool.set_setting"]
        bad = await client.call_tool("get_activity", {"limit": 0})
        assert "limit must be a whole number from 1 to 1000" in error_of(bad)


async def test_doctor_reports_the_same_checks_as_the_cli(runtime: Runtime) -> None:
    async with connected(runtime) as client:
        report = await call(client, "run_doctor")
    names = [c["name"] for c in report["checks"]]
    assert names == ["git", "claude cli", "sandbox", "credentials", "database", "disk"]
    assert report["checks"][0]["status"] == "ok"
    assert report["ok"] is all(c["status"] != "fail" for c in report["checks"])


async def test_settings_hide_secrets_and_show_runtime_overrides(runtime: Runtime) -> None:
    async with connected(runtime) as client:
        changed = await call(client, "set_setting", key="agents.default_model", value="opus")
        assert changed["override"] == "opus"
        await call(client, "set_setting", key="agents.max_concurrent_per_project", value="3")
        view = await call(client, "get_settings")
    assert view["config"]["anthropic"]["api_key"] == "set"
    assert view["config"]["telegram"]["token"] == "unset"
    assert "sk-test" not in str(view)
    assert view["config"]["agents"]["default_model"] == "opus"
    assert view["overrides"] == {"agents.default_model": "opus",
                                 "agents.max_concurrent_per_project": 3}
    effective = await runtime.runs.usage.settings.agents(runtime.config)
    assert (effective.default_model, effective.max_concurrent_per_project) == ("opus", 3)


async def test_only_runtime_keys_with_valid_values_can_be_set(runtime: Runtime) -> None:
    async with connected(runtime) as client:
        other = await client.call_tool("set_setting", {"key": "server.port", "value": 1})
        text = error_of(other)
        assert "key 'server.port' cannot be changed at runtime" in text
        assert "agents.max_concurrent, agents.max_concurrent_per_project" in text
        model = await client.call_tool("set_setting", {"key": "agents.default_model",
                                                       "value": "gpt-4"})
        assert "use opus, sonnet, haiku or a full model id" in error_of(model)
        zero = await client.call_tool("set_setting", {"key": "agents.max_concurrent",
                                                      "value": 0})
        assert "a whole number from 1 to 256" in error_of(zero)
        await call(client, "set_setting", key="agents.max_concurrent", value=5)
        cleared = await call(client, "set_setting", key="agents.max_concurrent", value=None)
        assert cleared == {"key": "agents.max_concurrent", "override": None, "overrides": {}}


async def test_a_tool_policy_is_what_new_runs_of_the_project_may_use_unasked(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    async with connected(runtime) as client:
        await call(client, "set_tool_policy", project="demo", tool="WebFetch", allowed=True)
        policy = await call(client, "set_tool_policy", project="demo",
                            tool="Bash(npm test:*)", allowed=True)
        assert policy == {"project": "demo", "rules": ["Bash(npm test:*)", "WebFetch"]}
        run = await runtime.runs.start_run("demo", "go", worktree=False)
        await runtime.runs.cancel(run.id)
        spec = await runtime.runs.agent_spec(run, resume=False, fork_from=None,
                                             stderr=io.StringIO())
        assert "WebFetch" in spec.allowed_tools
        removed = await call(client, "set_tool_policy", project="demo", tool="WebFetch",
                             allowed=False)
        assert removed["rules"] == ["Bash(npm test:*)"]
        bad = await client.call_tool("set_tool_policy", {"project": "demo", "tool": " ",
                                                         "allowed": True})
        assert "invalid tool rule ''" in error_of(bad)


async def test_stats_count_runs_by_state_and_measure_the_data_dir(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await add_run(runtime, "demo", 0.0)
    (runtime.config.logs_dir / "big.log").write_bytes(b"x" * 5000)
    async with connected(runtime) as client:
        stats = await call(client, "get_stats")
    assert stats["projects"] == 1 and stats["runs"] == 1
    assert stats["runs_by_state"] == {"cancelled": 1}
    assert stats["disk_bytes"]["logs"] >= 5000
    assert stats["disk_bytes"]["database"] > 0
    assert stats["disk_bytes"]["total"] == sum(
        v for k, v in stats["disk_bytes"].items() if k != "total")


async def test_a_new_database_gets_the_settings_table(tmp_path: Path) -> None:
    db = Database(tmp_path / "fresh.db")
    await db.open()
    try:
        row = await db.fetchone("SELECT name FROM sqlite_master WHERE name = 'settings'")
        assert row is not None
        names = [r["name"] for r in await db.fetchall("SELECT name FROM migrations")]
        assert "settings" in names
    finally:
        await db.close()
