"""The services outside this machine that a test must never reach: the real model APIs and chat
platforms (and GitHub). Tests talk to the fakes in ``tests/fakes/``; a test that would resolve one
of these hosts fails at once, naming it, instead of hanging or, on a machine with a network,
spending real money or posting to a real chat.

The guard works where names are resolved (``socket.getaddrinfo``, which httpx, aiohttp and
asyncio all go through), so it covers the anthropic SDK, python-telegram-bot and discord.py in
the test process. Agents and ``gluon`` subprocesses are pointed at the fakes by the tests' own
configuration (``anthropic.base_url``, the bots' base URLs).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

OUTSIDE = ("anthropic.com", "claude.ai", "telegram.org", "discord.com", "discordapp.com",
           "discord.gg", "discordapp.net", "github.com", "githubusercontent.com",
           "amazonaws.com", "googleapis.com", "openai.com", "groq.com")


class OutsideWorld(AssertionError):
    pass


def is_outside(host: object) -> bool:
    name = (host.decode() if isinstance(host, bytes) else str(host or "")).lower().rstrip(".")
    return any(name == domain or name.endswith("." + domain) for domain in OUTSIDE)


def guarded(real: Callable[..., Any]) -> Callable[..., Any]:
    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if is_outside(host):
            raise OutsideWorld(f"a test tried to reach {host!r}, a service outside this machine; "
                               "point it at a fake in tests/fakes/ instead")
        return real(host, *args, **kwargs)
    return getaddrinfo


def install(patch: Callable[[object, str, object], None]) -> None:
    """Guard name resolution through ``patch`` (pytest's ``monkeypatch.setattr``)."""
    patch(socket, "getaddrinfo", guarded(socket.getaddrinfo))
