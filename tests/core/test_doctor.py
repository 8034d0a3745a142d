"""`gluon doctor`'s credentials check tries the key against the model API when it can: a key
the API refuses fails the check, an API it cannot reach is said plainly without failing it."""

from __future__ import annotations

import socket
from pathlib import Path

from core.config import Config
from core.doctor import Check, run_checks
from tests.fakes.model_server import ScriptedModelServer


def credentials(home: Path, environ: dict[str, str], **anthropic: str) -> Check:
    config = Config.model_validate({"home": str(home), "anthropic": anthropic})
    [check] = [c for c in run_checks(config, environ) if c.name == "credentials"]
    return check


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_key_the_api_accepts_passes(tmp_path: Path, model_server: ScriptedModelServer) -> None:
    model_server.require_api_key("sk-right")
    check = credentials(tmp_path, {}, api_key="sk-right", base_url=model_server.base_url)
    assert (check.status, check.detail) == (
        "ok", f"the API key works with the model API at 127.0.0.1:{model_server.port}")


def test_a_key_the_api_refuses_fails_with_what_to_do(
        tmp_path: Path, model_server: ScriptedModelServer) -> None:
    model_server.require_api_key("sk-right")
    check = credentials(tmp_path, {"ANTHROPIC_API_KEY": "sk-wrong",
                                   "ANTHROPIC_BASE_URL": model_server.base_url})
    assert check.status == "fail"
    assert check.detail == (
        f"the API key was refused by the model API at 127.0.0.1:{model_server.port} (401 "
        "authentication_error: invalid x-api-key); set a valid ANTHROPIC_API_KEY (or "
        "anthropic.api_key in config.toml)")
    assert model_server.refused_keys == 1


def test_an_auth_token_is_tried_as_a_bearer_token(
        tmp_path: Path, model_server: ScriptedModelServer) -> None:
    model_server.require_api_key("gateway-token")
    good = credentials(tmp_path, {"ANTHROPIC_AUTH_TOKEN": "gateway-token",
                                  "ANTHROPIC_BASE_URL": model_server.base_url})
    bad = credentials(tmp_path, {"ANTHROPIC_AUTH_TOKEN": "stale-token",
                                 "ANTHROPIC_BASE_URL": model_server.base_url})
    assert good.status == "ok" and "auth token works" in good.detail
    assert bad.status == "fail" and "set a valid ANTHROPIC_AUTH_TOKEN" in bad.detail
    assert "stale-token" not in bad.detail


def test_an_unreachable_api_is_said_without_failing_the_check(tmp_path: Path) -> None:
    port = closed_port()
    check = credentials(tmp_path, {}, api_key="sk-any", base_url=f"http://127.0.0.1:{port}")
    assert check.status == "warn"
    assert check.detail == (
        f"an API key is set but was not tried: the model API at 127.0.0.1:{port} is "
        "unreachable (connection refused); check ANTHROPIC_BASE_URL (anthropic.base_url) "
        "and the network")


def test_credentials_that_cannot_be_tried_here_are_reported_as_found(tmp_path: Path) -> None:
    check = credentials(tmp_path, {"CLAUDE_CODE_OAUTH_TOKEN": "oauth-token"})
    assert check.status == "ok"
    assert check.detail == "a Claude Code OAuth token is set (not tried)"


def test_no_credentials_at_all_fail_with_where_to_set_them(tmp_path: Path) -> None:
    check = credentials(tmp_path, {})
    assert check.status == "fail" and "set ANTHROPIC_API_KEY" in check.detail
