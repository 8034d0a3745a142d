"""The whole configuration (:class:`Config`, one field per section) and how it is read:
the TOML file, then the environment, validated at once with a one-line message naming the bad
key (see :mod:`core.config`)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.config.agents import (
    AgentsConfig,
    AnthropicConfig,
    ProjectConfig,
)
from core.config.chat import (
    ChatConfig,
    DiscordConfig,
    SpeechSettings,
    TelegramConfig,
    VoiceSettings,
)
from core.config.serving import (
    HOOK_NAME,
    ClusterConfig,
    GitHubConfig,
    HookConfig,
    ServerConfig,
    WebConfig,
    WorkerConfig,
)
from core.config.work import GatesConfig, LoopConfig, MergeConfig, WitnessConfig
from core.config_file import config_path
from core.errors import ConfigError


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
