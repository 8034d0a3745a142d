"""Spoken completion pings (``[speech]``, off by default): after the text ping of an ended run,
the same news as a short voice note in the run's chat.

The voice note is made in the background, after the text ping is sent: a slow or failing
speech endpoint never holds a ping (or any later report) back. A failure is logged once, with
why; the pings stay text-only until the endpoint answers again (which is logged too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from core.speech import Speech, SpeechFailed

log = logging.getLogger(__name__)

SendVoice = Callable[[bytes], Awaitable[object]]


class SpokenPings:
    def __init__(self, speech: Speech, platform: str) -> None:
        self.speech = speech
        self.platform = platform
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing = False

    def after_ping(self, text: str, send: SendVoice) -> None:
        """Say ``text`` as a voice note through ``send``, in the background."""
        if not self.speech.enabled or not text.strip():
            return
        task = asyncio.create_task(self._say(text, send), name=f"{self.platform}-voice")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _say(self, text: str, send: SendVoice) -> None:
        try:
            clip = await self.speech.speak(text)
        except SpeechFailed as exc:
            if not self._failing:
                log.warning("no voice note for the %s pings: %s; they stay text-only until "
                            "it answers again", self.platform, exc)
            self._failing = True
            return
        if self._failing:
            log.info("the speech endpoint answers again; %s pings come with a voice note",
                     self.platform)
            self._failing = False
        try:
            await send(clip)
        except Exception:
            log.exception("could not send a voice note to %s", self.platform)

    async def close(self, grace: float = 5.0) -> None:
        """Give the voice notes under way ``grace`` seconds, then stop."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.speech.close()
