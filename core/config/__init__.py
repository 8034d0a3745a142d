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

Each section's settings are declared in the module of its concern (agents, chat, work,
serving); :mod:`core.config.settings` puts them together and reads them. Public names load
their module on first use (see :mod:`core.exports`).
"""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.config.agents import MODEL_ALIASES as MODEL_ALIASES
    from core.config.agents import AgentsConfig as AgentsConfig
    from core.config.agents import AnthropicConfig as AnthropicConfig
    from core.config.agents import ProjectConfig as ProjectConfig
    from core.config.agents import resolve_model as resolve_model
    from core.config.chat import ChatConfig as ChatConfig
    from core.config.chat import DiscordConfig as DiscordConfig
    from core.config.chat import SpeechSettings as SpeechSettings
    from core.config.chat import TelegramConfig as TelegramConfig
    from core.config.chat import VoiceSettings as VoiceSettings
    from core.config.serving import HOOK_NAME as HOOK_NAME
    from core.config.serving import WORKER_NAME as WORKER_NAME
    from core.config.serving import ClusterConfig as ClusterConfig
    from core.config.serving import GitHubConfig as GitHubConfig
    from core.config.serving import HookConfig as HookConfig
    from core.config.serving import ServerConfig as ServerConfig
    from core.config.serving import WebConfig as WebConfig
    from core.config.serving import WorkerConfig as WorkerConfig
    from core.config.settings import Config as Config
    from core.config.settings import load_config as load_config
    from core.config.work import GatesConfig as GatesConfig
    from core.config.work import LoopConfig as LoopConfig
    from core.config.work import MergeConfig as MergeConfig
    from core.config.work import WitnessConfig as WitnessConfig

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "AgentsConfig": "agents",
    "AnthropicConfig": "agents",
    "MODEL_ALIASES": "agents",
    "ProjectConfig": "agents",
    "resolve_model": "agents",
    "ChatConfig": "chat",
    "DiscordConfig": "chat",
    "SpeechSettings": "chat",
    "TelegramConfig": "chat",
    "VoiceSettings": "chat",
    "ClusterConfig": "serving",
    "GitHubConfig": "serving",
    "HOOK_NAME": "serving",
    "HookConfig": "serving",
    "ServerConfig": "serving",
    "WORKER_NAME": "serving",
    "WebConfig": "serving",
    "WorkerConfig": "serving",
    "Config": "settings",
    "load_config": "settings",
    "GatesConfig": "work",
    "LoopConfig": "work",
    "MergeConfig": "work",
    "WitnessConfig": "work",
})
