"""``POST /hooks/github`` and ``POST /hooks/<name>``: webhook deliveries, answered by core.

A thin handler: it reads the raw body (never re-serialised: signatures are over these bytes),
hands it with the headers to :meth:`core.hooks.service.Webhooks.receive` and answers with its
status and one line of JSON. Deliveries are authenticated by their signature or the hook's
secret, not the MCP bearer token, and answer whatever host name the sender used (they arrive
through a proxy or tunnel from the outside).
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.hooks.answer import MAX_BODY
from core.hooks.service import Webhooks

log = logging.getLogger(__name__)


def hook_routes(hooks: Webhooks) -> list[BaseRoute]:
    async def deliver(request: Request) -> Response:
        name = request.path_params["name"]
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return _answer(413, f"the body is larger than {MAX_BODY // (1024 * 1024)} MB")
        try:
            body = await request.body()
        except ClientDisconnect:
            return _answer(400, "the delivery was cut off")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            answer = await hooks.receive(name, headers, body)
        except Exception:
            log.exception("webhook delivery to /hooks/%s failed", name)
            return _answer(500, "Gluon could not take the delivery (see its log); send it "
                           "again")
        return _answer(answer.status, answer.message)

    return [Route("/hooks/{name:str}", deliver, methods=["POST"])]


def _answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": status < 400, "message": message}, status_code=status)
