"""What a GitHub delivery does, once it has been received and answered.

- ``issue_comment`` (created) with the trigger word (``github.trigger``, default ``@gluon``),
  from a GitHub login mapped to a Gluon user with at least the operator role
  (``github.users``): on an issue or pull request linked to a run, it steers the run while it is
  live or resumes it once it has ended; otherwise it starts a run whose prompt is the issue's
  title and body and the comment. An issue's run works on a new branch; a pull request's starts
  from the pull request's branch and is pushed back onto it when it finishes. A comment from a
  login that is not mapped, or mapped to a viewer, gets a polite reply and starts nothing.
- ``issues`` (labeled with ``github.label``, default ``gluon``): the same, without a comment.
- ``check_run`` / ``check_suite`` (completed and failed) on the branch of a Gluon run: the run is
  resumed (or told, while it works) with the failing checks' names and output, to fix them;
  at most ``github.fix_ci_attempts`` times per run, and once per commit.

Every comment that reaches a run is logged as a :class:`~core.events.bus.RunComment`, so the
chats that follow the run show it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.access.users import Access
from core.config import Config
from core.errors import UserError
from core.events.bus import Event, RunComment
from core.git.remote import fetch_branch
from core.github.bridge import Bridge
from core.github.client import GitHubClient
from core.github.comment import reply_marker
from core.github.payloads import (
    FAILED,
    CheckRunEvent,
    CheckSuiteEvent,
    Issue,
    IssueCommentEvent,
    IssuesEvent,
)
from core.github.store import GitHubLink, GitHubStore, LinkKind
from core.hooks.store import Delivery, DeliveryState
from core.hooks.worker import Outcome
from core.models import Run
from core.projects.service import ProjectService
from core.runs.service import RunManager
from core.types import Role

log = logging.getLogger(__name__)

MAX_OUTPUT = 3000  # characters of one failed check's output given to the agent


def trigger_pattern(trigger: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@]){re.escape(trigger)}(?![\w-])", re.IGNORECASE)


def is_ours(body: str) -> bool:
    """A comment Gluon wrote (status or reply): never a request."""
    return "<!-- gluon:" in body


def relevant(event: str, payload: Any, config: Config) -> str | None:
    """Why a delivery needs no work (checked when it arrives, before it is queued), or None."""
    action = payload.get("action") if isinstance(payload, dict) else None
    if event == "issue_comment":
        comment = payload.get("comment") if isinstance(payload, dict) else None
        body = str(comment.get("body") or "") if isinstance(comment, dict) else ""
        if action != "created":
            return f"an issue comment {action}, not created"
        if is_ours(body) or not trigger_pattern(config.github.trigger).search(body):
            return f"the comment does not mention {config.github.trigger}"
        return None
    if event == "issues":
        label = payload.get("label") if isinstance(payload, dict) else None
        name = str(label.get("name") or "") if isinstance(label, dict) else ""
        if action != "labeled" or name.lower() != config.github.label.lower():
            return f"not labelled {config.github.label!r}"
        return None
    if event in ("check_run", "check_suite"):
        item = payload.get(event) if isinstance(payload, dict) else None
        conclusion = item.get("conclusion") if isinstance(item, dict) else None
        if action != "completed" or conclusion not in FAILED:
            return f"a {event} {action} with conclusion {conclusion}, not a failure"
        return None
    return f"Gluon does not act on {event} events"


class Triggers:
    def __init__(self, config: Config, store: GitHubStore, client: GitHubClient,
                 runs: RunManager, projects: ProjectService, access: Access,
                 bridge: Bridge) -> None:
        self.config = config
        self.store = store
        self.client = client
        self.runs = runs
        self.projects = projects
        self.access = access
        self.bridge = bridge
        self.trigger = trigger_pattern(config.github.trigger)

    async def handle(self, delivery: Delivery, payload: Any) -> Outcome:
        assert delivery.project is not None
        try:
            if delivery.event == "issue_comment":
                return await self._comment(delivery, IssueCommentEvent.model_validate(payload))
            if delivery.event == "issues":
                return await self._labeled(delivery, IssuesEvent.model_validate(payload))
            if delivery.event == "check_run":
                e = CheckRunEvent.model_validate(payload)
                run = e.check_run
                output = run.output
                failure = _failure(run.name, run.conclusion, output.title if output else None,
                                   output.summary if output else None,
                                   output.text if output else None, run.html_url)
                return await self._checks(delivery, e.repository.full_name, run.branch,
                                          run.head_sha, [failure])
            if delivery.event == "check_suite":
                s = CheckSuiteEvent.model_validate(payload)
                return await self._checks(delivery, s.repository.full_name,
                                          s.check_suite.branch, s.check_suite.head_sha, None)
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            return Outcome(DeliveryState.FAILED, f"not a GitHub {delivery.event} payload "
                           f"({where}: {exc.errors()[0]['msg']})")
        return Outcome(DeliveryState.IGNORED, f"Gluon does not act on {delivery.event} events")

    # -- who may ask -----------------------------------------------------------------------

    async def person(self, login: str) -> tuple[str | None, str]:
        """(the Gluon user a login acts as, "") if they may start and steer runs, else
        (None, the polite reason)."""
        users = {k.lower(): v for k, v in self.config.github.users.items()}
        user = users.get(login.lower())
        if user is None:
            return None, (f"@{login}, thanks for the mention! I only take requests from GitHub "
                          "accounts linked to a Gluon user, and yours is not linked yet. A Gluon "
                          "admin can add you under `[github] users` in Gluon's config.")
        platform, _, user_id = user.partition(":")
        role = await self.access.role_of(platform, user_id)
        if role is None or not role.at_least(Role.OPERATOR):
            what = "no access to Gluon" if role is None else f"the {role} role in Gluon"
            return None, (f"@{login}, thanks for the mention! Your GitHub account is linked to "
                          f"{user}, which has {what}; starting or steering runs needs the "
                          "operator role. A Gluon admin can give it to you.")
        return user, ""

    async def _reply(self, repo: str, number: int, delivery: Delivery, text: str) -> str:
        """Answer on the issue, once per delivery (a reply posted before a crash is found)."""
        mark = reply_marker(delivery.delivery_id)
        try:
            if not any(mark in str(c.get("body") or "")
                       for c in await self.client.comments(repo, number)):
                await self.client.comment(repo, number, f"{mark}\n{text}")
        except UserError as exc:
            return f"; could not reply on GitHub: {exc}"
        return ""

    # -- comments and labels ---------------------------------------------------------------

    async def _comment(self, d: Delivery, e: IssueCommentEvent) -> Outcome:
        repo, issue, author = e.repository.full_name, e.issue, e.comment.user.login
        if is_ours(e.comment.body) or e.comment.user.type == "Bot":
            return Outcome(DeliveryState.IGNORED, "a comment by a bot")
        actor, refusal = await self.person(author)
        if actor is None:
            failed = await self._reply(repo, issue.number, d, refusal)
            return Outcome(DeliveryState.IGNORED,
                           f"@{author} may not start runs; replied on GitHub{failed}")
        request = self.trigger.sub("", e.comment.body).strip()
        await self._react(repo, e.comment.id)
        link = await self.store.for_issue(repo, issue.number)
        run = await self._run_of(link)
        if run is not None and (run.state.is_live or run.state.is_resumable):
            return await self._steer(run, actor, author, request, e.comment.html_url)
        prompt = _prompt(repo, issue, f"@{author} asked (comment {e.comment.html_url}):\n"
                                      f"{request or '(no other words)'}")
        return await self._start(d, repo, issue, prompt, actor)

    async def _labeled(self, d: Delivery, e: IssuesEvent) -> Outcome:
        repo, issue = e.repository.full_name, e.issue
        actor, refusal = await self.person(e.sender.login)
        if actor is None:
            failed = await self._reply(repo, issue.number, d, refusal)
            return Outcome(DeliveryState.IGNORED, f"@{e.sender.login} may not start runs; "
                           f"replied on GitHub{failed}")
        run = await self._run_of(await self.store.for_issue(repo, issue.number))
        if run is not None and run.state.is_live:
            return Outcome(DeliveryState.IGNORED, f"run {run.id} already works on it", run.id)
        label = self.config.github.label
        return await self._start(d, repo, issue, _prompt(
            repo, issue, f"@{e.sender.login} labelled it {label!r} for you."), actor)

    async def _run_of(self, link: GitHubLink | None) -> Run | None:
        if link is None:
            return None
        try:
            return await self.runs.get(link.run_id)
        except UserError:  # the run's project was removed
            return None

    async def _steer(self, run: Run, actor: str, author: str, request: str,
                     url: str) -> Outcome:
        message = f"@{author} commented on GitHub ({url}):\n{request or '(no other words)'}"
        event: Event = RunComment(run_id=run.id, project=run.project, source="github",
                                  author=author, text=request, url=url)
        if run.state.is_live:
            await self.runs.steer(run.id, message, actor)
            return Outcome(DeliveryState.DONE, f"steered run {run.id}", run.id, [event])
        await self.runs.resume(run.id, message, actor)
        return Outcome(DeliveryState.DONE, f"resumed run {run.id}", run.id, [event])

    async def _start(self, d: Delivery, repo: str, issue: Issue, prompt: str,
                     actor: str) -> Outcome:
        assert d.project is not None
        base: str | None = None
        push_to: str | None = None
        kind = LinkKind.ISSUE
        if issue.is_pull:
            kind = LinkKind.PULL
            base, push_to = await self._pull_branch(d.project, repo, issue.number)
        # The key makes the start idempotent: a delivery worked on twice (Gluon stopped
        # between the start and recording it) starts one run.
        run = await self.runs.start_run(d.project, prompt, base=base, actor=actor,
                                        key=f"gh:{d.delivery_id}", source="webhook")
        await self.store.link(run.id, d.project, repo=repo, number=issue.number, kind=kind,
                              branch=base if kind is LinkKind.PULL else run.branch,
                              push_to=push_to, delivery_id=d.delivery_id)
        note = await self._comment_now(run.id)
        return Outcome(DeliveryState.DONE, f"started run {run.id}{note}", run.id)

    async def _pull_branch(self, project: str, repo: str, number: int) -> tuple[str, str | None]:
        """Fetch a pull request's branch into the project: (its local branch, the branch to
        push the run's work to, None for a pull request from a fork)."""
        pull = await self.client.pull(repo, number)
        head = pull.get("head") or {}
        ref = str(head.get("ref") or "")
        head_repo = (head.get("repo") or {}).get("full_name") if isinstance(
            head.get("repo"), dict) else None
        path = Path((await self.projects.get(project)).path)
        if ref and (head_repo is None or str(head_repo).lower() == repo.lower()):
            await fetch_branch(path, f"refs/heads/{ref}", ref)
            return ref, ref if self.config.github.push_pull_requests else None
        local = f"gluon-pr-{number}"
        await fetch_branch(path, f"refs/pull/{number}/head", local)
        return local, None

    async def _react(self, repo: str, comment_id: int) -> None:
        try:
            await self.client.react(repo, comment_id, "eyes")
        except UserError as exc:
            log.warning("could not react to comment %s on %s: %s", comment_id, repo, exc)

    async def _comment_now(self, run_id: str) -> str:
        try:
            await self.bridge.refresh(run_id)
        except UserError as exc:
            log.warning("run %s: could not comment on GitHub: %s", run_id, exc)
            return f"; could not comment on GitHub: {exc}"
        return ""

    # -- failed checks ---------------------------------------------------------------------

    async def _checks(self, d: Delivery, repo: str, branch: str | None, sha: str,
                      failures: list[str] | None) -> Outcome:
        assert d.project is not None
        if not branch:
            return Outcome(DeliveryState.IGNORED, "the failed checks name no branch")
        link = await self.store.for_branch(d.project, branch)
        run = await self._run_of(link)
        if run is None:
            found = [r for r in await self.runs.find(d.project, limit=500) if r.branch == branch]
            if not found:
                return Outcome(DeliveryState.IGNORED, f"no Gluon run works on {branch!r}")
            run = found[0]
            link = await self.store.get(run.id) or await self.store.link(
                run.id, d.project, repo=repo, number=None, kind=LinkKind.BRANCH, branch=branch)
        assert link is not None
        if not (run.state.is_live or run.state.is_resumable):
            return Outcome(DeliveryState.IGNORED, f"run {run.id} is {run.state}", run.id)
        again = link.fix_sha == sha
        if again and not run.state.is_live:
            return Outcome(DeliveryState.IGNORED, f"run {run.id} was already asked to fix the "
                           f"checks of {sha[:7]}", run.id)
        limit = self.config.github.fix_ci_attempts
        if not again and link.fix_attempts >= limit:
            return Outcome(DeliveryState.IGNORED, f"run {run.id} already tried to fix failed "
                           f"checks {link.fix_attempts} time(s) (github.fix_ci_attempts = "
                           f"{limit})", run.id)
        if failures is None:
            failures = await self._failed_checks(repo, sha)
        message = (f"CI failed on branch {branch} (commit {sha[:7]}); fix it:\n\n"
                   + "\n\n".join(failures))
        if run.state.is_live:
            await self.runs.steer(run.id, message, "github:ci")
        else:
            await self.runs.resume(run.id, message, "github:ci")
        if not again:
            await self.store.update(run.id, fix_attempts=link.fix_attempts + 1, fix_sha=sha)
        await self._comment_now(run.id)
        verb = "told" if again else ("steered" if run.state.is_live else "resumed")
        return Outcome(DeliveryState.DONE, f"{verb} run {run.id} to fix failed checks", run.id)

    async def _failed_checks(self, repo: str, sha: str) -> list[str]:
        try:
            runs = await self.client.check_runs(repo, sha)
        except UserError as exc:
            return [f"(the failed checks could not be read from GitHub: {exc})"]
        found = []
        for r in runs:
            if r.get("conclusion") in FAILED:
                output = r.get("output") if isinstance(r.get("output"), dict) else {}
                assert isinstance(output, dict)
                found.append(_failure(str(r.get("name") or "?"), r.get("conclusion"),
                                      output.get("title"), output.get("summary"),
                                      output.get("text"), r.get("html_url")))
        return found or ["(GitHub lists no failed check run for this commit)"]


def _failure(name: str, conclusion: str | None, title: str | None, summary: str | None,
             text: str | None, url: str | None) -> str:
    parts = [f"- {name}: {conclusion}" + (f" ({url})" if url else "")]
    for part in (title, summary, text):
        if part:
            parts.append("  " + part.strip()[:MAX_OUTPUT].replace("\n", "\n  "))
    return "\n".join(parts)


def _prompt(repo: str, issue: Issue, request: str) -> str:
    what = "pull request" if issue.is_pull else "issue"
    lines = [f"GitHub {what} {repo}#{issue.number}: {issue.title}"]
    if issue.html_url:
        lines.append(issue.html_url)
    if issue.body:
        lines += ["", issue.body.strip()]
    lines += ["", request, "", f"Your final message is posted on the {what}."]
    return "\n".join(lines)
