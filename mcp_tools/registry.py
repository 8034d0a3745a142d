"""How a Gluon operation becomes an MCP tool, written once for every tool: who is calling and
with which role, the confirmation that destructive tools need on some surfaces, the audit
trail, annotations and error mapping."""

from __future__ import annotations

import difflib
import functools
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import ValidationError

from core.access.activity import ActivityLog
from core.errors import UserError
from core.types import Role
from mcp_tools.stdio import stdio_streams

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

ERROR_PREFIX = "Error executing tool "


@dataclass(frozen=True)
class PendingAction:
    """A destructive call held until the user confirms it."""

    tool: str
    arguments: dict[str, Any]
    preview: str  # what would happen, in one sentence


@dataclass(frozen=True)
class Caller:
    """Who calls a tool. ``confirm`` is set by surfaces where destructive tools wait for the
    user's confirmation (chat): it receives the held call and returns what the model is told.
    ``confirmed`` marks the call made once the user has confirmed."""

    actor: str
    role: Role = Role.ADMIN
    confirm: Callable[[PendingAction], Awaitable[str]] | None = None
    confirmed: bool = False
    where: str = ""  # the conversation a chat call came from (platform:chat:thread)
    name: str = ""  # how the person is called there (a chat user's first name), if known



# The caller of tools on this surface when the request does not say otherwise: set by the
# process before it connects its in-process client ("cli", "mcp", ...).
default_caller: ContextVar[Caller] = ContextVar(
    "default_caller", default=Caller("mcp"))  # noqa: B039 (Caller is frozen)
# The caller of the tool call being executed (set by the wrapper).
_active: ContextVar[Caller | None] = ContextVar("active_caller", default=None)

CallerResolver = Callable[[Context], Caller]
Preview = Callable[..., Awaitable[str]]

_ACTOR = re.compile(r"[A-Za-z0-9:_.@-]{1,64}")


def caller() -> Caller:
    """The caller of the tool being executed."""
    return _active.get() or default_caller.get()


def actor() -> str:
    return caller().actor


def resolve_default(ctx: Context) -> Caller:
    """Local and bearer-token callers are admins; over HTTP the ``X-Gluon-Actor`` header only
    labels the audit entries (e.g. ``cli``)."""
    base = default_caller.get()
    try:
        headers: Mapping[str, str] | None = ctx.headers
    except ValueError:
        headers = None
    label = (headers or {}).get("x-gluon-actor")
    if label and _ACTOR.fullmatch(label):
        return Caller(label, base.role, base.confirm, base.confirmed, base.where, base.name)
    return base


def error_text(text: str) -> str:
    """The user-facing part of an MCP tool error ("Error executing tool x: <this>")."""
    if text.startswith(ERROR_PREFIX) and ": " in text:
        return text.split(": ", 1)[1]
    return text


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _enum_values(schema: dict[str, Any], node: Any, depth: int = 0) -> list[Any]:
    """The enumerated values a (sub)schema accepts, following $ref, anyOf and items."""
    if not isinstance(node, dict) or depth > 5:
        return []
    if "enum" in node:
        return list(node["enum"])
    if "const" in node:
        return [node["const"]]
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _enum_values(schema, schema.get("$defs", {}).get(ref[8:]), depth + 1)
    found: list[Any] = []
    for sub in node.get("anyOf", []):
        found += _enum_values(schema, sub, depth + 1)
    return found + _enum_values(schema, node.get("items"), depth + 1)


def describe_validation(tool: str, exc: ValidationError,
                        schema: dict[str, Any] | None = None) -> str:
    """One line naming each bad parameter, what it accepts and what it got."""
    schema = schema or {}
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "missing":
            parts.append(f"{where} is required")
            continue
        msg = str(err["msg"]).replace("Input should be", "should be")
        prop = schema.get("properties", {}).get(str(err["loc"][0])) if err["loc"] else None
        values = _enum_values(schema, prop)
        if values and err["type"] not in ("enum", "literal_error"):
            msg += f" of: {', '.join(map(str, values))}"
        parts.append(f"{where} {msg} (got {_shown(err.get('input'))})")
    return f"invalid arguments for {tool}: " + "; ".join(parts)


# Everything str.splitlines() breaks a line at, shown escaped instead.
_LINE_BREAKS = {ord(c): ascii(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """``text`` on one line: a line break inside it (from a caller's own text, say) is
    shown as its escape."""
    return text.translate(_LINE_BREAKS)


def describe_crash(exc: BaseException) -> str:
    """An unexpected exception in one line: its type and its message."""
    detail = " ".join(str(exc).split())
    if len(detail) > 300:
        detail = detail[:297] + "..."
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def crash_message(tool: str, exc: BaseException) -> str:
    """What a caller is told about a failure that is not theirs to fix."""
    return f"{tool} failed: {describe_crash(exc)} (see the daemon log for the traceback)"


class GluonServer(MCPServer):
    """An MCPServer whose argument errors are one line naming the parameter, and whose unknown
    tools and unknown arguments suggest what was meant."""

    async def run_stdio_async(self) -> None:
        """Serve over stdin/stdout, answering every line it cannot decode with an error."""
        async with stdio_streams() as (read, write):
            await self._lowlevel_server.run(
                read, write, self._lowlevel_server.create_initialization_options())

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context | None = None
                        ) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is None:
            close = difflib.get_close_matches(name, [t.name for t in
                                                     self._tool_manager.list_tools()], n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see tools/list"
            raise ToolError(f"unknown tool {name!r}{hint}")
        accepted = list(tool.parameters.get("properties", {}))
        unknown = [k for k in arguments if k not in accepted]
        if unknown:
            close = difflib.get_close_matches(unknown[0], accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ToolError(f"{name} has no argument {unknown[0]!r}{hint}; it accepts: "
                            f"{', '.join(accepted) or 'no arguments'}")
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            # Past the tool itself (its result did not convert): still one line with a reason.
            cause = exc.__cause__ or exc
            log.error("%s failed", name, exc_info=cause)
            raise ToolError(crash_message(name, cause)) from cause
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(describe_validation(name, exc.__cause__, tool.parameters)
                                ) from exc.__cause__
            if one_line(str(exc)) != str(exc):
                raise ToolError(one_line(str(exc))) from exc
            raise


class ToolKit:
    """Registers tools on one server; each tool is a small typed async function.

    Roles: a viewer may call read-only tools, an operator every tool but the admin ones
    (projects, workspaces, settings, budgets, tool policy, cleanup), an admin all of them. A
    tool that changes only the caller's own things (their sign-in links to the status page)
    names the least role it needs with ``role``, which may be below what its effects imply.
    """

    def __init__(self, server: MCPServer, activity: ActivityLog,
                 resolve: CallerResolver = resolve_default) -> None:
        self.server = server
        self.activity = activity
        self.resolve = resolve
        self.names: list[str] = []
        self.destructive: set[str] = set()
        self.read_only: set[str] = set()
        self.admin: set[str] = set()
        self.roles: dict[str, Role] = {}  # tools that name their least role themselves
        # Per tool: the parameter that, left empty, means the caller (see ``tool``).
        self.caller_params: dict[str, str] = {}
        self.previews: dict[str, Preview] = {}

    def required_role(self, name: str) -> Role:
        if name in self.roles:
            return self.roles[name]
        if name in self.read_only:
            return Role.VIEWER
        return Role.ADMIN if name in self.admin else Role.OPERATOR

    def tool(self, *, read_only: bool = False, destructive: bool = False,
             idempotent: bool = False, admin: bool = False, role: Role | None = None,
             preview: Preview | None = None, caller_param: str | None = None,
             ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """Register a tool. ``role`` is the least role that may call it (default: viewer for
        read-only tools, admin for ``admin`` ones, else operator). ``caller_param`` names a
        parameter that, left empty, means the caller: a call held for confirmation gets it
        filled in, so whoever confirms it (an admin, say) acts on what the person who asked
        meant, not on their own things."""

        def register(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            name = fn.__name__

            @functools.wraps(fn)
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                ctx = kwargs.pop("gluon_ctx", None)
                who = self.resolve(ctx) if isinstance(ctx, Context) else caller()
                token = _active.set(who)
                try:
                    return await self._call(name, fn, who, kwargs, read_only)
                finally:
                    _active.reset(token)

            sig = inspect.signature(fn, eval_str=True)
            wrapper.__signature__ = sig.replace(parameters=[  # type: ignore[attr-defined]
                *sig.parameters.values(),
                inspect.Parameter("gluon_ctx", inspect.Parameter.KEYWORD_ONLY,
                                  annotation=Context)])
            wrapper.__annotations__ = {**fn.__annotations__, "gluon_ctx": Context}
            annotations = ToolAnnotations(read_only_hint=read_only,
                                          destructive_hint=destructive,
                                          idempotent_hint=idempotent or read_only,
                                          open_world_hint=False)
            self.server.tool(name=name, description=inspect.cleandoc(fn.__doc__ or ""),
                             annotations=annotations, structured_output=True)(wrapper)
            self.names.append(name)
            if destructive:
                self.destructive.add(name)
                if preview is not None:
                    self.previews[name] = preview
            if read_only:
                self.read_only.add(name)
            if admin:
                self.admin.add(name)
            if role is not None:
                self.roles[name] = role
            if caller_param is not None:
                self.caller_params[name] = caller_param
            return wrapper

        return register

    async def _call(self, name: str, fn: Callable[..., Awaitable[R]], who: Caller,
                    kwargs: dict[str, Any], read_only: bool) -> R:
        needed = self.required_role(name)
        if not who.role.at_least(needed):
            message = (f"{name} needs the {needed} role and {who.actor} is a {who.role}; "
                       "an admin can change roles in the config")
            await self._audit(who, name, kwargs, f"refused: {message}")
            raise ToolError(message)
        if name in self.destructive and who.confirm is not None and not who.confirmed:
            preview = await self.preview(name, kwargs)
            held = dict(kwargs)
            if (param := self.caller_params.get(name)) is not None and not held.get(param):
                held[param] = who.actor
            told = await who.confirm(PendingAction(name, held, preview))
            await self._audit(who, name, kwargs, "held for confirmation")
            raise ToolError(told)
        try:
            result = await fn(**kwargs)
        except UserError as exc:
            if not read_only:
                await self._audit(who, name, kwargs, f"refused: {exc}")
            raise ToolError(str(exc)) from exc
        except (ToolError, MCPError):
            raise
        except Exception as exc:
            log.error("%s failed", name, exc_info=exc)
            await self._audit(who, name, kwargs, f"failed: {describe_crash(exc)}")
            raise ToolError(crash_message(name, exc)) from exc
        if not read_only:
            await self._audit(who, name, kwargs, "ok")
        return result

    async def preview(self, name: str, arguments: dict[str, Any]) -> str:
        """What a destructive call would do, in one sentence (raises UserError as ToolError
        when the call could not happen at all, e.g. an unknown run)."""
        fn = self.previews.get(name)
        if fn is None:
            args = ", ".join(f"{k}={_shown(v)}" for k, v in arguments.items())
            return f"{name}({args})"
        try:
            return await fn(**arguments)
        except UserError as exc:
            raise ToolError(str(exc)) from exc

    async def _audit(self, who: Caller, name: str, arguments: dict[str, Any],
                     outcome: str) -> None:
        shown = {k: (v if len(str(v)) < 200 else str(v)[:200] + "...")
                 for k, v in arguments.items()}
        try:
            await self.activity.record(who.actor, f"tool.{name}", str(shown), outcome[:500],
                                       who.where)
        except Exception:
            log.exception("could not write the audit entry for %s", name)


def tool_error(result: CallToolResult) -> str:
    """The one-line message of an error result."""
    return error_text(" ".join(getattr(c, "text", "") for c in result.content))
