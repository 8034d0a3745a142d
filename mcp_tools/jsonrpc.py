"""Checking each JSON-RPC message that reaches Gluon over MCP, before the MCP SDK sees it.

The SDK drops some messages it cannot decode without a word (on stdio every one of them; over
HTTP a request whose id is not a string or an integer passes as a notification), which leaves
the client waiting for an answer forever. Here every message is decoded once, strictly: what
is not a single, well-formed JSON-RPC 2.0 message gets an error response right away, a parse
error (-32700) when the bytes are not JSON and an invalid request (-32600) when the JSON is not
a message, with the request's id whenever it can be read, and a message of one line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from mcp import types
from pydantic import ValidationError

PARSE_ERROR = types.PARSE_ERROR
INVALID_REQUEST = types.INVALID_REQUEST
INVALID_PARAMS = types.INVALID_PARAMS
INTERNAL_ERROR = types.INTERNAL_ERROR

# JSON numbers beyond this lose precision in many clients (JavaScript's Number.MAX_SAFE_INTEGER),
# so such an id could not be matched with its response.
MAX_ID = 2**53 - 1

RequestId = int | str


@dataclass(frozen=True)
class Rejected:
    """A message that is answered with an error instead of being handled."""

    id: RequestId | None
    code: int
    message: str

    def response(self) -> types.JSONRPCError:
        return types.JSONRPCError(jsonrpc="2.0", id=self.id,
                                  error=types.ErrorData(code=self.code, message=self.message))

    def to_json(self) -> bytes:
        return encode(self.response())


def encode(message: types.JSONRPCMessage) -> bytes:
    return message.model_dump_json(by_alias=True, exclude_unset=True).encode()


def encode_reply(message: types.JSONRPCMessage) -> bytes:
    """The wire form of an outgoing message. One that cannot be encoded (text with a lone
    surrogate in a result) becomes an error response to its request instead of being lost."""
    try:
        return encode(message)
    except ValueError as exc:
        if not isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
            raise
        return Rejected(message.id, INTERNAL_ERROR,
                        f"the response could not be encoded as JSON: {_one_line(exc)}").to_json()


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _NotJson(ValueError):
    """NaN and Infinity, which Python's json accepts and JSON does not."""


def _reject_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value")


def valid_id(value: object) -> bool:
    if isinstance(value, str):
        return True
    return type(value) is int and -MAX_ID <= value <= MAX_ID


def _bad_text(value: object, depth: int = 0) -> str | None:
    """The first string in ``value`` that is not valid Unicode (a lone surrogate), if any."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return ascii(value[exc.start:exc.end])
        return None
    if isinstance(value, dict):
        items: list[object] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = list(value)
    else:
        return None
    for item in items:
        found = _bad_text(item, depth + 1)
        if found is not None:
            return found
    return None


def decode(data: bytes) -> types.JSONRPCMessage | Rejected:
    """One message from the bytes of one stdio line or one HTTP body."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(None, PARSE_ERROR, f"Parse error: the message is not UTF-8 text (byte "
                        f"0x{data[exc.start]:02x} at offset {exc.start})")
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return Rejected(None, PARSE_ERROR, "Parse error: the JSON is nested too deeply")
    except (json.JSONDecodeError, _NotJson) as exc:
        return Rejected(None, PARSE_ERROR, f"Parse error: {_one_line(exc)}")
    except ValueError:  # an integer with more digits than Python converts
        return Rejected(None, PARSE_ERROR, "Parse error: a number has too many digits")
    return check(parsed)


def check(parsed: object) -> types.JSONRPCMessage | Rejected:
    """A decoded JSON value as a JSON-RPC message, or why it is not one."""
    if isinstance(parsed, list):
        return Rejected(None, INVALID_REQUEST, "Invalid request: batches are not supported; "
                        "send one JSON-RPC message at a time")
    if not isinstance(parsed, dict):
        return Rejected(None, INVALID_REQUEST, "Invalid request: a JSON-RPC message is a JSON "
                        f"object, not {type(parsed).__name__}")
    has_id = "id" in parsed
    raw_id = parsed.get("id")
    if has_id and not valid_id(raw_id):
        if isinstance(raw_id, float) and math.isfinite(raw_id) and raw_id.is_integer() \
                and abs(raw_id) <= MAX_ID:
            raw_id = int(raw_id)  # 3.0 is the integer 3 in JSON
            parsed = {**parsed, "id": raw_id}
        else:
            shown = repr(raw_id) if len(repr(raw_id)) <= 40 else repr(raw_id)[:37] + "..."
            return Rejected(None, INVALID_REQUEST, "Invalid request: the id must be a string or "
                            f"an integer of at most {MAX_ID} (got {shown})")
    request_id = raw_id if has_id else None
    bad = _bad_text(parsed)
    if bad is not None:
        return Rejected(request_id, INVALID_REQUEST, "Invalid request: text must be valid "
                        f"Unicode (found the lone surrogate {bad})")
    if parsed.get("jsonrpc") != "2.0":
        return Rejected(request_id, INVALID_REQUEST,
                        'Invalid request: "jsonrpc" must be "2.0"')
    if "method" in parsed:
        if not isinstance(parsed["method"], str):
            return Rejected(request_id, INVALID_REQUEST,
                            'Invalid request: "method" must be a string')
        if parsed.get("params") is not None and not isinstance(parsed["params"], dict):
            return Rejected(request_id, INVALID_PARAMS,
                            'Invalid params: "params" must be an object')
    elif not has_id or ("result" not in parsed and "error" not in parsed):
        return Rejected(request_id, INVALID_REQUEST,
                        'Invalid request: a request needs "method" (and "id")')
    try:
        message = types.jsonrpc_message_adapter.validate_python(parsed, by_name=False)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        return Rejected(request_id, INVALID_REQUEST,
                        f"Invalid request: {where}: {_one_line(ValueError(first['msg']))}")
    return message
