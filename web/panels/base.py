"""What a panel of the board is: a title, a template, and the data it shows.

A panel loads its data from core services (:attr:`Panel.load`) for a :class:`View` (the
runtime and the board's filters) and names the events that change it (:attr:`refresh_on`);
the board renders it at first and again, live, after each such event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.events.log import DURABLE
from core.models import Run
from core.runtime import Runtime

ALL_EVENTS = frozenset(DURABLE)


@dataclass(frozen=True)
class View:
    """What the board shows: the runtime, and its filters (a project, a person who started
    runs)."""

    runtime: Runtime
    project: str | None = None
    person: str | None = None

    def shows(self, run: Run) -> bool:
        return ((self.project is None or run.project == self.project)
                and (self.person is None or run.created_by == self.person))


@dataclass(frozen=True)
class Panel:
    id: str  # the element's id is "panel-<id>"
    title: str
    template: str  # under web/templates; it gets the loaded data, ``csrf`` and ``me``
    load: Callable[[View], Awaitable[dict[str, Any]]]
    refresh_on: frozenset[str] = ALL_EVENTS  # names of durable events (core.events.log)
    filtered: bool = False  # whether its data depends on the board's filters
    top: bool = False  # shown above the columns (what a person must act on), not below
    shown: Callable[[Runtime], bool] | None = None  # only where this says so (None: always)

    def shown_by(self, runtime: Runtime) -> bool:
        return self.shown is None or self.shown(runtime)
