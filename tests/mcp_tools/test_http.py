"""The streamable HTTP endpoint at /mcp: only callers with the bearer token get in."""

from __future__ import annotations

import os
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import RequestParamsMeta

from bots.app import build_app
from bots.http_server import HttpServer, read_daemon_file
from core.runtime import Runtime
from core.types import Role
from mcp_tools.callers import CALLER_META
from mcp_tools.http import server_token
from mcp_tools.registry import Caller, tool_error
from mcp_tools.server import build_server, build_tools

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream"}


async def test_the_endpoint_serves_the_tools_to_a_caller_with_the_token(
        runtime: Runtime) -> None:
    server, kit = build_server(runtime)
    endpoint = HttpServer(build_app(runtime.config, server), runtime.config, port=0)
    url = await endpoint.start()
    try:
        assert read_daemon_file(runtime.config.home) == {"url": url, "pid": os.getpid(),
                                                         "kind": "serve"}
        token = server_token(runtime.config)
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert names == set(kit.names)
            listed = await client.call_tool("list_projects", {})
            assert listed.structured_content == {"projects": []}

        async with httpx2.AsyncClient() as http:
            missing = await http.post(url, json=INIT, headers=HEADERS)
            wrong = await http.post(url, json=INIT, headers={
                **HEADERS, "Authorization": "Bearer not-the-token"})
            health = await http.get(url.removesuffix("/mcp") + "/health")
        assert missing.status_code == 401 and wrong.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert token not in wrong.text
        assert health.status_code == 200 and health.json()["ok"] is True
    finally:
        await endpoint.stop()
    assert read_daemon_file(runtime.config.home) is None


def test_the_token_is_generated_once_and_kept_private(runtime: Runtime) -> None:
    token = server_token(runtime.config)
    assert len(token) >= 40 and server_token(runtime.config) == token
    assert (runtime.config.home / "mcp-token").stat().st_mode & 0o077 == 0


async def test_only_the_configured_host_names_are_answered(runtime: Runtime) -> None:
    config = runtime.config.model_copy(update={"server": runtime.config.server.model_copy(
        update={"hostnames": ["gluon.lan"]})})
    server, _ = build_server(runtime)
    endpoint = HttpServer(build_app(config, server), config, port=0)
    url = await endpoint.start()
    auth = {**HEADERS, "Authorization": f"Bearer {server_token(config)}",
            "Content-Type": "application/json"}
    try:
        async with httpx2.AsyncClient() as http:
            port = url.split(":")[2].split("/")[0]
            named = await http.post(url, json=INIT, headers={**auth,
                                                             "Host": f"gluon.lan:{port}"})
            rebound = await http.post(url, json=INIT, headers={**auth,
                                                               "Host": f"evil.example:{port}"})
    finally:
        await endpoint.stop()
    assert named.status_code == 200
    assert rebound.status_code == 421


async def test_a_gluon_command_over_http_is_audited_under_its_own_name(
        runtime: Runtime, repo: Path) -> None:
    server, _ = build_server(runtime)
    endpoint = HttpServer(build_app(runtime.config, server), runtime.config, port=0)
    url = await endpoint.start()
    try:
        headers = {"Authorization": f"Bearer {server_token(runtime.config)}",
                   "X-Gluon-Actor": "cli"}
        async with httpx2.AsyncClient(headers=headers) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            added = await client.call_tool("add_project", {"path": str(repo)})
            assert not added.is_error
    finally:
        await endpoint.stop()
    [entry] = await runtime.activity.recent(action_prefix="tool.")
    assert (entry.actor, entry.action, entry.outcome) == ("cli", "tool.add_project", "ok")


async def test_one_server_serves_http_and_chat_each_caller_as_itself(
        runtime: Runtime, repo: Path) -> None:
    tools = build_tools(runtime)
    endpoint = HttpServer(build_app(runtime.config, tools.server), runtime.config, port=0)
    url = await endpoint.start()
    viewer = Caller("discord:43", Role.VIEWER, where="discord:600")
    try:
        headers = {"Authorization": f"Bearer {server_token(runtime.config)}",
                   "X-Gluon-Actor": "cli"}
        async with httpx2.AsyncClient(headers=headers) as http, \
                Client(streamable_http_client(url, http_client=http)) as remote, \
                Client(tools.server) as local:
            with tools.callers.bound(viewer) as key:
                as_viewer = await local.call_tool("add_project", {"path": str(repo)},
                                                  meta=RequestParamsMeta(
                                                      **{CALLER_META: key}))  # type: ignore[misc]
            forged = await remote.call_tool("add_project", {"path": str(repo)},
                                            meta=RequestParamsMeta(
                                                **{CALLER_META: key}))  # type: ignore[misc]
            over_http = await remote.call_tool("add_project", {"path": str(repo)})
    finally:
        await endpoint.stop()
    assert as_viewer.is_error and "discord:43 is a viewer" in tool_error(as_viewer)
    assert forged.is_error and "unknown is a viewer" in tool_error(forged)
    assert not over_http.is_error
    entries = await runtime.activity.recent(action_prefix="tool.")
    assert {(e.actor, e.outcome.split(":")[0]) for e in entries} == {
        ("discord:43", "refused"), ("unknown", "refused"), ("cli", "ok")}
