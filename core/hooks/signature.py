"""Signed deliveries: ``sha256=<hex HMAC-SHA256 of the raw body>``, as GitHub signs webhooks.

The HMAC is always computed over the bytes received, never over re-serialised JSON, and compared
in constant time. A leaf module.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` with ``secret`` (constant time)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def same_token(secret: str, given: str | None) -> bool:
    """Whether a bearer token is ``secret`` (constant time)."""
    if not given or not secret:
        return False
    return hmac.compare_digest(secret.encode(), given.strip().encode())
