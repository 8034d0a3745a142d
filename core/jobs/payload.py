"""Checks of what goes into the queue, shared by both backends, and the payload's JSON form.

Payloads are stored in plain text (the SQLite file, Redis' memory and its append-only file) and
shown by ``get``/``list``, so a secret must never be in one. Keys named like a secret and values
shaped like a well-known credential are refused with a message saying what to pass instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import cast

from core.errors import InvalidInput
from core.jobs.types import Json

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_ERROR_CHARS = 4000
PRIORITIES = range(-100, 101)

_KIND = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
_SECRET_KEY = re.compile(
    r"(^|[_\-.])(token|secret|secrets|password|passwd|passphrase|api[_\-]?key|apikey|"
    r"authorization|auth[_\-]?header|credentials?|private[_\-]?key|cookie)($|[_\-.])",
    re.IGNORECASE)
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")  # githubToken -> github_Token
# Prefixes of credentials Gluon handles: Anthropic keys, GitHub tokens, Slack-style bot tokens.
_SECRET_VALUE = re.compile(r"^(sk-ant-|ghp_|gho_|ghs_|ghu_|ghr_|github_pat_|xox[abpr]-)")


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InvalidInput(f"job kind {kind!r} is not valid; use 1-64 lower-case letters, "
                           "digits and _ . : - starting with a letter (e.g. 'run.start')")
    return kind


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > 200 or not key.isprintable():
        raise InvalidInput(f"job key {key!r} is not valid; use 1-200 printable characters "
                           "naming what the job is (e.g. 'cron:nightly:2025-01-01T00:00')")
    return key


def check_priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) \
            or priority not in PRIORITIES:
        raise InvalidInput(f"job priority {priority!r} is not valid; use a whole number from "
                           f"{PRIORITIES.start} to {PRIORITIES.stop - 1} (higher runs first)")
    return priority


def check_worker(worker: str) -> str:
    if not isinstance(worker, str) or not worker or len(worker) > 200 \
            or not worker.isprintable():
        raise InvalidInput(f"worker name {worker!r} is not valid; use 1-200 printable "
                           "characters (e.g. the host name and process id)")
    return worker


def check_lease_seconds(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) \
            or not math.isfinite(seconds) or not 0.001 <= seconds <= 86_400:
        raise InvalidInput(f"lease of {seconds!r} seconds is not valid; use from 0.001 to "
                           "86400 seconds")
    return float(seconds)


def check_time(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise InvalidInput(f"{name} {value!r} is not valid; use seconds since the epoch "
                           "(time.time())")
    return float(value)


def clip_error(error: str) -> str:
    """A failure's text as kept with the job: one string, at most MAX_ERROR_CHARS."""
    text = str(error)
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"


def encode_payload(payload: Mapping[str, Json]) -> str:
    """The payload as compact JSON; InvalidInput when it is not a JSON object, holds a secret
    or is too large."""
    if not isinstance(payload, Mapping):
        raise InvalidInput(f"a job payload must be a JSON object (a dict), not "
                           f"{type(payload).__name__}")
    _refuse_secrets(payload, "")
    try:
        text = json.dumps(dict(payload), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"a job payload must be plain JSON (str, number, bool, None, "
                           f"list, dict with str keys): {exc}") from None
    if len(text) > MAX_PAYLOAD_BYTES:  # ASCII: one byte a character
        raise InvalidInput(f"a job payload is {len(text)} bytes, more than "
                           f"{MAX_PAYLOAD_BYTES}; store large data elsewhere and pass its id")
    return text


def decode_payload(text: str) -> dict[str, Json]:
    value = json.loads(text)
    assert isinstance(value, dict), "a stored payload is always a JSON object"
    return cast(dict[str, Json], value)


def _refuse_secrets(value: object, path: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"job payload key {key!r} at {path or 'the top'} is not a "
                                   "string; JSON objects have string keys")
            where = f"{path}.{key}" if path else key
            if _SECRET_KEY.search(_CAMEL.sub(r"\1_\2", key)):
                raise InvalidInput(
                    f"job payload key {where!r} looks like a secret; payloads are stored in "
                    "plain text, so pass the name of the config key or environment variable "
                    "that holds it instead")
            _refuse_secrets(item, where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_secrets(item, f"{path}[{index}]")
    elif isinstance(value, str) and _SECRET_VALUE.match(value):
        raise InvalidInput(f"job payload value at {path!r} looks like a credential; payloads "
                           "are stored in plain text, so pass the name of the config key or "
                           "environment variable that holds it instead")
