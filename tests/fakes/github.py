"""A protocol-level fake of GitHub: the REST API Gluon calls, and signed webhook deliveries.

`FakeGitHub` serves the REST endpoints below from uvicorn on 127.0.0.1 in a background thread;
point a client at ``fake.api_url`` (githubkit's ``base_url``, or ``[github] api_url``) with
``fake.token``. A request without that token gets 401 ``Bad credentials``; an unknown repository,
issue or pull request 404 ``Not Found``; a body missing a required field 422, as GitHub answers.

REST: ``GET /repos/{o}/{r}``; issues ``GET /repos/{o}/{r}/issues/{n}``; comments ``GET|POST
/repos/{o}/{r}/issues/{n}/comments``, ``PATCH|GET /repos/{o}/{r}/issues/comments/{id}``;
reactions ``POST /repos/{o}/{r}/issues/comments/{id}/reactions``; pull requests, branch
deletion and check runs as :mod:`tests.fakes.github_pulls` serves them (backed by a real bare
git repository when the test links one: ``add_repo(..., bare=path)``). Anything else is a 404.

Webhooks: :func:`sign` and :meth:`FakeGitHub.delivery` build a delivery (headers and the raw
body) from the real payload shapes in ``tests/fixtures/github`` (from
``@octokit/webhooks-examples``, MIT), with the fields a test cares about filled in. Tests play
GitHub's users (``add_issue``, ``set_checks``, ``checks_by``, ``close_pull``), send
deliveries with any HTTP client, read what Gluon did (``comments``, ``pulls``, ``pull_of``,
``calls``) and ``await wait_for(pred)`` instead of sleeping.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.github_git import BareRepo
from tests.fakes.github_pulls import PullRoutes, refresh
from tests.fakes.github_state import (
    BOT_LOGIN,
    JSON,
    Check,
    CheckRun,
    ChecksHook,
    Comment,
    Issue,
    Pull,
    Repo,
    State,
    error,
    iso,
    page,
)
from tests.fakes.threaded import ThreadedServer, wait_until

__all__ = ["BOT_LOGIN", "Check", "Comment", "FakeGitHub", "Issue", "Pull", "Repo", "example",
           "sign"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def example(name: str) -> JSON:
    """A real payload of GitHub's, e.g. ``issue_comment.created`` (a fresh copy)."""
    loaded: JSON = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


class FakeGitHub:
    def __init__(self, token: str = "ghp_fake_token_for_tests", *,
                 webhook_secret: str = "It's a Secret to Everybody") -> None:
        self.webhook_secret = webhook_secret
        self.state = State(token)
        self._cond = self.state.cond
        pulls = PullRoutes(self.state)
        self.app = Starlette(routes=[
            Route("/repos/{owner}/{repo}", self._repo),
            Route("/repos/{owner}/{repo}/issues/comments/{id:int}", self._comment,
                  methods=["GET", "PATCH"]),
            Route("/repos/{owner}/{repo}/issues/comments/{id:int}/reactions", self._react,
                  methods=["POST"]),
            Route("/repos/{owner}/{repo}/issues/{number:int}", self._issue),
            Route("/repos/{owner}/{repo}/issues/{number:int}/comments", self._comments,
                  methods=["GET", "POST"]),
            *pulls.routes(),
        ], lifespan=self._lifespan)
        self._http = ThreadedServer(self.app, "fake-github")

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def repos(self) -> dict[str, Repo]:
        return self.state.repos

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in order."""
        return self.state.calls

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
                 clone_url: str = "", bare: Path | None = None,
                 mergeable_delay: int = 0) -> Repo:
        """A repository; with ``bare``, served from that bare git repository (see
        :mod:`tests.fakes.github_pulls`). The first ``mergeable_delay`` reads of a pull request
        at each head answer ``mergeable: null``, as GitHub does while it computes it."""
        owner, name = full_name.split("/")
        with self._cond:
            repo = self.repos[full_name] = Repo(
                owner, name, default_branch, clone_url,
                BareRepo(bare) if bare is not None else None, mergeable_delay)
            self.state.numbers[full_name] = itertools.count(1)
        return repo

    def link_bare(self, full_name: str, bare: Path) -> None:
        """Serve an added repository from the bare git repository ``bare`` from now on."""
        with self._cond:
            self.repos[full_name].bare = BareRepo(bare)
            self._changed()

    def add_issue(self, full_name: str, title: str, body: str = "", *, user: str = "octocat",
                  labels: list[str] | None = None) -> Issue:
        with self._cond:
            number = self.state.next_number(full_name)
            issue = Issue(number, title, body, user, list(labels or []))
            self.repos[full_name].issues[number] = issue
            self._changed()
        return issue

    def add_pull(self, full_name: str, title: str, head: str, *, base: str = "main",
                 body: str = "", user: str = "octocat", head_sha: str = "") -> Pull:
        """A pull request someone opened (its head is the branch's commit in a linked bare
        repository, else ``head_sha`` or a made-up sha)."""
        with self._cond:
            repo = self.repos[full_name]
            pull = Pull(self.state.next_number(full_name), title, body, head, base, head_sha,
                        user=user)
            PullRoutes.link(repo, pull)
            self._changed()
        return pull

    def close_pull(self, full_name: str, number: int, *, user: str = "octocat") -> None:
        """Someone closes a pull request by hand on GitHub (without merging it)."""
        with self._cond:
            repo = self.repos[full_name]
            pull = repo.pulls[number]
            refresh(repo, pull)
            if pull.state == "open":
                pull.state, pull.closed_at = "closed", time.time()
                pull.updated_at = pull.closed_at
                repo.issues[number].state = "closed"
            self._changed()

    def add_comment(self, full_name: str, number: int, body: str,
                    user: str = "octocat") -> Comment:
        with self._cond:
            return self._add_comment(self.repos[full_name], number, body, user)

    def set_checks(self, full_name: str, ref: str, *runs: tuple[str, str, str]) -> None:
        """The completed check runs of a ref or sha: (name, conclusion, output summary)."""
        with self._cond:
            self.repos[full_name].checks[ref] = [
                CheckRun(next(self.state.ids), name, ref, conclusion, f"{name}: {conclusion}",
                         summary, completed_at=time.time())
                for name, conclusion, summary in runs]
            self._changed()

    def checks_by(self, decide: ChecksHook | None) -> None:
        """Let ``decide(full_name, sha)`` give the check runs of every commit whose checks are
        asked for and that ``set_checks`` did not set: a list of :class:`Check` (kept for that
        sha: asked once per commit), or None for "none yet, ask me again". It runs under the
        fake's lock and may call ``file_at`` to decide by the commit's content."""
        with self._cond:
            self.state.checks_hook = decide

    def complete_check(self, full_name: str, sha: str, name: str, conclusion: str,
                       summary: str = "") -> None:
        """Finish an in-progress check run of a commit (one its ``Check`` left open)."""
        with self._cond:
            for run in self.repos[full_name].checks.get(sha, []):
                if run.name == name:
                    run.conclusion, run.summary, run.reads_left = conclusion, summary, 0
                    run.title, run.completed_at = f"{name}: {conclusion}", time.time()
                    self._changed()
                    return
            raise KeyError(f"no check run {name!r} on {sha} of {full_name}")

    # -- what a test reads -----------------------------------------------------------------

    def comments(self, full_name: str, number: int) -> list[Comment]:
        with self._cond:
            return [copy.copy(c) for c in self.repos[full_name].comments.values()
                    if c.issue == number]

    def pulls(self, full_name: str) -> list[Pull]:
        with self._cond:
            repo = self.repos[full_name]
            for pull in repo.pulls.values():
                refresh(repo, pull)
            return [copy.copy(p) for p in repo.pulls.values()]

    def pull_of(self, full_name: str, head: str) -> Pull | None:
        """The newest pull request from branch ``head``, if any."""
        found = [p for p in self.pulls(full_name) if p.head == head]
        return found[-1] if found else None

    def checked(self, full_name: str) -> list[str]:
        """The commits whose check runs were asked for, first asked first."""
        with self._cond:
            return list(self.repos[full_name].checked)

    def file_at(self, full_name: str, sha: str, path: str) -> str | None:
        """A file of a commit in the linked bare repository (None when it has no such file)."""
        bare = self.repos[full_name].bare
        assert bare is not None, f"{full_name} has no bare repository (add_repo(bare=...))"
        return bare.file_at(sha, path)

    async def wait_for(self, predicate: Callable[[FakeGitHub], bool],
                       timeout: float = 20.0) -> None:  # noqa: ASYNC109
        await wait_until(self._cond, self.state.listeners, lambda: predicate(self), self.dump,
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
        """A ``check_run.completed`` payload for a check of ``branch`` (its head commit in a
        linked bare repository, else its pull request's)."""
        pulls = [p for p in self.pulls(full_name) if p.head == branch]
        repo = self.repos[full_name]
        sha = head_sha or (repo.bare.sha(branch) if repo.bare is not None else None) or (
            pulls[-1].head_sha if pulls else "0" * 40)
        payload = example("check_run.completed")
        self._fill_repo(payload, repo, "github-actions[bot]")
        run = payload["check_run"]
        pulls = [p for p in pulls if p.state == "open"] or pulls
        run.update({"name": name, "status": "completed", "conclusion": conclusion,
                    "head_sha": sha,
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

    async def _enter(self, request: Request) -> Repo | Response:
        return await self.state.enter(request)

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
        return JSONResponse(self._issue_json(repo, issue)) if issue else error(404,
                                                                                "Not Found")

    async def _comments(self, request: Request) -> Response:
        repo = await self._enter(request)
        if isinstance(repo, Response):
            return repo
        number = request.path_params["number"]
        if number not in repo.issues:
            return error(404, "Not Found")
        if request.method == "GET":
            with self._cond:
                return JSONResponse([self._comment_json(repo, c) for c in page(
                    request, [c for c in repo.comments.values() if c.issue == number])])
        body = (await request.json()).get("body")
        if not isinstance(body, str) or not body:
            return error(422, "Validation Failed")
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
                return error(404, "Not Found")
            if request.method == "PATCH":
                body = (await request.json()).get("body")
                if not isinstance(body, str) or not body:
                    return error(422, "Validation Failed")
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
                return error(404, "Not Found")
            comment.reactions.append(str(content))
            self._changed()
        return JSONResponse({"id": next(self.state.ids), "content": content}, status_code=201)

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
                "created_at": iso(comment.created_at), "updated_at": iso(comment.updated_at)}

    def _fill_repo(self, payload: JSON, repo: Repo, sender: str) -> None:
        payload["repository"].update({
            "name": repo.name, "full_name": repo.full_name, "default_branch":
            repo.default_branch, "owner": {**payload["repository"]["owner"],
                                           "login": repo.owner}})
        payload["sender"] = {**payload.get("sender", {}), "login": sender, "type": "User"}

    def _add_comment(self, repo: Repo, number: int, body: str, user: str) -> Comment:
        now = time.time()
        comment = Comment(next(self.state.ids), number, body, user, now, now)
        repo.comments[comment.id] = comment
        self._changed()
        return comment

    def _changed(self) -> None:
        self.state.changed()
