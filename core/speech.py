"""Text to speech through an OpenAI-compatible endpoint, for spoken completion pings.

``POST {base_url}/audio/speech`` with ``{"model", "voice", "input", "response_format":
"opus"}`` answers an OGG/Opus clip (what Telegram plays as a voice note). The key goes in the
``Authorization`` header only: it is never logged nor put in an error message.
"""

from __future__ import annotations

import re

import httpx

from core.config import SpeechSettings
from core.errors import GluonError

_MARKUP = re.compile(r"[`*~>#|]+")  # Markdown, dropped
_NOISE = re.compile(r"<[@#!&]?\d+>|https?://\S+")  # mentions and links, not said
_BEFORE_MARK = re.compile(r"\s+([.,;:!?])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


class SpeechFailed(GluonError):
    """The speech endpoint did not give a clip; the message says why, in one line."""


def spoken(text: str, limit: int) -> str:
    """``text`` as words to say: markup, mentions and links dropped, on one line, cut after
    the last whole sentence within ``limit`` characters (or at a word)."""
    words = _BEFORE_MARK.sub(r"\1", " ".join(_MARKUP.sub("", _NOISE.sub(" ", text)).split()))
    if len(words) <= limit:
        return words
    cut = words[:limit]
    ends = [m.start() for m in _SENTENCE_END.finditer(cut + " ")]
    if ends and ends[-1] > limit // 3:
        return cut[:ends[-1]].strip()
    return cut.rsplit(" ", 1)[0].rstrip(",;:") + "..."


class Speech:
    def __init__(self, settings: SpeechSettings,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self._transport = transport

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def speak(self, text: str) -> bytes:
        """An OGG/Opus clip of ``text`` said aloud; SpeechFailed when there is none."""
        s = self.settings
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=s.timeout_seconds,
                                             transport=self._transport)
        headers = {"Authorization": f"Bearer {s.api_key.get_secret_value()}"} \
            if s.api_key else {}
        body = {"model": s.model, "voice": s.voice, "input": spoken(text, s.max_chars),
                "response_format": "opus"}
        try:
            answer = await self._client.post(f"{s.base_url}/audio/speech", json=body,
                                             headers=headers)
        except httpx.HTTPError as exc:
            raise SpeechFailed(f"the speech endpoint {s.base_url} cannot be reached "
                               f"({type(exc).__name__})") from None
        if answer.status_code != 200:
            raise SpeechFailed(f"the speech endpoint {s.base_url} answered HTTP "
                               f"{answer.status_code}")
        if not answer.content:
            raise SpeechFailed(f"the speech endpoint {s.base_url} answered no audio")
        return answer.content

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
