"""Direct forms that skip the model: ``/runs``, ``/status``, ``/run``, ``/cancel``, ...

They call the same tools as the orchestrator, as the same speaker, so roles, confirmations
and the audit log apply exactly as they do to a request in plain words.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mcp import Client

from bots.chat.orchestrator import (
    Confirmation,
    Orchestrator,
    confirmation_buttons,
    web_link_text,
)
from bots.chat.types import Reply, Speaker
from core.types import Role

HELP = """\
Tell me what you want in plain words, e.g. "fix the flaky login test in api", \
"what's running?", "cancel the slow one", "merge the green one". \
Add --model opus|sonnet|haiku or project:NAME to a request to choose them.

Commands:
/projects - the projects I can work on
/runs - recent runs
/status [RUN] - one run, or what is live
/run PROJECT PROMPT [--model M] - start a run
/cancel RUN - stop a run (asks to confirm)
/resume RUN MESSAGE - continue an ended run
/attention [PROJECT] - what needs you, oldest first
/queue - queued runs in start order, and why each waits
/merges [PROJECT] [all] - the merge queue (all: with the entries that ended)
/schedules - prompts run on a schedule, and when they fire next
/model [M] - this chat's default model
/web - a sign-in link to the status page, sent to you privately
/web signout - sign your browsers out of the status page
/clear - forget this conversation
/start - your user id and how to get access"""

Handler = Callable[[Orchestrator, Client, Speaker, str], Awaitable[Reply]]


def _run_line(run: dict[str, Any]) -> str:
    prompt = " ".join(str(run.get("prompt", "")).split())
    if len(prompt) > 60:
        prompt = prompt[:59] + "…"
    cost = float(run.get("cost_usd") or 0)
    return (f"`{str(run['id'])[:8]}` {run['project']} · {run['state']}"
            f"{f' · ${cost:.2f}' if cost else ''} · {prompt}")


async def _call(orch: Orchestrator, client: Client, speaker: Speaker, tool: str,
                args: dict[str, Any], held: list[Confirmation] | None = None
                ) -> tuple[bool, dict[str, Any], str]:
    ok, data, text = await orch.call_tool(client, speaker, tool, args, held=held)
    return ok, data or {}, text


async def projects(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    ok, data, text = await _call(orch, client, speaker, "list_projects", {})
    if not ok:
        return Reply(text, error=True)
    names = [f"`{p['name']}` {p['path']}" for p in data["projects"]]
    return Reply("\n".join(names) if names else
                 "No projects yet. An admin adds one with `gluon project add PATH`.")


async def runs(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    ok, data, text = await _call(orch, client, speaker, "list_runs", {"limit": 10})
    if not ok:
        return Reply(text, error=True)
    lines = [_run_line(r) for r in data["runs"]]
    return Reply("\n".join(lines) if lines else "No runs yet. Ask me to start one.")


async def status(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    if not rest:
        ok, data, text = await _call(orch, client, speaker, "list_runs", {
            "state": ["queued", "running", "waiting"], "limit": 20})
        if not ok:
            return Reply(text, error=True)
        lines = [_run_line(r) for r in data["runs"]]
        return Reply("\n".join(lines) if lines else "Nothing is running.")
    ok, data, text = await _call(orch, client, speaker, "get_run", {"run": rest.split()[0]})
    if not ok:
        return Reply(text, error=True)
    run = data["run"]
    lines = [_run_line(run), f"branch `{run['branch']}`" if run.get("branch") else "",
             f"{run['turns']} turns, {run['tool_calls']} tool calls"
             + (f", {run['subagents_started']} subagents ({run['subagents_done']} done)"
                if run.get("subagents_started") else ""),
             f"state: {run['state_reason']}" if run.get("state_reason") else ""]
    if run.get("result_text"):
        lines.append(str(run["result_text"]))
    for pending in data.get("pending", []):
        lines.append(f"waiting for an answer: {pending['title']}")
    for other in data.get("overlaps", []):
        more = len(other["files"]) - 1
        lines.append(f"⚠ also changing `{other['files'][0]}`"
                     f"{f' (and {more} more)' if more else ''}: run `{other['run_id']}` "
                     f"({other['state']})")
    return Reply("\n".join(line for line in lines if line))


async def start(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    words = shlex.split(rest) if rest.count('"') % 2 == 0 else rest.split()
    model = None
    if "--model" in words:
        at = words.index("--model")
        if at + 1 >= len(words):
            return Reply("--model needs a value: opus, sonnet or haiku", error=True)
        model = words[at + 1]
        del words[at:at + 2]
    if len(words) < 2:
        return Reply("usage: /run PROJECT PROMPT [--model M]", error=True)
    defaults = await orch.defaults(speaker)
    args: dict[str, Any] = {"project": words[0], "prompt": " ".join(words[1:])}
    if model or defaults.model:
        args["model"] = model or defaults.model
    ok, data, text = await _call(orch, client, speaker, "start_run", args)
    if not ok:
        return Reply(text, error=True)
    await orch.link_run(data["id"], speaker)
    return Reply(f"Started run `{data['id'][:8]}` on {data['project']} ({data['model']}); "
                 "I will post its progress here.", runs=[data["id"]])


async def cancel(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    if not rest:
        return Reply("usage: /cancel RUN", error=True)
    held: list[Confirmation] = []
    ok, data, text = await _call(orch, client, speaker, "cancel_run", {"run": rest.split()[0]},
                                 held)
    if held:
        return Reply(f"Confirm: {held[0].action.preview}?", confirmation_buttons(held))
    if not ok:
        return Reply(text, error=True)
    return Reply(f"Cancelled run `{data['id'][:8]}`.")


async def resume(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    parts = rest.split(maxsplit=1)
    if len(parts) < 2:
        return Reply("usage: /resume RUN MESSAGE", error=True)
    ok, data, text = await _call(orch, client, speaker, "resume_run",
                                 {"run": parts[0], "message": parts[1]})
    if not ok:
        return Reply(text, error=True)
    await orch.link_run(data["id"], speaker)
    return Reply(f"Resumed run `{data['id'][:8]}`.", runs=[data["id"]])


async def queue(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    args: dict[str, Any] = {"limit": 20}
    if rest:
        args["project"] = rest.split()[0]
    ok, data, text = await _call(orch, client, speaker, "list_queue", args)
    if not ok:
        return Reply(text, error=True)
    lines = [f"{i['position']}. `{str(i['id'])[:8]}` {i['project']}"
             f"{f' · priority {p}' if (p := i['priority']) else ''} · {i['why']} · "
             f"{' '.join(str(i['prompt']).split())[:60]}" for i in data["items"]]
    return Reply("\n".join(lines) if lines else "Nothing is queued.")


def _waited(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // 1440} days"


async def attention(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    args: dict[str, Any] = {"project": rest.split()[0]} if rest else {}
    ok, data, text = await _call(orch, client, speaker, "list_attention", args)
    if not ok:
        return Reply(text, error=True)
    lines = [f"{n}. {i['text']} · {i['project'] or 'all projects'} · "
             f"{_waited(i['waited_s'])} · {i['hint']}"
             for n, i in enumerate(data["items"], 1)]
    return Reply("\n".join(lines) if lines else "Nothing needs you.")


async def schedules(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    args: dict[str, Any] = {"project": rest.split()[0]} if rest else {}
    ok, data, text = await _call(orch, client, speaker, "list_schedules", args)
    if not ok:
        return Reply(text, error=True)
    lines = []
    for x in data["schedules"]:
        when = "paused" if x["paused"] else "next " + ", ".join(
            time.strftime("%a %d %b %H:%M", time.localtime(t)) for t in x["next_fires"][:2])
        lines.append(f"`{x['id']}` {x['project']} · `{x['cron']}` {x['tz']} · {when} · "
                     f"{' '.join(str(x['prompt']).split())[:60]}")
    return Reply("\n".join(lines) if lines else
                 "No schedules. Say e.g. \"every weekday at 7 run the test hunt on api\".")


async def merges(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    """/merges [PROJECT] [all]: the merge queue's entries, per base branch in line order;
    with ``all`` the ones that ended (merged, failed, cancelled) too."""
    words = rest.split()
    args: dict[str, Any] = {"include_ended": "all" in words}
    if project := next((w for w in words if w != "all"), None):
        args["project"] = project
    ok, data, text = await _call(orch, client, speaker, "list_merge_queue", args)
    if not ok:
        return Reply(text, error=True)
    lines: list[str] = []
    line_of: tuple[str, str] | None = None  # the base branch whose line is listed, or none
    for e in data["entries"]:
        pr = f" · PR #{e['pull_request']}" if e.get("pull_request") else ""
        what = (f"`{str(e['run_id'])[:8]}` {e['state']}{pr} · "
                f"{' '.join(str(e['reason']).split())[:120]}")
        if e["position"]:
            if line_of != (e["project"], e["base"]):
                line_of = (e["project"], e["base"])
                lines.append(f"{e['project']} → {e['base']}:")
            lines.append(f"{e['position']}. {what}")
        else:
            if "Ended:" not in lines:
                lines.append("Ended:")
            lines.append(f"- {what}")
    return Reply("\n".join(lines) if lines else
                 "The merge queue is empty. Press Merge under a finished run, or say "
                 "\"merge the green ones\".")


async def model(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    prefs = await orch.conversations.prefs(speaker.conversation)
    if not rest:
        return Reply(f"This chat's model: {prefs['model'] or 'the default'}. "
                     "Change it with /model opus|sonnet|haiku (or /model default).")
    if speaker.role is Role.VIEWER:
        return Reply("Viewers cannot change the model.", error=True)
    chosen = rest.split()[0]
    await orch.conversations.set_pref(speaker.conversation, "model",
                                      None if chosen == "default" else chosen)
    return Reply(f"New runs from this chat use {chosen}.")


async def clear(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    await orch.conversations.clear(speaker.conversation)
    return Reply("Forgotten. This conversation starts afresh (runs are not affected).")


SIGN_OUT = ("signout", "sign out", "logout", "log out")


async def web(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    """/web: a sign-in link to the status page, only ever where the speaker alone reads it
    (whoever opens it first is signed in as them); /web signout: sign their browsers out."""
    if " ".join(rest.lower().replace("-", " ").split()) in SIGN_OUT:
        held: list[Confirmation] = []
        ok, data, text = await _call(orch, client, speaker, "revoke_web_sessions",
                                     {"actor": speaker.actor}, held)
        if held:
            return Reply(f"Confirm: {held[0].action.preview}?", confirmation_buttons(held))
        if not ok:
            return Reply(text, error=True)
        return Reply(f"Signed you out of {data['ended']} browser(s).")
    if rest:
        return Reply("usage: /web for a sign-in link to the status page, /web signout to "
                     "sign your browsers out", error=True)
    if speaker.private:
        ok, data, text = await _call(orch, client, speaker, "create_web_link", {})
        return Reply(web_link_text(data)) if ok else Reply(text, error=True)
    sent, said = await orch.give_web_link(client, speaker)
    return Reply(said, error=not sent)


async def help_(orch: Orchestrator, client: Client, speaker: Speaker, rest: str) -> Reply:
    return Reply(HELP)


COMMANDS: dict[str, Handler] = {
    "help": help_, "projects": projects, "runs": runs, "status": status, "run": start,
    "cancel": cancel, "resume": resume, "model": model, "clear": clear, "web": web,
    "queue": queue, "schedules": schedules, "merges": merges, "attention": attention,
}
DESCRIPTIONS = {
    "help": "what I can do", "projects": "the projects", "runs": "recent runs",
    "status": "a run, or what is live", "run": "PROJECT PROMPT: start a run",
    "cancel": "RUN: stop a run", "resume": "RUN MESSAGE: continue a run",
    "attention": "what needs you, oldest first",
    "queue": "queued runs and why they wait",
    "merges": "the merge queue",
    "schedules": "prompts run on a schedule",
    "model": "this chat's default model", "clear": "forget this conversation",
    "web": "a sign-in link to the status page (sent privately)",
    "start": "your id and how to get access",
}


async def run_command(orch: Orchestrator, speaker: Speaker, name: str, rest: str) -> Reply:
    handler = COMMANDS.get(name)
    if handler is None:
        return Reply(f"Unknown command /{name}; see /help.", error=True)
    async with orch.session() as client:
        return await handler(orch, client, speaker, rest.strip())
