"""Odd input over MCP, on stdio (`gluon mcp` as a subprocess, raw bytes on its stdin) and on
HTTP (raw bodies POSTed to /mcp): every message gets an answer, so no client waits forever,
and every answer is a result or an error of one line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from bots.app import build_app
from bots.http_server import HttpServer
from core.runtime import Runtime
from mcp_tools.http import server_token
from mcp_tools.server import build_server

GLUON = str(Path(sys.executable).parent / "gluon")
PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602
PROTOCOL = "2025-06-18"
INIT = {"jsonrpc": "2.0", "id": "init", "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                   "clientInfo": {"name": "odd", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}

PING = b'{"jsonrpc":"2.0","id":%d,"method":"ping"}'
# (raw message, the error code it must get, the id the error must carry)
UNDECODABLE: list[tuple[bytes, int, int | str | None]] = [
    (b"{not json", PARSE_ERROR, None),
    (b'\xff\xfe{"jsonrpc":"2.0","id":1,"method":"ping"}', PARSE_ERROR, None),
    (b'{"jsonrpc":"2.0","id":"caf\xe9","method":"ping"}', PARSE_ERROR, None),
    (b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"ping"}', PARSE_ERROR, None),
    (b'{"jsonrpc":"2.0","id":NaN,"method":"ping"}', PARSE_ERROR, None),
    (b"[" * 100_000, PARSE_ERROR, None),
    (b'{"jsonrpc":"2.0","id":2,"method":"ping"', PARSE_ERROR, None),
    (b'[{"jsonrpc":"2.0","id":3,"method":"ping"}]', INVALID_REQUEST, None),
    (b"[]", INVALID_REQUEST, None),
    (b"42", INVALID_REQUEST, None),
    (b'"ping"', INVALID_REQUEST, None),
    (b"null", INVALID_REQUEST, None),
    (b"{}", INVALID_REQUEST, None),
    (b'{"jsonrpc":"2.0","id":4}', INVALID_REQUEST, 4),
    (b'{"jsonrpc":"1.0","id":5,"method":"ping"}', INVALID_REQUEST, 5),
    (b'{"id":6,"method":"ping"}', INVALID_REQUEST, 6),
    (b'{"jsonrpc":"2.0","id":"seven","method":7}', INVALID_REQUEST, "seven"),
    (b'{"jsonrpc":"2.0","id":8,"method":"tools/list","params":[1]}', INVALID_PARAMS, 8),
    (b'{"jsonrpc":"2.0","id":' + b"9" * 40 + b',"method":"ping"}', INVALID_REQUEST, None),
    (b'{"jsonrpc":"2.0","id":1e400,"method":"ping"}', INVALID_REQUEST, None),
    (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', INVALID_REQUEST, None),
    (b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', INVALID_REQUEST, None),
    (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', INVALID_REQUEST, None),
    (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', INVALID_REQUEST, None),
    (b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get_run",'
     b'"arguments":{"run":"\\ud800"}}}', INVALID_REQUEST, 9),
]

# Text a person or a model may send in any argument.
ODD_TEXTS = ["", "a\u0000b", "line\nbreak\r\n", "\u202egnp.exe", "😀" * 500, "x" * 20_000,
             "'; DROP TABLE runs; --", "../../../../etc/passwd", "\ufeff\u200b\U0010ffff",
             "\x1b[31m<script>%s%n{0}", "-1", "~/.ssh/id_rsa"]

Send = Callable[[bytes], Awaitable[dict[str, Any]]]


def assert_error(answer: dict[str, Any], code: int, request_id: int | str | None) -> None:
    assert answer.get("jsonrpc") == "2.0", answer
    assert answer["id"] == request_id, answer
    assert answer["error"]["code"] == code, answer
    message = answer["error"]["message"]
    assert message and "\n" not in message and len(message) < 300, message


def placeholder(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A value of the right type for a parameter the test is not varying."""
    if "$ref" in schema:
        return placeholder(defs[schema["$ref"].split("/")[-1]], defs)
    if "anyOf" in schema:
        return placeholder(schema["anyOf"][0], defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    values: dict[str, Any] = {"string": "x", "integer": schema.get("minimum", 1),
                              "number": schema.get("minimum", 1), "boolean": False,
                              "array": [], "object": {}, "null": None}
    return values.get(str(kind))


def takes_text(schema: dict[str, Any], defs: dict[str, Any]) -> bool:
    if "$ref" in schema:
        return takes_text(defs[schema["$ref"].split("/")[-1]], defs)
    if schema.get("type") == "string" and "enum" not in schema:
        return True
    return any(takes_text(s, defs) for s in schema.get("anyOf", []))


def odd_calls(tools: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every tool with each odd text in each of its text parameters."""
    calls = []
    for tool in tools:
        schema = tool["inputSchema"]
        defs = schema.get("$defs", {})
        props: dict[str, Any] = schema.get("properties", {})
        base = {k: placeholder(v, defs) for k, v in props.items()
                if k in schema.get("required", [])}
        for name, prop in props.items():
            if takes_text(prop, defs):
                calls += [(tool["name"], {**base, name: text}) for text in ODD_TEXTS]
    return calls


async def check_everything_is_answered(send: Send) -> None:
    for raw, code, request_id in UNDECODABLE:
        assert_error(await send(raw), code, request_id)
    listed = await send(b'{"jsonrpc":"2.0","id":"list","method":"tools/list"}')
    calls = odd_calls(listed["result"]["tools"])
    assert len(calls) > 100
    for n, (tool, arguments) in enumerate(calls):
        request = {"jsonrpc": "2.0", "id": n, "method": "tools/call",
                   "params": {"name": tool, "arguments": arguments}}
        answer = await send(json.dumps(request).encode())
        assert answer["id"] == n, (tool, arguments, answer)
        if "error" in answer:
            assert_error(answer, answer["error"]["code"], n)
            continue
        result = answer["result"]
        if result.get("isError"):
            text = " ".join(c.get("text", "") for c in result["content"])
            assert text.strip() and "\n" not in text and "Traceback" not in text, (
                tool, arguments, text)
            assert " failed: " not in text, (tool, arguments, text)  # no unexpected failure
    assert (await send(PING % 10**6))["result"] == {}


# -- stdio ---------------------------------------------------------------------------------


async def start_gluon_mcp(tmp_path: Path) -> asyncio.subprocess.Process:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "GLUON_HOME": str(tmp_path / "home"), "GLUON_SERVER_PORT": "0",
           "ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": "http://127.0.0.1:1"}
    return await asyncio.create_subprocess_exec(
        GLUON, "mcp", cwd=tmp_path, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, limit=2**24)


@asynccontextmanager
async def gluon_mcp(tmp_path: Path) -> AsyncIterator[Send]:
    proc = await start_gluon_mcp(tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    async def send(raw: bytes) -> dict[str, Any]:
        stdin.write(raw + b"\n")
        await stdin.drain()
        async with asyncio.timeout(30):  # an unanswered message fails here, not forever
            line = await stdout.readline()
        assert line.endswith(b"\n"), line
        answer: dict[str, Any] = json.loads(line)
        return answer

    try:
        assert "result" in await send(json.dumps(INIT).encode())
        stdin.write(json.dumps(INITIALIZED).encode() + b"\n")
        yield send
    finally:
        stdin.close()
        try:
            async with asyncio.timeout(30):
                await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_gluon_mcp_answers_every_line_on_stdin_even_the_undecodable_ones(
        tmp_path: Path) -> None:
    async with gluon_mcp(tmp_path) as send:
        # Blank lines are skipped and a carriage return before the newline is fine.
        assert (await send(b"\n\r\n" + PING % 1 + b"\r"))["result"] == {}
        await check_everything_is_answered(send)


async def test_gluon_mcp_stops_on_ctrl_c_while_its_client_keeps_stdin_open(
        tmp_path: Path) -> None:
    proc = await start_gluon_mcp(tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(INIT).encode() + b"\n")
        async with asyncio.timeout(30):
            assert b'"result"' in await proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(15):
            assert await proc.wait() == 130
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# -- HTTP ----------------------------------------------------------------------------------


@asynccontextmanager
async def http_mcp(runtime: Runtime) -> AsyncIterator[tuple[Send, httpx2.AsyncClient, str]]:
    server, _ = build_server(runtime)
    endpoint = HttpServer(build_app(runtime.config, server), runtime.config, port=0)
    url = await endpoint.start()
    headers = {"Authorization": f"Bearer {server_token(runtime.config)}",
               "Accept": "application/json, text/event-stream",
               "Content-Type": "application/json"}
    try:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            opened = await http.post(url, json=INIT)
            assert opened.status_code == 200, opened.text
            session = {"Mcp-Session-Id": opened.headers["mcp-session-id"],
                       "Mcp-Protocol-Version": PROTOCOL}
            assert (await http.post(url, json=INITIALIZED, headers=session)).status_code == 202

            async def send(raw: bytes) -> dict[str, Any]:
                response = await http.post(url, content=raw, headers=session)
                assert response.headers["content-type"].startswith("application/json"), (
                    response.status_code, response.text)
                answer: dict[str, Any] = response.json()
                if "error" in answer and answer["id"] is None:
                    assert response.status_code in (400, 413), response
                return answer

            yield send, http, url
    finally:
        await endpoint.stop()


async def test_the_http_endpoint_answers_every_body_even_the_undecodable_ones(
        runtime: Runtime) -> None:
    async with http_mcp(runtime) as (send, _, _):
        await check_everything_is_answered(send)


@pytest.mark.parametrize("body", [b"", b" ", b"\x00" * 10])
async def test_an_empty_or_binary_body_gets_a_parse_error(runtime: Runtime, body: bytes) -> None:
    async with http_mcp(runtime) as (send, _, _):
        assert_error(await send(body), PARSE_ERROR, None)
