"""How the status page acts: through the same tools as chat, behind a small port.

The page never changes anything itself. Whatever a person does on it (answer a question,
cancel or merge a run, ...) becomes a call of one of Gluon's tools, made as that person with
their role now, so the roles, the confirmation of destructive tools and the audit log apply
exactly as they do in chat. The composition root (``bots.web``) implements :class:`Actions`
over the process's MCP server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from core.access.web import WebSession


@dataclass(frozen=True)
class ActionResult:
    """What a tool call did: ``ok`` with its structured result in ``data``, or not, with the
    one line saying why in ``text``. ``held_preview`` is set (and ``ok`` false) when the tool
    is destructive and waits for the person to confirm: it says what the call would do."""

    ok: bool
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    held_preview: str | None = None


class Actions(Protocol):
    async def call(self, tool: str, arguments: dict[str, Any], who: WebSession, *,
                   confirmed: bool = False) -> ActionResult:
        """Call ``tool`` as ``who``. A destructive tool called without ``confirmed`` is held:
        nothing happens and the result carries its preview."""
        ...
