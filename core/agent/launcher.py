"""The agent launcher: the Claude Code CLI starts with a clean environment built from an allow-list.

claude-agent-sdk merges ``options.env`` over the daemon's whole environment, so bot tokens,
the MCP bearer token and anything else the daemon holds would reach every agent. Instead the
SDK is pointed (``cli_path``) at a small script that keeps only the variables it names and
``exec``s the real CLI (inside its sandbox) with them. The script holds names, never values: the
values (the API key among them) travel in the launcher's own environment (``options.env``) and
are filtered there by a tiny Python program (``-I -S``: no site, no user paths, ~10 ms), so
they appear in no file and in no process's command line. The script exists only while an agent
starts: it is removed as soon as the CLI is up.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from core.errors import InvalidInput

BASE_VARS = ("PATH", "LANG", "LANGUAGE", "TERM", "TZ", "COLORTERM")

# Provider settings the CLI needs to reach a model, by provider.
ANTHROPIC_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
                  "ANTHROPIC_CUSTOM_HEADERS", "CLAUDE_CODE_OAUTH_TOKEN")
BEDROCK_PREFIXES = ("AWS_", "ANTHROPIC_BEDROCK_", "CLAUDE_CODE_SKIP_BEDROCK_AUTH")
VERTEX_PREFIXES = ("GOOGLE_", "CLOUD_ML_REGION", "ANTHROPIC_VERTEX_", "VERTEX_REGION_",
                   "CLAUDE_CODE_SKIP_VERTEX_AUTH")

# Set by claude-agent-sdk itself for the CLI; passed through from the SDK's environment.
SDK_VARS = ("CLAUDE_CODE_ENTRYPOINT", "CLAUDE_AGENT_SDK_VERSION", "CLAUDE_AGENT_SDK_CLIENT_APP",
            "CLAUDE_AGENT_SDK_DERIVED_CLIENT_APP", "CLAUDE_CODE_SDK_READS_SESSION_STATE",
            "CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING", "PWD")

QUIET_VARS = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
              "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1"}


def has_credentials(env: Mapping[str, str]) -> bool:
    return bool(env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN")
                or env.get("CLAUDE_CODE_OAUTH_TOKEN") or env.get("CLAUDE_CODE_USE_BEDROCK")
                or env.get("CLAUDE_CODE_USE_VERTEX"))


def agent_environment(source: Mapping[str, str], *, home: Path,
                      provider: Mapping[str, str], git_identity: Mapping[str, str],
                      extra_allow: Iterable[str] = ()) -> dict[str, str]:
    """The whole environment of an agent process.

    ``source`` is the daemon's environment; only allow-listed names are taken from it.
    ``provider`` (API key and base URL from the config) wins over ``source``.
    """
    env: dict[str, str] = {"HOME": str(home), "USER": "agent", "SHELL": "/bin/sh"}
    for name in BASE_VARS:
        if name in source:
            env[name] = source[name]
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    for name, value in source.items():
        if name.startswith("LC_"):
            env[name] = value
    for name in ANTHROPIC_VARS:
        if source.get(name):
            env[name] = source[name]
    if source.get("CLAUDE_CODE_USE_BEDROCK"):
        env["CLAUDE_CODE_USE_BEDROCK"] = source["CLAUDE_CODE_USE_BEDROCK"]
        env.update({k: v for k, v in source.items() if k.startswith(BEDROCK_PREFIXES)})
    if source.get("CLAUDE_CODE_USE_VERTEX"):
        env["CLAUDE_CODE_USE_VERTEX"] = source["CLAUDE_CODE_USE_VERTEX"]
        env.update({k: v for k, v in source.items() if k.startswith(VERTEX_PREFIXES)})
    env.update({k: v for k, v in provider.items() if v})
    env.update(QUIET_VARS)
    env.update(git_identity)
    for name in extra_allow:
        if name in source:
            env[name] = source[name]
    return env


# Keeps the allow-listed names (argv[1]) of its environment and execs argv[2:] with them.
_FILTER = ("import os, sys; names = set(sys.argv[1].split()); "
           "os.execvpe(sys.argv[2], sys.argv[2:], "
           "{k: v for k, v in os.environ.items() if k in names})")


def check_names(names: Iterable[str]) -> None:
    for name in names:
        if not name or "=" in name or not name.replace("_", "a").isalnum():
            raise InvalidInput(f"invalid environment variable name {name!r} in env_allow")


def write_launcher(path: Path, command: list[str], names: Iterable[str]) -> Path:
    """Write an executable script that runs ``command`` (a sandbox command line ending with the
    CLI) with only the variables ``names`` (plus the SDK's own) from its environment.

    Nothing secret is written: the values come from the environment the SDK starts it with.
    The script writes its process id to :func:`pid_file` first: it ``exec``s, so that is the
    agent's process (the witness reads its CPU time and whether it is alive).
    """
    allowed = sorted({*names, *SDK_VARS})
    check_names(allowed)
    argv = [sys.executable, "-I", "-S", "-c", _FILTER, " ".join(allowed), *command]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
    with os.fdopen(fd, "w") as fh:
        fh.write("#!/bin/sh\n# Starts a Gluon agent with only the environment variables named "
                 f"here.\necho $$ > {shlex.quote(str(pid_file(path)))}\n"
                 "exec " + " ".join(shlex.quote(a) for a in argv) + ' "$@"\n')
    return path


def pid_file(launcher: Path) -> Path:
    """Where the launcher at ``launcher`` writes the agent's process id."""
    return launcher.with_suffix(".pid")


def read_pid(launcher: Path) -> int | None:
    """The process id the launcher at ``launcher`` wrote, or None (not started, unreadable)."""
    try:
        return int(pid_file(launcher).read_text().strip())
    except (OSError, ValueError):
        return None
