"""Asking the model API whether it accepts a key, with the cheapest authenticated request
there is: counting the tokens of a one-word message (free, and nothing is generated).

Blocking (``urllib``), for `gluon doctor`, which runs its checks in a thread.
"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

TIMEOUT_SECONDS = 5.0
API_VERSION = "2023-06-01"


@dataclass(frozen=True)
class ProbeAnswer:
    status: int | None = None  # the HTTP status of the answer
    error: str = ""  # "type: message" of an error answer
    unreachable: str | None = None  # why no answer came, if none did


def _reason(exc: BaseException, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, socket.gaierror):
        return "its host name was not found"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed: {reason.reason or reason}"
    return " ".join(str(reason).split())[:150] or type(reason).__name__


def _error_of(body: bytes, secrets: list[str]) -> str:
    try:
        error = json.loads(body).get("error") or {}
        text = f"{error.get('type', 'error')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        text = body.decode("utf-8", "replace")
    text = " ".join(text.split())[:150]
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def try_credentials(base_url: str, *, api_key: str | None, auth_token: str | None,
                    model: str, timeout: float = TIMEOUT_SECONDS) -> ProbeAnswer:
    """POST ``/v1/messages/count_tokens`` with the key (``x-api-key``) or the auth token
    (``Authorization: Bearer``), as the Claude Code CLI would send them."""
    headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
    if api_key:
        headers["x-api-key"] = api_key
    if auth_token:
        headers["authorization"] = f"Bearer {auth_token}"
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    request = urllib.request.Request(f"{base_url.rstrip('/')}/v1/messages/count_tokens",
                                     data=body.encode(), headers=headers, method="POST")
    secrets = [s for s in (api_key, auth_token) if s]
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return ProbeAnswer(status=response.status)
    except urllib.error.HTTPError as exc:
        return ProbeAnswer(status=exc.code, error=_error_of(exc.read(), secrets))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return ProbeAnswer(unreachable=_reason(exc, timeout))
