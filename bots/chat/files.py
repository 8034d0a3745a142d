"""Files the chat sends: a run's file someone asked for (a get_run_file result) and the images
an agent saves in its worktree, and what is said instead when a file is too big for the
platform (a link to it on the status page).

The model never sees a file's bytes: it is told what was found and that the file goes with
its reply (a text file's start, when short, so it can say something about it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any

from bots.chat.types import OutFile
from core.errors import UserError
from core.events.bus import AgentImage
from core.runs.files import MAX_READ_BYTES, file_link, size_text
from core.runtime import Runtime

log = logging.getLogger(__name__)

CHAT_MAX_BYTES = MAX_READ_BYTES  # what the chat asks get_run_file for (Telegram's 50 MB)
SHOWN_TEXT = 3000  # characters of a text file the model sees


def fetch_hint(run_id: str, path: str) -> str:
    return f"`gluon file {run_id[:8]} {path}`"


def from_tool(data: dict[str, Any]) -> OutFile:
    """The file a get_run_file call returned, to send."""
    content: bytes | None = None
    if data.get("text") is not None:
        content = str(data["text"]).encode()
    elif data.get("base64") is not None:
        content = base64.b64decode(str(data["base64"]))
    return OutFile(name=str(data["name"]),
                   caption=f"`{data['path']}` of run {str(data['run_id'])[:8]}",
                   size=int(data["size"]), data=content, url=data.get("url"),
                   image=data.get("kind") == "image",
                   fetch=fetch_hint(str(data["run_id"]), str(data["path"])))


def for_model(data: dict[str, Any]) -> str:
    """What the model is told about a get_run_file result: everything but the bytes."""
    shown = {k: v for k, v in data.items() if k not in ("text", "base64")}
    text = data.get("text")
    if isinstance(text, str):
        shown["text"] = text if len(text) <= SHOWN_TEXT else (
            text[:SHOWN_TEXT] + f"\n... ({len(text):,} characters in all)")
    return (json.dumps(shown) + "\nThe file goes to the person with your reply (a link when "
            "it is too big for this chat): say which file it is; do not paste its content.")


async def agent_image(runtime: Runtime, event: AgentImage, limit: int) -> OutFile | None:
    """The image version an AgentImage event announced, to post (its bytes when they fit the
    platform's ``limit``); None when the file has changed since (its new version has an
    event of its own) or is gone."""
    data: bytes | None = None
    if event.size <= limit:
        try:
            found = await runtime.files.read(event.run_id, event.path, limit)
        except UserError as exc:
            log.info("the image %s of run %s is not posted: %s", event.path, event.run_id, exc)
            return None
        if hashlib.sha256(found.data).hexdigest() != event.digest:
            return None
        data = found.data
    return OutFile(name=event.path.rsplit("/", 1)[-1],
                   caption=f"🖼 `{event.path}` (run {event.run_id[:8]})", size=event.size,
                   data=data, url=file_link(runtime.web.base_url, event.run_id, event.path),
                   image=True, fetch=fetch_hint(event.run_id, event.path))


def too_big(out: OutFile, platform: str, limit: int) -> str:
    """What is said instead of a file the platform cannot take from a bot."""
    what = (f"📎 {out.caption}: {size_text(out.size)} is more than {platform} lets a bot "
            f"send ({size_text(limit)})")
    if out.url:
        return f"{what}; download it from the status page: {out.url}"
    return f"{what}; get it with {out.fetch} where Gluon runs"
