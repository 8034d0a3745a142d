"""The fake GitHub's pull requests, branch deletion and check runs, as GitHub's REST API serves
them: ``GET|POST /repos/{o}/{r}/pulls``, ``GET|PATCH /repos/{o}/{r}/pulls/{n}``, ``PUT
/repos/{o}/{r}/pulls/{n}/merge``, ``DELETE /repos/{o}/{r}/git/refs/heads/{branch}`` and ``GET
/repos/{o}/{r}/commits/{ref}/check-runs``.

A repository linked to a bare git repository is served from it: a pull request's head is its
branch's commit there (a push moves it; deleting the branch closes the pull request), a head
or base that is not there is refused with 422, ``mergeable`` is what ``git merge-tree`` says,
and a merge really moves the base branch. A repository without one keeps what the test set.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.github_git import Author, BaseMoved, MergeConflict
from tests.fakes.github_state import (
    BOT_LOGIN,
    JSON,
    CheckRun,
    Issue,
    Pull,
    Repo,
    State,
    error,
    invalid,
    iso,
    new_sha,
    page,
)

STATES = ("open", "closed", "all")
METHODS = ("merge", "squash", "rebase")


def refresh(repo: Repo, pull: Pull) -> None:
    """Bring an open pull request up to its bare repository: its head's current commit and
    the base's; closed, as GitHub closes it, once its head branch is deleted."""
    if repo.bare is None or pull.state != "open":
        return
    head = repo.bare.sha(pull.head)
    if head is None:
        pull.state, pull.closed_at = "closed", time.time()
        return
    if head != pull.head_sha:
        pull.head_sha, pull.updated_at = head, time.time()
    pull.base_sha = repo.bare.sha(pull.base) or pull.base_sha


def resolve(repo: Repo, ref: str) -> str | None:
    """A branch or sha as a commit sha; None when a bare repository has no such commit."""
    if repo.bare is not None:
        return repo.bare.resolve(ref)
    return next((p.head_sha for p in repo.pulls.values() if p.head == ref), ref)


class PullRoutes:
    def __init__(self, state: State) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/repos/{owner}/{repo}/pulls", self._pulls, methods=["GET", "POST"]),
            Route("/repos/{owner}/{repo}/pulls/{number:int}", self._pull,
                  methods=["GET", "PATCH"]),
            Route("/repos/{owner}/{repo}/pulls/{number:int}/merge", self._merge,
                  methods=["PUT"]),
            Route("/repos/{owner}/{repo}/git/refs/heads/{branch:path}", self._delete_ref,
                  methods=["DELETE"]),
            Route("/repos/{owner}/{repo}/commits/{ref:path}/check-runs", self._check_runs),
        ]

    # -- pull requests -----------------------------------------------------------------------

    async def _pulls(self, request: Request) -> Response:
        repo = await self.state.enter(request)
        if isinstance(repo, Response):
            return repo
        if request.method == "GET":
            return self._list(request, repo)
        data = await _body(request)
        if data is None or not all(isinstance(data.get(k), str) and data[k]
                                   for k in ("title", "head", "base")):
            return invalid("PullRequest", "title")
        head = _branch(repo, data["head"])
        with self.state.cond:
            refused = self._refuse_new(repo, head, data["base"])
            if refused is not None:
                return refused
            number = self.state.next_number(repo.full_name)
            pull = Pull(number, data["title"], str(data.get("body") or ""), head, data["base"],
                        "", user=BOT_LOGIN, draft=bool(data.get("draft")))
            self.link(repo, pull)
            self.state.changed()
            return JSONResponse(self.pull_json(request, repo, pull), status_code=201)

    def _refuse_new(self, repo: Repo, head: str, base: str) -> Response | None:
        if any(p.head == head and p.base == base and p.state == "open"
               for p in repo.pulls.values()):
            return invalid("PullRequest", "", f"A pull request already exists for "
                                              f"{repo.owner}:{head}.")
        if repo.bare is None:
            return None
        head_sha, base_sha = repo.bare.sha(head), repo.bare.sha(base)
        if head_sha is None:
            return invalid("PullRequest", "head")
        if base_sha is None:
            return invalid("PullRequest", "base")
        if repo.bare.is_ancestor(head_sha, base_sha):
            return invalid("PullRequest", "", f"No commits between {base} and {head}")
        return None

    @staticmethod
    def link(repo: Repo, pull: Pull) -> None:
        """Add a new pull request (and the issue GitHub numbers it with)."""
        if repo.bare is not None:
            pull.head_sha = repo.bare.sha(pull.head) or pull.head_sha
            pull.base_sha = repo.bare.sha(pull.base) or ""
        pull.head_sha = pull.head_sha or new_sha()
        repo.pulls[pull.number] = pull
        repo.issues[pull.number] = Issue(pull.number, pull.title, pull.body, pull.user,
                                         pull=True)

    def _list(self, request: Request, repo: Repo) -> Response:
        head = request.query_params.get("head", "")
        state = request.query_params.get("state", "open")
        if state not in STATES:
            return invalid("PullRequest", "state")
        owner, _, branch = head.rpartition(":")
        with self.state.cond:
            for pull in repo.pulls.values():
                refresh(repo, pull)
            found = [p for p in repo.pulls.values()
                     if (not head or (p.head == branch and owner in ("", repo.owner)))
                     and (state == "all" or p.state == state)
                     and request.query_params.get("base", p.base) == p.base]
            found.sort(key=lambda p: p.number,
                       reverse=request.query_params.get("direction", "desc") == "desc")
            return JSONResponse([self.pull_json(request, repo, p, full=False)
                                 for p in page(request, found)])

    async def _pull(self, request: Request) -> Response:
        repo = await self.state.enter(request)
        if isinstance(repo, Response):
            return repo
        data = await _body(request) if request.method == "PATCH" else {}
        if data is None:
            return error(400, "Problems parsing JSON")
        with self.state.cond:
            pull = repo.pulls.get(request.path_params["number"])
            if pull is None:
                return error(404, "Not Found")
            refresh(repo, pull)
            if request.method == "PATCH":
                refused = self._patch(repo, pull, data)
                if refused is not None:
                    return refused
                self.state.changed()
            return JSONResponse(self.pull_json(request, repo, pull))

    def _patch(self, repo: Repo, pull: Pull, data: JSON) -> Response | None:
        state = data.get("state")
        if state is not None and state not in ("open", "closed"):
            return invalid("PullRequest", "state")
        if state == "open" and pull.state == "closed":
            if pull.merged:
                return invalid("PullRequest", "", "state cannot be changed. The pull request "
                                                  "cannot be reopened because it is merged.")
            if repo.bare is not None and repo.bare.sha(pull.head) is None:
                return invalid("PullRequest", "", "state cannot be changed. The "
                                                  f"{pull.head} branch has been deleted.")
        base = data.get("base")
        if isinstance(base, str) and repo.bare is not None and repo.bare.sha(base) is None:
            return invalid("PullRequest", "base")
        for key in ("title", "body", "base"):
            if isinstance(data.get(key), str):
                setattr(pull, key, data[key])
        if state is not None and state != pull.state:
            pull.state = state
            pull.closed_at = time.time() if state == "closed" else None
            refresh(repo, pull)
        pull.updated_at = time.time()
        return None

    async def _merge(self, request: Request) -> Response:
        repo = await self.state.enter(request)
        if isinstance(repo, Response):
            return repo
        data = await _body(request) if await request.body() else {}
        if data is None:
            return error(400, "Problems parsing JSON")
        method = data.get("merge_method") or "merge"
        if method not in METHODS:
            return invalid("MergePullRequest", "merge_method")
        with self.state.cond:
            pull = repo.pulls.get(request.path_params["number"])
            if pull is None:
                return error(404, "Not Found")
            refresh(repo, pull)
            if pull.merged or pull.state != "open":
                return error(405, "Pull Request is not mergeable")
            if data.get("sha") and data["sha"] != pull.head_sha:
                return error(409, "Head branch was modified. Review and try the merge again.")
            if pull.draft:
                return error(405, "Pull Request is still a draft")
            made = self._merged_sha(repo, pull, method, data)
            if isinstance(made, Response):
                return made
            now = time.time()
            pull.merged, pull.state, pull.merge_method = True, "closed", method
            pull.merge_commit_sha, pull.merged_by = made, BOT_LOGIN
            pull.merged_at = pull.closed_at = pull.updated_at = now
            repo.issues[pull.number].state = "closed"
            self.state.changed()
        return JSONResponse({"sha": made, "merged": True,
                             "message": "Pull Request successfully merged"})

    def _merged_sha(self, repo: Repo, pull: Pull, method: str, data: JSON) -> str | Response:
        if repo.bare is None:
            return new_sha() if pull.mergeable else error(405, "Pull Request is not mergeable")
        bare = repo.bare
        if method == "merge":
            title = f"Merge pull request #{pull.number} from {repo.owner}/{pull.head}"
            extra = pull.title
        else:
            title = f"{pull.title} (#{pull.number})"
            extra = "\n\n".join(f"* {m}" for m in bare.messages(pull.base_sha, pull.head_sha))
        title = str(data.get("commit_title") or title)
        extra = str(data["commit_message"]) if "commit_message" in data else extra
        author = (Author(BOT_LOGIN, f"{BOT_LOGIN}@users.noreply.github.com")
                  if method == "merge" else bare.author(pull.head_sha))
        try:
            return bare.merge(pull.base, pull.head_sha, method=method,
                              message=f"{title}\n\n{extra}".strip(), author=author)
        except MergeConflict:
            return error(405, "Pull Request is not mergeable")
        except BaseMoved:
            return error(405, "Base branch was modified. Review and try the merge again.")

    # -- branches --------------------------------------------------------------------------

    async def _delete_ref(self, request: Request) -> Response:
        repo = await self.state.enter(request)
        if isinstance(repo, Response):
            return repo
        branch = request.path_params["branch"]
        with self.state.cond:
            if repo.bare is not None:
                gone = repo.bare.delete(branch)
            else:
                gone = branch not in repo.deleted
                repo.deleted.add(branch)
            if not gone:
                return error(422, "Reference does not exist")
            for pull in repo.pulls.values():
                if pull.head == branch and pull.state == "open":
                    pull.state, pull.closed_at = "closed", time.time()
            self.state.changed()
        return Response(status_code=204)

    # -- check runs ------------------------------------------------------------------------

    async def _check_runs(self, request: Request) -> Response:
        repo = await self.state.enter(request)
        if isinstance(repo, Response):
            return repo
        ref = request.path_params["ref"]
        with self.state.cond:
            sha = resolve(repo, ref)
            if sha is None:
                return invalid("CheckRun", "", f"No commit found for SHA: {ref}")
            runs = self._runs_of(repo, ref, sha)
            shown = [self.check_json(request, repo, run) for run in runs]
            for run in runs:
                if run.reads_left:
                    run.reads_left -= 1
                    if not run.reads_left and run.conclusion is not None:
                        run.completed_at = time.time()
            status = request.query_params.get("status")
            if status:
                shown = [r for r in shown if r["status"] == status]
            if request.query_params.get("check_name"):
                shown = [r for r in shown if r["name"] == request.query_params["check_name"]]
            return JSONResponse({"total_count": len(shown), "check_runs": page(request, shown)})

    def _runs_of(self, repo: Repo, ref: str, sha: str) -> list[CheckRun]:
        if sha not in repo.checked:
            repo.checked.append(sha)
            self.state.changed()
        known = repo.checks.get(ref) or repo.checks.get(sha)
        if known is not None:
            return known
        hook = self.state.checks_hook
        decided = hook(repo.full_name, sha) if hook is not None else None
        if decided is None:
            return []
        now = time.time()
        runs = repo.checks[sha] = [
            CheckRun(next(self.state.ids), c.name, sha, c.conclusion,
                     c.title if c.title is not None else
                     f"{c.name}: {c.conclusion or 'in progress'}",
                     c.summary, c.text, c.in_progress_reads,
                     completed_at=now if c.conclusion and not c.in_progress_reads else None)
            for c in decided]
        self.state.changed()
        return runs

    # -- JSON shapes, as GitHub names them -------------------------------------------------

    def pull_json(self, request: Request, repo: Repo, pull: Pull, *, full: bool = True) -> JSON:
        """A pull request; ``full=False`` is the list's shape, which lacks ``merged``,
        ``mergeable`` and ``mergeable_state`` as GitHub's does."""
        api = f"{_api(request)}/repos/{repo.full_name}"
        where = {"full_name": repo.full_name, "name": repo.name,
                 "owner": {"login": repo.owner, "type": "User"},
                 "default_branch": repo.default_branch}
        found: JSON = {
            "url": f"{api}/pulls/{pull.number}", "id": 10**6 + pull.number,
            "number": pull.number, "state": pull.state, "locked": False,
            "title": pull.title, "body": pull.body, "draft": pull.draft,
            "user": {"login": pull.user, "type": "User"},
            "html_url": f"https://github.test/{repo.full_name}/pull/{pull.number}",
            "created_at": iso(pull.created_at), "updated_at": iso(pull.updated_at),
            "closed_at": iso(pull.closed_at), "merged_at": iso(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
            "head": {"label": f"{repo.owner}:{pull.head}", "ref": pull.head,
                     "sha": pull.head_sha, "user": {"login": repo.owner}, "repo": where},
            "base": {"label": f"{repo.owner}:{pull.base}", "ref": pull.base,
                     "sha": pull.base_sha or None, "user": {"login": repo.owner},
                     "repo": where}}
        if full:
            mergeable = self._mergeable(repo, pull)
            found.update({
                "merged": pull.merged, "mergeable": mergeable, "rebaseable": mergeable,
                "mergeable_state": _mergeable_state(pull, mergeable),
                "merged_by": {"login": pull.merged_by} if pull.merged_by else None})
        return found

    def _mergeable(self, repo: Repo, pull: Pull) -> bool | None:
        if pull.state != "open":
            return None
        if repo.bare is None:
            return pull.mergeable
        key = (pull.head_sha, pull.base_sha)
        reads = pull.reads[key] = pull.reads.get(key, 0) + 1
        if reads <= repo.mergeable_delay:
            return None
        return repo.bare.mergeable(pull.base_sha, pull.head_sha)

    def check_json(self, request: Request, repo: Repo, run: CheckRun) -> JSON:
        status = run.status
        return {
            "id": run.id, "name": run.name, "head_sha": run.head_sha,
            "node_id": f"CR_{run.id}", "external_id": str(run.id),
            "url": f"{_api(request)}/repos/{repo.full_name}/check-runs/{run.id}",
            "html_url": f"https://github.test/{repo.full_name}/runs/{run.id}",
            "details_url": f"https://github.test/{repo.full_name}/runs/{run.id}",
            "status": status,
            "conclusion": run.conclusion if status == "completed" else None,
            "started_at": iso(run.started_at),
            "completed_at": iso(run.completed_at) if status == "completed" else None,
            "output": {"title": run.title if status == "completed" else None,
                       "summary": run.summary if status == "completed" else None,
                       "text": run.text if status == "completed" else None,
                       "annotations_count": 0,
                       "annotations_url": f"{_api(request)}/repos/{repo.full_name}/"
                                          f"check-runs/{run.id}/annotations"},
            "check_suite": {"id": run.id + 10**6},
            "app": {"slug": "github-actions", "name": "GitHub Actions"},
            "pull_requests": [
                {"number": p.number, "head": {"ref": p.head, "sha": p.head_sha},
                 "base": {"ref": p.base, "sha": p.base_sha or None}}
                for p in repo.pulls.values()
                if p.state == "open" and p.head_sha == run.head_sha]}


def _mergeable_state(pull: Pull, mergeable: bool | None) -> str:
    if pull.state != "open" or mergeable is None:
        return "unknown"
    if not mergeable:
        return "dirty"
    return "draft" if pull.draft else "clean"


def _branch(repo: Repo, head: str) -> str:
    """``owner:branch`` (how GitHub also takes a head) as the branch."""
    owner, _, branch = head.rpartition(":")
    return branch if owner.lower() == repo.owner.lower() else head


def _api(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _body(request: Request) -> JSON | None:
    try:
        data: Any = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None

