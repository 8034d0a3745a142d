"""Configuration: ``config.toml`` plus environment overrides, validated with pydantic.

Where values come from, later wins:

1. defaults below;
2. the TOML file: ``$GLUON_CONFIG``, else ``$GLUON_HOME/config.toml``, else ``./config.toml``;
3. environment variables: ``GLUON_<SECTION>_<KEY>`` for a key in a section
   (``GLUON_AGENTS_MAX_CONCURRENT=8``, ``GLUON_TELEGRAM_TOKEN=...``), ``GLUON_HOME`` for the data
   dir, and the provider's own ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``. Lists are
   comma-separated (``GLUON_TELEGRAM_USERS=123,456``).

A bad value fails at start with a one-line message naming the key, the value and what was
expected (:class:`core.errors.ConfigError`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from core.config_file import config_path
from core.errors import ConfigError, InvalidInput
from core.types import Role

# Aliases are passed to Claude Code as they are: it maps them to the newest model of the family.
MODEL_ALIASES = ("opus", "sonnet", "haiku")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentsConfig(_Section):
    default_model: str = "sonnet"

    @field_validator("default_model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        try:
            return resolve_model(v, v)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    max_concurrent: Annotated[int, Field(ge=1, le=256)] = 4
    max_concurrent_per_project: Annotated[int, Field(ge=1, le=256)] = 2
    run_budget_usd: Annotated[float | None, Field(gt=0)] = None
    daily_budget_usd: Annotated[float | None, Field(gt=0)] = None
    budget_warning_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8
    recovery: Literal["resume", "ask"] = "resume"
    remind_after_seconds: Annotated[float, Field(gt=0)] = 900.0
    idle_timeout_seconds: Annotated[float, Field(gt=0)] = 1800.0
    worktree_retention_days: Annotated[float, Field(ge=0)] = 14.0
    spare_worktrees: Annotated[int, Field(ge=0, le=4)] = 1
    # Agents started ahead for a project's next run (see core/agent/warm.py): about 200 MB each,
    # kept for a project whose last run started less than `warm_idle_minutes` ago.
    warm: Annotated[int, Field(ge=0, le=4)] = 1
    warm_idle_minutes: Annotated[float, Field(gt=0)] = 30.0
    permission_mode: Literal["default", "acceptEdits"] = "acceptEdits"
    allowed_tools: list[str] = Field(default_factory=list)
    cli_path: str | None = None
    env_allow: list[str] = Field(default_factory=list)
    sandbox: Literal["required", "auto", "off"] = "auto"
    sandbox_read_only: list[str] = Field(default_factory=list)
    # A run stopped by the account's usage limit waits for its reset and goes on by itself, at
    # most this many times in `usage_limit_window_hours` (0: never; it fails instead).
    usage_limit_resumes: Annotated[int, Field(ge=0, le=100)] = 3
    usage_limit_window_hours: Annotated[float, Field(gt=0, le=24 * 31)] = 24.0


class ProjectConfig(_Section):
    # Where `gluon worker` hosts fetch the project and push its runs' branches (a git URL);
    # None: origin's URL when it is a network URL, else the coordinator's own repository.
    remote: str | None = None
    sandbox_read_only: list[str] = Field(default_factory=list)
    daily_budget_usd: Annotated[float | None, Field(gt=0)] = None
    max_concurrent: Annotated[int | None, Field(ge=1, le=256)] = None
    allowed_tools: list[str] = Field(default_factory=list)
    env_allow: list[str] = Field(default_factory=list)
    trusted: bool = False
    # The secret of this project's GitHub webhook, when it is not `github.webhook_secret`.
    webhook_secret: SecretStr | None = None
    # The merge queue's test command for a project without GitHub checks (run in the
    # sandbox on the rebased branch); None: detected (pytest, npm test, go test, cargo test).
    test_command: str | None = None
    # How the merge queue merges a pull request on GitHub.
    merge_method: Literal["merge", "squash", "rebase"] = "merge"
    # The quality gates after a run's work (core/gates): false turns them off for this
    # project; None: the global [gates] enabled and the project's .gluon/project.toml decide.
    gates: bool | None = None
    # What happens when the gates give up (core/gates/policy.py); None: the project's
    # .gluon/project.toml, else "manual".
    supervision: Literal["manual", "conservative", "aggressive"] | None = None
    # What the witness (core/witness) does when a live run looks looping, stuck, stalled or
    # a zombie: say so, nudge the agent, restart it, or nothing.
    witness: Literal["notify", "nudge", "restart", "off"] = "notify"

    @field_validator("remote")
    @classmethod
    def _git_url(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or v.startswith("-")
                              or any(c.isspace() or c == "\0" for c in v)):
            raise ValueError("expected a git URL, such as 'https://github.com/OWNER/REPO.git' "
                             "or 'git@github.com:OWNER/REPO.git'")
        return v


class MergeConfig(_Section):
    """The merge queue: how many times it lets a run's agent fix a conflict or failed checks,
    rebases again when the base moved, and how long it waits for tests and checks."""

    conflict_fixes: Annotated[int, Field(ge=0, le=10)] = 2
    check_fixes: Annotated[int, Field(ge=0, le=10)] = 2
    rebases: Annotated[int, Field(ge=1, le=20)] = 3
    test_timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 20.0
    checks_timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 60.0
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 15.0


class LoopConfig(_Section):
    """The autonomous loop (``gluon run --loop``): its default caps, when its circuit breaker
    opens, and the checklist file that ends it once every item is ticked."""

    max_loops: Annotated[int, Field(ge=1, le=1000)] = 10
    max_cost_usd: Annotated[float | None, Field(gt=0)] = None
    max_calls_per_hour: Annotated[int | None, Field(ge=1)] = 100
    breaker_after: Annotated[int, Field(ge=1, le=100)] = 3
    todo_file: str = "TODO.md"

    @field_validator("todo_file")
    @classmethod
    def _relative(cls, v: str) -> str:
        if not v.strip() or v.startswith("/") or ".." in Path(v).parts:
            raise ValueError("a path inside the worktree, such as TODO.md")
        return v


class GatesConfig(_Section):
    """The quality gates (core/gates): lint auto-fix, lint and tests after a run's work, the
    agent asked to fix what fails at most ``max_fixes`` times per gate."""

    enabled: bool = True
    max_fixes: Annotated[int, Field(ge=0, le=10)] = 3
    timeout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 10.0


class WitnessConfig(_Section):
    """The witness (core/witness): when a live run looks looping, stuck, stalled or a zombie."""

    enabled: bool = True
    interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 10.0  # the timer's period
    window: Annotated[int, Field(ge=2, le=1000)] = 12  # recent tool calls looked at
    loop_repeats: Annotated[int, Field(ge=2, le=100)] = 4  # the same call this often: looping
    stuck_turns: Annotated[int, Field(ge=1, le=1000)] = 5  # turns without progress: stuck
    stalled_after_seconds: Annotated[float, Field(gt=0, le=86400)] = 600.0
    stalled_cpu_percent: Annotated[float, Field(gt=0, le=100)] = 1.0  # below it: idle
    # Slow: live longer than slow_factor times the median time of the project's last finished
    # runs (review or merged), once it has slow_min_runs of them.
    slow_factor: Annotated[float, Field(gt=1, le=100)] = 3.0
    slow_min_runs: Annotated[int, Field(ge=1, le=1000)] = 5

    @model_validator(mode="after")
    def _repeats_fit_the_window(self) -> WitnessConfig:
        if self.loop_repeats > self.window:
            raise ValueError(f"loop_repeats ({self.loop_repeats}) must not exceed window "
                             f"({self.window}): a loop could never be seen")
        return self


class AnthropicConfig(_Section):
    api_key: SecretStr | None = None
    base_url: str | None = None


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8765
    token: SecretStr | None = None
    # Host names clients may use besides localhost and `host` (a LAN name, a reverse proxy);
    # requests naming any other host are refused (DNS-rebinding protection).
    hostnames: list[str] = Field(default_factory=list)
    # MCP sessions over HTTP: one unused this long is closed, and past `max_sessions` the one
    # idle the longest is; its client then starts a new one.
    session_idle_timeout_seconds: Annotated[float, Field(gt=0)] = 1800.0
    max_sessions: Annotated[int, Field(ge=1)] = 200


class _ChatPlatform(_Section):
    """Who may talk to the bot, by user id: admins, operators (``users``) and viewers."""

    token: SecretStr | None = None
    admins: list[int] = Field(default_factory=list)
    users: list[int] = Field(default_factory=list)
    viewers: list[int] = Field(default_factory=list)
    # Who may answer an agent's questions and permission requests from chat: any operator,
    # or only the person who started the run (and admins).
    answers: Literal["anyone", "requester"] = "anyone"

    def roles(self) -> dict[str, Role]:
        out: dict[str, Role] = {}
        for ids, role in ((self.viewers, Role.VIEWER), (self.users, Role.OPERATOR),
                          (self.admins, Role.ADMIN)):
            for user_id in ids:
                out[str(user_id)] = role
        return out


class TelegramConfig(_ChatPlatform):
    api_base_url: str | None = None  # a self-hosted Bot API server, e.g. http://host:8081/bot


class DiscordConfig(_ChatPlatform):
    # The guild(s) (servers) the bot serves; messages and commands from others are ignored.
    # Slash commands are synced to these guilds (instantly), or globally when none is set.
    guild: list[int] = Field(default_factory=list)
    # Discord roles (by id or name) that grant a Gluon role to the members who have them.
    role_map: dict[str, Role] = Field(default_factory=dict)
    # A REST proxy (e.g. http://proxy:8080/api/v10) and gateway proxy in front of Discord.
    api_base_url: str | None = None
    gateway_url: str | None = None


class ChatConfig(_Section):
    """The conversational orchestrator: which model turns messages into tool calls."""

    provider: Literal["anthropic", "bedrock", "vertex"] = "anthropic"
    model: str = "claude-haiku-4-5"
    max_tool_rounds: Annotated[int, Field(ge=1, le=50)] = 10
    history_tokens: Annotated[int, Field(ge=1000, le=500_000)] = 24_000
    max_tokens: Annotated[int, Field(ge=256, le=64_000)] = 2048
    aws_region: str | None = None
    vertex_project: str | None = None
    vertex_region: str | None = None


class SpeechSettings(_Section):
    """Spoken completion pings, off by default: the ping of an ended run is followed by a
    short voice note, made by an OpenAI-compatible speech endpoint (``POST
    {base_url}/audio/speech`` with ``model``, ``voice``, ``input``, ``response_format=opus``).
    ``api_key`` is sent as a bearer token (``GLUON_SPEECH_API_KEY``) and never logged. An
    endpoint that fails never holds the text ping back."""

    enabled: bool = False
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini-tts"
    voice: str = "alloy"
    api_key: SecretStr | None = None
    max_chars: Annotated[int, Field(ge=20, le=4000)] = 300  # of the text spoken
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, such as "
                             "'https://api.openai.com/v1'")
        return v.rstrip("/")


class ClusterConfig(_Section):
    """Where the job queue lives and where runs execute when there are workers (DESIGN §8).

    Without ``redis_url`` the queue is a table in ``gluon.db`` and runs execute in ``gluon
    serve``. With it the queue is Redis Streams, and ``run_on`` says where runs execute:
    ``"workers"`` (the default with a ``redis_url``), ``gluon worker`` processes on other hosts;
    ``"here"``, in ``gluon serve`` as without Redis. The URL may hold a password
    (``redis://:password@host:6379/0``), or ``username``/``password`` give it (they win over
    the URL's); it is masked in every message. ``rediss://`` talks TLS.

    ``lease_seconds``: how long a worker holds a run without renewing it (every third of it);
    a worker silent that long has its runs taken over by another worker.

    ``token`` is the secret workers and the coordinator share (``GLUON_CLUSTER_TOKEN``): with
    it, the coordinator serves its projects' repositories to workers at ``/git/<project>.git``
    (see :mod:`core.cluster.served`); without it, that route is off."""

    redis_url: str | None = None
    run_on: Literal["workers", "here"] | None = None
    lease_seconds: Annotated[float, Field(ge=1, le=600)] = 15.0
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None

    @property
    def remote(self) -> bool:
        """Runs execute on ``gluon worker`` processes, not in ``gluon serve``."""
        return bool(self.redis_url) and self.run_on != "here"

    @field_validator("token")
    @classmethod
    def _long_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value().strip()) < 16:
            raise ValueError("expected at least 16 characters; make one with "
                             "`openssl rand -hex 32`")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://, rediss:// or unix:// URL, such as "
                             "'redis://localhost:6379/0'")
        return v


WORKER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class WorkerConfig(_Section):
    """A ``gluon worker``: its name among the workers (default: the host's name), how many runs
    it executes at once, and the projects it takes runs of (empty: every project)."""

    name: Annotated[str | None, Field(pattern=WORKER_NAME)] = None
    max_runs: Annotated[int, Field(ge=1, le=64)] = 2
    projects: list[str] = Field(default_factory=list)


class WebConfig(_Section):
    """The status page: where people reach it, and how long a sign-in lasts.

    ``public_url`` is the address in sign-in links (``https://gluon.example.com`` behind a
    proxy); without it links point at the address ``gluon serve`` listens on. Session cookies
    are ``Secure`` when it is https."""

    public_url: str | None = None
    session_hours: Annotated[float, Field(gt=0, le=24 * 90)] = 168.0
    link_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 10.0

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, such as "
                             "'https://gluon.example.com'")
        return v.rstrip("/") if v else v


class GitHubConfig(_Section):
    """GitHub: webhooks at ``POST /hooks/github`` and the REST API the bridge writes through.

    ``users`` maps a GitHub login to a Gluon chat user (``{ octocat = "telegram:42" }``): that
    person's role decides what their comments may do. ``api_url`` is GitHub Enterprise's
    ``https://HOST/api/v3``, or a fake in tests."""

    token: SecretStr | None = None  # or GH_TOKEN
    api_url: str = "https://api.github.com"
    webhook_secret: SecretStr | None = None
    trigger: Annotated[str, Field(min_length=1)] = "@gluon"
    label: Annotated[str, Field(min_length=1)] = "gluon"
    users: dict[str, str] = Field(default_factory=dict)
    # How many times failed checks may resume one run ("fix CI") before Gluon stops trying.
    fix_ci_attempts: Annotated[int, Field(ge=0, le=20)] = 3
    # Push a run started from a pull request onto the pull request's branch when it finishes.
    push_pull_requests: bool = True

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, such as "
                             "'https://api.github.com'")
        return v.rstrip("/")

    @field_validator("users")
    @classmethod
    def _chat_users(cls, v: dict[str, str]) -> dict[str, str]:
        for login, user in v.items():
            platform, _, user_id = user.partition(":")
            if platform not in ("telegram", "discord") or not user_id:
                raise ValueError(f"{login!r} maps to {user!r}; expected a chat user such as "
                                 "'telegram:42' or 'discord:1234'")
        return v


class VoiceSettings(_Section):
    """Voice notes in chat, transcribed and handled as if typed (core/voice).

    ``backend``: "off" (a voice note gets a line saying how to turn it on), "openai" (any
    OpenAI-compatible ``POST {base_url}/audio/transcriptions``: OpenAI, Groq,
    faster-whisper-server) or "local" (pocketsphinx, the ``gluon[voice]`` extra). ``grammar``
    (local only): a JSGF file, or the exact phrases to listen for. ``price_per_minute``: what a
    minute of audio costs, for the usage report (None: 0.006 for openai, 0 for local)."""

    backend: Literal["off", "openai", "local"] = "off"
    base_url: str = "https://api.openai.com/v1"
    model: str = "whisper-1"
    api_key: SecretStr | None = None  # or GLUON_VOICE_API_KEY
    language: str | None = None  # ISO-639-1, e.g. "en"; None: the backend detects it
    grammar: str | list[str] | None = None
    max_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0
    max_bytes: Annotated[int, Field(gt=0, le=100_000_000)] = 20_000_000
    per_user_per_hour: Annotated[int, Field(ge=1, le=10_000)] = 30
    price_per_minute: Annotated[float | None, Field(ge=0)] = None

    @field_validator("base_url")
    @classmethod
    def _voice_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, such as "
                             "'https://api.openai.com/v1'")
        return v.rstrip("/")

    @property
    def minute_price(self) -> float:
        if self.price_per_minute is not None:
            return self.price_per_minute
        return 0.006 if self.backend == "openai" else 0.0


HOOK_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class HookConfig(_Section):
    """A generic webhook at ``POST /hooks/<name>``: a JSON body that starts a run.

    ``auth = "hmac"``: the ``signature_header`` carries ``sha256=<hex HMAC-SHA256 of the body
    with secret>``, as GitHub signs; ``"bearer"``: ``Authorization: Bearer <secret>``. The
    prompt's ``{field.path}`` placeholders are filled from the body (``{{`` is a brace)."""

    project: str
    secret: SecretStr
    auth: Literal["hmac", "bearer"] = "hmac"
    signature_header: str = "X-Gluon-Signature-256"
    id_header: str = "X-Delivery-Id"
    prompt: Annotated[str, Field(min_length=1)]
    model: str | None = None
    priority: Annotated[int, Field(ge=-100, le=100)] = 0
    # A body seen again within this window (and no delivery id header) is a replay.
    dedupe_window_seconds: Annotated[float, Field(ge=0)] = 600.0


class Config(BaseModel):
    """The whole configuration. ``home`` is the data dir (``GLUON_HOME``, default ``~/.gluon``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(default_factory=lambda: Path("~/.gluon").expanduser())
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    anthropic: AnthropicConfig = Field(default_factory=AnthropicConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    discord: DiscordConfig = Field(default_factory=DiscordConfig)
    chat: ChatConfig = Field(default_factory=ChatConfig)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    github: GitHubConfig = Field(default_factory=GitHubConfig)
    merge: MergeConfig = Field(default_factory=MergeConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    gates: GatesConfig = Field(default_factory=GatesConfig)
    witness: WitnessConfig = Field(default_factory=WitnessConfig)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    hooks: dict[Annotated[str, Field(pattern=HOOK_NAME)], HookConfig] = Field(
        default_factory=dict)
    projects: dict[str, ProjectConfig] = Field(default_factory=dict)

    @field_validator("hooks")
    @classmethod
    def _not_github(cls, v: dict[str, HookConfig]) -> dict[str, HookConfig]:
        if "github" in v:
            raise ValueError("'github' is the GitHub endpoint (configure it under [github]); "
                             "name this hook otherwise")
        return v

    @field_validator("home")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser().absolute()

    def project(self, name: str) -> ProjectConfig:
        return self.projects.get(name, ProjectConfig())

    @property
    def db_path(self) -> Path:
        return self.home / "gluon.db"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def worktrees_dir(self) -> Path:
        return self.home / "worktrees"

    @property
    def agent_homes_dir(self) -> Path:
        return self.home / "agent-homes"


_ENV_ALIASES = {"ANTHROPIC_API_KEY": ("anthropic", "api_key"),
                "ANTHROPIC_BASE_URL": ("anthropic", "base_url"),
                "GH_TOKEN": ("github", "token")}
_SECTIONS = ("agents", "anthropic", "server", "telegram", "discord", "cluster", "worker",
             "web", "github", "merge", "loop", "gates", "speech", "voice")


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (section, key) in _ENV_ALIASES.items():
        if env.get(name):
            out.setdefault(section, {})[key] = env[name]
    if env.get("GLUON_HOME"):
        out["home"] = env["GLUON_HOME"]
    for name, value in env.items():
        if not name.startswith("GLUON_") or name in ("GLUON_HOME", "GLUON_CONFIG"):
            continue
        rest = name[len("GLUON_"):].lower()
        for section in _SECTIONS:
            if rest.startswith(section + "_"):
                key = rest[len(section) + 1:]
                fields = _section_model(section).model_fields
                if key in fields and _is_list(fields[key].annotation):
                    out.setdefault(section, {})[key] = [p.strip() for p in value.split(",")
                                                        if p.strip()]
                else:
                    out.setdefault(section, {})[key] = value
    return out


def _section_model(section: str) -> type[BaseModel]:
    annotation = Config.model_fields[section].annotation
    assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation


def _is_list(annotation: object) -> bool:
    return getattr(annotation, "__origin__", None) is list


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(env: Mapping[str, str] | None = None, path: Path | None = None) -> Config:
    """Read, merge and validate the configuration; raise ConfigError naming the bad key."""
    env = os.environ if env is None else env
    path = path or config_path(env)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {str(path)!r} does not exist; create it from "
                              "config.example.toml or unset GLUON_CONFIG") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    data = _merge(data, _env_overrides(env))
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc.errors()[0], path)) from None


def _explain(err: Any, path: Path | None) -> str:
    """One line: the key, the value (never a secret) and what is expected."""
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    where = f" in {str(path)!r}" if path else ""
    if err["type"] == "extra_forbidden":
        model: type[BaseModel] = Config
        for part in loc[:-1]:
            if part in model.model_fields and isinstance(model.model_fields[part].annotation,
                                                         type):
                model = model.model_fields[part].annotation  # type: ignore[assignment]
        known = ", ".join(model.model_fields)
        return f"unknown config key {key!r}{where}; known keys there: {known}"
    secret = any(word in key for word in ("token", "key", "redis_url", "secret",
                                          "password")) or (
        loc[0] == "hooks" and len(loc) <= 2)  # a hook's whole table holds its secret
    shown = "***" if secret else repr(err.get("input"))
    message = str(err["msg"]).lower().removeprefix("value error, ")
    return f"config key {key!r}{where} has value {shown}: {message}"


def resolve_model(name: str | None, default: str) -> str:
    """Check a model alias (opus, sonnet, haiku) or a full model id (claude-...), in any case
    ("Opus", "Claude-Sonnet-4-5"); returned in lower case, as the API spells them."""
    value = (name or default).strip()
    lowered = value.lower()
    if lowered in MODEL_ALIASES:
        return lowered
    allowed = all(c.isalnum() or c in "-._@[]" for c in lowered)
    if lowered.startswith("claude-") and len(lowered) > len("claude-") + 2 and allowed:
        return lowered
    raise InvalidInput(f"unknown model {value!r}; use opus, sonnet, haiku or a full model id "
                       "such as 'claude-sonnet-4-5'")
