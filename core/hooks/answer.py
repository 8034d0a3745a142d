"""What a webhook endpoint answers: an HTTP status and one line, decided in core.

A leaf module. Request headers reach core as a mapping with lower-case names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

Headers = Mapping[str, str]
MAX_BODY = 25 * 1024 * 1024  # GitHub's limit for a payload


@dataclass(frozen=True)
class Answer:
    status: int  # 200 taken or replayed, 202 queued (or seen and ignored), 4xx refused
    message: str
    queued: bool = False


def delivery_id(value: str) -> str:
    """A sender's delivery id as Gluon keeps it: printable, at most 128 characters."""
    return "".join(c for c in value.strip() if c.isprintable())[:128]


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
