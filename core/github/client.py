"""GitHub's REST API, through githubkit, at ``[github] api_url`` (GitHub, GitHub Enterprise's
``https://HOST/api/v3``, or a fake).

The token comes from ``github.token`` or ``GH_TOKEN`` and is never logged nor put in a message.
Responses are read as JSON (``.json()``), not githubkit's schema-strict models, so a GitHub
Enterprise version with fewer fields works too. Every failure is a :class:`GitHubError` with
one line: what was asked, what GitHub answered, and what to check. githubkit is imported on the
first call: it takes most of a second, which a ``gluon`` command that never calls GitHub does
not pay.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx

from core.config import GitHubConfig
from core.errors import UserError

if TYPE_CHECKING:
    from githubkit import GitHub

TIMEOUT = 30.0
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
MAX_PAGES = 10


class GitHubError(UserError):
    """GitHub refused a request or could not be reached."""


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
            try:
                why = str(exc.response.json().get("message") or "")
            except (ValueError, AttributeError):
                why = ""
            hint = ("; check github.token (or GH_TOKEN) and its access to the repository"
                    if status in (401, 403, 404) else "")
            raise GitHubError(f"GitHub answered {status} {why or 'an error'} to {method} "
                              f"{path}{hint}") from None
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
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            batch = await self.request(
                "GET", f"/repos/{check_repo(repo)}/issues/{number}/comments",
                params={"per_page": 100, "page": page})
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

    # -- pull requests and checks ------------------------------------------------------------

    async def pull(self, repo: str, number: int) -> dict[str, Any]:
        pull = await self.request("GET", f"/repos/{check_repo(repo)}/pulls/{number}")
        assert isinstance(pull, dict)
        return pull

    async def check_runs(self, repo: str, ref: str) -> list[dict[str, Any]]:
        """The completed check runs of a commit (or branch)."""
        found = await self.request("GET", f"/repos/{check_repo(repo)}/commits/{ref}/check-runs",
                                   params={"status": "completed", "per_page": 100})
        runs = found.get("check_runs") if isinstance(found, dict) else None
        return [r for r in runs or [] if isinstance(r, dict)]
