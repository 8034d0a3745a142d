"""The REST API under /api/v10 (Starlette): routes, auth, injected faults, the call
log, unknown routes and attachment downloads."""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.discord.constants import API
from tests.fakes.discord.handlers import Handlers
from tests.fakes.discord.state import Call
from tests.fakes.discord.validation import ApiError


class Rest(Handlers):
    """The Starlette routes over the handlers, errors turned into answers in one place."""

    def _routes(self) -> list[Route]:
        def r(path: str, method: str, handler: Callable[[Call], object],
              auth: bool = True) -> Route:
            return Route(API + path, self._endpoint(handler, auth), methods=[method])

        webhook, channel, message = (
            "/webhooks/{app_id:int}/{token}", "/channels/{channel_id:int}",
            "/channels/{channel_id:int}/messages/{message_id:int}")
        return [
            r("/users/@me", "GET", lambda c: {**self.bot_user, "verified": True,
                                              "mfa_enabled": False, "flags": 0}),
            r("/oauth2/applications/@me", "GET", self._application),
            r("/gateway", "GET", lambda c: {"url": self.gateway_url}),
            r("/gateway/bot", "GET", lambda c: {
                "url": self.gateway_url, "shards": 1, "session_start_limit": {
                    "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}),
            r(channel, "GET", lambda c: copy.deepcopy(self._channel(c.params["channel_id"]))),
            r(channel, "PATCH", self._edit_channel),
            r(channel + "/messages", "POST", self._send_message),
            r(message, "GET", lambda c: copy.deepcopy(self._message_in(c).json)),
            r(message, "PATCH", self._edit_message),
            r(message, "DELETE", self._delete_message),
            r(message + "/threads", "POST", self._thread_from_message),
            r(message + "/reactions/{emoji}/@me", "PUT", self._react),
            r(channel + "/typing", "POST", self._typing),
            r(channel + "/threads", "POST", self._thread_without_message),
            r("/users/@me/channels", "POST", self._open_dm),
            r("/interactions/{interaction_id:int}/{token}/callback", "POST", self._callback,
              auth=False),
            r(webhook, "POST", self._followup, auth=False),
            r(webhook + "/messages/@original", "GET",
              lambda c: copy.deepcopy(self._webhook_message(c, None).json), auth=False),
            r(webhook + "/messages/@original", "PATCH", lambda c: self._webhook_edit(c, None),
              auth=False),
            r(webhook + "/messages/@original", "DELETE", lambda c: self._webhook_delete(c, None),
              auth=False),
            r(webhook + "/messages/{message_id:int}", "PATCH",
              lambda c: self._webhook_edit(c, c.params["message_id"]), auth=False),
            r(webhook + "/messages/{message_id:int}", "DELETE",
              lambda c: self._webhook_delete(c, c.params["message_id"]), auth=False),
            r("/applications/{app_id:int}/commands", "PUT", lambda c: self._put_commands(c, None)),
            r("/applications/{app_id:int}/commands", "GET", lambda c: self._get_commands(c, None)),
            r("/applications/{app_id:int}/guilds/{guild_id:int}/commands", "PUT",
              lambda c: self._put_commands(c, c.params["guild_id"])),
            r("/applications/{app_id:int}/guilds/{guild_id:int}/commands", "GET",
              lambda c: self._get_commands(c, c.params["guild_id"])),
            Route("/attachments/{attachment_id:int}/{filename}", self._download, methods=["GET"]),
        ]

    def _endpoint(self, handler: Callable[[Call], object],
                  auth: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            path = request.url.path.removeprefix(API)
            status = 500
            try:
                if auth and request.headers.get("authorization") != f"Bot {self.token}":
                    raise ApiError(401, 0, "401: Unauthorized")
                body, files = await read_body(request)
                with self._cond:
                    for fault in self._faults:
                        if fault.remaining and fnmatch.fnmatchcase(f"{request.method} {path}",
                                                                   fault.pattern):
                            fault.remaining -= 1
                            raise fault.make()
                    result = handler(Call(dict(request.path_params), dict(request.query_params),
                                           body, files))
                status = 204 if result is None else 200
                return Response(status_code=204) if result is None else JSONResponse(result)
            except ApiError as exc:  # the one place errors become answers
                status = exc.status
                return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
            finally:
                with self._cond:
                    self.calls.append((request.method, path, status))
                    self._changed()
        return endpoint

    async def _no_route(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        path = request.url.path.removeprefix(API)
        with self._cond:
            self._unhandled.append(f"{request.method} {path}")
            self.calls.append((request.method, path, status))
            self._changed()
        return JSONResponse({"message": f"{status}: {HTTPStatus(status).phrase}", "code": 0},
                            status_code=status)

    async def _download(self, request: Request) -> Response:
        with self._cond:
            stored = self._cdn.get(request.path_params["attachment_id"])
            self.calls.append(("GET", request.url.path, 200 if stored else 404))  # downloads
            self._changed()
        if stored is None:
            return JSONResponse({"message": "404: Not Found", "code": 0}, status_code=404)
        return Response(stored[1], media_type="application/octet-stream")


async def read_body(request: Request) -> tuple[Any, dict[int, tuple[str, bytes]]]:
    """The JSON body, or a multipart body's payload_json and its files[n] by n."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raw = await request.body()
        try:
            return (json.loads(raw) if raw else None), {}
        except ValueError:
            raise ApiError(400, 50109, "The request body contains invalid JSON.") from None
    body: Any = None
    files: dict[int, tuple[str, bytes]] = {}
    async with request.form() as form:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                m = re.fullmatch(r"files\[(\d+)\]", key)
                index = int(m.group(1)) if m else len(files)
                files[index] = (value.filename or key, await value.read())
            elif key == "payload_json":
                body = json.loads(value)
    return body, files
