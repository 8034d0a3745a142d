"""Events: the lossy in-memory bus for live progress, and the durable log read from cursors.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.events.bus import AgentText as AgentText
    from core.events.bus import ApiRetry as ApiRetry
    from core.events.bus import BudgetWarning as BudgetWarning
    from core.events.bus import Event as Event
    from core.events.bus import EventBus as EventBus
    from core.events.bus import InteractionAnswered as InteractionAnswered
    from core.events.bus import InteractionRequested as InteractionRequested
    from core.events.bus import RunComment as RunComment
    from core.events.bus import RunStateChanged as RunStateChanged
    from core.events.bus import SubagentsChanged as SubagentsChanged
    from core.events.bus import Subscription as Subscription
    from core.events.bus import ToolCalled as ToolCalled
    from core.events.bus import TurnFinished as TurnFinished
    from core.events.log import Consumer as Consumer
    from core.events.log import EventLog as EventLog
    from core.events.log import Page as Page
    from core.events.store import EventStore as EventStore

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Event": "bus",
    "EventBus": "bus",
    "Subscription": "bus",
    "RunStateChanged": "bus",
    "RunComment": "bus",
    "AgentText": "bus",
    "ToolCalled": "bus",
    "ApiRetry": "bus",
    "InteractionRequested": "bus",
    "InteractionAnswered": "bus",
    "TurnFinished": "bus",
    "SubagentsChanged": "bus",
    "BudgetWarning": "bus",
    "EventLog": "log",
    "Consumer": "log",
    "Page": "log",
    "EventStore": "store",
})
