"""GitHub's REST API, through githubkit, at ``[github] api_url`` (GitHub, GitHub Enterprise's
``https://HOST/api/v3``, or a fake).

The token comes from ``github.token`` or ``GH_TOKEN`` and is never logged nor put in a message.
Responses are read as JSON (``.json()``), not githubkit's schema-strict models, so a GitHub
Enterprise version with fewer fields works too. Every failure is a :class:`GitHubError` with
one line: what was asked, what GitHub answered, and what to check; a refused merge is a
:class:`PullNotMergeable` or :class:`PullHeadMoved`, so the merge queue can rebase and try
again. githubkit is imported on the first call: it takes most of a second, which a ``gluon``
command that never calls GitHub does not pay.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx

from core.config import GitHubConfig
from core.errors import UserError

if TYPE_CHECKING:
    from githubkit import GitHub
    from githubkit.response import Response

TIMEOUT = 30.0
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
MAX_PAGES = 10


class GitHubError(UserError):
    """GitHub refused a request or could not be reached. ``status`` is GitHub's HTTP status
    (None when it gave no answer) and ``reason`` its message."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class PullNotMergeable(GitHubError):
    """GitHub would not merge a pull request (405): conflicts with its base, a draft, a
    closed one, a base that moved meanwhile, or required checks not passed."""


class PullHeadMoved(GitHubError):
    """The pull request's head is no longer the commit Gluon asked GitHub to merge (409)."""


PullState = Literal["open", "closed", "all"]
MergeMethod = Literal["merge", "squash", "rebase"]


def check_repo(repo: str) -> str:
    if not _REPO.fullmatch(repo):
        raise GitHubError(f"{repo!r} is not a GitHub repository name (owner/name)")
    return repo


class GitHubClient:
    def __init__(self, config: GitHubConfig) -> None:
        self.config = config
        self._gh: GitHub[Any] | None = None
        # One connection pool for every request (githubkit makes a client per request).
        self._transport: httpx.AsyncHTTPTransport | None = None

    @property
    def configured(self) -> bool:
        return self.config.token is not None

    def _client(self) -> GitHub[Any]:
        if self._gh is None:
            if self.config.token is None:
                raise GitHubError("no GitHub token: set github.token in the config or GH_TOKEN "
                                  "in Gluon's environment")
            from githubkit import GitHub

            self._transport = httpx.AsyncHTTPTransport()
            self._gh = GitHub(self.config.token.get_secret_value(),
                              base_url=self.config.api_url + "/", timeout=TIMEOUT,
                              auto_retry=False, http_cache=False,
                              async_transport=self._transport)
        return self._gh

    async def close(self) -> None:
        """Close the connections (idempotent); a later request opens new ones."""
        transport, self._transport, self._gh = self._transport, None, None
        if transport is not None:
            await transport.aclose()

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: dict[str, Any] | None = None) -> Any:
        """One REST call; its JSON body (None when it has none)."""
        from githubkit.exception import RequestError, RequestFailed, RequestTimeout

        gh = self._client()
        try:
            response = await gh.arequest(method, path, json=json, params=params)
        except RequestFailed as exc:
            status = exc.response.status_code
            why = _reason(exc.response)
            hint = ("; check github.token (or GH_TOKEN) and its access to the repository"
                    if status in (401, 403, 404) else "")
            raise GitHubError(f"GitHub answered {status} {why or 'an error'} to {method} "
                              f"{path}{hint}", status=status, reason=why) from None
        except RequestTimeout:
            raise GitHubError(f"GitHub at {self.config.api_url} gave no answer to {method} "
                              f"{path} in {TIMEOUT:g} s; try again later") from None
        except RequestError as exc:
            cause = exc.args[0] if exc.args else exc
            raise GitHubError(f"GitHub at {self.config.api_url} could not be reached "
                              f"({type(cause).__name__}); check github.api_url and the "
                              "network") from None
        if not response.content:
            return None
        return response.json()

    # -- issues and comments -----------------------------------------------------------------

    async def comment(self, repo: str, number: int, body: str) -> int:
        """Post a comment on an issue or pull request; its id."""
        made = await self.request("POST", f"/repos/{check_repo(repo)}/issues/{number}/comments",
                                  json={"body": body})
        return int(made["id"])

    async def edit_comment(self, repo: str, comment_id: int, body: str) -> None:
        await self.request("PATCH", f"/repos/{check_repo(repo)}/issues/comments/{comment_id}",
                           json={"body": body})

    async def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """The comments of an issue or pull request, oldest first (up to 1,000)."""
        return await self._pages(f"/repos/{check_repo(repo)}/issues/{number}/comments")

    async def _pages(self, path: str, params: dict[str, Any] | None = None
                     ) -> list[dict[str, Any]]:
        """Every object of a listing, page after page of 100 (up to 1,000)."""
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            batch = await self.request("GET", path,
                                       params={**(params or {}), "per_page": 100, "page": page})
            if not isinstance(batch, list):
                break
            found += [c for c in batch if isinstance(c, dict)]
            if len(batch) < 100:
                break
        return found

    async def react(self, repo: str, comment_id: int, content: str) -> None:
        """A reaction (``eyes``, ``+1``, ...) on a comment."""
        await self.request(
            "POST", f"/repos/{check_repo(repo)}/issues/comments/{comment_id}/reactions",
            json={"content": content})

    # -- pull requests -----------------------------------------------------------------------

    async def pull(self, repo: str, number: int) -> dict[str, Any]:
        """A pull request, with ``merged``, ``mergeable`` (null while GitHub computes it) and
        ``mergeable_state``."""
        pull = await self.request("GET", f"/repos/{check_repo(repo)}/pulls/{number}")
        assert isinstance(pull, dict)
        return pull

    async def pulls_of_branch(self, repo: str, branch: str, *, state: PullState = "all"
                              ) -> list[dict[str, Any]]:
        """The pull requests from ``branch`` of ``repo`` itself (not of forks), newest first.
        A listing's pull requests lack ``merged`` and ``mergeable``: ``merged_at`` says
        whether one was merged, :meth:`pull` gives the rest."""
        owner = check_repo(repo).split("/")[0]
        return await self._pages(f"/repos/{repo}/pulls", {
            "head": f"{owner}:{branch}", "state": state, "sort": "created",
            "direction": "desc"})

    async def create_pull(self, repo: str, *, head: str, base: str, title: str, body: str,
                          draft: bool = False) -> dict[str, Any]:
        """Open a pull request from branch ``head`` into ``base``; it, as GitHub made it.
        GitHub refuses (422) a head it does not have, a head with no commits beyond the base,
        and a second open pull request for the same head and base."""
        made = await self.request("POST", f"/repos/{check_repo(repo)}/pulls", json={
            "head": head, "base": base, "title": title, "body": body, "draft": draft})
        assert isinstance(made, dict)
        return made

    async def update_pull(self, repo: str, number: int, *, title: str | None = None,
                          body: str | None = None, state: Literal["open", "closed"] | None = None
                          ) -> dict[str, Any]:
        """Change a pull request's title, body or state (what is None stays); it, changed."""
        changes = {k: v for k, v in (("title", title), ("body", body), ("state", state))
                   if v is not None}
        found = await self.request("PATCH", f"/repos/{check_repo(repo)}/pulls/{number}",
                                   json=changes)
        assert isinstance(found, dict)
        return found

    async def merge_pull(self, repo: str, number: int, *, sha: str, method: MergeMethod) -> str:
        """Merge a pull request if its head is still ``sha``; the commit the base now has
        (a merge commit, the squashed commit, or the last rebased one). Raises
        :class:`PullHeadMoved` when the head moved and :class:`PullNotMergeable` when GitHub
        will not merge it (conflicts, a base that moved meanwhile, a draft, a closed one)."""
        path = f"/repos/{check_repo(repo)}/pulls/{number}/merge"
        try:
            done = await self.request("PUT", path, json={"sha": sha, "merge_method": method})
        except GitHubError as exc:
            if exc.status == 409:
                raise PullHeadMoved(
                    f"pull request #{number} of {repo} no longer has head {sha[:12]} "
                    f"(GitHub: {exc.reason or 'head branch was modified'}); read its new head "
                    "and merge again", status=409, reason=exc.reason) from None
            if exc.status == 405:
                raise PullNotMergeable(
                    f"GitHub will not merge pull request #{number} of {repo}: "
                    f"{exc.reason or 'not mergeable'}; rebase its branch on the base, or see "
                    "the pull request", status=405, reason=exc.reason) from None
            raise
        merged = done.get("sha") if isinstance(done, dict) else None
        if not isinstance(merged, str) or not merged:
            raise GitHubError(f"GitHub answered PUT {path} without the merged commit; see pull "
                              f"request #{number} of {repo}")
        return merged

    async def delete_branch(self, repo: str, branch: str) -> None:
        """Delete a branch of ``repo``; one already gone is no error. GitHub closes the open
        pull requests from it."""
        try:
            await self.request("DELETE", f"/repos/{check_repo(repo)}/git/refs/heads/"
                                         f"{quote(branch, safe='/')}")
        except GitHubError as exc:
            if exc.status not in (404, 422):
                raise

    # -- check runs --------------------------------------------------------------------------

    async def check_runs(self, repo: str, ref: str) -> list[dict[str, Any]]:
        """The completed check runs of a commit (or branch)."""
        return await self._check_runs(repo, ref, {"status": "completed"})

    async def all_check_runs(self, repo: str, ref: str) -> list[dict[str, Any]]:
        """Every check run of a commit (or branch): ``status`` queued, in_progress or completed,
        ``conclusion`` null until completed. None at all can also mean the checks have not
        started yet."""
        return await self._check_runs(repo, ref, {})

    async def _check_runs(self, repo: str, ref: str, params: dict[str, Any]
                          ) -> list[dict[str, Any]]:
        path = f"/repos/{check_repo(repo)}/commits/{quote(ref, safe='/')}/check-runs"
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            answer = await self.request("GET", path,
                                        params={**params, "per_page": 100, "page": page})
            runs = answer.get("check_runs") if isinstance(answer, dict) else None
            batch = [r for r in runs or [] if isinstance(r, dict)]
            found += batch
            total = answer.get("total_count") if isinstance(answer, dict) else None
            if len(batch) < 100 or not isinstance(total, int) or len(found) >= total:
                break
        return found


def _reason(response: Response[Any, Any]) -> str:
    """GitHub's message, with the details of a 422 ("No commits between main and x")."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    why = str(body.get("message") or "")
    details = [str(e.get("message") or " ".join(str(e[k]) for k in ("resource", "field", "code")
                                                if e.get(k)))
               for e in body.get("errors") or [] if isinstance(e, dict)]
    details = [d for d in details if d]
    return f"{why} ({'; '.join(details)})" if details and why else why or "; ".join(details)
