"""Who may call which tool, the confirmation destructive tools wait for on chat surfaces, and
the one-line errors a model gets for bad arguments."""

from __future__ import annotations

from pathlib import Path

from core.runtime import Runtime
from core.types import Role
from mcp_tools.registry import Caller, PendingAction, default_caller
from tests.mcp_tools.client import call, connected, error


async def a_run_in_review(rt: Runtime, repo: Path, run_id: str = "3f2a9c1e") -> str:
    await rt.projects.add("demo", str(repo))
    await rt.runs.store.insert(id=run_id, project="demo", prompt="tidy the README",
                               model="sonnet", use_worktree=0, cwd=str(repo), session_id="s",
                               state="review")
    return run_id


async def test_bad_arguments_name_the_parameter_and_what_it_accepts(runtime: Runtime) -> None:
    async with connected(runtime) as client:
        too_small = await error(client, "list_runs", limit=0)
        wrong_enum = await error(client, "list_runs", state="bogus")
        missing = await error(client, "get_run")
        literal = await error(client, "set_budget", scope="galaxy")
        typo = await error(client, "get_run", run_id="abc")
        unknown_tool = await error(client, "list_run")
    assert too_small == ("invalid arguments for list_runs: limit should be greater than or "
                         "equal to 1 (got 0)")
    assert "state should be a valid list of: queued, running, waiting" in wrong_enum
    assert "(got 'bogus')" in wrong_enum
    assert missing == "invalid arguments for get_run: run is required"
    assert "scope should be 'global' or 'project' (got 'galaxy')" in literal
    assert typo == "get_run has no argument 'run_id' (did you mean 'run'?); it accepts: run"
    assert unknown_tool.startswith("unknown tool 'list_run'; did you mean list_runs")


async def test_an_unknown_request_id_suggests_the_open_ones(
        runtime: Runtime, repo: Path) -> None:
    run_id = await a_run_in_review(runtime, repo)
    await runtime.db.execute(
        "INSERT INTO interactions (id, run_id, kind, tool_name, tool_input, title, status, "
        "created_at) VALUES ('q7c1d2', ?, 'question', 'AskUserQuestion', '{}', 'Which?', "
        "'pending', 1.0)", (run_id,))
    async with connected(runtime) as client:
        near = await error(client, "answer_question", id="q7c1d3", answer="yes")
        far = await error(client, "answer_question", id="zzzz", answer="yes")
    assert near.endswith("no question or permission request 'q7c1d3'; did you mean q7c1d2?")
    assert far.endswith("the open ones are listed by `gluon pending` (tool list_pending)")


async def calls_as(rt: Runtime, role: Role, tool: str, **arguments: object) -> str | None:
    """The error a caller with this role gets, or None when the call went through."""
    token = default_caller.set(Caller(f"telegram:{role}", role))
    try:
        async with connected(rt) as client:
            result = await client.call_tool(tool, arguments)
    finally:
        default_caller.reset(token)
    return result.content[0].text if result.is_error else None  # type: ignore[union-attr]


async def test_roles_limit_what_a_caller_may_do(runtime: Runtime, repo: Path) -> None:
    run_id = await a_run_in_review(runtime, repo)
    assert await calls_as(runtime, Role.VIEWER, "get_run", run=run_id) is None
    refused = await calls_as(runtime, Role.VIEWER, "steer_run", run=run_id, message="go on")
    assert refused is not None and refused.endswith(
        "steer_run needs the operator role and telegram:viewer is a viewer; an admin can "
        "change roles in the config")
    assert await calls_as(runtime, Role.OPERATOR, "set_setting", key="agents.max_concurrent",
                          value=2) is not None
    assert await calls_as(runtime, Role.OPERATOR, "archive_run", run=run_id) is None
    assert await calls_as(runtime, Role.ADMIN, "set_setting", key="agents.max_concurrent",
                          value=2) is None
    assert (await runtime.runs.get(run_id)).state == "closed"
    entries = await runtime.activity.recent(action_prefix="tool.")
    refusals = [(e.actor, e.action) for e in entries if e.outcome.startswith("refused")]
    assert ("telegram:viewer", "tool.steer_run") in refusals
    assert ("telegram:operator", "tool.set_setting") in refusals


async def test_a_destructive_call_waits_for_the_users_confirmation(
        runtime: Runtime, repo: Path) -> None:
    run_id = await a_run_in_review(runtime, repo)
    held: list[PendingAction] = []

    async def ask(action: PendingAction) -> str:
        held.append(action)
        return "asked the user to confirm with a button"

    chat = Caller("telegram:42", Role.OPERATOR, confirm=ask)
    token = default_caller.set(chat)
    try:
        async with connected(runtime) as client:
            told = await error(client, "archive_run", run=run_id[:5], delete_branch=True)
            unknown = await error(client, "archive_run", run="ffff")
            not_live = await error(client, "cancel_run", run=run_id)
            await call(client, "get_run", run=run_id)  # read-only calls are never held
    finally:
        default_caller.reset(token)
    assert told.endswith("asked the user to confirm with a button")
    assert unknown.endswith("no run 'ffff'; list runs with `gluon runs`")
    # What could not happen anyway is refused at once, not offered for confirmation.
    assert not_live.endswith(f"run '{run_id}' is already review; nothing to cancel")
    assert [(a.tool, a.arguments) for a in held] == [
        ("archive_run", {"run": run_id[:5], "delete_branch": True})]
    assert held[0].preview.startswith(
        f"close run {run_id} on demo (review, 'tidy the README') without merging")
    assert (await runtime.runs.get(run_id)).state == "review"

    token = default_caller.set(Caller("telegram:42", Role.OPERATOR, confirm=ask, confirmed=True))
    try:
        async with connected(runtime) as client:
            closed = await call(client, "archive_run", run=run_id)
    finally:
        default_caller.reset(token)
    assert closed["state"] == "closed" and len(held) == 1
    outcomes = [e.outcome for e in await runtime.activity.recent(action_prefix="tool.")]
    assert "held for confirmation" in outcomes and "ok" in outcomes
