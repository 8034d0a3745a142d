"""Health checks of what Gluon needs on this machine, each with a fix when it fails (`gluon doctor`
and the `run_doctor` tool)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass

from core.agent import api_errors, api_probe, sandbox
from core.agent.launcher import has_credentials
from core.agent.setup import bundled_cli
from core.config import Config
from core.store.check import integrity
from core.voice.audio import missing_tools


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn" or "fail"
    detail: str


def _version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) \
        else ""


def sandbox_check(config: Config) -> Check:
    """What `agents.sandbox` gives on this machine, said plainly."""
    mode = config.agents.sandbox
    status = sandbox.probe()
    if mode == "off":
        inner = ("; Bash commands still run in Claude Code's own sandbox" if status.available
                 else "; Bash commands are not confined either")
        return Check("sandbox", "warn", f"off (agents.sandbox = \"off\"): agents run on the "
                     f"host with only a clean environment{inner}")
    if status.available:
        return Check("sandbox", "ok", f"{mode}: {status.describe()}")
    if mode == "required":
        return Check("sandbox", "fail", f"required, but {status.problem}; every run will fail")
    if status.works:
        return Check("sandbox", "warn", f"auto: agents run in bubblewrap, but {status.problem} "
                     "(Bash commands then ask for permission)")
    return Check("sandbox", "warn", f"auto: NOT SANDBOXED, agents run on the host: "
                 f"{status.problem}")


def credentials_check(config: Config, env: dict[str, str]) -> Check:
    """Whether there are model credentials and, for an API key or auth token, whether the
    model API accepts them (one token count, which costs nothing)."""
    provider = dict(env)
    if config.anthropic.api_key is not None:
        provider["ANTHROPIC_API_KEY"] = config.anthropic.api_key.get_secret_value()
    if not has_credentials(provider):
        return Check("credentials", "fail", "no model credentials: set ANTHROPIC_API_KEY "
                     "or CLAUDE_CODE_OAUTH_TOKEN, or configure Bedrock/Vertex")
    key, token = provider.get("ANTHROPIC_API_KEY"), provider.get("ANTHROPIC_AUTH_TOKEN")
    if not key and not token:
        what = ("a Claude Code OAuth token" if provider.get("CLAUDE_CODE_OAUTH_TOKEN")
                else "Bedrock" if provider.get("CLAUDE_CODE_USE_BEDROCK") else "Vertex")
        return Check("credentials", "ok", f"{what} is set (not tried)")
    base_url = config.anthropic.base_url or provider.get("ANTHROPIC_BASE_URL")
    where = f"the model API at {api_errors.endpoint(base_url)}"
    name, var = (("API key", "ANTHROPIC_API_KEY (or anthropic.api_key in config.toml)")
                 if key else ("auth token", "ANTHROPIC_AUTH_TOKEN"))
    answer = api_probe.try_credentials(base_url or api_errors.DEFAULT_BASE_URL,
                                       api_key=key, auth_token=token,
                                       model=config.agents.default_model)
    if answer.unreachable is not None:
        return Check("credentials", "warn", f"an {name} is set but was not tried: {where} is "
                     f"unreachable ({answer.unreachable}); check ANTHROPIC_BASE_URL "
                     "(anthropic.base_url) and the network")
    if answer.status == 200:
        return Check("credentials", "ok", f"the {name} works with {where}")
    if answer.status in (401, 403):
        return Check("credentials", "fail", f"the {name} was refused by {where} "
                     f"({answer.status} {answer.error}); set a valid {var}")
    return Check("credentials", "warn", f"an {name} is set but could not be verified: {where} "
                 f"answered {answer.status} ({answer.error}) to a token count")


def voice_check(config: Config, env: dict[str, str]) -> Check | None:
    """What voice notes need, when they are on: ffmpeg, and the backend's key or engine."""
    voice = config.voice
    if voice.backend == "off":
        return None
    missing = missing_tools(env.get("PATH"))
    if missing:
        return Check("voice", "fail", f"{' and '.join(missing)} missing, and voice notes "
                     f"are on ([voice] backend = {voice.backend!r}); install ffmpeg "
                     "(apt-get install ffmpeg)")
    if voice.backend == "local":
        if importlib.util.find_spec("pocketsphinx") is None:
            return Check("voice", "fail", "the local backend needs pocketsphinx: install "
                         "Gluon with its voice extra (uv sync --extra voice)")
        grammar = " with a grammar" if voice.grammar else ""
        return Check("voice", "ok", f"local (pocketsphinx{grammar}), ffmpeg found")
    where = f"{voice.base_url}/audio/transcriptions ({voice.model})"
    if voice.api_key is None:
        return Check("voice", "warn", f"openai at {where} without [voice] api_key "
                     "(GLUON_VOICE_API_KEY): a service that needs one refuses every note")
    return Check("voice", "ok", f"openai at {where}, ffmpeg found")


def run_checks(config: Config, environ: dict[str, str] | None = None) -> list[Check]:
    """Every check, in order; blocking (runs subprocesses), so call it in a thread from async
    code."""
    env = dict(os.environ if environ is None else environ)
    checks: list[Check] = []
    git = _version(["git", "--version"])
    checks.append(Check("git", "ok", git) if git else
                  Check("git", "fail", "git is missing; install it (apt-get install git)"))
    try:
        cli = config.agents.cli_path or bundled_cli()
        version = _version([cli, "--version"])
        checks.append(Check("claude cli", "ok", f"{version} ({cli})") if version else
                      Check("claude cli", "fail", f"{cli} does not run; reinstall "
                            "claude-agent-sdk or fix agents.cli_path"))
    except Exception as exc:
        checks.append(Check("claude cli", "fail", str(exc)))
    checks.append(sandbox_check(config))
    checks.append(credentials_check(config, env))
    if (voice := voice_check(config, env)) is not None:
        checks.append(voice)
    if config.db_path.exists():
        result = integrity(config.db_path)
        checks.append(Check("database", "ok" if result == "ok" else "fail",
                            f"{config.db_path}: {result}"))
    else:
        checks.append(Check("database", "ok", f"{config.db_path} will be created on first use"))
    if config.cluster.redis_url:
        from core.cluster.health import cluster_checks  # redis: the `gluon[cluster]` extra

        checks += cluster_checks(config)
    probe = config.home if config.home.exists() else config.home.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    checks.append(Check("disk", "ok" if free_gb >= 2 else "warn",
                        f"{free_gb:.1f} GB free in {probe}" + (
                            "" if free_gb >= 2 else "; each worktree needs a full checkout")))
    return checks
