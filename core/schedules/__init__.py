"""Schedules: prompts run on a project at the times a cron expression names.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.schedules.service import Fire as Fire
    from core.schedules.service import Schedules as Schedules
    from core.schedules.service import ScheduleView as ScheduleView
    from core.schedules.types import Overlap as Overlap
    from core.schedules.types import Schedule as Schedule

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Fire": "service",
    "Schedules": "service",
    "ScheduleView": "service",
    "Overlap": "types",
    "Schedule": "types",
})
