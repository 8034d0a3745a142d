"""The subagents of a run's agent (its ``Task`` tool): how many started and stopped, which are
still running.

The counts are kept with the run (``subagents_started``, ``subagents_done``) and published on
the bus, so the chat's run card and the status page show them while the run goes on. Which
subagents are live belongs to one agent session: the run's supervisor does not call the run
finished while any is (a subagent may run in the background, after the turn that started it
ended; see :meth:`core.runs.supervisor.RunSupervisor._on_result`).
"""

from __future__ import annotations

import time

from core.agent.session import AgentSubagent
from core.events.bus import SubagentsChanged
from core.models import Run
from core.runs.port import SupervisorPort


class Subagents:
    def __init__(self, port: SupervisorPort, run: Run) -> None:
        self.port = port
        self.started = run.subagents_started  # the run's counts, from earlier sessions on
        self.done = run.subagents_done
        self._live: set[str] = set()

    @property
    def live(self) -> int:
        return len(self._live)

    def waiting(self) -> str:
        """The run's state reason while its agent's turn ended but subagents still run."""
        return f"waiting for {self.live} subagent{'s' if self.live != 1 else ''}"

    async def record(self, run: Run, event: AgentSubagent) -> None:
        """Count a subagent's start or stop, on the run and for whoever follows it."""
        if event.started:
            if event.agent_id in self._live:
                return
            self._live.add(event.agent_id)
            self.started += 1
            what = "started"
        else:
            if event.agent_id not in self._live:
                return  # one this session did not see start: not ours to count
            self._live.discard(event.agent_id)
            self.done += 1
            what = "done"
        store = self.port.store
        await store.update(run.id, subagents_started=self.started,
                           subagents_done=self.done, last_activity_at=time.time())
        await store.add_event(run.id, "subagent",
                              f"{event.agent_type or 'a'} subagent {what}")
        self.port.bus.publish(SubagentsChanged(run_id=run.id, project=run.project,
                                               agent_type=event.agent_type,
                                               started=self.started, done=self.done,
                                               live=self.live))
