"""The status page as an installable app: its manifest, service worker and offline page.

Public routes (they hold nothing private), listed before the page's own."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
