"""Who calls a tool that an in-process surface (a chat orchestrator) calls.

A process has one MCP server: it serves ``/mcp`` over HTTP and the in-process client of every
chat orchestrator. A chat call therefore says who is calling itself: the orchestrator registers
the speaker as a :class:`Caller` under a random key for the duration of one call, and the call
carries that key in its ``_meta``. A call without a key is resolved as before (the process's own
caller, labelled by ``X-Gluon-Actor`` over HTTP); a call with a key nobody registered is a
viewer's, so a stale or forged key never grants more than reading.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

from mcp.server.mcpserver import Context

from core.types import Role
from mcp_tools.registry import Caller, resolve_default

CALLER_META = "gluon/caller"
"""The ``_meta`` key of a call that names its registered caller."""


class Callers:
    """The callers of the tool calls in flight from in-process surfaces, by key."""

    def __init__(self) -> None:
        self._by_key: dict[str, Caller] = {}

    @contextlib.contextmanager
    def bound(self, caller: Caller) -> Iterator[str]:
        """A key naming ``caller`` until the block ends: pass it as ``_meta[CALLER_META]``."""
        key = secrets.token_hex(12)
        self._by_key[key] = caller
        try:
            yield key
        finally:
            del self._by_key[key]

    def resolve(self, ctx: Context) -> Caller:
        try:
            meta: Mapping[str, Any] = ctx.request_context.meta or {}
        except ValueError:  # not inside a request
            meta = {}
        key = meta.get(CALLER_META)
        if key is None:
            return resolve_default(ctx)
        return self._by_key.get(str(key)) or Caller("unknown", Role.VIEWER)
