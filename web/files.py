"""A run's files on the status page: ``GET /runs/<id>/files/<path>``, behind the sign-in like
the run's page, for the files too big to send in chat (the chat links here) and the run page's
list of changed files.

What is served never runs as a page of Gluon's origin: pictures (png, jpg, gif, webp) are
shown as pictures, text files (HTML and SVG included) as plain text, anything else is a
download; every answer carries a sandboxing content policy.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from core.models import Run
from core.runs.files import IMAGE_TYPES, RunFileInfo
from core.runtime import Runtime
from web.runs import find_run

MAX_FROM_GIT = 200_000_000  # bytes of a file read from a run's branch (a worktree's streams)
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript",
               "application/sql", "application/toml", "application/x-sh", "image/svg+xml")
SANDBOX = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


def _presented(info: RunFileInfo) -> tuple[str, str]:
    """(Content-Type, disposition) to serve a file as."""
    kind = info.media_type
    if kind in IMAGE_TYPES.values():
        return kind, "inline"
    if kind.startswith("text/") or kind in _TEXT_TYPES:
        return "text/plain; charset=utf-8", "inline"
    return "application/octet-stream", "attachment"


def routes(runtime: Runtime) -> list[Route]:
    async def run_file(request: Request) -> Response:
        found = await find_run(request, runtime, request.path_params["run_id"])
        if not isinstance(found, Run):
            return found
        info = await runtime.files.find(found.id, request.path_params["path"])
        kind, disposition = _presented(info)
        headers = {"content-disposition": f"{disposition}; filename*=UTF-8''"
                                          f"{quote(info.name)}",
                   "content-security-policy": SANDBOX, "cache-control": "no-store"}
        if info.where is not None:
            return FileResponse(info.where, media_type=kind, headers=headers)
        data = (await runtime.files.read(found.id, info.path, MAX_FROM_GIT)).data
        return Response(data, media_type=kind, headers=headers)

    return [Route("/runs/{run_id}/files/{path:path}", run_file)]
