"""Runs executed elsewhere: the port through which the run manager hands a run that passed the
gate to ``gluon worker`` processes (``[cluster] run_on = "workers"``) instead of running its
supervisor here. The cluster package implements it; the run layer never imports it."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from core.models import Run


class RemoteExecution(Protocol):
    def supervise(self, run: Run) -> Coroutine[Any, Any, None]:
        """Dispatch ``run`` to the workers and return once the worker executing it is done
        with this attempt (the run's state is then what that worker recorded). Cancelled (this
        Gluon stops), it leaves the run to its worker, for the next start to wait for again."""
        ...

    async def receive(self, run_id: str) -> None:
        """Bring the run's branch into the user's repository as its worker last pushed it
        (after every turn), so a fork of a live run starts from its last turn's work."""
        ...

    async def executing(self, run_id: str) -> bool:
        """Whether a worker executes the run, or is to take it: a Gluon that starts again
        waits for such a run rather than recovering it."""
        ...
