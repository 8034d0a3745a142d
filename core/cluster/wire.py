"""What travels between the coordinator and the workers: a dispatched run's snapshot, relay
entries and forwarded commands. None of it ever holds a secret: no credential of the
coordinator's reaches a worker, and a worker's own credentials stay on its host.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.events.bus import (
    AgentText,
    ApiRetry,
    BudgetWarning,
    Event,
    SubagentsChanged,
    ToolCalled,
    TurnFinished,
)


class RunSnapshot(BaseModel):
    """A run as the coordinator dispatches it (the ``run.exec`` job's payload): what a worker
    needs to run it, and to go on where an earlier worker stopped."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    attempt: int
    project: str
    source: dict[str, Any]  # where the project's code is (a core.cluster.transfer.source.Source)
    prompt: str  # the run's task
    pending_prompt: str | None  # what its agent is to be sent, if anything is pending
    fork_from: str | None = None  # the session a fork starts from
    parent_id: str | None = None
    model: str
    use_worktree: bool
    branch: str | None
    base_branch: str | None
    base_sha: str | None
    start_sha: str | None  # where its branch starts when the source has none yet
    session_id: str
    session_started: bool
    budget_usd: float | None
    created_by: str
    created_at: float
    cost_usd: float
    session_cost_usd: float
    turns: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    trusted: bool
    tool_rules: list[str]  # the project's pre-approved tools ("Always for this project")


class EntryType(StrEnum):
    CLAIMED = "claimed"  # a worker took the run (body: attempt)
    EVENT = "event"  # a durable event (body: kind, fields, at, run row, interaction)
    LOG = "log"  # a line of the run's log (body: kind, summary, at)
    RUN = "run"  # the run's row changed (body: its fields)
    LIVE = "live"  # an ephemeral event: agent text, a tool call (body: kind, fields, at)
    COMMAND_DONE = "command_done"  # a forwarded command was applied (body: command id)
    ALLOW = "allow"  # "Always for this project" (body: rule)
    ENDED = "ended"  # the worker is done with this attempt (body: state)


@dataclass(frozen=True)
class Entry:
    """One relay entry: from ``worker``, about ``run_id``, under ``fence``, number ``seq`` of
    what that worker sent about the run under that fence."""

    worker: str
    run_id: str
    fence: int
    seq: int
    type: EntryType
    body: dict[str, Any]

    def fields(self) -> dict[str, str]:
        return {"worker": self.worker, "run": self.run_id, "fence": str(self.fence),
                "seq": str(self.seq), "type": str(self.type),
                "body": json.dumps(self.body, default=str)}

    @classmethod
    def parse(cls, fields: dict[str, str]) -> Entry:
        """ValueError (or KeyError) for an entry that is not one."""
        return cls(worker=fields["worker"], run_id=fields["run"], fence=int(fields["fence"]),
                   seq=int(fields["seq"]), type=EntryType(fields["type"]),
                   body=dict(json.loads(fields["body"])))


# The columns of a run's row that a worker's relay carries back (never its cwd or branch's
# place on the worker's disk, nor the coordinator's queue bookkeeping).
MIRRORED = ("session_id", "session_started", "started_at", "ended_at", "last_activity_at",
            "turns", "tool_calls", "input_tokens", "output_tokens", "cost_usd",
            "result_text", "error", "last_message", "commits", "changed_files", "model",
            "subagents_started", "subagents_done", "not_before")
# What a run parked on its worker (queued again: a usage limit, a fresh session) goes on with.
PARKED = ("pending_prompt", "session_cost_usd")
# A turn the worker's agent ended well, handed back to the coordinator's follow-up hooks
# (core.runs.follow_ups): carried with the transition that ends the attempt.
TURN = "turn_result"


def command_fields(command_id: int, kind: str, actor: str, **payload: str) -> dict[str, str]:
    """A command forwarded to a worker: its id on the coordinator, kind, who sent it, and
    its payload (a steer's text; an answer's interaction id, answer and who answered)."""
    return {"id": str(command_id), "kind": kind, "actor": actor,
            "payload": json.dumps(payload)}


# The ephemeral events a worker's relay carries (best effort: the coordinator publishes them
# on its bus, never logs them).
EPHEMERAL: dict[str, type[Event]] = {cls.__name__: cls for cls in (
    AgentText, ToolCalled, ApiRetry, TurnFinished, SubagentsChanged, BudgetWarning)}
_WHERE = ("run_id", "project", "at", "seq")


def live_body(event: Event) -> dict[str, Any] | None:
    """An ephemeral event as a relay entry's body; None for one the relay does not carry."""
    kind = type(event).__name__
    if kind not in EPHEMERAL:
        return None
    fields = {k: v for k, v in asdict(event).items() if k not in _WHERE}
    return {"kind": kind, "fields": fields, "at": event.at}


def live_event(body: dict[str, Any], run_id: str, project: str) -> Event:
    """The ephemeral event a relay entry's body describes (ValueError if it is none)."""
    cls = EPHEMERAL.get(str(body.get("kind")))
    if cls is None:
        raise ValueError(f"{body.get('kind')!r} is not an ephemeral event")
    fields = {k: v for k, v in dict(body.get("fields") or {}).items() if k not in _WHERE}
    return cls(run_id=run_id, project=project, at=float(body.get("at") or 0), **fields)
