"""The Messages API wire format of a scripted answer: a JSON message, SSE events, an error."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import TypeAlias

from tests.fakes.scripts import ErrorStep, SlowTextStep, TextStep, ToolStep

JSON = dict[str, object]
Answer: TypeAlias = "TextStep | ToolStep | SlowTextStep"


def _usage(input_tokens: int, output_tokens: int) -> JSON:
    """Realistic usage; the CLI prices it from its own table, so costs are non-zero."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _content(step: TextStep | ToolStep) -> tuple[list[JSON], str]:
    """The content blocks and stop reason of a text or tool step."""
    if isinstance(step, TextStep):
        return [{"type": "text", "text": step.text}], "end_turn"
    blocks: list[JSON] = [{"type": "text", "text": step.text}] if step.text else []
    tool_id = f"toolu_{uuid.uuid4().hex[:24]}"
    blocks.append({"type": "tool_use", "id": tool_id, "name": step.name, "input": step.input})
    return blocks, "tool_use"


def _sse(event: str, data: JSON) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def estimate_tokens(s: str) -> int:
    """About four characters a token, like English text."""
    return max(1, len(s) // 4)


def error_body(step: ErrorStep) -> JSON:
    """The JSON of an API error. Serve it with `x-should-retry: false` so clients fail at once."""
    return {"type": "error", "error": {"type": step.error_type, "message": step.message}}


def message_json(step: Answer, model: str, input_tokens: int) -> JSON:
    """The whole message, for a request without `stream` (a slow text arrives at once)."""
    if isinstance(step, SlowTextStep):
        step = TextStep(step.chunk * max(1, int(step.seconds / step.interval)))
    content, stop_reason = _content(step)
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage(input_tokens, estimate_tokens(json.dumps(content))),
    }


async def stream_events(step: Answer, model: str, input_tokens: int) -> AsyncIterator[bytes]:
    """The SSE events of one streamed message; a slow text paces its deltas."""
    start: JSON = {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(input_tokens, 1),
    }
    yield _sse("message_start", {"type": "message_start", "message": start})
    output = ""
    stop_reason = "end_turn"
    if isinstance(step, SlowTextStep):
        yield _block_start(0, {"type": "text", "text": ""})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + step.seconds
        while loop.time() < deadline:
            output += step.chunk
            yield _text_delta(0, step.chunk)
            await asyncio.sleep(step.interval)  # pacing the stream, not synchronisation
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    else:
        blocks, stop_reason = _content(step)
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                yield _block_start(index, {"type": "text", "text": ""})
                yield _text_delta(index, str(block["text"]))
                output += str(block["text"])
            else:
                yield _block_start(index, {**block, "input": {}})
                partial = json.dumps(block["input"])
                output += partial
                delta = {"type": "input_json_delta", "partial_json": partial}
                yield _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    end: JSON = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": _usage(input_tokens, estimate_tokens(output)),
    }
    yield _sse("message_delta", end)
    yield _sse("message_stop", {"type": "message_stop"})


def _block_start(index: int, block: JSON) -> bytes:
    return _sse(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def _text_delta(index: int, s: str) -> bytes:
    delta = {"type": "text_delta", "text": s}
    return _sse(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )
