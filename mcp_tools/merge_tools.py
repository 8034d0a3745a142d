"""Tools for the merge queue: queue finished runs for merging (one at a time per base branch,
each rebased and checked first), see the lines, retry a failed entry, take one out."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from core.errors import Conflict, InvalidInput, UserError
from core.merges.states import MergeState
from core.merges.types import MergeEntry
from core.models import Run
from core.runtime import Runtime
from core.types import LIVE_STATES, RunState
from mcp_tools.params import RunRef
from mcp_tools.registry import ToolKit, actor

EntryRef = Annotated[str, Field(description=(
    "merge entry id (or a unique prefix of it), or a run id: that run's latest entry"))]
MAX_RUNS = 50
CANDIDATES = 500  # runs of a project looked at for "queue every finished run"


class SkippedRun(BaseModel):
    run_id: str = Field(description="the run's id (as given, when no run matched it)")
    reason: str = Field(description="why it was not queued, in one line")


class MergeQueued(BaseModel):
    entries: list[MergeEntry] = Field(description="the entries queued (or already in line), "
                                      "in line order")
    skipped: list[SkippedRun] = Field(description="runs not queued, each with why")


class MergeQueueList(BaseModel):
    entries: list[MergeEntry] = Field(description="open entries in line order (position 1 "
                                      "is next on its base branch), then the ended ones, the "
                                      "most recent first")


def _describe_runs(runs: list[Run]) -> str:
    shown = ", ".join(f"{r.short} ({r.prompt[:40]!r})" for r in runs[:5])
    more = f" and {len(runs) - 5} more" if len(runs) > 5 else ""
    return f"{shown}{more}"


def _nothing_queued(skipped: list[SkippedRun]) -> Conflict:
    reasons = "; ".join(s.reason for s in skipped[:5])
    return Conflict(f"nothing was queued for merging: {reasons}")


def register(kit: ToolKit, rt: Runtime) -> None:
    merges = rt.merges

    async def latest_entries(project: str) -> dict[str, MergeEntry]:
        """Per run of the project: its open entry, else its most recent one."""
        latest: dict[str, MergeEntry] = {}
        for entry in await merges.list(project, include_ended=True, limit=CANDIDATES):
            latest.setdefault(entry.run_id, entry)
        return latest

    async def candidates(project: str) -> tuple[list[Run], list[SkippedRun]]:
        """The project's finished runs (in review) not in line yet, oldest first, and the
        runs left out with why."""
        name = (await rt.projects.named(project)).name
        latest = await latest_entries(name)
        review = sorted(await rt.runs.find(name, [RunState.REVIEW], limit=CANDIDATES),
                        key=lambda r: (r.created_at, r.id))
        todo: list[Run] = []
        skipped: list[SkippedRun] = []
        for run in review:
            entry = latest.get(run.id)
            if entry is not None and entry.state.is_open:
                skipped.append(SkippedRun(run_id=run.id, reason=(
                    f"run {run.short} is already in the merge queue (entry {entry.id}, "
                    f"{entry.state}, position {entry.position})")))
            elif entry is not None and entry.state is MergeState.FAILED:
                skipped.append(SkippedRun(run_id=run.id, reason=(
                    f"run {run.short}'s merge failed ({entry.reason}); retry it with "
                    f"retry_merge entry={entry.id}")))
            elif not run.branch:
                skipped.append(SkippedRun(run_id=run.id, reason=(
                    f"run {run.short} worked in the checkout (no branch of its own); its "
                    "changes are already there")))
            else:
                todo.append(run)
        for run in await rt.runs.find(name, list(LIVE_STATES), limit=CANDIDATES):
            skipped.append(SkippedRun(run_id=run.id, reason=(
                f"run {run.short} is {run.state}; queue it once it has finished (review)")))
        if not todo and not skipped:
            raise Conflict(f"project {name!r} has no finished runs (in review) to merge; "
                           "see list_runs")
        return todo, skipped

    async def named_runs(refs: list[str], project: str | None
                         ) -> tuple[list[Run], list[SkippedRun]]:
        """The runs named, each once, in the order given, and the refs that matched none."""
        name = (await rt.projects.named(project)).name if project is not None else None
        found: list[Run] = []
        skipped: list[SkippedRun] = []
        for ref in refs:
            try:
                run = await rt.runs.get(ref)
            except UserError as exc:
                skipped.append(SkippedRun(run_id=ref, reason=str(exc)))
                continue
            if name is not None and run.project != name:
                skipped.append(SkippedRun(run_id=run.id, reason=(
                    f"run {run.short} is on project {run.project!r}, not {name!r}")))
            elif all(r.id != run.id for r in found):
                found.append(run)
        return found, skipped

    async def plan(runs: list[str] | None, project: str | None
                   ) -> tuple[list[Run], list[SkippedRun]]:
        if runs:
            if len(runs) > MAX_RUNS:
                raise InvalidInput(f"{len(runs)} runs named; queue at most {MAX_RUNS} at once")
            return await named_runs(runs, project)
        if project is not None:
            return await candidates(project)
        raise InvalidInput("say what to merge: name the runs (runs) or a project (project) "
                           "whose finished runs to queue")

    async def enqueue_preview(runs: list[str] | None = None, project: str | None = None
                              ) -> str:
        todo, skipped = await plan(runs, project)
        if not todo:
            raise _nothing_queued(skipped)
        also = f" (skipping {len(skipped)}: {skipped[0].reason})" if skipped else ""
        return (f"queue {len(todo)} run(s) for merging, each rebased, checked and merged into "
                f"its base branch in turn: {_describe_runs(todo)}{also}")

    @kit.tool(destructive=True, preview=enqueue_preview)
    async def enqueue_merge(
            runs: Annotated[list[RunRef] | None, Field(
                max_length=MAX_RUNS, description="the runs to queue (ids or unique prefixes)")
                            ] = None,
            project: Annotated[str | None, Field(description=(
                "without runs: queue every finished run (in review) of this project that is "
                "not in line yet, oldest first"))] = None) -> MergeQueued:
        """Queue finished runs (state review) for merging into their base branch through the
        merge queue: one entry at a time per base branch, each rebased onto the current base,
        checked (its pull request's checks on GitHub, else the project's tests) and merged
        only when the checks pass; a conflict or a failed check is handed to the run's agent
        to fix first. Use it for "merge it", "merge the green ones" (give `project`: every
        finished run of it not queued yet) or "queue these for merging" (give `runs`); prefer
        it over merge_run, which merges at once without rebasing or checks. Runs that cannot
        be queued (still running, already queued, unknown) are listed in `skipped` with why.
        Returns the entries with their position in line; follow them with list_merge_queue."""
        todo, skipped = await plan(runs, project)
        entries: list[MergeEntry] = []
        for run in todo:
            try:
                entries.append(await merges.enqueue(run.id, actor()))
            except UserError as exc:
                skipped.append(SkippedRun(run_id=run.id, reason=str(exc)))
        if not entries:
            raise _nothing_queued(skipped)
        return MergeQueued(entries=entries, skipped=skipped)

    @kit.tool(read_only=True)
    async def list_merge_queue(
            project: Annotated[str | None, Field(description="only this project's entries")
                               ] = None,
            include_ended: Annotated[bool, Field(
                description="also the entries that ended (merged, failed, cancelled), the "
                "most recent first")] = False) -> MergeQueueList:
        """What is in the merge queue ("what's in the merge queue?", "did my run merge?"):
        each entry with its state (waiting, rebasing, resolving: the agent fixes a conflict
        or failed checks, checking, merging; merged, failed, cancelled), why it is there in
        one line, its position in its base branch's line (1: next), its run id, branch and
        base branch, and its pull request's number and URL on GitHub projects. Open entries
        come first, in line order; `include_ended` adds the ended ones (why one failed)."""
        return MergeQueueList(entries=await merges.list(project, include_ended=include_ended))

    async def cancel_preview(entry: str) -> str:
        found = await merges.get(entry)
        if not found.state.is_open and found.state is not MergeState.FAILED:
            raise Conflict(f"merge entry {found.id} is already {found.state}; nothing to "
                           "cancel")
        return (f"take run {found.run_id[:8]}'s merge into {found.base} (entry {found.id}, "
                f"{found.state}) out of the merge queue; the run stays in review")

    @kit.tool()
    async def retry_merge(entry: EntryRef) -> MergeEntry:
        """Put a failed merge entry back in line, at the end of its base branch's line, with
        its agent's fixes counted from zero again. Use it after the reason it failed was dealt
        with (a conflict resolved by hand, flaky checks, a fixed test command). Only a failed
        entry can be retried; to queue a run again after a cancel, use enqueue_merge."""
        return await merges.retry(entry, actor())

    @kit.tool(destructive=True, preview=cancel_preview)
    async def cancel_merge(entry: EntryRef) -> MergeEntry:
        """Take an entry out of the merge queue (waiting, being worked on, or failed): it is
        not merged, the run stays in review with its branch, and the entries behind it move
        up. A fix its agent is making goes on. Returns the entry, now cancelled."""
        return await merges.cancel(entry, actor())
