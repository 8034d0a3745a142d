"""Tools for running Gluon itself: workspaces, budgets, settings, tool policies, the activity
log, health checks and data-dir statistics."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from pydantic import BaseModel, Field, JsonValue

from core.access.activity import ActivityEntry
from core.budget.settings import RUNTIME_KEYS, check_budget, project_budget_key
from core.budget.usage import DiskUsage, ProjectUsage, disk_usage
from core.doctor import Check, run_checks
from core.errors import InvalidInput
from core.projects.service import Workspace, WorkspaceRemoval
from core.runtime import Runtime
from mcp_tools.registry import ToolKit, actor


class WorkspaceList(BaseModel):
    workspaces: list[Workspace]


class Budget(BaseModel):
    scope: Literal["global", "project"]
    project: str | None
    override_usd: float | None = Field(description="the stored override; null: none")
    daily_budget_usd: float | None = Field(description="the budget now in force; null: none")
    spent_today_usd: float


class ActivityList(BaseModel):
    entries: list[ActivityEntry]


class DoctorReport(BaseModel):
    ok: bool = Field(description="true when no check failed (warnings allowed)")
    checks: list[Check]


class SettingsView(BaseModel):
    config: dict[str, JsonValue] = Field(description="the configuration in force, overrides "
                                         "applied, secrets shown as 'set' or 'unset'")
    overrides: dict[str, JsonValue] = Field(description="values changed at runtime")
    runtime_keys: dict[str, str] = Field(description="keys set_setting accepts, and their "
                                         "values")


class SettingChange(BaseModel):
    key: str
    override: JsonValue = Field(description="the stored value; null: cleared")
    overrides: dict[str, JsonValue]


class ToolPolicy(BaseModel):
    project: str
    rules: list[str] = Field(description="tools every run of the project may use unasked")


class Stats(BaseModel):
    disk_bytes: DiskUsage
    runs_by_state: dict[str, int]
    runs: int
    projects: int
    workspaces: int


def register(kit: ToolKit, rt: Runtime) -> None:
    usage = rt.runs.usage
    settings = usage.settings

    @kit.tool(read_only=True)
    async def list_workspaces() -> WorkspaceList:
        """List the registered workspaces (folders scanned for repositories) and the projects
        found in each. Use it before remove_workspace or scan_workspace."""
        return WorkspaceList(workspaces=await rt.projects.workspaces())

    @kit.tool(idempotent=True, admin=True)
    async def remove_workspace(
            path: Annotated[str, Field(description="the workspace folder, as list_workspaces "
                                       "shows it")]
    ) -> WorkspaceRemoval:
        """Forget a workspace so scans stop looking in it. Its projects stay registered but
        lose the workspace link; no file is touched. Returns whether it was registered and
        which projects were unlinked."""
        return await rt.projects.remove_workspace(path, actor=actor())

    @kit.tool(read_only=True)
    async def get_usage_by_project(
            project: Annotated[str, Field(description="the project's name")],
            days: Annotated[int, Field(description="how many days back, today included "
                                       "(1 to 366)")] = 7,
    ) -> ProjectUsage:
        """One project's spend in USD, tokens and number of runs for each of the last days
        (oldest first, days without runs as zeros), today's spend and its daily budget."""
        await rt.projects.named(project)
        return await usage.project_report(project, days)

    @kit.tool(idempotent=True, admin=True)
    async def set_budget(
            scope: Annotated[Literal["global", "project"], Field(
                description="'global' for all projects together, 'project' for one")],
            project: Annotated[str | None, Field(
                description="the project's name; required with scope 'project'")] = None,
            daily_usd: Annotated[float | None, Field(
                description="the daily limit in US dollars (> 0); null removes the override "
                "so the configured budget applies again")] = None,
    ) -> Budget:
        """Set a daily spending limit that overrides the configuration until cleared. New runs
        are refused once today's spend (UTC) reaches it. Returns the budget in force."""
        if scope == "project" and project is None:
            raise InvalidInput("project is required when scope is 'project'; give a project "
                               "name, or use scope 'global'")
        if scope == "global" and project is not None:
            raise InvalidInput("project must be empty when scope is 'global'; use scope "
                               "'project' to set one project's budget")
        if project is not None:
            project = (await rt.projects.named(project)).name
        if daily_usd is not None:
            daily_usd = check_budget(daily_usd)
        key = "agents.daily_budget_usd" if project is None else project_budget_key(project)
        await settings.set(key, daily_usd)
        return Budget(scope=scope, project=project, override_usd=daily_usd,
                      daily_budget_usd=await settings.daily_budget(rt.config, project),
                      spent_today_usd=round(await usage.spent_today(project), 6))

    @kit.tool(read_only=True)
    async def get_activity(
            limit: Annotated[int, Field(description="at most this many entries (1 to 1000)")]
            = 50,
            actor: Annotated[str | None, Field(
                description="only this actor: 'cli', 'mcp', 'telegram:<id>', ...")] = None,
            action_prefix: Annotated[str | None, Field(
                description="only actions starting with this, e.g. 'tool.', 'run.', "
                "'project.'")] = None,
    ) -> ActivityList:
        """The audit log, newest first: who did what to which target and how it ended
        (every tool call that changes something, run and project changes)."""
        return ActivityList(entries=await rt.activity.recent(limit, actor,
                                                        action_prefix))

    @kit.tool(read_only=True)
    async def run_doctor() -> DoctorReport:
        """Check what Gluon needs on this machine, like `gluon doctor`: git, the Claude Code
        CLI, the sandbox, model credentials, the database and free disk. Each failing check
        says how to fix it."""
        checks = await asyncio.to_thread(run_checks, rt.config, rt.runs.environ)
        return DoctorReport(ok=all(c.status != "fail" for c in checks), checks=checks)

    @kit.tool(read_only=True)
    async def get_settings() -> SettingsView:
        """The configuration in force (config.toml, environment and runtime overrides), with
        tokens and API keys shown only as 'set' or 'unset'; the runtime overrides; and the
        keys set_setting may change."""
        return SettingsView(config=await settings.effective(rt.config),
                            overrides=await settings.all(), runtime_keys=RUNTIME_KEYS)

    @kit.tool(idempotent=True, admin=True)
    async def set_setting(
            key: Annotated[str, Field(description="one of: " + ", ".join(RUNTIME_KEYS))],
            value: Annotated[int | float | str | None, Field(
                description="the new value; null removes the override so the configured "
                "value applies again")],
    ) -> SettingChange:
        """Change a setting while Gluon runs; it overrides config.toml until cleared. Only
        the concurrency limits, the default model and the global daily budget can be
        changed this way. Returns the stored value and all overrides."""
        stored = await settings.change(key, value)
        return SettingChange(key=key, override=stored, overrides=await settings.all())

    @kit.tool(idempotent=True, admin=True)
    async def set_tool_policy(
            project: Annotated[str, Field(description="the project's name")],
            tool: Annotated[str, Field(description="a Claude Code permission rule: a tool "
                                       "name such as 'Edit' or 'WebFetch', optionally with a "
                                       "pattern such as 'Bash(npm test:*)'")],
            allowed: Annotated[bool, Field(description="true pre-approves the tool, false "
                                           "removes the rule")],
    ) -> ToolPolicy:
        """Pre-approve a tool for every run of a project (what 'Always for this project'
        does), or remove such a rule. Applies to runs started afterwards. Returns the
        project's rules."""
        rules = await rt.projects.set_tool_rule(project, tool, allowed,
                                                actor=actor())
        return ToolPolicy(project=project, rules=rules)

    @kit.tool(read_only=True)
    async def get_stats() -> Stats:
        """How much disk the data dir uses (worktrees, logs, agent homes, database, in
        bytes), how many runs are in each state, and how many projects and workspaces."""
        disk = await asyncio.to_thread(disk_usage, rt.config)
        by_state = await usage.runs_by_state()
        return Stats(disk_bytes=disk, runs_by_state=by_state, runs=sum(by_state.values()),
                     projects=len(await rt.projects.all()),
                     workspaces=len(await rt.projects.workspaces()))
