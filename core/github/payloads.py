"""The fields of GitHub's webhook payloads that Gluon reads, parsed at the edge.

Payloads are read as dicts and validated into these models (not githubkit's strict webhook
models, which refuse some of GitHub's own example payloads); every other field is ignored.
Field paths follow GitHub's documented payloads (``@octokit/webhooks-examples``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Payload):
    login: str
    type: str = "User"


class Repository(_Payload):
    full_name: str
    default_branch: str = "main"


class Label(_Payload):
    name: str


class Issue(_Payload):
    number: int
    title: str = ""
    body: str | None = None
    user: User | None = None
    labels: list[Label] = Field(default_factory=list)
    html_url: str = ""
    # Present (a dict of links) when the issue is a pull request.
    pull_request: dict[str, Any] | None = None

    @property
    def is_pull(self) -> bool:
        return self.pull_request is not None


class Comment(_Payload):
    id: int
    body: str = ""
    user: User
    html_url: str = ""


class IssueCommentEvent(_Payload):
    action: str
    issue: Issue
    comment: Comment
    repository: Repository
    sender: User


class IssuesEvent(_Payload):
    action: str
    issue: Issue
    label: Label | None = None
    repository: Repository
    sender: User


class CheckOutput(_Payload):
    title: str | None = None
    summary: str | None = None
    text: str | None = None


class Ref(_Payload):
    ref: str
    sha: str | None = None


class PullRef(_Payload):
    number: int
    head: Ref | None = None


class SuiteRef(_Payload):
    id: int | None = None
    head_branch: str | None = None


class CheckRun(_Payload):
    id: int
    name: str
    status: str = ""
    conclusion: str | None = None
    head_sha: str = ""
    html_url: str | None = None
    output: CheckOutput | None = None
    check_suite: SuiteRef | None = None
    pull_requests: list[PullRef] = Field(default_factory=list)

    @property
    def branch(self) -> str | None:
        if self.check_suite is not None and self.check_suite.head_branch:
            return self.check_suite.head_branch
        return next((p.head.ref for p in self.pull_requests if p.head is not None), None)


class CheckSuite(_Payload):
    id: int
    status: str = ""
    conclusion: str | None = None
    head_branch: str | None = None
    head_sha: str = ""
    pull_requests: list[PullRef] = Field(default_factory=list)

    @property
    def branch(self) -> str | None:
        if self.head_branch:
            return self.head_branch
        return next((p.head.ref for p in self.pull_requests if p.head is not None), None)


class CheckRunEvent(_Payload):
    action: str
    check_run: CheckRun
    repository: Repository


class CheckSuiteEvent(_Payload):
    action: str
    check_suite: CheckSuite
    repository: Repository


# A check that ended like this failed: the run it belongs to is asked to fix it.
FAILED = frozenset({"failure", "timed_out", "startup_failure"})


def repository_of(payload: Any) -> str | None:
    """``repository.full_name`` of any payload, or None."""
    if isinstance(payload, dict):
        repo = payload.get("repository")
        name = repo.get("full_name") if isinstance(repo, dict) else None
        if isinstance(name, str):
            return name
    return None
