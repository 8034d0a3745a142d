"""What the fake GitHub holds: repositories, issues, comments, pull requests and check runs,
the lock every request and every test helper takes, and the error bodies GitHub answers with.
"""

from __future__ import annotations

import hmac
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.github_git import BareRepo

JSON = dict[str, Any]
BOT_LOGIN = "gluon-bot"


@dataclass
class Issue:
    number: int
    title: str
    body: str
    user: str
    labels: list[str] = field(default_factory=list)
    pull: bool = False
    state: str = "open"


@dataclass
class Comment:
    id: int
    issue: int
    body: str
    user: str
    created_at: float
    updated_at: float
    reactions: list[str] = field(default_factory=list)


@dataclass
class Pull:
    number: int
    title: str
    body: str
    head: str
    base: str
    head_sha: str
    state: str = "open"
    merged: bool = False
    # Without a bare repository, what a test says; with one, computed by git on each read.
    mergeable: bool | None = True
    merge_method: str | None = None
    user: str = "octocat"
    draft: bool = False
    base_sha: str = ""
    merge_commit_sha: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    closed_at: float | None = None
    merged_at: float | None = None
    merged_by: str | None = None
    # Full reads of the pull request per (head sha, base sha): the first ``mergeable_delay``
    # answer ``mergeable: null``, as GitHub does while it computes it.
    reads: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class Check:
    """A check run a test decides for a commit (see ``FakeGitHub.checks_by``).

    ``conclusion`` None: in progress until ``FakeGitHub.complete_check``. ``in_progress_reads``:
    that many reads of the commit's check runs see it ``in_progress`` before it completes."""

    name: str
    conclusion: str | None = "success"
    summary: str = ""
    in_progress_reads: int = 0
    title: str | None = None
    text: str | None = None


@dataclass
class CheckRun:
    id: int
    name: str
    head_sha: str
    conclusion: str | None
    title: str | None
    summary: str
    text: str | None = None
    reads_left: int = 0  # reads that still see it in progress
    started_at: float = field(default_factory=time.time)
    completed_at: float | None = None

    @property
    def status(self) -> str:
        return "completed" if self.conclusion is not None and not self.reads_left \
            else "in_progress"


@dataclass
class Repo:
    owner: str
    name: str
    default_branch: str = "main"
    clone_url: str = ""
    bare: BareRepo | None = None
    mergeable_delay: int = 0
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    checks: dict[str, list[CheckRun]] = field(default_factory=dict)  # by ref or sha
    checked: list[str] = field(default_factory=list)  # shas whose checks were asked, in order
    deleted: set[str] = field(default_factory=set)  # branches deleted (without a bare repo)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


ChecksHook = Callable[[str, str], list[Check] | None]


class State:
    """Everything behind the fake's lock (a ``threading.Condition`` over an ``RLock``, so a
    test hook called under it may call the fake's helpers)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.calls: list[tuple[str, str]] = []  # (method, path), in order
        self.ids = itertools.count(1001)
        self.numbers: dict[str, itertools.count[int]] = {}
        self.cond = threading.Condition()
        self.listeners: list[Callable[[], None]] = []
        self.checks_hook: ChecksHook | None = None

    def changed(self) -> None:
        for notify in self.listeners:
            notify()

    def next_number(self, full_name: str) -> int:
        return next(self.numbers[full_name])

    def authorized(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() in ("token", "bearer") and hmac.compare_digest(
            value.encode(), self.token.encode())

    async def enter(self, request: Request) -> Repo | Response:
        """Record the call; the repository it names, or the error GitHub would answer."""
        with self.cond:
            self.calls.append((request.method, request.url.path))
            self.changed()
        if not self.authorized(request):
            return error(401, "Bad credentials")
        name = f"{request.path_params['owner']}/{request.path_params['repo']}"
        repo = self.repos.get(name)
        return repo if repo is not None else error(404, "Not Found")


def error(status: int, message: str, *errors: JSON) -> JSONResponse:
    body: JSON = {"message": message, "documentation_url": "https://docs.github.com/rest"}
    if errors:
        body["errors"] = list(errors)
    body["status"] = str(status)
    return JSONResponse(body, status_code=status)


def invalid(resource: str, field_name: str, message: str | None = None) -> JSONResponse:
    """GitHub's 422 for a field it refuses."""
    detail: JSON = {"resource": resource, "field": field_name, "code": "invalid"}
    if message:
        detail = {"resource": resource, "code": "custom", "message": message}
    return error(422, "Validation Failed", detail)


def page(request: Request, items: list[Any]) -> list[Any]:
    """The ``page`` of ``per_page`` items (30 by default, at most 100) a request asks for."""
    try:
        per_page = min(max(int(request.query_params.get("per_page", 30)), 1), 100)
        number = max(int(request.query_params.get("page", 1)), 1)
    except ValueError:
        per_page, number = 30, 1
    return items[(number - 1) * per_page:number * per_page]


def new_sha() -> str:
    return (uuid.uuid4().hex + uuid.uuid4().hex)[:40]


def iso(at: float | None) -> str | None:
    return None if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
