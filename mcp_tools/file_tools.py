"""Tools for a run's files: one file of its work, with its content when it is small enough.

The chat sends the file this tool returns as an attachment (a picture for an image), or a
link to it on the status page when the platform cannot take a file that big; ``gluon file``
writes it out.
"""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from core.runs.files import MAX_READ_BYTES, RunFileInfo, file_link, size_text
from core.runtime import Runtime
from mcp_tools.params import RunRef
from mcp_tools.registry import ToolKit

DEFAULT_MAX_BYTES = 200_000
_TEXT_TYPES = ("application/json", "application/sql", "application/xml", "application/toml",
               "application/javascript", "application/x-sh", "image/svg+xml")


class RunFileResult(BaseModel):
    run_id: str
    path: str = Field(description="the file's path in the run's worktree")
    name: str
    size: int = Field(description="bytes")
    media_type: str
    kind: Literal["text", "image", "binary"]
    source: Literal["worktree", "branch"] = Field(
        description="read from the run's worktree, or from its branch once the worktree is "
                    "gone")
    text: str | None = Field(default=None,
                             description="the content of a text file within max_bytes")
    base64: str | None = Field(default=None, description="the content of an image or other "
                               "binary file within max_bytes, base64-encoded")
    omitted: str | None = Field(default=None, description="why the content is not included")
    url: str | None = Field(default=None, description="the file on the status page (behind "
                            "its sign-in), when something serves the page")


def _guessed_kind(info: RunFileInfo) -> Literal["text", "image", "binary"]:
    if info.image:
        return "image"
    kind = info.media_type
    return "text" if kind.startswith("text/") or kind in _TEXT_TYPES else "binary"


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(read_only=True)
    async def get_run_file(
            run: RunRef,
            path: Annotated[str, Field(description="the file: its path in the run's worktree "
                                       "('db/schema.sql'), its name ('schema.sql') or a glob "
                                       "('*.png')")],
            max_bytes: Annotated[int, Field(ge=0, le=MAX_READ_BYTES, description=(
                "include the content only when the file is at most this big"))
                                 ] = DEFAULT_MAX_BYTES,
    ) -> RunFileResult:
        """Get one file of a run's work: something the agent wrote or changed, a screenshot
        it took, any file of its worktree (or of its branch, once the worktree is gone). Use
        it when someone asks for a file from a run ("send me the new schema.sql", "show me
        the screenshot"). Returns the file's path, size and type, and its content when it is
        at most max_bytes: as text for a text file, base64 for an image or other binary file;
        `url` is its download on the status page. A name that matches several files fails
        listing them; one that matches none names close ones. Paths outside the worktree
        ('..') and inside .git are refused."""
        info = await rt.files.find(run, path)
        result = RunFileResult(
            run_id=info.run.id, path=info.path, name=info.name, size=info.size,
            media_type=info.media_type, kind=_guessed_kind(info), source=info.source,
            url=file_link(rt.web.base_url, info.run.id, info.path))
        if info.size > max_bytes:
            result.omitted = (f"{size_text(info.size)} is more than max_bytes "
                              f"({size_text(max_bytes)})")
            return result
        found = await rt.files.read(run, info.path)
        text = found.text
        if text is not None:
            result.kind, result.text = "text", text
        else:
            result.kind = "image" if info.image else "binary"
            result.base64 = base64.b64encode(found.data).decode()
        return result
