"""People in the loop for one live run: the agent's permission requests and questions.

A request is recorded as an interaction (so any surface can answer it, even after a restart)
and the agent's tool call waits, without a time limit, until a person answers. The answer is
recorded on the interaction; what wakes the waiting call is the answer command on the run's
channel (:mod:`core.runs.commands`), so an answer from any process reaches it. Nothing here
ever answers on a person's behalf.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from core.agent.session import Decision
from core.models import Interaction, Run
from core.runs.interactions import QUESTION_TOOL
from core.runs.port import SupervisorPort
from core.types import InteractionKind, InteractionStatus, PermissionChoice, RunState

SetState = Callable[[RunState, str], Awaitable[None]]


class PermissionGate:
    def __init__(self, port: SupervisorPort, run: Run, set_state: SetState,
                 state: Callable[[], RunState], closing: Callable[[], bool]) -> None:
        self.port = port
        self.run_id, self.project = run.id, run.project
        self._set_state, self._state, self._closing = set_state, state, closing
        self._allowed_for_run: set[str] = set()
        self._parked: dict[str, asyncio.Future[Interaction]] = {}
        self._born: float | None = None

    @property
    def parked(self) -> int:
        """How many of the agent's tool calls wait for a person right now."""
        return len(self._parked)

    def open(self, at: float) -> None:
        """The agent of this life of the run starts now; requests older than ``at`` were
        asked by an agent that is gone."""
        self._born = at

    async def decide(self, tool: str, tool_input: dict[str, Any],
                     tool_use_id: str | None) -> Decision:
        """The agent's ``can_use_tool``: allowed already, or ask a person and wait."""
        if self._closing():
            return Decision(allow=False, message="Gluon is stopping this run.")
        if tool != QUESTION_TOOL and tool in self._allowed_for_run:
            return Decision(allow=True)
        interaction = await self.port.interactions.create(self.run_id, self.project, tool,
                                                          tool_input)
        future = asyncio.get_running_loop().create_future()
        self._parked[interaction.id] = future
        try:
            if len(self._parked) == 1:
                await self._set_state(RunState.WAITING, f"waiting for an answer: "
                                      f"{interaction.title}"[:300])
            # Answered from elsewhere before it was parked here: its command may be gone by.
            current = await self.port.interactions.get(interaction.id)
            if current.status is InteractionStatus.ANSWERED and not future.done():
                future.set_result(current)
            await asyncio.wait({future})
        finally:
            self._parked.pop(interaction.id, None)
        if future.cancelled():
            return Decision(allow=False, message="The run was stopped before anyone answered.")
        answered = future.result()
        if not self._parked and self._state() is RunState.WAITING:
            await self._set_state(RunState.RUNNING, f"answered by {answered.answered_by}")
        await self.port.store.add_event(self.run_id, "answer",
                                        f"{answered.answered_by}: {answered.answer}")
        return await self._decision(interaction, answered, tool, tool_input)

    async def _decision(self, interaction: Interaction, answered: Interaction, tool: str,
                        tool_input: dict[str, Any]) -> Decision:
        if interaction.kind is InteractionKind.QUESTION:
            questions = tool_input.get("questions") or []
            answers = {str(q.get("question", "")): answered.answer for q in questions}
            return Decision(allow=True, updated_input={**tool_input, "answers": answers})
        choice = PermissionChoice(answered.answer)
        if choice is PermissionChoice.DENY:
            return Decision(allow=False, message=f"{answered.answered_by} denied this.")
        if choice is PermissionChoice.ALLOW_RUN:
            self._allowed_for_run.add(tool)
        elif choice is PermissionChoice.ALLOW_PROJECT:
            self._allowed_for_run.add(tool)
            await self.port.allow_for_project(self.project, tool)
        return Decision(allow=True)

    async def answered(self, interaction_id: str) -> Interaction | None:
        """An answer command came: wake the tool call waiting for it. The answered request
        when it was asked by an agent that is gone (its Gluon stopped), so the answer goes to
        this agent as a follow-up message (see :func:`follow_up`); else None."""
        future = self._parked.get(interaction_id)
        interaction = await self.port.interactions.get(interaction_id)
        if interaction.run_id != self.run_id or interaction.status is not \
                InteractionStatus.ANSWERED:
            return None
        if future is not None:
            if not future.done():
                future.set_result(interaction)
            return None
        if self._born is None or interaction.created_at >= self._born:
            return None  # being parked right now: it reads the answer itself
        return interaction

    def close(self) -> None:
        """The run is ending: every waiting tool call is refused."""
        for future in self._parked.values():
            future.cancel()


def follow_up(answered: Interaction) -> str:
    """The message that tells an agent the answer to a request its predecessor asked."""
    return told(answered.title, str(answered.answer))


def told(title: str, answer: str) -> str:
    """:func:`follow_up` for the request titled ``title``, answered ``answer``."""
    return f"While you were stopped, the user answered your request '{title}': {answer}"
