"""The conversational orchestrator: a model in a tool loop over Gluon's own MCP tools.

Each chat message becomes one turn: the model sees the tools (filtered by the speaker's role),
the conversation's history and a short live context (projects, this conversation's runs and
their open questions), calls tools through an in-process MCP client, and answers. The system
prompt, the tool definitions and the history carry ``cache_control`` breakpoints, so turns
after the first read that prefix from the prompt cache; the live context goes after it.

Destructive tools called from chat are held by the tool layer until the speaker presses a
confirmation button (see ``confirm``); nothing destructive happens on the model's word alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
from mcp import Client
from mcp.types import RequestParamsMeta

from bots.chat import files
from bots.chat.conversations import Conversations, Message
from bots.chat.store import ChatStore, HeldCall
from bots.chat.types import Button, Confirm, Outcome, Reply, Speaker
from core.config import ChatConfig, Config
from core.errors import ConfigError
from core.runtime import Runtime
from core.types import Role
from mcp_tools.callers import CALLER_META
from mcp_tools.registry import Caller, PendingAction, tool_error
from mcp_tools.server import Tools, build_tools

log = logging.getLogger(__name__)

CONFIRM_TTL_SECONDS = 15 * 60
MAX_TOOL_RESULT_CHARS = 16_000
MAX_MESSAGE_CHARS = 20_000
RUN_STARTERS = {"start_run", "fork_run", "resume_run", "recover_run", "resolve_conflicts",
                "queue_work", "run_formula"}

SYSTEM_PROMPT = """\
You are Gluon, a chat assistant that runs Claude Code coding agents on the user's git \
projects. Each run is an agent working in its own git worktree and branch. You act only \
through your tools; you never edit code yourself.

How to work:
- Turn the user's request into tool calls. Start work with start_run (a clear, self-contained \
prompt for the agent, the project, and a model only if the user asked for one). Find projects \
with list_projects and runs with list_runs; refer to runs by their 8-character id. Before \
start_run, call estimate_run_cost and, when it has an estimate, say it in your reply \
("usually $0.40–1.20").
- "Keep going until the auth system is done, at most $10" (work the agent should carry on \
by itself until it is finished): start_run with loop=true, and max_cost_usd (10) and \
max_loops when the user gives a limit. The agent is told to continue after each reply until \
it says the task is done; a circuit breaker stops it when nothing changes. "How far is the \
loop?": get_loop_status.
- "What's running?" and similar: list_runs or get_run, then answer in a few short lines.
- "What needs me?", "anything for me?" and similar: list_attention, then name each item \
oldest first in one short line (what it is, its run or project, how long it has waited) and \
the tool that deals with it.
- Work for later or in bulk goes to the queue: queue_work (one call per task, with a \
priority or a start_at time when the user gives one); "what's queued?": list_queue; move an \
item with reprioritize_queued, take one out with cancel_queued.
- Recurring work ("every weekday at 7 run the flaky test hunt on api"): add_schedule, with \
a 5-field cron expression you write from the user's words ('0 7 * * mon-fri') and the time \
zone if they name one; list_schedules, pause_schedule, resume_schedule, remove_schedule.
- Formulas are multi-step workflows run as one run (bugfix: diagnose, fix, test; feature: \
plan, implement, test, review; list_formulas shows them all). "run the bugfix formula on api: \
login fails on expired tokens" is run_formula(name="bugfix", project="api", vars={"description": \
"login fails on expired tokens"}); show_formula tells a formula's variables.
- Steer a working run with steer_run, stop it with interrupt_run or cancel_run, continue an \
ended one with resume_run. recover_run continues an ended run in a fresh session with a \
summary of its work (Gluon does it by itself when a conversation outgrows the model's context).
- Merging goes through the merge queue: enqueue_merge with the runs ("merge it"), or with the \
project for "merge the green ones" (every finished run of it); "what's in the merge queue?": \
list_merge_queue; retry_merge and cancel_merge for an entry. merge_run merges one run at once \
without rebasing or checks: only when the user asks for exactly that.
- After a run's work Gluon runs the project's quality gates (lint auto-fix, lint, tests) and \
asks the agent to fix what fails; "did the tests pass?", "why did lint fail?": \
get_gate_results (get_run shows each gate's latest outcome).
- Gluon's witness watches live runs (looping, stuck, stalled, zombie) and says so under the \
run; "is it stuck?", "what's wrong with it?": get_run_health; "that's a false alarm": \
silence_run_health.
- Asked for a file from a run ("send me the new schema.sql", "show me the screenshot"): \
get_run_file with the run and the file's path, name or a glob; the file goes to the chat with \
your reply (as a link when it is too big), so say which file it is and never paste its content.
- The agent's questions and permission requests reach the user as buttons; you may answer \
them with answer_question or decide_permission only when the user tells you the answer.
- Destructive tools (enqueue_merge, cancel_merge, merge_run, cancel_run, cancel_queued, \
remove_schedule, archive_run, delete_branch, remove_project, cleanup, revoke_web_sessions) \
wait for the user to press a confirmation button. When a tool says it is waiting for \
confirmation, tell the user what will happen and do not call it again.
- Never claim something happened unless a tool result says so. If a tool fails, say why in \
one line and what the user can do.
- A link to the status page (the board of runs in a browser): call create_web_link. The \
link goes to the person privately and is never shown to you; say where it went. Signing \
them out of the page is revoke_web_sessions. Never write a sign-in link yourself.
- If the request is ambiguous (several matching runs or projects), ask which one.
- Be brief: this is a chat. Plain sentences, short lists, `code` for ids and branch names.
"""


@dataclass(frozen=True)
class Confirmation:
    id: str
    speaker: Speaker
    action: PendingAction
    created_at: float


@dataclass
class Hints:
    """Direct forms inside free text: ``--model opus`` and ``project:NAME`` (or ``-p NAME``,
    ``--project NAME``)."""

    text: str
    model: str | None = None
    project: str | None = None


_MODEL_FLAG = re.compile(r"(?:^|\s)--model[ =]([\w.\-]+)")
_PROJECT = re.compile(r"(?:^|\s)(?:project:|-p |--project[ =])([\w.\-]+)")


def parse_hints(text: str) -> Hints:
    model = _MODEL_FLAG.search(text)
    project = _PROJECT.search(text)
    stripped = _PROJECT.sub(" ", _MODEL_FLAG.sub(" ", text))
    return Hints(" ".join(stripped.split()) if (model or project) else text.strip(),
                 model.group(1) if model else None, project.group(1) if project else None)


def make_llm(config: Config) -> anthropic.AsyncAnthropic | Any:
    """The Messages API client for the configured provider."""
    chat = config.chat
    if chat.provider == "bedrock":
        return anthropic.AsyncAnthropicBedrock(aws_region=chat.aws_region)
    if chat.provider == "vertex":
        if chat.vertex_project is None:
            raise ConfigError("chat.vertex_project is required with chat.provider = "
                              "\"vertex\"")
        return anthropic.AsyncAnthropicVertex(project_id=chat.vertex_project,
                                              region=chat.vertex_region or "us-east5")
    key = config.anthropic.api_key
    return anthropic.AsyncAnthropic(
        api_key=key.get_secret_value() if key else None, base_url=config.anthropic.base_url,
        max_retries=2)


class Orchestrator:
    def __init__(self, runtime: Runtime, llm: Any, chat: ChatConfig | None = None,
                 tools: Tools | None = None) -> None:
        self.runtime = runtime
        self.llm = llm
        self.chat = chat or runtime.config.chat
        self.store = ChatStore.of(runtime)
        self.conversations = Conversations(self.store)
        # The process's MCP server, shared with /mcp (the daemon passes it); each call names
        # its speaker through a key registered in tools.callers.
        tools = tools or build_tools(runtime)
        self.server, self.kit, self._callers = tools.server, tools.kit, tools.callers
        # Per platform: called when a conversation starts following a run, before its
        # reports flow; may return the thread (topic) the run's reports go to.
        self.link_hooks: dict[str, Callable[[str, Speaker], Awaitable[str | None]]] = {}
        # Per platform: the defaults of where the speaker is (a channel's project and model).
        self.defaults_hooks: dict[str, Callable[[Speaker], Awaitable[Hints]]] = {}
        # Per platform: send a message only the speaker reads (their private chat with the
        # bot); False when the platform refuses (they never started a chat with the bot).
        self.private_hooks: dict[str, Callable[[Speaker, Reply], Awaitable[bool]]] = {}
        self._tools: dict[Role, list[dict[str, Any]]] = {}
        self._client: asyncio.Future[Client] | None = None
        self._closing = asyncio.Event()
        self._owner: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Client]:
        """The in-process MCP client. One client serves every message (so it lists the tools
        and compiles their output schemas once); a task of its own enters and leaves it, as
        anyio requires."""
        if self._client is None:
            self._client = asyncio.get_running_loop().create_future()
            self._owner = asyncio.create_task(self._own_client(self._client),
                                              name="orchestrator-mcp-client")
        yield await asyncio.shield(self._client)

    async def _own_client(self, ready: asyncio.Future[Client]) -> None:
        try:
            async with Client(self.server) as client:
                ready.set_result(client)
                await self._closing.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def close(self) -> None:
        self._closing.set()
        if self._owner is not None:
            with contextlib.suppress(Exception):
                await self._owner

    async def call_tool(self, client: Client, speaker: Speaker, name: str,
                        arguments: dict[str, Any], *, confirmed: bool = False,
                        held: list[Confirmation] | None = None
                        ) -> tuple[bool, dict[str, Any] | None, str]:
        """Call a tool as the speaker: (ok, structured result, text)."""

        async def confirm(action: PendingAction) -> str:
            confirmation = Confirmation(secrets.token_hex(6), speaker, action, time.time())
            await self.store.hold(HeldCall(
                confirmation.id, json.dumps(dataclasses.asdict(speaker)), action.tool,
                json.dumps(action.arguments), action.preview, confirmation.created_at))
            if held is not None:
                held.append(confirmation)
            return (f"Not done yet: this waits for {speaker.name} to press the confirmation "
                    f"button shown with your reply. It would {action.preview}.")

        who = Caller(speaker.actor, speaker.role, confirm=confirm, confirmed=confirmed,
                     where=speaker.conversation, name=speaker.name)
        with self._callers.bound(who) as key:
            result = await client.call_tool(name, arguments, meta=RequestParamsMeta(
                **{CALLER_META: key}))  # type: ignore[misc]
        if result.is_error:
            return False, None, tool_error(result)
        text = "\n".join(getattr(c, "text", "") for c in result.content)
        return True, dict(result.structured_content or {}), text

    async def tools_for(self, client: Client, role: Role) -> list[dict[str, Any]]:
        """Anthropic tool definitions of what this role may call; the last one carries the
        cache breakpoint that covers them all."""
        if role not in self._tools:
            listed = (await client.list_tools()).tools
            allowed = [t for t in listed if self._allowed(role, t.name)]
            defs = [{"name": t.name, "description": t.description or "",
                     "input_schema": t.input_schema} for t in allowed]
            if defs:
                defs[-1]["cache_control"] = {"type": "ephemeral"}
            self._tools[role] = defs
        return self._tools[role]

    def _allowed(self, role: Role, tool: str) -> bool:
        return role.at_least(self.kit.required_role(tool))

    # -- one message -----------------------------------------------------------------------

    async def handle(self, speaker: Speaker, text: str,
                     attachments: list[str] | None = None) -> Reply:
        """One message (with the paths of files sent with it, saved under uploads/)."""
        if len(text) > MAX_MESSAGE_CHARS:
            return Reply(f"That message is {len(text):,} characters; I take up to "
                         f"{MAX_MESSAGE_CHARS:,}. Send the long part as a file instead.",
                         error=True)
        async with self.session() as client:
            return await self._handle(client, speaker, text, attachments or [])

    async def _handle(self, client: Client, speaker: Speaker, text: str,
                      attachments: list[str]) -> Reply:
        hints = parse_hints(text)
        defaults = await self.defaults(speaker)
        model_hint = hints.model or defaults.model
        project_hint = hints.project or defaults.project
        history = await self.conversations.history(speaker.conversation,
                                                   self.chat.history_tokens)
        context = await self.live_context(speaker, model_hint, project_hint)
        if attachments:
            context += ("\nFiles sent with this message (they go to the runs it starts): "
                        + ", ".join(Path(a).name for a in attachments))
        user: Message = {"role": "user", "content": [
            {"type": "text", "text": context}, {"type": "text", "text": hints.text}]}
        new: list[Message] = [user]
        held: list[Confirmation] = []
        reply = Reply("")
        done: list[str] = []  # what the tools did, for when the model fails half-way
        tools = await self.tools_for(client, speaker.role)
        for _ in range(self.chat.max_tool_rounds):
            try:
                response = await self.llm.messages.create(
                    model=self.chat.model, max_tokens=self.chat.max_tokens,
                    system=[{"type": "text", "text": SYSTEM_PROMPT,
                             "cache_control": {"type": "ephemeral"}}],
                    tools=tools, messages=with_breakpoint(history) + new)
            except anthropic.APIError as exc:
                return await self._model_failed(speaker, new, done, held, reply, exc)
            assistant = {"role": "assistant", "content": [_block(b) for b in response.content]}
            new.append(assistant)
            uses = [b for b in response.content if b.type == "tool_use"]
            if response.stop_reason != "tool_use" or not uses:
                reply.text = "\n".join(b.text for b in response.content
                                       if b.type == "text").strip() or "Done."
                break
            results = []
            for use in uses:
                args = self._apply_hints(use.name, dict(use.input or {}), model_hint,
                                         project_hint)
                if use.name == "start_run" and attachments:
                    args["attachments"] = attachments
                if use.name == "get_run_file":  # the bytes are for the chat, not the model
                    args["max_bytes"] = files.CHAT_MAX_BYTES
                if use.name == "create_web_link":  # for the speaker's eyes only
                    ok, out = await self.give_web_link(client, speaker)
                    data, out = None, f"{out} (The link is not shown to you.)"
                else:
                    ok, data, out = await self.call_tool(client, speaker, use.name, args,
                                                         held=held)
                if ok and use.name == "get_run_file" and data:
                    reply.files.append(files.from_tool(data))
                    out = files.for_model(data)
                if ok and use.name in RUN_STARTERS and data and data.get("id"):
                    reply.runs.append(str(data["id"]))
                    await self.link_run(str(data["id"]), speaker)
                done.append(f"{use.name}: {'ok' if ok else out}")
                if len(out) > MAX_TOOL_RESULT_CHARS:
                    out = (out[:MAX_TOOL_RESULT_CHARS] + f"\n... cut at "
                           f"{MAX_TOOL_RESULT_CHARS} characters")
                results.append({"type": "tool_result", "tool_use_id": use.id,
                                "content": out, "is_error": not ok})
            new.append({"role": "user", "content": results})
        else:
            reply.text = (f"I stopped after {self.chat.max_tool_rounds} rounds of tool calls "
                          "without finishing. Done so far: " + ("; ".join(done) or "nothing")
                          + ". Tell me how to continue.")
            reply.error = True
            new.append({"role": "assistant", "content": [{"type": "text", "text": reply.text}]})
        await self.conversations.append(speaker.conversation, new)
        reply.buttons = confirmation_buttons(held)
        return reply

    async def _model_failed(self, speaker: Speaker, new: list[Message], done: list[str],
                            held: list[Confirmation], reply: Reply, exc: Exception) -> Reply:
        log.warning("model API failed for %s: %s", speaker.conversation, exc)
        reason = _api_reason(exc)
        if len(new) == 1:  # nothing happened: keep the conversation as it was
            return Reply(f"The model API is not answering ({reason}). Nothing was done; "
                         "try again in a moment.", error=True)
        reply.text = (f"The model API failed half-way ({reason}). Done before it failed: "
                      + "; ".join(done) + ".")
        reply.error = True
        # The turn so far ends with tool results; close it so the history stays well formed.
        new.append({"role": "assistant", "content": [{"type": "text", "text": reply.text}]})
        await self.conversations.append(speaker.conversation, new)
        reply.buttons = confirmation_buttons(held)
        return reply

    def _apply_hints(self, tool: str, args: dict[str, Any], model: str | None,
                     project: str | None) -> dict[str, Any]:
        if tool in ("start_run", "fork_run", "queue_work", "run_formula") and model:
            args["model"] = model
        if tool in ("start_run", "queue_work", "run_formula") and project and not args.get(
                "project"):
            args["project"] = project
        if tool == "enqueue_merge" and project and not args.get("runs") \
                and not args.get("project"):  # "merge the green ones" in a project's channel
            args["project"] = project
        return args

    async def live_context(self, speaker: Speaker, model: str | None,
                           project: str | None) -> str:
        """What the model should know now, after the cached prefix."""
        projects = [p.name for p in await self.runtime.projects.all()]
        nearby = await self.store.runs_near(speaker.conversation, speaker.platform,
                                            speaker.chat_id, speaker.thread_id)
        lines = [f"[Gluon, {time.strftime('%Y-%m-%d %H:%M')}] Speaker: {speaker.name} "
                 f"({speaker.role}). Projects: {', '.join(projects) or 'none yet'}."]
        if model or project:
            lines.append(f"For this request: model={model or 'default'}, "
                         f"project={project or 'unspecified'}.")
        for run_id, here_ in nearby:
            run = await self.runtime.runs.get(run_id)
            pending = await self.runtime.runs.interactions.pending(run.id)
            ask = f", waiting on {len(pending)} question(s)" if pending else ""
            prompt = " ".join(run.prompt.split())[:60]
            here = " (this thread is about this run)" if here_ else ""
            lines.append(f"Run {run.short} on {run.project}{here}: {run.state}{ask} — {prompt}")
        return "\n".join(lines)

    async def defaults(self, speaker: Speaker) -> Hints:
        """The model and project a request uses unless it names them: the conversation's
        own choice (/model), else the channel's (its topic, or the project it is linked to)."""
        prefs = await self.conversations.prefs(speaker.conversation)
        hook = self.defaults_hooks.get(speaker.platform)
        where = await hook(speaker) if hook is not None else Hints("")
        return Hints("", prefs["model"] or where.model, prefs["project"] or where.project)

    async def link_run(self, run_id: str, speaker: Speaker) -> None:
        """This conversation follows the run: status, pings and questions come here."""
        if await self.store.is_followed(run_id):
            return
        hook = self.link_hooks.get(speaker.platform)
        topic = await hook(run_id, speaker) if hook is not None else None
        await self.store.follow(run_id, speaker.conversation, speaker.platform,
                                speaker.chat_id, topic or speaker.thread_id, topic is not None)

    async def give_web_link(self, client: Client, speaker: Speaker) -> tuple[bool, str]:
        """A sign-in link to the status page for the speaker, sent where only they read it:
        (sent, what to say where they asked). Whoever opens a link first is signed in as the
        person, so it never goes to a group, to the model or into the conversation's history:
        only to their private chat with the bot."""
        send = self.private_hooks.get(speaker.platform)
        if send is None:
            return False, ("I cannot send you a sign-in link from here; send /web, or run "
                           "`gluon web-link` in a terminal.")
        ok, data, text = await self.call_tool(client, speaker, "create_web_link", {})
        if not ok or data is None:
            return False, text
        if not await send(speaker, Reply(web_link_text(data))):
            return False, (f"I could not send {speaker.name} a private message, and a sign-in "
                           "link must not be posted here: start a private chat with me and "
                           "send /web there.")
        where = "in this private chat" if speaker.private else "in a private message"
        return True, f"I sent {speaker.name} a sign-in link to the status page {where}."

    # -- confirmations ---------------------------------------------------------------------

    async def confirm(self, confirmation_id: str, presser: Speaker, yes: bool) -> Outcome:
        """A confirmation button was pressed: run the held call, or drop it."""
        found = await self.held(confirmation_id)
        if found is None or time.time() - found.created_at > CONFIRM_TTL_SECONDS:
            await self.store.take(confirmation_id)
            return Outcome("This confirmation has expired or was already used; nothing was "
                           "changed.", settled=False)
        if presser.actor != found.speaker.actor and presser.role is not Role.ADMIN:
            return Outcome(f"Only {found.speaker.name} (who asked) or an admin can confirm "
                           "this; nothing was changed.", settled=False)
        if not await self.store.take(confirmation_id):
            return Outcome("This confirmation was already used; nothing more was done.",
                           settled=False)
        if not yes:
            return Outcome(f"Cancelled: did not {found.action.preview}.", settled=True)
        async with self.session() as client:
            ok, _, text = await self.call_tool(client, presser, found.action.tool,
                                               dict(found.action.arguments), confirmed=True)
        if not ok:
            return Outcome(f"Could not {found.action.preview}: {text}", settled=True)
        return Outcome(f"Done ({presser.name} confirmed): {found.action.preview}.",
                       settled=True)


    async def held(self, confirmation_id: str) -> Confirmation | None:
        """A call held for confirmation (kept in the database: it survives a restart)."""
        call = await self.store.held(confirmation_id)
        if call is None:
            return None
        speaker = json.loads(call.speaker)
        speaker["role"] = Role(speaker["role"])  # stored as its name
        return Confirmation(call.id, Speaker(**speaker), PendingAction(
            call.tool, json.loads(call.arguments), call.preview), call.created_at)


def web_link_text(link: dict[str, Any]) -> str:
    """The message that gives a person their sign-in link (a create_web_link result)."""
    return f"Your sign-in link to Gluon's status page:\n{link['url']}\n{link['note']}"


def confirmation_buttons(held: list[Confirmation]) -> list[list[Button]]:
    return [[Button(f"Confirm {c.action.tool}", Confirm(c.id, yes=True)),
             Button("Cancel", Confirm(c.id, yes=False))] for c in held]


def with_breakpoint(history: list[Message]) -> list[Message]:
    """History with a cache breakpoint on its last block (a copy; the store is untouched)."""
    if not history:
        return []
    last = dict(history[-1])
    content = last["content"]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if isinstance(
        content, str) else [dict(b) for b in content]
    blocks[-1]["cache_control"] = {"type": "ephemeral"}
    last["content"] = blocks
    return [*history[:-1], last]


def _block(block: Any) -> dict[str, Any]:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return dict(block.model_dump(mode="json", exclude_none=True))


def _api_reason(exc: Exception) -> str:
    if isinstance(exc, anthropic.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, anthropic.APITimeoutError):
        return "timed out"
    if isinstance(exc, anthropic.APIConnectionError):
        return "cannot connect"
    return type(exc).__name__
