"""``gluon chat``: the orchestrator in the terminal (rendered with rich), to try Gluon
without a bot token.

The same conversation, tools, commands, confirmations and run reports as in Telegram; buttons
become numbered choices. It runs its own Gluon on the data dir, so it refuses to start while
``gluon serve`` holds it (talk to the daemon in Telegram or Discord then).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape

from bots.chat.commands import run_command
from bots.chat.migrations import CHAT_TABLES
from bots.chat.orchestrator import Orchestrator, make_llm
from bots.chat.store import ChatStore
from bots.chat.types import Button, Confirm, Reply, Speaker
from bots.cli.client import PATIENCE
from bots.cli.output import clean
from bots.owner import find_owner
from core.config import Config
from core.errors import Conflict
from core.events.bus import InteractionRequested, RunStateChanged
from core.runtime import Runtime
from core.types import Role, RunState

ENDED = {RunState.REVIEW, RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED}
BANNER = ("Gluon chat. Say what you want done (\"fix the flaky test in api\", \"what's "
          "running?\"), or /help. Ctrl-D quits; runs keep going only while this is open.")


async def _read(prompt: str) -> str | None:
    """A line of input; the prompt only on a terminal (piped, it would prefix the output)."""
    try:
        return await asyncio.to_thread(input, prompt if sys.stdin.isatty() else "")
    except EOFError:
        return None


# Piped output is not wrapped, so it reads (and greps) like the chat did; rich pads what it
# renders to the console's width, so piped lines lose their trailing spaces.
TERMINAL = sys.stdout.isatty()
console = Console(highlight=False, width=None if TERMINAL else 10_000)


def show(renderable: str | Markdown) -> None:
    if TERMINAL:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    sys.stdout.write("\n".join(line.rstrip() for line in captured.get().split("\n")))
    sys.stdout.flush()


def text(s: str) -> str:
    """Text from the model, agents or people, for rich: controls shown, markup escaped."""
    return escape(clean(s))


def _show(reply: Reply) -> None:
    if reply.error:
        show(f"[red]{text(reply.text)}[/red]")
    else:
        # A line break in a reply is a line break on screen (Markdown would join the lines).
        show(Markdown(clean(reply.text).replace("\n", "  \n")))
    for n, button in enumerate(_flat(reply.buttons), 1):
        show(f"  [bold][{n}][/bold] {text(button.label)}")
    for out in reply.files:  # a terminal shows no attachments: say how to get each
        show(f"  📎 {text(out.caption)}: {text(out.fetch or out.url or out.name)}")


def _flat(rows: list[list[Button]]) -> list[Button]:
    return [b for row in rows for b in row]


async def _report(runtime: Runtime, store: ChatStore, speaker: Speaker) -> None:
    """Print what this conversation's runs do: endings and questions."""
    with runtime.bus.subscribe() as sub:
        while True:
            event = await sub.get()
            if not await store.follows(speaker.conversation, event.run_id):
                continue
            if isinstance(event, RunStateChanged) and event.new in ENDED:
                run = await runtime.runs.get(event.run_id)
                body = run.result_text or run.error or run.state_reason
                colour = "green" if run.state is RunState.REVIEW else "yellow"
                show(f"\n[{colour}]run {run.short} on {text(run.project)}: "
                              f"{run.state}[/{colour}] {text(body)}")
            elif isinstance(event, InteractionRequested):
                options = "".join(f"\n  [bold]\\[{n}][/bold] {text(o)}"
                                  for n, o in enumerate(event.options, 1))
                show(f"\n[cyan]run {event.run_id[:8]} asks:[/cyan] "
                              f"{text(event.title)}{options}\n  answer with: /answer "
                              f"{event.interaction_id} <number or text>")


async def _open(config: Config) -> Runtime | None:
    """This process's Gluon; None (said why) while a daemon owns the data dir. Another
    command's Gluon is waited for, as commands take turns on the data dir."""
    runtime = Runtime(config, tables=[CHAT_TABLES])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        try:
            return await runtime.open(resume_interrupted=False)
        except Conflict:
            owner = find_owner(config.home)
            if owner is None or not owner.daemon:
                if loop.time() < deadline:
                    await asyncio.sleep(0.1)
                    continue
                print(f"gluon: {owner.describe() if owner else 'another gluon command'} is "
                      f"using the data dir {str(config.home)!r}; start `gluon chat` when it "
                      "has ended", file=sys.stderr)
                return None
            print("gluon: `gluon serve` is running on this data dir, and `gluon chat` runs a "
                  "Gluon of its own; talk to the daemon in Telegram or Discord, or stop it to "
                  "use `gluon chat`", file=sys.stderr)
            return None


async def chat(config: Config) -> int:
    runtime = await _open(config)
    if runtime is None:
        return 1
    user = getpass.getuser()
    speaker = Speaker("console", user, user, Role.ADMIN, chat_id="local", private=True)
    orch = Orchestrator(runtime, make_llm(config))
    reporter = asyncio.create_task(_report(runtime, orch.store, speaker))
    show(escape(BANNER))
    try:
        while (line := await _read("you> ")) is not None:
            text = line.strip()
            if not text:
                continue
            if text.startswith("/answer "):
                reply = await _answer(orch, speaker, text)
            elif text.startswith("/"):
                name, _, rest = text[1:].partition(" ")
                reply = await run_command(orch, speaker, name.lower(), rest)
            else:
                reply = await orch.handle(speaker, text)
            _show(reply)
            buttons = _flat(reply.buttons)
            if buttons:
                await _choose(orch, speaker, buttons)
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        await orch.close()
        await runtime.close()
    return 0


async def _choose(orch: Orchestrator, speaker: Speaker, buttons: list[Button]) -> None:
    picked = await _read(f"choose 1-{len(buttons)} (anything else skips)> ")
    if picked is None or not picked.strip().isdigit() or not (
            1 <= int(picked) <= len(buttons)):
        show("skipped; nothing was changed")
        return
    action = buttons[int(picked) - 1].action
    if isinstance(action, Confirm):
        outcome = await orch.confirm(action.confirmation_id, speaker, yes=action.yes)
        show(text(outcome.text))


async def _answer(orch: Orchestrator, speaker: Speaker, text: str) -> Reply:
    parts = text.split(maxsplit=2)
    if len(parts) < 3:
        return Reply("usage: /answer ID CHOICE", error=True)
    async with orch.session() as client:
        ok, _, out = await orch.call_tool(client, speaker, "answer_pending",
                                          {"id": parts[1], "choice": parts[2]})
    return Reply(f"Answered: {parts[2]}" if ok else out, error=not ok)
