"""The board's panels, in the order shown. A panel is a small module with a ``PANEL``
(:class:`web.panels.base.Panel`) and a template under ``web/templates/panels/``; adding one
is adding it here."""

from web.panels import activity, merges, needs_you, queue, schedules, usage, workers
from web.panels.base import Panel

PANELS: list[Panel] = [needs_you.PANEL, queue.PANEL, merges.PANEL, schedules.PANEL,
                       workers.PANEL, activity.PANEL, usage.PANEL]
