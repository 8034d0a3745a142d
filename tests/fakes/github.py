"""A protocol-level fake of GitHub: the REST API Gluon calls, and signed webhook deliveries.

`FakeGitHub` serves the REST endpoints below from uvicorn on 127.0.0.1 in a background thread;
point a client at ``fake.api_url`` (githubkit's ``base_url``, or ``[github] api_url``) with
``fake.token``. A request without that token gets 401 ``Bad credentials``; an unknown repository,
issue or pull request 404 ``Not Found``; a body missing a required field 422, as GitHub answers.

REST: ``GET /repos/{o}/{r}``; issues ``GET /repos/{o}/{r}/issues/{n}``; comments ``GET|POST
/repos/{o}/{r}/issues/{n}/comments``, ``PATCH|GET /repos/{o}/{r}/issues/comments/{id}``;
reactions ``POST /repos/{o}/{r}/issues/comments/{id}/reactions``; pull requests ``GET|POST
/repos/{o}/{r}/pulls`` (``?head=owner:branch&state=``), ``GET|PATCH /repos/{o}/{r}/pulls/{n}``,
``PUT /repos/{o}/{r}/pulls/{n}/merge`` (405 when not mergeable, 409 when the head moved);
check runs ``GET /repos/{o}/{r}/commits/{ref}/check-runs``. Anything else is a 404.

Webhooks: :func:`sign` and :meth:`FakeGitHub.delivery` build a delivery (headers and the raw
body) from the real payload shapes in ``tests/fixtures/github`` (from
``@octokit/webhooks-examples``, MIT), with the fields a test cares about filled in. Tests play
GitHub's users (``add_issue``, ``set_checks``), send deliveries with any HTTP client, read
what Gluon did (``comments``, ``pulls``, ``merges``, ``calls``) and ``await wait_for(pred)``
instead of sleeping.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.threaded import ThreadedServer, wait_until

JSON = dict[str, Any]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"
BOT_LOGIN = "gluon-bot"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def example(name: str) -> JSON:
    """A real payload of GitHub's, e.g. ``issue_comment.created`` (a fresh copy)."""
    loaded: JSON = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


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
    mergeable: bool | None = True
    merge_method: str | None = None


@dataclass
class Repo:
    owner: str
    name: str
    default_branch: str = "main"
    clone_url: str = ""
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    checks: dict[str, list[JSON]] = field(default_factory=dict)  # by ref or sha

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class FakeGitHub:
    def __init__(self, token: str = "ghp_fake_token_for_tests", *,
                 webhook_secret: str = "It's a Secret to Everybody") -> None:
        self.token = token
        self.webhook_secret = webhook_secret
        self.repos: dict[str, Repo] = {}
        self.calls: list[tuple[str, str]] = []  # (method, path), in order
        self._ids = itertools.count(1001)
        self._numbers: dict[str, itertools.count[int]] = {}
        self._cond = threading.Condition()
        self._listeners: list[Callable[[], None]] = []
        self.app = Starlette(routes=[
            Route("/repos/{owner}/{repo}", self._repo),
            Route("/repos/{owner}/{repo}/issues/comments/{id:int}", self._comment,
                  methods=["GET", "PATCH"]),
            Route("/repos/{owner}/{repo}/issues/comments/{id:int}/reactions", self._react,
                  methods=["POST"]),
            Route("/repos/{owner}/{repo}/issues/{number:int}", self._issue),
            Route("/repos/{owner}/{repo}/issues/{number:int}/comments", self._comments,
                  methods=["GET", "POST"]),
            Route("/repos/{owner}/{repo}/pulls", self._pulls, methods=["GET", "POST"]),
            Route("/repos/{owner}/{repo}/pulls/{number:int}", self._pull,
                  methods=["GET", "PATCH"]),
            Route("/repos/{owner}/{repo}/pulls/{number:int}/merge", self._merge,
                  methods=["PUT"]),
            Route("/repos/{owner}/{repo}/commits/{ref:path}/check-runs", self._check_runs),
        ], lifespan=self._lifespan)
        self._http = ThreadedServer(self.app, "fake-github")

    # -- lifecycle -------------------------------------------------------------------------

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._http.ready()
        yield

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}"

    # -- what a test sets up ---------------------------------------------------------------

    def add_repo(self, full_name: str, *, default_branch: str = "main",
                 clone_url: str = "") -> Repo:
        owner, name = full_name.split("/")
        with self._cond:
            repo = self.repos[full_name] = Repo(owner, name, default_branch, clone_url)
            self._numbers[full_name] = itertools.count(1)
        return repo

    def add_issue(self, full_name: str, title: str, body: str = "", *, user: str = "octocat",
                  labels: list[str] | None = None) -> Issue:
        with self._cond:
            number = next(self._numbers[full_name])
            issue = Issue(number, title, body, user, list(labels or []))
            self.repos[full_name].issues[number] = issue
            self._changed()
        return issue

    def add_pull(self, full_name: str, title: str, head: str, *, base: str = "main",
                 body: str = "", user: str = "octocat", head_sha: str = "") -> Pull:
        with self._cond:
            number = next(self._numbers[full_name])
            pull = Pull(number, title, body, head, base, head_sha or _sha())
            repo = self.repos[full_name]
            repo.pulls[number] = pull
            repo.issues[number] = Issue(number, title, body, user, pull=True)
            self._changed()
        return pull

    def add_comment(self, full_name: str, number: int, body: str,
                    user: str = "octocat") -> Comment:
        with self._cond:
            return self._add_comment(self.repos[full_name], number, body, user)

    def set_checks(self, full_name: str, ref: str, *runs: tuple[str, str, str]) -> None:
        """The completed check runs of a ref or sha: (name, conclusion, output summary)."""
        with self._cond:
            self.repos[full_name].checks[ref] = [
                {"id": next(self._ids), "name": name, "head_sha": ref, "status": "completed",
                 "conclusion": conclusion, "html_url": f"https://github.test/checks/{name}",
                 "output": {"title": f"{name}: {conclusion}", "summary": summary,
                            "text": None}}
                for name, conclusion, summary in runs]
            self._changed()

    # -- what a test reads -----------------------------------------------------------------

    def comments(self, full_name: str, number: int) -> list[Comment]:
        with self._cond:
            return [copy.copy(c) for c in self.repos[full_name].comments.values()
                    if c.issue == number]

    def pulls(self, full_name: str) -> list[Pull]:
        with self._cond:
            return [copy.copy(p) for p in self.repos[full_name].pulls.values()]

    async def wait_for(self, predicate: Callable[[FakeGitHub], bool],
                       timeout: float = 20.0) -> None:  # noqa: ASYNC109
        await wait_until(self._cond, self._listeners, lambda: predicate(self), self.dump,
                         timeout)

    def dump(self) -> str:
        with self._cond:
            lines = [f"calls: {self.calls[-20:]}"]
            for repo in self.repos.values():
                for c in repo.comments.values():
                    lines.append(f"{repo.full_name}#{c.issue} comment {c.id} by {c.user}: "
                                 f"{c.body[:200]!r}")
                for p in repo.pulls.values():
                    lines.append(f"{repo.full_name} pull {p.number} {p.head}->{p.base} "
                                 f"{p.state} merged={p.merged}")
            return "\n".join(lines)

    # -- webhook deliveries ----------------------------------------------------------------

    def delivery(self, event: str, payload: JSON, *, secret: str | None = None,
                 delivery_id: str | None = None) -> tuple[dict[str, str], bytes]:
        """The headers and raw body GitHub would POST for ``payload``."""
        body = json.dumps(payload).encode()
        return {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/fake",
                "X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
                "X-GitHub-Hook-ID": "1",
                "X-Hub-Signature-256": sign(self.webhook_secret if secret is None else secret,
                                            body)}, body

    def issue_comment(self, full_name: str, number: int, body: str, *,
                      user: str = "octocat") -> JSON:
        """An ``issue_comment.created`` payload for a new comment (added to the fake too)."""
        with self._cond:
            repo = self.repos[full_name]
            issue = repo.issues[number]
            comment = self._add_comment(repo, number, body, user)
        payload = example("issue_comment.created")
        self._fill_repo(payload, repo, user)
        payload["issue"].update(self._issue_json(repo, issue))
        if issue.pull:
            payload["issue"]["pull_request"] = {
                "url": f"{self.api_url}/repos/{full_name}/pulls/{number}",
                "html_url": f"https://github.test/{full_name}/pull/{number}",
                "diff_url": None, "patch_url": None, "merged_at": None}
        else:
            payload["issue"].pop("pull_request", None)
        payload["comment"].update(self._comment_json(repo, comment))
        return payload

    def issues_labeled(self, full_name: str, number: int, label: str, *,
                       user: str = "octocat") -> JSON:
        with self._cond:
            repo = self.repos[full_name]
            issue = repo.issues[number]
            if label not in issue.labels:
                issue.labels.append(label)
        payload = example("issues.labeled")
        self._fill_repo(payload, repo, user)
        payload["issue"].update(self._issue_json(repo, issue))
        payload["label"] = {**payload.get("label", {}), "name": label}
        return payload

    def check_run_completed(self, full_name: str, branch: str, name: str, conclusion: str,
                            summary: str = "", *, head_sha: str = "") -> JSON:
        repo = self.repos[full_name]
        payload = example("check_run.completed")
        self._fill_repo(payload, repo, "github-actions[bot]")
        run = payload["check_run"]
        pulls = [p for p in repo.pulls.values() if p.head == branch]
        run.update({"name": name, "status": "completed", "conclusion": conclusion,
                    "head_sha": head_sha or (pulls[0].head_sha if pulls else "0" * 40),
                    "output": {**run.get("output", {}), "title": f"{name}: {conclusion}",
                               "summary": summary},
                    "pull_requests": [{"number": p.number, "head": {"ref": p.head},
                                       "base": {"ref": p.base}} for p in pulls]})
        run["check_suite"] = {**run.get("check_suite", {}), "head_branch": branch}
        return payload

    def ping(self) -> JSON:
        payload = example("ping")
        return payload

    # -- the REST API ----------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() in ("token", "bearer") and hmac.compare_digest(
            value.encode(), self.token.encode())

    async def _enter(self, request: Request) -> Repo | Response:
        with self._cond:
            self.calls.append((request.method, request.url.path))
            self._changed()
        if not self._authorized(request):
            return _error(401, "Bad credentials")
        name = f"{request.path_params['owner']}/{request.path_params['repo']}"
        repo = self.repos.get(name)
        return repo if repo is not None else _error(404, "Not Found")

    async def _repo(self, request: Request) -> Response:
        repo = await self._enter(request)
        if isinstance(repo, Response):
            return repo
        return JSONResponse(self._repo_json(repo))

    async def _issue(self, request: Request) -> Response:
        repo = await self._enter(request)
        if isinstance(repo, Response):
            return repo
        issue = repo.issues.get(request.path_params["number"])
        return JSONResponse(self._issue_json(repo, issue)) if issue else _error(404,
                                                                                "Not Found")

    async def _comments(self, request: Request) -> Response:
        repo = await self._enter(request)
        if isinstance(repo, Response):
            return repo
        number = request.path_params["number"]
        if number not in repo.issues:
            return _error(404, "Not Found")
        if request.method == "GET":
            with self._cond:
                return JSONResponse([self._comment_json(repo, c)
                                     for c in repo.comments.values() if c.issue == number])
        body = (await request.json()).get("body")
        if not isinstance(body, str) or not body:
            return _error(422, "Validation Failed")
        with self._cond:
            comment = self._add_comment(repo, number, body, BOT_LOGIN)
        return JSONResponse(self._comment_json(repo, comment), status_code=201)

    async def _comment(self, request: Request) -> Response:
        repo = await self._enter(request)
        if isinstance(repo, Response):
            return repo
        with self._cond:
            comment = repo.comments.get(request.path_params["id"])
            if comment is None:
                return _error(404, "Not Found")
            if request.method == "PATCH":
                body = (await request.json()).get("body")
                if not isinstance(body, str) or not body:
                    return _error(422, "Validation Failed")
                comment.body, comment.updated_at = body, time.time()
                self._changed()
            return JSONResponse(self._comment_json(repo, comment))

    async def _react(self, request: Request) -> Response:
        repo = await self._enter(request)
        if isinstance(repo, Response):
            return repo
        content = (await request.json()).get("content")
        with self._cond:
            comment = repo.comments.get(request.path_params["id"])
            if comment is None:
                return _error(404, "Not Found")
            comment.reactions.append(str(content))
            self._changed()
        return JSONResponse({"id": next(self._ids), "content": content}, status_code=201)

    async def _pulls(self, request: Request) -> Response:
        repo = await self._enter(request)
        if isinstance(repo, Response):
            return repo
        if request.method == "GET":
            head = request.query_params.get("head", "")
            state = request.query_params.get("state", "open")
            branch = head.split(":", 1)[-1]
            with self._cond:
                found = [p for p in repo.pulls.values()
                         if (not head or p.head == branch)
                         and (state == "all" or p.state == state)]
                return JSONResponse([self._pull_json(repo, p) for p in found])
        data = await request.json()
        if not all(isinstance(data.get(k), str) and data[k] for k in ("title", "head", "base")):
            return _error(422, "Validation Failed")
        with self._cond:
            if any(p.head == data["head"] and p.state == "open" for p in repo.pulls.values()):
                return _error(422, f"A pull request already exists for {data['head']}.")
            number = next(self._numbers[repo.full_name])
            pull = Pull(number, data["title"], data.get("body") or "", data["head"],
                        data["base"], _sha())
            repo.pulls[number] = pull
            repo.issues[number] = Issue(number, pull.title, pull.body, BOT_LOGIN, pull=True)
            self._changed()
        return JSONResponse(self._pull_json(repo, pull), status_code=201)

    async def _pull(self, request: Request) -> Response:
        repo = await self._enter(request)
        if isinstance(repo, Response):
            return repo
        with self._cond:
            pull = repo.pulls.get(request.path_params["number"])
            if pull is None:
                return _error(404, "Not Found")
            if request.method == "PATCH":
                data = await request.json()
                for key in ("title", "body", "state", "base"):
                    if isinstance(data.get(key), str):
                        setattr(pull, key, data[key])
                self._changed()
            return JSONResponse(self._pull_json(repo, pull))

    async def _merge(self, request: Request) -> Response:
        repo = await self._enter(request)
        if isinstance(repo, Response):
            return repo
        data = await request.json() if await request.body() else {}
        with self._cond:
            pull = repo.pulls.get(request.path_params["number"])
            if pull is None:
                return _error(404, "Not Found")
            if pull.merged or pull.state != "open" or not pull.mergeable:
                return _error(405, "Pull Request is not mergeable")
            if data.get("sha") and data["sha"] != pull.head_sha:
                return _error(409, "Head branch was modified. Review and try the merge again.")
            method = data.get("merge_method", "merge")
            if method not in ("merge", "squash", "rebase"):
                return _error(422, "Validation Failed")
            pull.merged, pull.state, pull.merge_method = True, "closed", method
            self._changed()
        return JSONResponse({"sha": _sha(), "merged": True,
                             "message": "Pull Request successfully merged"})

    async def _check_runs(self, request: Request) -> Response:
        repo = await self._enter(request)
        if isinstance(repo, Response):
            return repo
        ref = request.path_params["ref"]
        with self._cond:
            sha = next((p.head_sha for p in repo.pulls.values() if p.head == ref), ref)
            runs = repo.checks.get(ref) or repo.checks.get(sha) or []
            status = request.query_params.get("status")
            if status:
                runs = [r for r in runs if r["status"] == status]
            return JSONResponse({"total_count": len(runs), "check_runs": copy.deepcopy(runs)})

    # -- JSON shapes (the fields Gluon reads, as GitHub names them) ------------------------

    def _repo_json(self, repo: Repo) -> JSON:
        return {"id": abs(hash(repo.full_name)) % 10**8, "name": repo.name,
                "full_name": repo.full_name, "owner": {"login": repo.owner, "type": "User"},
                "default_branch": repo.default_branch, "private": False,
                "html_url": f"https://github.test/{repo.full_name}",
                "clone_url": repo.clone_url or f"https://github.test/{repo.full_name}.git"}

    def _issue_json(self, repo: Repo, issue: Issue) -> JSON:
        return {"number": issue.number, "title": issue.title, "body": issue.body,
                "state": issue.state, "user": {"login": issue.user, "type": "User"},
                "labels": [{"name": name} for name in issue.labels],
                "html_url": f"https://github.test/{repo.full_name}/issues/{issue.number}",
                **({"pull_request": {"url": f"{self.api_url}/repos/{repo.full_name}/pulls/"
                                            f"{issue.number}"}} if issue.pull else {})}

    def _comment_json(self, repo: Repo, comment: Comment) -> JSON:
        return {"id": comment.id, "body": comment.body,
                "user": {"login": comment.user, "type": "User"},
                "author_association": "OWNER" if comment.user == repo.owner else "MEMBER",
                "html_url": f"https://github.test/{repo.full_name}/issues/{comment.issue}"
                            f"#issuecomment-{comment.id}",
                "created_at": _iso(comment.created_at), "updated_at": _iso(comment.updated_at)}

    def _pull_json(self, repo: Repo, pull: Pull) -> JSON:
        return {"number": pull.number, "title": pull.title, "body": pull.body,
                "state": pull.state, "merged": pull.merged, "mergeable": pull.mergeable,
                "mergeable_state": "clean" if pull.mergeable else "dirty",
                "head": {"ref": pull.head, "sha": pull.head_sha},
                "base": {"ref": pull.base},
                "html_url": f"https://github.test/{repo.full_name}/pull/{pull.number}"}

    def _fill_repo(self, payload: JSON, repo: Repo, sender: str) -> None:
        payload["repository"].update({
            "name": repo.name, "full_name": repo.full_name, "default_branch":
            repo.default_branch, "owner": {**payload["repository"]["owner"],
                                           "login": repo.owner}})
        payload["sender"] = {**payload.get("sender", {}), "login": sender, "type": "User"}

    def _add_comment(self, repo: Repo, number: int, body: str, user: str) -> Comment:
        now = time.time()
        comment = Comment(next(self._ids), number, body, user, now, now)
        repo.comments[comment.id] = comment
        self._changed()
        return comment

    def _changed(self) -> None:
        for notify in self._listeners:
            notify()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message,
                         "documentation_url": "https://docs.github.com/rest"},
                        status_code=status)


def _sha() -> str:
    return (uuid.uuid4().hex + uuid.uuid4().hex)[:40]


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
