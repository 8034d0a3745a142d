"""Webhooks: deliveries to ``POST /hooks/<name>`` (GitHub's and generic ones), stored once,
answered at once, then worked through in order.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.hooks.answer import Answer as Answer
    from core.hooks.service import Webhooks as Webhooks
    from core.hooks.store import Delivery as Delivery
    from core.hooks.store import DeliveryState as DeliveryState
    from core.hooks.store import DeliveryStore as DeliveryStore

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Answer": "answer",
    "Delivery": "store",
    "DeliveryState": "store",
    "DeliveryStore": "store",
    "Webhooks": "service",
})
