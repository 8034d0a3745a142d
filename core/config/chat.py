"""The chat bots: who may talk to them, the orchestrator's model, voice notes and spoken
pings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from core.config.section import Section
from core.types import Role


class ChatPlatform(Section):
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


class TelegramConfig(ChatPlatform):
    api_base_url: str | None = None  # a self-hosted Bot API server, e.g. http://host:8081/bot


class DiscordConfig(ChatPlatform):
    # The guild(s) (servers) the bot serves; messages and commands from others are ignored.
    # Slash commands are synced to these guilds (instantly), or globally when none is set.
    guild: list[int] = Field(default_factory=list)
    # Discord roles (by id or name) that grant a Gluon role to the members who have them.
    role_map: dict[str, Role] = Field(default_factory=dict)
    # A REST proxy (e.g. http://proxy:8080/api/v10) and gateway proxy in front of Discord.
    api_base_url: str | None = None
    gateway_url: str | None = None


class ChatConfig(Section):
    """The conversational orchestrator: which model turns messages into tool calls."""

    provider: Literal["anthropic", "bedrock", "vertex"] = "anthropic"
    model: str = "claude-haiku-4-5"
    max_tool_rounds: Annotated[int, Field(ge=1, le=50)] = 10
    history_tokens: Annotated[int, Field(ge=1000, le=500_000)] = 24_000
    max_tokens: Annotated[int, Field(ge=256, le=64_000)] = 2048
    aws_region: str | None = None
    vertex_project: str | None = None
    vertex_region: str | None = None


class SpeechSettings(Section):
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


class VoiceSettings(Section):
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
