"""Steps of a scripted model conversation, for `ScriptedModelServer.script()`.

Each step is what the fake model answers to one Messages API request. Build them with the
helper functions (`text`, `tool`, `write`, `bash`, `ask`, `slow_text`, `error`, `hold`) rather
than the classes, so scripts read like the conversation they stand for:

    server.script("SCRIPT:write-hello", [write("hello.txt", "hi\\n"), text("Wrote it.")])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True)
class TextStep:
    """Assistant text, then `end_turn`."""

    text: str


@dataclass(frozen=True)
class ToolStep:
    """An optional text block, then one `tool_use` block; `stop_reason` is `tool_use`."""

    name: str
    input: dict[str, object]
    text: str | None = None


@dataclass(frozen=True)
class SlowTextStep:
    """Text streamed as `chunk` every `interval` seconds for `seconds`, then `end_turn`."""

    seconds: float
    chunk: str = "tick "
    interval: float = 0.05


@dataclass(frozen=True)
class ErrorStep:
    """An HTTP error with an Anthropic error body instead of a message."""

    status: int = 400
    message: str = "scripted failure"
    headers: tuple[tuple[str, str], ...] = ()  # sent with the error, besides x-should-retry

    @property
    def error_type(self) -> str:
        return {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            413: "request_too_large",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(self.status, "api_error")


@dataclass(frozen=True)
class LimitStep:
    """429 with the usage-limit headers until `resets_at`, then `then` (see `usage_limit`)."""

    resets_at: float
    window: str
    then: Step
    resets_in: float | None = None  # the reset is this long after the first refusal

    def refusal(self) -> ErrorStep:
        return ErrorStep(429, "usage limit reached", (
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-reset", str(int(self.resets_at))),
            ("anthropic-ratelimit-unified-representative-claim", self.window)))


@dataclass(frozen=True)
class HoldStep:
    """Answer nothing until `ScriptedModelServer.release(name)`, then answer `then`."""

    name: str
    then: Step = field(default_factory=lambda: TextStep("released"))


Step: TypeAlias = "TextStep | ToolStep | SlowTextStep | ErrorStep | HoldStep | LimitStep"


def text(s: str) -> TextStep:
    """The model says `s` and ends its turn."""
    return TextStep(s)


def tool(name: str, input: dict[str, object], text: str | None = None) -> ToolStep:
    """The model calls tool `name` with `input`, optionally saying `text` first."""
    return ToolStep(name, dict(input), text)


def write(path: str, content: str, text: str | None = None) -> ToolStep:
    """The model calls the Write tool (the CLI wants an absolute `path`, or one under cwd)."""
    return tool("Write", {"file_path": path, "content": content}, text)


def bash(command: str, description: str = "Run a command", text: str | None = None) -> ToolStep:
    """The model calls the Bash tool. The CLI refuses a bare `sleep N`."""
    return tool("Bash", {"command": command, "description": description}, text)


def ask(question: str, options: list[str], header: str = "Choose",
        multi: bool = False) -> ToolStep:
    """The model calls AskUserQuestion (offered by the CLI only when `can_use_tool` is set);
    `multi` lets the person pick several options."""
    question_input: dict[str, object] = {
        "question": question,
        "header": header,
        "options": [{"label": o, "description": f"Pick {o}"} for o in options],
        "multiSelect": multi,
    }
    return tool("AskUserQuestion", {"questions": [question_input]})


def slow_text(seconds: float, chunk: str = "tick ") -> SlowTextStep:
    """The model streams `chunk` every ~0.05 s for `seconds`; stops early if the client leaves."""
    return SlowTextStep(seconds, chunk)


def error(status: int = 400, message: str = "scripted failure") -> ErrorStep:
    """The API answers HTTP `status` with an Anthropic error body (and `x-should-retry: false`).

    What the CLI does with it (ResultMessage `is_error=True`, `result` as quoted):
    - 400: re-sends a few variants of the request at once (6 requests, under 1 s), then
      "API Error: 400 <message>". The default: generic and prompt.
    - 429 / 500 / 529: one request, then "API Error: 500 <message>. This is a server-side
      issue...". Without `x-should-retry: false` the CLI would retry these with backoff for
      minutes, which is why the fake always sends it.
    - 401 / 403: "Failed to authenticate. ..."; 404: "There's an issue with the selected
      model ..."; 413: "Request too large ..." (the message is not shown).
    """
    return ErrorStep(status, message)


def usage_limit(resets_at: float = 0.0, then: Step | None = None,
                window: str = "five_hour", *, resets_in: float | None = None) -> LimitStep:
    """Until ``resets_at`` (unix seconds) the API refuses every request because the account's
    usage limit (a Claude subscription's five-hour or weekly limit) is reached, with the
    ``anthropic-ratelimit-unified-*`` headers the real API sends; from then on it answers
    ``then`` (default: text). A CLI logged in with an OAuth token (``CLAUDE_CODE_OAUTH_TOKEN``)
    emits a ``rate_limit_event`` with status ``rejected`` and ``resetsAt``, and ends the turn
    with "You've hit your 5-hour limit · resets ..." (``error="rate_limit"``, an ``is_error``
    result); with an API key it only says "API Error: Request rejected (429)".

    ``resets_in``: the reset is that many seconds after the first request refused (whenever
    a slow machine's CLI gets to send it); ``ScriptedModelServer.resets`` lists the resets
    announced so."""
    return LimitStep(resets_at, window, then or TextStep("ok"), resets_in)


def hold(name: str, then: Step | None = None) -> HoldStep:
    """The request waits until `server.release(name)`, then gets `then` (default: text)."""
    return HoldStep(name) if then is None else HoldStep(name, then)
