"""Tools for webhooks: the deliveries received, the runs linked to GitHub, and what is set up."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from core.github.store import GitHubLink
from core.hooks.store import Delivery, DeliveryState
from core.runtime import Runtime
from mcp_tools.params import Limit, ProjectRef, RunRef
from mcp_tools.registry import ToolKit


class DeliveryList(BaseModel):
    deliveries: list[Delivery]


class GitHubLinkList(BaseModel):
    links: list[GitHubLink]


class Repository(BaseModel):
    project: str
    repo: str = Field(description="owner/name on GitHub, from the project's origin remote")


class GitHubSetup(BaseModel):
    endpoint: str = Field(description="the path GitHub posts to")
    api_url: str
    token_set: bool = Field(description="whether Gluon can write on GitHub (github.token or "
                            "GH_TOKEN)")
    webhook_secret_set: bool
    trigger: str = Field(description="the word in a comment that asks Gluon to act")
    label: str = Field(description="the label that starts a run on an issue")
    users: list[str] = Field(description="GitHub logins linked to Gluon users")
    fix_ci_attempts: int
    push_pull_requests: bool
    repositories: list[Repository] = Field(description="projects whose origin is on GitHub")


class HookSetup(BaseModel):
    name: str
    endpoint: str
    project: str
    auth: Literal["hmac", "bearer"]
    header: str = Field(description="where the signature or token goes")
    priority: int


class WebhookStatus(BaseModel):
    github: GitHubSetup
    hooks: list[HookSetup]


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(read_only=True)
    async def list_deliveries(
            source: Annotated[str | None, Field(
                description="only these: 'github' or a generic hook's name")] = None,
            state: Annotated[DeliveryState | None, Field(
                description="only deliveries in this state")] = None,
            run: Annotated[RunRef | None, Field(
                description="only the deliveries that acted on this run")] = None,
            limit: Limit = 50) -> DeliveryList:
        """Webhook deliveries Gluon received (GitHub's and generic hooks'), newest first: the
        event, the repository and project, whether it was queued, done, ignored, refused or
        failed, what Gluon did with it in one line, the run it started, steered or resumed,
        and how many times it was sent again and ignored. Use it to see why a GitHub comment
        or a CI alert did or did not start a run."""
        run_id = (await rt.runs.get(run)).id if run is not None else None
        return DeliveryList(deliveries=await rt.hooks.deliveries(
            source=source, state=state, run_id=run_id, limit=limit))

    @kit.tool(read_only=True)
    async def list_github_links(
            project: ProjectRef | None = None,
            run: Annotated[RunRef | None, Field(description="only this run's link")] = None,
            limit: Limit = 50) -> GitHubLinkList:
        """Runs linked to GitHub, newest first: the issue or pull request a run came from and
        answers on (its status comment), the branch whose failed checks resume it, how often
        they did, and what was pushed to the pull request. Use it to tell where a run came
        from, or which run works on an issue."""
        if project is not None:
            await rt.projects.named(project)
        run_id = (await rt.runs.get(run)).id if run is not None else None
        return GitHubLinkList(links=await rt.github.links(project=project, run_id=run_id,
                                                          limit=limit))

    @kit.tool(read_only=True)
    async def get_webhook_status() -> WebhookStatus:
        """How webhooks are set up: the GitHub endpoint (/hooks/github), whether a token and
        a webhook secret are set, the trigger word and label, the linked GitHub logins, which
        projects are GitHub repositories, and every generic hook (/hooks/<name>) with its
        project and how it authenticates. Never shows a secret."""
        gh = rt.config.github
        repos = []
        for p in await rt.projects.all():
            repo = await rt.github.repos.repo_of(p.name)
            if repo is not None:
                repos.append(Repository(project=p.name, repo=repo))
        return WebhookStatus(
            github=GitHubSetup(endpoint="/hooks/github", api_url=gh.api_url,
                               token_set=gh.token is not None,
                               webhook_secret_set=gh.webhook_secret is not None,
                               trigger=gh.trigger, label=gh.label, users=sorted(gh.users),
                               fix_ci_attempts=gh.fix_ci_attempts,
                               push_pull_requests=gh.push_pull_requests, repositories=repos),
            hooks=[HookSetup(name=name, endpoint=f"/hooks/{name}", project=h.project,
                             auth=h.auth, header=("Authorization" if h.auth == "bearer"
                                                  else h.signature_header),
                             priority=h.priority)
                   for name, h in sorted(rt.config.hooks.items())])
