"""The images an agent saves in its worktree (screenshots, charts), announced to the people who
follow its run.

After each turn, the worktree's new or changed files since the run's base (committed or not,
untracked ones too) that are png, jpg, gif or webp images are compared with what was already
announced, by content: each new version becomes one durable :class:`AgentImage` event, which
the chats post with the image's path as its caption. The events themselves are the record of
what was said (read back per run), so a restart neither repeats an image nor loses one: a
version a crash kept from being announced is found again after the next turn. Files sent with
the request (``.gluon-attachments``) are the person's own and never announced. One turn posts
at most ``MAX_SHOWN`` images; the rest are recorded as not shown, and a note says how many.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from core.agent.sandbox import ATTACHMENTS_DIR, PROTECTED_NAMES
from core.events.bus import AgentImage, RunNote
from core.events.log import EventLog
from core.git import blobs
from core.models import Run
from core.runs.files import is_image

log = logging.getLogger(__name__)

MAX_SHOWN = 10  # images posted after one turn
PAGE = 500


class AgentImages:
    def __init__(self, events: EventLog | None) -> None:
        self.events = events
        self._lock = asyncio.Lock()

    async def announce(self, run: Run) -> list[AgentImage]:
        """Announce the run's image versions not announced yet; returns the events."""
        if self.events is None or not run.use_worktree or not run.base_sha:
            return []
        root = Path(run.cwd)
        if not root.is_dir():
            return []
        paths = [p for p in await blobs.changed_paths(root, run.base_sha)
                 if is_image(p) and not _theirs(p)]
        if not paths:
            return []
        async with self._lock:
            said = await self._announced(run.id)
            found = []
            for path in paths:
                version = await asyncio.to_thread(_version, root, path)
                if version is not None and (path, version[0]) not in said:
                    found.append((path, *version))
            events = []
            for n, (path, digest, size) in enumerate(found):
                event = await self.events.append(AgentImage(
                    run_id=run.id, project=run.project, path=path, digest=digest, size=size,
                    shown=n < MAX_SHOWN))
                self.events.publish(event)
                events.append(event)
            if len(found) > MAX_SHOWN:
                rest = [path for path, _, _ in found[MAX_SHOWN:]]
                shown = ", ".join(rest[:5]) + (" ..." if len(rest) > 5 else "")
                note = await self.events.append(RunNote(
                    run_id=run.id, project=run.project, source="images",
                    text=f"🖼 The agent saved {len(rest)} more image(s): {shown}. Ask for one "
                         "by name to see it."))
                self.events.publish(note)
        return events

    async def _announced(self, run_id: str) -> set[tuple[str, str]]:
        assert self.events is not None
        said: set[tuple[str, str]] = set()
        seq = 0
        while True:
            page = await self.events.after(seq, PAGE, kinds=[AgentImage], run_id=run_id)
            said |= {(e.path, e.digest) for e in page.events if isinstance(e, AgentImage)}
            if len(page.events) < PAGE:
                return said
            seq = page.next


def _theirs(path: str) -> bool:
    """A file sent with the request, or one of the sandbox's stand-ins: not the agent's."""
    top = path.split("/", 1)[0]
    return top == ATTACHMENTS_DIR or top in PROTECTED_NAMES


def _version(root: Path, path: str) -> tuple[str, int] | None:
    """(sha256 of its content, size) of a plain file inside ``root``; None otherwise."""
    file = root / path
    try:
        if file.is_symlink() or not file.is_file():
            return None
        digest = hashlib.sha256()
        size = 0
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError:
        return None
    return digest.hexdigest(), size
