"""What every chat bot does around runs, whatever the platform.

A chat follows the runs started from it: one status message per run, edited in place at most
about once a second (it shows a retry of the model API as it happens, until the agent gets
through); a ping when the run finishes, fails or is cancelled (mentioning who started
it, where the platform can); the agent's questions and permission requests as buttons, closed
with a note once answered (from any surface). Replying to a run's message steers it, or
resumes it once it has ended; replying to a question answers it. A comment written to the run
from GitHub (which steers or resumes it there) is shown under its status message too, and so
is the forecast that another run changes the same files.

The merge queue's steps of a run are reported there too (see ``bots.chat.merging``): the
ping of a finished run has a Merge button.

Pings and questions are read from the durable event log with this bot's own cursor (consumer
``chat:<platform>``), moved only once a report was sent: a run that finished, failed or asked
something while the bot was stopped or disconnected is reported when it is back, once, and a
restart never repeats what was already reported. The live status message follows the bus.

Which message is about which run (and which question) is kept in the database, so replies and
buttons keep working after a restart. A platform subclass provides the few ways of putting
things on screen (``send_status``, ``edit_status``, ``send_question``, ``close_question``,
``send_reply``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from bots.chat import files, merging, witness
from bots.chat.followed import ENDED_WORDS, Followed, as_int, icon
from bots.chat.orchestrator import Orchestrator
from bots.chat.speaking import SpokenPings
from bots.chat.types import PERMISSION_LABELS, Act, Button, Outcome, Reply, Speaker
from core.access.answers import why_not_answer
from core.errors import NotFound, UserError
from core.events.bus import (
    AgentImage,
    ApiRetry,
    Event,
    FilesOverlap,
    InteractionAnswered,
    InteractionRequested,
    MergeStep,
    RunComment,
    RunNote,
    RunStateChanged,
    SubagentsChanged,
    ToolCalled,
    TurnFinished,
)
from core.events.log import Consumer
from core.models import Interaction, Run
from core.runtime import Runtime
from core.speech import Speech
from core.types import InteractionStatus, RunState
from core.witness.estimate import estimate

log = logging.getLogger(__name__)

EDIT_INTERVAL = 1.0  # seconds between edits of one status message
CATCH_UP_EVERY = 30.0  # seconds between reads of the event log when the bus is silent
REPORTED = (RunStateChanged, InteractionRequested, InteractionAnswered,
            RunComment, RunNote, FilesOverlap, MergeStep, AgentImage)  # from the event log


class ChatSurface:
    """The platform-neutral half of a chat bot; subclasses set ``platform``."""

    platform: str
    ask_me = "mention me"  # how to address the bot, not the agent, in a run's own thread
    upload_limit = 10_000_000  # bytes of a file the platform lets a bot send

    def __init__(self, runtime: Runtime, orchestrator: Orchestrator) -> None:
        self.runtime = runtime
        self.orch = orchestrator
        self.followed: dict[str, Followed] = {}
        self.unfollowed: set[str] = set()  # runs no chat of this bot follows
        self.thread_runs: dict[tuple[int, int], str] = {}  # (chat, own thread) -> run
        self._follow_task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()  # set while no event is being reported
        self.caught_up = asyncio.Event()  # set once what happened while stopped is reported
        self._log: Consumer | None = None
        self.voice = SpokenPings(Speech(runtime.config.speech), self.platform)

    # -- what a platform provides ----------------------------------------------------------

    async def send_status(self, f: Followed, run: Run) -> int:
        """Post the run's status message; returns its id."""
        raise NotImplementedError

    async def edit_status(self, f: Followed, run: Run) -> None:
        raise NotImplementedError

    async def send_question(self, f: Followed, interaction: Interaction, run: Run,
                            reminder: bool) -> int | None:
        raise NotImplementedError

    async def close_question(self, f: Followed, message_id: int, note: str) -> None:
        """The question in this message was answered: take its buttons away, say so."""
        raise NotImplementedError

    async def send_reply(self, f: Followed, reply: Reply, reply_to: int | None) -> int | None:
        """Send a reply (its files too) to the run's chat."""
        raise NotImplementedError

    async def send_voice(self, f: Followed, data: bytes, reply_to: int | None) -> int | None:
        """Send a voice note (OGG/Opus) to the run's chat."""
        raise NotImplementedError

    def mention(self, actor: str) -> str:
        """How to notify this actor in a message, or "" (the chat notifies anyway)."""
        return ""

    def display(self, actor: str) -> str:
        """How to name this actor in a message."""
        return actor

    # -- following -------------------------------------------------------------------------

    async def start_reports(self) -> None:
        await self._load_followed()
        self._log = self.runtime.events.consumer(f"chat:{self.platform}", kinds=REPORTED)
        await self._log.position()  # from now on, nothing this bot should report is missed
        self._follow_task = asyncio.create_task(self._follow_runs(),
                                                name=f"{self.platform}-follow")

    async def stop_reports(self) -> None:
        """Stop following, after the report in flight (so a message sent is also recorded)."""
        if self._follow_task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    while not self._idle.is_set():  # set when waiting, not just once
                        await self._idle.wait()
            self._follow_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow_task
        await self.voice.close()
        for f in self.followed.values():
            if f.pending_edit is not None:
                f.pending_edit.cancel()

    def follow(self, run_id: str, chat_id: int, thread_id: int | None) -> Followed:
        self.unfollowed.discard(run_id)
        if run_id not in self.followed:
            self.followed[run_id] = Followed(run_id, chat_id, thread_id)
        return self.followed[run_id]

    async def _load_followed(self) -> None:
        store = self.orch.store
        for topic in await store.own_topics(self.platform):
            if topic.thread_id is not None:
                self.thread_runs[(int(topic.chat_id), int(topic.thread_id))] = topic.run_id
        for row in await store.live_followed(self.platform):
            f = self.follow(row.run_id, int(row.chat_id), as_int(row.thread_id))
            if row.status_message_id:
                f.status_message = int(row.status_message_id)
            for message_id, interaction_id in await store.open_questions(self.platform,
                                                                         f.run_id):
                f.questions[interaction_id] = int(message_id)

    async def remember(self, chat_id: int, message_id: int, run_id: str,
                       interaction_id: str | None = None) -> None:
        """This bot message is about this run (and question): replies to it go there."""
        await self.orch.store.remember(self.platform, str(chat_id), str(message_id), run_id,
                                       interaction_id)

    async def about(self, chat_id: int, message_id: int) -> tuple[str, str | None] | None:
        """(run id, question id or None) of a bot message this chat replied to."""
        # A reply can come in before the report that sent the message has recorded it.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while self._follow_task is not None and not self._idle.is_set():
                    await self._idle.wait()
        return await self.orch.store.about(self.platform, str(chat_id), str(message_id))

    async def _follow_runs(self) -> None:
        """Report live events from the bus; a logged one (it has a seq) is the cue to report
        everything new in the event log, in order, from this bot's cursor."""
        with self.runtime.bus.subscribe() as sub:
            await self._catch_up()
            self.caught_up.set()
            while True:
                self._idle.set()
                event: Event | None = None
                with contextlib.suppress(TimeoutError):
                    event = await sub.get(timeout=CATCH_UP_EVERY)
                self._idle.clear()
                if event is None or event.seq is not None:
                    await self._catch_up()
                    continue
                try:
                    await self._on_event(event)
                except Exception:
                    log.exception("could not report %s to %s", type(event).__name__,
                                  self.platform)

    async def _catch_up(self) -> None:
        assert self._log is not None
        try:
            await self._log.drain(self._on_event)  # retries a report that failed, later
        except Exception:
            log.exception("could not read the event log for %s", self.platform)

    async def _on_event(self, event: Event) -> None:
        followed = self.followed.get(event.run_id)
        if followed is None:
            if event.run_id in self.unfollowed:
                return
            where = await self.orch.store.follower(event.run_id, self.platform)
            if where is None and await self._follow_scheduled(event.run_id):
                where = await self.orch.store.follower(event.run_id, self.platform)
            if where is None:  # no chat here follows it; a later link goes through follow()
                self.unfollowed.add(event.run_id)
                return
            followed = self.follow(event.run_id, int(where.chat_id), as_int(where.thread_id))
            if where.status_message_id:  # a run that ended while this bot was stopped
                followed.status_message = int(where.status_message_id)
        if isinstance(event, ToolCalled):
            followed.last_tool = event.summary or event.tool
        # Anything else the run does after a retry means the agent got through (or the run
        # ended): the status message stops showing the retry.
        got_through = bool(followed.retry) and not isinstance(event, ApiRetry)
        followed.retry = event.summary if isinstance(event, ApiRetry) else ""
        if isinstance(event, InteractionRequested):
            await self._ask(followed, event)
            return
        if isinstance(event, InteractionAnswered):
            await self._answered(followed, event)
            return
        if isinstance(event, MergeStep):
            await self._merge_step(followed, event)
            return
        if isinstance(event, RunComment):  # someone wrote to the run on GitHub
            link = f" ({event.url})" if event.url else ""
            await self.send_reply(followed, Reply(
                f"💬 {event.author} on {event.source}{link}:\n{event.text}"),
                followed.status_message)
            return
        if isinstance(event, FilesOverlap):
            await self._overlap(followed, event)
            return
        if isinstance(event, RunNote) and event.source == "witness":
            await self.send_reply(followed, witness.note_reply(
                event, self.runtime.runs.is_live(event.run_id)), followed.status_message)
            await self._status(followed)  # its health line says it too
            return
        if isinstance(event, AgentImage):  # a screenshot the agent saved
            if event.shown:
                await self._image(followed, event)
            return
        if isinstance(event, RunNote):  # a formula step, a gate, the loop, a policy
            await self.send_reply(followed, Reply(event.text), followed.status_message)
            return
        final = isinstance(event, RunStateChanged) and event.new.is_ended
        if got_through or isinstance(event, RunStateChanged | ToolCalled | TurnFinished
                                     | ApiRetry | SubagentsChanged):
            await self._status(followed, now=final)
        if (isinstance(event, RunStateChanged) and event.new is RunState.QUEUED
                and event.old in (RunState.RUNNING, RunState.WAITING)):
            await self._parked(followed, event)
        if final and isinstance(event, RunStateChanged):
            run = await self.runtime.runs.get(event.run_id)
            if event.new is RunState.INTERRUPTED and run.state.is_live:
                return  # interrupted while the bot was away, and already resumed
            await self._ping(followed, run, event.new)

    async def _follow_scheduled(self, run_id: str) -> bool:
        """A run a schedule made in one of this bot's chats is followed there."""
        try:
            run = await self.runtime.runs.get(run_id)
        except NotFound:
            return False
        schedule = await self.runtime.schedules.of_run(run)
        if schedule is None or not schedule.origin.startswith(f"{self.platform}:"):
            return False
        _, chat_id, thread_id = schedule.origin.split(":", 2)
        await self.orch.store.follow(run_id, schedule.origin, self.platform, chat_id,
                                     thread_id or None, False)
        return True

    async def _status(self, f: Followed, now: bool = False) -> None:
        """Edit the run's status message, at most about once a second."""
        wait = f.last_edit + EDIT_INTERVAL - time.monotonic()
        if not now and wait > 0:
            if f.pending_edit is None or f.pending_edit.done():
                f.pending_edit = asyncio.create_task(self._status_later(f, wait))
            return
        f.last_edit = time.monotonic()
        run = await self.runtime.runs.get(f.run_id)
        loop = await self.runtime.loops.status_of(run)
        f.loop = loop.line if loop is not None else ""
        f.witness = self.runtime.witness.signal(run.id)
        if (progress := await self.runtime.formulas.progress(run.id)) is not None:
            f.formula = progress.card
        if f.status_message is None:
            if run.state.is_live and (likely := await estimate(self.runtime.runs.store,
                                                               run.project)) is not None:
                f.estimate = likely.text()
            f.status_message = await self.send_status(f, run)
            await self.remember(f.chat_id, f.status_message, f.run_id)
            await self.orch.store.set_status_message(f.run_id, str(f.status_message))
        else:
            await self.edit_status(f, run)

    async def _status_later(self, f: Followed, wait: float) -> None:
        await asyncio.sleep(wait)  # the edit throttle, not a synchronisation
        await self._status(f, now=True)

    async def _ping(self, f: Followed, run: Run, state: RunState) -> None:
        """Say that the run reached ``state`` (it may have moved on since, when this is
        reported late)."""
        words = ENDED_WORDS[state]
        if state is RunState.FAILED:  # why, in one line; not the agent's last words
            body = run.state_reason or run.error or run.result_text or ""
        elif state is RunState.MERGED:  # where to and by whom ("merged into main by ...")
            body = ""
            if run.state_reason.startswith("merged "):
                words = f"was {run.state_reason}"
        else:
            body = run.result_text or run.error or run.state_reason or ""
        text = f"{icon(state)} Run `{run.short}` on {run.project} {words}."
        if run.commits:
            text += f" {len(run.commits)} commit(s) on `{run.branch}`."
        who = self.mention(run.created_by)
        if who:
            text = f"{who} {text}"
        if body:
            text += "\n\n" + body
        buttons: list[list[Button]] = []
        if state is RunState.REVIEW:
            own = f.thread_id is not None and (f.chat_id, f.thread_id) in self.thread_runs
            text += ("\n\nWrite here to continue it" if own
                     else "\n\nReply to this message to continue it")
            if await merging.has_it(self.runtime, run):
                text += "; the merge queue takes it from here."
            elif buttons := merging.merge_buttons(run):
                text += ", or press Merge to queue it for merging."
            else:
                text += "."
        sent = await self.send_reply(f, Reply(text, buttons), f.status_message)
        if sent is not None:
            await self.remember(f.chat_id, sent, run.id)
        self.voice.after_ping(f"Run {run.short} on {run.project} {words}. {body}",
                              lambda clip: self.send_voice(f, clip, sent))

    async def _image(self, f: Followed, event: AgentImage) -> None:
        """Post an image the agent saved, with its path as the caption (a link when it is
        too big for the platform)."""
        out = await files.agent_image(self.runtime, event, self.upload_limit)
        if out is None:
            return
        sent = await self.send_reply(f, Reply("", files=[out]), f.status_message)
        if sent is not None:
            await self.remember(f.chat_id, sent, event.run_id)

    async def _merge_step(self, f: Followed, event: MergeStep) -> None:
        """A step of the run's merge-queue entry: on its status message, and said under it
        when it needs saying (see ``bots.chat.merging``). The step after a failure (a retry,
        a cancel, from any surface) takes the failure's buttons away."""
        f.merge_step = merging.step_line(event)
        await self._status(f)
        run = await self.runtime.runs.get(event.run_id)
        failure = f.merge_failures.pop(event.entry_id, None)
        if failure is not None:
            with contextlib.suppress(Exception):  # the message may be gone meanwhile
                await self.close_question(f, failure, merging.after_failure(event))
            return  # the note says it (a retried entry waits; a cancelled one is done)
        report = merging.step_report(event, run, self.mention(run.created_by))
        if report is None:
            return
        sent = await self.send_reply(f, report, f.status_message)
        if sent is not None:
            await self.remember(f.chat_id, sent, run.id)
            if report.buttons:
                f.merge_failures[event.entry_id] = sent

    async def _parked(self, f: Followed, event: RunStateChanged) -> None:
        """Say that a live run was parked ("paused until 14:00: usage limit")."""
        run = await self.runtime.runs.get(event.run_id)
        text = (f"⏸ Run `{run.short}` on {run.project} {event.reason}; it goes on by itself "
                "then.")
        who = self.mention(run.created_by)
        sent = await self.send_reply(f, Reply(f"{who} {text}" if who else text),
                                     f.status_message)
        if sent is not None:
            await self.remember(f.chat_id, sent, run.id)

    async def _overlap(self, f: Followed, event: FilesOverlap) -> None:
        """Warn that another run changes some of the same files (the merge queue's
        forecast), under the run's status message."""
        try:
            state = f" ({(await self.runtime.runs.get(event.other_run_id)).state})"
        except NotFound:  # removed since
            state = ""
        first = event.files[0].replace("`", "'") if event.files else "a file"
        more = f" (and {len(event.files) - 1} more)" if len(event.files) > 1 else ""
        sent = await self.send_reply(f, Reply(
            f"⚠ Also changing `{first}`{more}: run `{event.other_run_id[:8]}`{state}. "
            "Merging the second one will likely conflict."), f.status_message)
        if sent is not None:
            await self.remember(f.chat_id, sent, event.run_id)

    async def _ask(self, f: Followed, event: InteractionRequested) -> None:
        interaction = await self.runtime.runs.interactions.get(event.interaction_id)
        if interaction.status is not InteractionStatus.PENDING:
            return  # answered, or its run ended, before this bot could ask
        if not event.reminder and interaction.id in f.questions:
            return  # already asked
        run = await self.runtime.runs.get(event.run_id)
        sent = await self.send_question(f, interaction, run, event.reminder)
        if sent is not None:
            old = f.questions.get(interaction.id)
            f.questions[interaction.id] = sent
            await self.remember(f.chat_id, sent, run.id, interaction.id)
            if old is not None and old != sent:  # a reminder replaces the first message
                with contextlib.suppress(Exception):
                    await self.close_question(f, old, "Asked again below.")

    async def _answered(self, f: Followed, event: InteractionAnswered) -> None:
        message_id = f.questions.pop(event.interaction_id, None)
        if message_id is None:  # asked before this bot's last restart
            asked = await self.orch.store.question_message(self.platform, event.interaction_id)
            if asked is None:
                return
            message_id = int(asked)
        answer = PERMISSION_LABELS.get(str(event.answer), str(event.answer))
        await self.close_question(f, message_id,
                                  f"Answered by {self.display(event.answered_by)}: {answer}")

    # -- people acting on runs -------------------------------------------------------------

    async def may_answer(self, speaker: Speaker, run_id: str) -> str | None:
        """Why this person may not answer this run's questions, or None if they may."""
        run = await self.runtime.runs.get(run_id)
        return why_not_answer(self.runtime.config, speaker.actor, speaker.role, run)

    async def answer_choice(self, speaker: Speaker, interaction_id: str,
                            choice: str) -> Outcome:
        """A button or menu answered a question or permission request."""
        try:
            interaction = await self.runtime.runs.interactions.get(interaction_id)
        except UserError:
            return Outcome("This request no longer exists; nothing was changed.", False)
        refused = await self.may_answer(speaker, interaction.run_id)
        if refused:
            return Outcome(refused, False)
        async with self.orch.session() as client:
            ok, _, text = await self.orch.call_tool(client, speaker, "answer_pending",
                                                    {"id": interaction.id, "choice": choice})
        if not ok:  # already answered, or the run has ended: the press changes nothing
            return Outcome(f"Could not answer: {text}", False)
        return Outcome(f"{speaker.name} answered: {PERMISSION_LABELS.get(choice, choice)}",
                       True)

    async def answer_text(self, speaker: Speaker, interaction_id: str, text: str) -> Reply:
        """A reply to a question message answered it in free text."""
        try:
            interaction = await self.runtime.runs.interactions.get(interaction_id)
        except UserError as exc:
            return Reply(str(exc), error=True)
        refused = await self.may_answer(speaker, interaction.run_id)
        if refused:
            return Reply(refused, error=True)
        async with self.orch.session() as client:
            ok, _, out = await self.orch.call_tool(client, speaker, "answer_pending",
                                                   {"id": interaction_id, "choice": text})
        return Reply(f"Answered: {text}" if ok else out, error=not ok)

    async def act(self, speaker: Speaker, action: Act) -> Outcome:
        """A merge-queue or witness button was pressed (see ``bots.chat.merging.press``,
        ``bots.chat.witness.press``)."""
        if action.verb in witness.ACTS:
            return await witness.press(self.orch, speaker, action)
        return await merging.press(self.orch, speaker, action)

    async def steer(self, speaker: Speaker, run_id: str, text: str) -> Reply:
        """A message about a run: steers it while it works, resumes it once it has ended."""
        try:
            run = await self.runtime.runs.get(run_id)
        except NotFound:
            return Reply(f"Run {run_id[:8]} no longer exists (its project or the run was "
                         "removed); start a new one instead.", error=True)
        tool = "steer_run" if run.state.is_live else "resume_run"
        async with self.orch.session() as client:
            ok, _, out = await self.orch.call_tool(client, speaker, tool,
                                                   {"run": run_id, "message": text})
        if ok and tool == "resume_run":
            await self.orch.link_run(run_id, speaker)
            self.follow(run_id, *self._where(run_id, speaker))
        verb = "Steering" if tool == "steer_run" else "Resumed"
        return Reply(f"{verb} run {run.short}." if ok else out, error=not ok)

    def _where(self, run_id: str, speaker: Speaker) -> tuple[int, int | None]:
        f = self.followed.get(run_id)
        if f is not None:
            return f.chat_id, f.thread_id
        return int(speaker.chat_id), as_int(speaker.thread_id)
