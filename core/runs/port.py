"""What a run's supervisor needs from the Gluon that executes it, and nothing more.

The run manager implements it today; an executor elsewhere (a ``gluon worker``) would too. The
supervisor never reaches further than this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from core.agent.redact import Redactor
from core.agent.session import AgentRunner, AgentSpec
from core.budget.usage import Usage
from core.config import Config
from core.events.bus import EventBus
from core.models import Run
from core.runs.commands import CommandChannel
from core.runs.follow_ups import FollowUpHook
from core.runs.images import AgentImages
from core.runs.interactions import Interactions
from core.runs.store import RunStore
from core.types import RunState


class SupervisorPort(Protocol):
    @property
    def config(self) -> Config: ...

    @property
    def environ(self) -> dict[str, str]:
        """The executing Gluon's environment (where the model API is, for messages)."""
        ...

    @property
    def store(self) -> RunStore: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def usage(self) -> Usage: ...

    @property
    def interactions(self) -> Interactions: ...

    @property
    def commands(self) -> CommandChannel: ...

    @property
    def runner(self) -> AgentRunner: ...

    @property
    def follow_ups(self) -> Sequence[FollowUpHook]:
        """What the features built on runs say when a turn ends well (core.runs.follow_ups)."""
        ...

    @property
    def images(self) -> AgentImages:
        """Announces the images the agent saved, after each turn."""
        ...

    @property
    def redact(self) -> Redactor:
        """Masks the executing Gluon's secrets in what the agent sends."""
        ...

    async def transition(self, run_id: str, new: RunState, reason: str,
                         **fields: Any) -> Run:
        """Move the run to ``new`` (recorded, and published on the bus)."""
        ...

    async def prepare_worktree(self, run: Run) -> Run:
        """Give the run its worktree (and its base commit, if it has none yet)."""
        ...

    async def agent_spec(self, run: Run, *, resume: bool, fork_from: str | None,
                         stderr: TextIO) -> AgentSpec: ...

    async def agent_started(self, run: Run) -> None: ...

    async def note(self, run: Run, source: str, text: str) -> None:
        """Tell the people who follow ``run`` something (shown in its chat, kept)."""
        ...

    async def allow_for_project(self, project: str, rule: str) -> None: ...
