"""The chat layer's vocabulary: who speaks, what the bot replies, and what its buttons do.

A leaf module: it imports nothing else from ``bots``, so the orchestrator, the commands, the
surface and both platform adapters share these names without importing one another. How a
button's action travels through a platform (Telegram's ``callback_data``, Discord's
``custom_id``) is ``bots.chat.buttons``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from core.types import Role

# The answers of a permission request, as the buttons (and the note closing it) name them.
PERMISSION_LABELS = {"allow": "Allow once", "allow_run": "Allow for this run",
                     "allow_project": "Always for this project", "deny": "Deny"}


@dataclass(frozen=True)
class Speaker:
    """Who wrote the message, where: the conversation is platform + chat + thread."""

    platform: str
    user_id: str
    name: str
    role: Role
    chat_id: str
    thread_id: str | None = None
    forum: bool = False  # a chat with topics (a Telegram forum)
    # Only this person reads what the bot answers here: their private chat with the bot, or
    # an answer only they see (a Discord ephemeral one). A sign-in link goes nowhere else.
    private: bool = False

    @property
    def actor(self) -> str:
        return f"{self.platform}:{self.user_id}"

    @property
    def conversation(self) -> str:
        return f"{self.platform}:{self.chat_id}:{self.thread_id or ''}"


# -- what a button does ----------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """Answer an agent's question or permission request with one of its options (by index)."""

    interaction_id: str
    option: int


@dataclass(frozen=True)
class Choose:
    """A menu of a question's options; the options picked come with the press."""

    interaction_id: str


@dataclass(frozen=True)
class Confirm:
    """Run (``yes``) or drop a destructive tool call the orchestrator holds."""

    confirmation_id: str
    yes: bool


class Verb(StrEnum):
    """What an :class:`Act` button does; the value is its letter in the button's data."""

    MERGE = "q"  # queue a finished run for merging (enqueue_merge; it asks to confirm)
    RETRY_MERGE = "r"  # put a failed merge-queue entry back in line (retry_merge)
    CANCEL_MERGE = "x"  # take an entry out of the merge queue (cancel_merge)
    NUDGE = "n"  # tell a run's agent it repeats itself (steer_run; the witness's note)
    INTERRUPT = "i"  # stop the agent's turn, keep its session (interrupt_run)
    CANCEL_RUN = "k"  # cancel the run (cancel_run; it asks to confirm)
    IGNORE = "g"  # a false alarm: silence the run's health alarms (silence_run_health)


@dataclass(frozen=True)
class Act:
    """Call the tool of ``verb`` on one thing: a run (merge) or a merge-queue entry."""

    verb: Verb
    target: str


@dataclass(frozen=True)
class Retranscribe:
    """Transcribe a kept voice note again (its service failed the first time)."""

    note_id: str


ButtonAction = Answer | Choose | Confirm | Act | Retranscribe


@dataclass(frozen=True)
class Button:
    label: str
    action: ButtonAction


@dataclass(frozen=True)
class OutFile:
    """A file the bot sends: as an attachment (a picture for an image) when the platform
    takes it, else the link to it on the status page (``url``), else where to get it."""

    name: str  # the attachment's file name
    caption: str  # what it is ("`db/schema.sql` of run 3f2a9c1e")
    size: int
    data: bytes | None  # None: too big to have been read
    url: str | None = None
    image: bool = False
    fetch: str = ""  # how to get it when neither fits (`gluon file 3f2a9c1e db/schema.sql`)


@dataclass
class Reply:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # runs this message started or resumed
    error: bool = False
    files: list[OutFile] = field(default_factory=list)  # sent after the text


@dataclass(frozen=True)
class Outcome:
    """What pressing a button did: ``settled`` when the question it asked is closed (so its
    buttons can go), false when the press changed nothing (stale, or not theirs to press).
    ``follow_up`` is a message to send after the press, under the pressed one (a destructive
    call the press asked for, with its confirmation buttons)."""

    text: str
    settled: bool
    follow_up: Reply | None = None
