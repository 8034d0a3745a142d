"""The agent edge: one Claude Code session, driven through claude-agent-sdk.

SDK messages are turned into Gluon's own small event types here, so nothing of the SDK's
shapes leaks past this module; the raw message is kept (as JSON) for ``messages.jsonl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from claude_agent_sdk import (
    AssistantMessage,
    CanUseToolShadowedWarning,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    HookContext,
    HookInput,
    HookJSONOutput,
    HookMatcher,
    PermissionResultAllow,
    PermissionResultDeny,
    RateLimitEvent,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ToolPermissionContext,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
from claude_agent_sdk.types import HookEvent

from core.agent.launcher import pid_file, read_pid, write_launcher


@dataclass(frozen=True)
class AgentInit:
    session_id: str
    model: str


@dataclass(frozen=True)
class AgentText:
    text: str


@dataclass(frozen=True)
class AgentToolUse:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class AgentToolResult:
    tool_use_id: str
    is_error: bool
    text: str


@dataclass(frozen=True)
class AgentResult:
    subtype: str
    is_error: bool
    num_turns: int
    session_id: str
    total_cost_usd: float
    input_tokens: int
    output_tokens: int
    result: str | None
    terminal_reason: str | None
    errors: list[str]
    user_message_uuids: list[str]


@dataclass(frozen=True)
class AgentApiRetry:
    """The CLI could not get an answer from the model API and tries again after a delay.
    ``status`` is the HTTP status, None when no answer came at all (unreachable)."""

    attempt: int
    max_retries: int
    delay_seconds: float
    status: int | None
    error: str


@dataclass(frozen=True)
class AgentApiError:
    """The model API failed for good in this turn (the CLI's synthetic assistant message);
    ``kind`` is the CLI's error category (``authentication_failed``, ``server_error``, ...)."""

    kind: str
    text: str


@dataclass(frozen=True)
class AgentUsageLimit:
    """The account's usage limit is reached (a Claude subscription's five-hour or weekly
    limit): the model API refuses requests until ``resets_at`` (seconds since the epoch; None
    when the CLI did not say). ``window`` is the CLI's name for the limit (``five_hour``...)."""

    resets_at: float | None
    window: str


@dataclass(frozen=True)
class AgentSubagent:
    """A subagent the agent spawned (its ``Task`` tool) started, or stopped. ``agent_type`` is
    the subagent's kind (``general-purpose``, ``Explore``, ...). A subagent may run in the
    background: its stop can come after the turn that started it ended."""

    agent_id: str
    agent_type: str
    started: bool


AgentEvent = (AgentInit | AgentText | AgentToolUse | AgentToolResult | AgentResult
              | AgentApiRetry | AgentApiError | AgentUsageLimit | AgentSubagent)


@dataclass(frozen=True)
class Decision:
    """What a person decided about a tool call: allow (maybe with a changed input) or deny."""

    allow: bool
    updated_input: dict[str, Any] | None = None
    message: str = ""


ToolGate = Callable[[str, dict[str, Any], str | None], Awaitable[Decision]]


@dataclass
class AgentSpec:
    """Everything one agent process starts with.

    ``command`` is what runs the CLI (its sandbox wrapper, then the CLI itself) and ``env`` the
    agent's whole environment; both reach the process through a launcher script written in
    ``launcher_dir`` for the moment of the start (see :mod:`core.agent.launcher`).
    """

    cwd: Path
    model: str
    session_id: str
    resume: bool
    command: list[str]
    env: dict[str, str]
    launcher_dir: Path
    fork: bool = False
    permission_mode: Literal["default", "acceptEdits", "bypassPermissions"] = "acceptEdits"
    allowed_tools: list[str] = field(default_factory=list)
    max_budget_usd: float | None = None
    setting_sources: list[Literal["user", "project", "local"]] = field(default_factory=list)
    settings: dict[str, Any] | None = None
    append_system_prompt: str | None = None
    stderr: Callable[[str], None] | None = None

    def fixed_at_start(self) -> tuple[object, ...]:
        """What a running agent cannot change any more (unlike its model and, for a warm agent
        handed to a run, its session id, which the run takes over)."""
        return (self.cwd, self.resume, self.fork, tuple(self.command), sorted(self.env.items()),
                self.permission_mode, tuple(self.allowed_tools), self.max_budget_usd,
                tuple(self.setting_sources), json.dumps(self.settings, sort_keys=True),
                self.append_system_prompt)


class AgentSession(Protocol):
    async def send(self, text: str) -> str:
        """Send a user message (a new turn, or injected into the running one); return its uuid."""

    async def interrupt(self) -> None: ...

    async def set_model(self, model: str) -> None:
        """Use ``model`` from the next model request on."""

    def events(self) -> AsyncIterator[tuple[AgentEvent | None, dict[str, Any]]]:
        """Every message of the session as (Gluon event or None, raw JSON-able dict)."""

    async def close(self) -> None: ...


class AgentRunner(Protocol):
    async def open(self, spec: AgentSpec, gate: ToolGate) -> AgentSession: ...


def _jsonable(message: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(message) and not isinstance(message, type):
        data = dataclasses.asdict(message)
    else:
        data = {"repr": repr(message)}
    data["type"] = type(message).__name__
    return data


def _tool_result_text(block: ToolResultBlock) -> str:
    if isinstance(block.content, str):
        return block.content
    parts = [str(p.get("text", "")) for p in block.content or [] if isinstance(p, dict)]
    return "\n".join(parts)


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _api_retry(data: dict[str, Any]) -> AgentApiRetry:
    status = data.get("error_status")
    return AgentApiRetry(attempt=_int(data.get("attempt")),
                         max_retries=_int(data.get("max_retries")),
                         delay_seconds=_int(data.get("retry_delay_ms")) / 1000,
                         status=status if isinstance(status, int) else None,
                         error=str(data.get("error") or "unknown"))


def translate(message: object) -> list[AgentEvent]:
    """The Gluon events one SDK message stands for."""
    if isinstance(message, SystemMessage) and message.subtype == "init":
        return [AgentInit(session_id=str(message.data.get("session_id", "")),
                          model=str(message.data.get("model", "")))]
    if isinstance(message, SystemMessage) and message.subtype == "api_retry":
        return [_api_retry(message.data)]
    if isinstance(message, RateLimitEvent):
        info = message.rate_limit_info
        if info.status != "rejected":
            return []  # a warning on the way to the limit, not the limit
        return [AgentUsageLimit(float(info.resets_at) if info.resets_at else None,
                                str(info.rate_limit_type or "usage"))]
    if isinstance(message, AssistantMessage) and message.parent_tool_use_id is None:
        if message.error is not None:
            text = " ".join(b.text for b in message.content if isinstance(b, TextBlock))
            return [AgentApiError(str(message.error), text.strip())]
        out: list[AgentEvent] = []
        for block in message.content:
            if isinstance(block, TextBlock) and block.text.strip():
                out.append(AgentText(block.text))
            elif isinstance(block, ToolUseBlock):
                out.append(AgentToolUse(block.id, block.name, dict(block.input)))
        return out
    if isinstance(message, UserMessage) and isinstance(message.content, list):
        return [AgentToolResult(b.tool_use_id, bool(b.is_error), _tool_result_text(b))
                for b in message.content if isinstance(b, ToolResultBlock)]
    if isinstance(message, ResultMessage):
        usage = message.usage or {}
        uuids = list(message.user_message_uuids or [])
        if not uuids and message.user_message_uuid:
            uuids = [message.user_message_uuid]
        return [AgentResult(
            subtype=message.subtype, is_error=message.is_error, num_turns=message.num_turns,
            session_id=message.session_id, total_cost_usd=float(message.total_cost_usd or 0.0),
            input_tokens=int(usage.get("input_tokens", 0) or 0)
            + int(usage.get("cache_read_input_tokens", 0) or 0)
            + int(usage.get("cache_creation_input_tokens", 0) or 0),
            output_tokens=int(usage.get("output_tokens", 0) or 0),
            result=message.result, terminal_reason=message.terminal_reason,
            errors=[str(e) for e in message.errors or []], user_message_uuids=uuids)]
    return []


@dataclass(frozen=True)
class _StreamEnd:
    error: BaseException | None


class _Hooks:
    """The CLI's hook callbacks Gluon listens to, as events queued for :meth:`SdkSession.events`.

    A callback runs before the CLI goes on (it waits for the answer), so an event is queued
    before any message the CLI sends after it; the subagent's stop in particular comes before
    the result of the turn that reads its output.
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()

    async def _subagent(self, hook_input: HookInput, tool_use_id: str | None,
                        context: HookContext) -> HookJSONOutput:
        data = cast(dict[str, Any], hook_input)
        self.queue.put_nowait(AgentSubagent(
            agent_id=str(data.get("agent_id", "")), agent_type=str(data.get("agent_type", "")),
            started=data.get("hook_event_name") == "SubagentStart"))
        return {}  # no opinion: the subagent goes on (or stops) as it would

    def options(self) -> dict[HookEvent, list[HookMatcher]]:
        return {"SubagentStart": [HookMatcher(hooks=[self._subagent])],
                "SubagentStop": [HookMatcher(hooks=[self._subagent])]}


class SdkSession:
    """A live ClaudeSDKClient. Owned by one run supervisor task."""

    def __init__(self, client: ClaudeSDKClient, session_id: str, hooks: _Hooks,
                 pid: int | None = None) -> None:
        self._client = client
        self._session_id = session_id
        self._hooks = hooks
        self._closed = False
        self._pid = pid

    async def send(self, text: str) -> str:
        message_uuid = str(uuid.uuid4())

        async def one() -> AsyncIterator[dict[str, Any]]:
            yield {"type": "user", "message": {"role": "user", "content": text},
                   "parent_tool_use_id": None, "session_id": self._session_id,
                   "uuid": message_uuid}

        await self._client.query(one())
        return message_uuid

    @property
    def pid(self) -> int | None:
        """The agent's process: the launcher's, which exec'd the CLI (in its sandbox when there
        is one); None when the launcher could not say."""
        return self._pid

    async def interrupt(self) -> None:
        await self._client.interrupt()

    async def set_model(self, model: str) -> None:
        await self._client.set_model(model)

    async def _pump(self) -> None:
        """The CLI's messages, into the queue the hook callbacks write to."""
        queue = self._hooks.queue
        try:
            async for message in self._client.receive_messages():
                queue.put_nowait(message)
        except Exception as exc:
            queue.put_nowait(_StreamEnd(exc))
        else:
            queue.put_nowait(_StreamEnd(None))

    async def events(self) -> AsyncIterator[tuple[AgentEvent | None, dict[str, Any]]]:
        pump = asyncio.create_task(self._pump(), name="agent-messages")
        try:
            while True:
                item = await self._hooks.queue.get()
                if isinstance(item, _StreamEnd):
                    if item.error is not None:
                        raise item.error
                    return
                if isinstance(item, AgentSubagent):
                    yield item, {"type": "SubagentStart" if item.started else "SubagentStop",
                                 "agent_id": item.agent_id, "agent_type": item.agent_type}
                    continue
                raw = _jsonable(item)
                translated = translate(item)
                if not translated:
                    yield None, raw
                for i, event in enumerate(translated):
                    yield event, (raw if i == 0 else {})
        finally:
            pump.cancel()
            with contextlib.suppress(BaseException):
                await pump

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.disconnect()


class SdkRunner:
    """Starts Claude Code sessions with claude-agent-sdk."""

    async def open(self, spec: AgentSpec, gate: ToolGate) -> AgentSession:
        async def can_use_tool(name: str, tool_input: dict[str, Any],
                               ctx: ToolPermissionContext
                               ) -> PermissionResultAllow | PermissionResultDeny:
            decision = await gate(name, tool_input, ctx.tool_use_id)
            if decision.allow:
                return PermissionResultAllow(updated_input=decision.updated_input)
            return PermissionResultDeny(message=decision.message or "Denied by the user")

        settings = json.dumps(spec.settings) if spec.settings else None
        system_prompt: Any = {"type": "preset", "preset": "claude_code"}
        if spec.append_system_prompt:
            system_prompt["append"] = spec.append_system_prompt
        # The launcher exists only while the CLI starts: once the CLI answers, it has exec'd.
        hooks = _Hooks()
        launcher = write_launcher(spec.launcher_dir / f"{secrets.token_hex(8)}.sh",
                                  spec.command, list(spec.env))
        try:
            options = ClaudeAgentOptions(
                cwd=str(spec.cwd), model=spec.model, permission_mode=spec.permission_mode,
                allowed_tools=list(spec.allowed_tools), max_budget_usd=spec.max_budget_usd,
                cli_path=str(launcher), env=dict(spec.env),
                setting_sources=list(spec.setting_sources), settings=settings,
                system_prompt=system_prompt, can_use_tool=can_use_tool, stderr=spec.stderr,
                hooks=hooks.options(),
                resume=spec.session_id if spec.resume else None, fork_session=spec.fork,
                session_id=None if spec.resume else spec.session_id,
            )
            client = ClaudeSDKClient(options)
            with warnings.catch_warnings():
                # Pre-approving a whole tool (a project's policy) is what we mean to do.
                warnings.simplefilter("ignore", CanUseToolShadowedWarning)
                await client.connect()
            pid = read_pid(launcher)
        finally:
            with contextlib.suppress(OSError):
                launcher.unlink()
            with contextlib.suppress(OSError):
                pid_file(launcher).unlink()
        return SdkSession(client, spec.session_id, hooks, pid)
