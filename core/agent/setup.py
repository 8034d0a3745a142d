"""What an agent process needs: a clean environment, a launcher (in the sandbox when there is
one), its permissions and its Claude Code settings."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from core.agent import sandbox
from core.agent.launcher import agent_environment, check_names, has_credentials
from core.agent.session import AgentSpec
from core.config import Config
from core.errors import Conflict, InvalidInput
from core.git import ops as gitops
from core.models import Run
from core.projects.service import ProjectService


class AgentSetup:
    def __init__(self, config: Config, projects: ProjectService,
                 environ: dict[str, str]) -> None:
        self.config = config
        self.projects = projects
        self.environ = environ

    def check_credentials(self) -> None:
        provider = self.provider_env()
        if not has_credentials({**self.environ, **provider}):
            raise InvalidInput(
                "no model credentials: set ANTHROPIC_API_KEY (or anthropic.api_key in "
                "config.toml), CLAUDE_CODE_OAUTH_TOKEN, or configure Bedrock or Vertex")

    def provider_env(self) -> dict[str, str]:
        env = {}
        if self.config.anthropic.api_key is not None:
            env["ANTHROPIC_API_KEY"] = self.config.anthropic.api_key.get_secret_value()
        if self.config.anthropic.base_url:
            env["ANTHROPIC_BASE_URL"] = self.config.anthropic.base_url
        return env

    async def spec(self, run: Run, *, resume: bool, fork_from: str | None,
                   stderr: TextIO) -> AgentSpec:
        """Everything the agent process of a run needs: clean env, launcher, permissions."""
        home = self.config.agent_homes_dir / run.id
        home.mkdir(parents=True, exist_ok=True)
        if fork_from is not None and run.parent_id is not None:
            self._copy_transcript(run.parent_id, fork_from, home)
        remaining = None
        if run.budget_usd is not None:
            remaining = run.budget_usd - run.cost_usd
            if remaining <= 0:
                raise Conflict(f"run {run.id!r} has spent its budget of ${run.budget_usd:.2f}")

        def on_stderr(line: str) -> None:
            stderr.write(line.rstrip("\n") + "\n")
            stderr.flush()

        return await self._spec(
            run.project, run.id, Path(run.cwd), run.branch, model=run.model,
            session_id=fork_from or run.session_id, resume=resume, fork=fork_from is not None,
            budget=remaining, stderr=on_stderr)

    async def warm_spec(self, project: str, run_id: str, cwd: Path, branch: str, *,
                        model: str, session_id: str,
                        stderr: Callable[[str], None]) -> AgentSpec:
        """The spec of a new run ``run_id`` in a worktree: what a warm agent starts with, ahead
        of that run (see :mod:`core.agent.warm`)."""
        (self.config.agent_homes_dir / run_id).mkdir(parents=True, exist_ok=True)
        return await self._spec(project, run_id, cwd, branch, model=model,
                                session_id=session_id, resume=False, fork=False,
                                budget=self.config.agents.run_budget_usd, stderr=stderr)

    async def _spec(self, name: str, run_id: str, cwd: Path, branch: str | None, *,
                    model: str, session_id: str, resume: bool, fork: bool,
                    budget: float | None, stderr: Callable[[str], None]) -> AgentSpec:
        project = await self.projects.get(name)
        pcfg = self.config.project(name)
        home = self.config.agent_homes_dir / run_id
        extra_allow = [*self.config.agents.env_allow, *pcfg.env_allow]
        check_names(extra_allow)
        env = agent_environment(
            self.environ, home=home, provider=self.provider_env(),
            git_identity=await self._git_identity(Path(project.path)), extra_allow=extra_allow)
        cli = self.config.agents.cli_path or bundled_cli()
        box = sandbox.plan(self.config.agents.sandbox)
        wrapper = die_with_parent()
        if box.outer:
            git_dir = await gitops.git_common_dir(Path(project.path))
            read_only = [Path(p) for p in (*self.config.agents.sandbox_read_only,
                                           *pcfg.sandbox_read_only)]
            wrapper += sandbox.bwrap_command(
                bwrap=sandbox.probe().bwrap or "bwrap", worktree=cwd,
                git_dir=git_dir, agent_home=home, cli=Path(cli).resolve(), read_only=read_only)
        allowed = [*self.config.agents.allowed_tools, *pcfg.allowed_tools,
                   *await self.projects.tool_rules(name)]
        if box.inner:
            sandbox.write_git_excludes(home)
        if box.outer:
            allowed.append("Bash")  # inside the sandbox a command can only touch the worktree
        return AgentSpec(
            cwd=cwd, model=model, session_id=session_id, resume=resume, fork=fork,
            permission_mode=self.config.agents.permission_mode, allowed_tools=allowed,
            max_budget_usd=budget, command=[*wrapper, cli], env=env,
            launcher_dir=self.config.home / "launchers",
            setting_sources=["project", "local"] if project.trusted or pcfg.trusted else [],
            settings=sandbox.claude_sandbox_settings(outer=box.outer,
                                                     required=box.inner_required)
            if box.inner else None,
            append_system_prompt=(
                "You are running as a Gluon agent in your own git worktree on branch "
                f"{branch}. Commit your work when a step is done." if branch else None),
            stderr=stderr)

    def has_transcript(self, run_id: str, session_id: str) -> bool:
        """Whether Claude Code saved the session in the run's agent home (it saves it with the
        first turn, so an agent killed during its first model request leaves none)."""
        home = self.config.agent_homes_dir / run_id
        return any(home.glob(f".claude/projects/*/{session_id}.jsonl"))

    def _copy_transcript(self, parent_id: str, session_id: str, home: Path) -> None:
        """A fork runs in its own home and worktree: give it the parent's transcript."""
        parent_home = self.config.agent_homes_dir / parent_id
        for source in parent_home.glob(f".claude/projects/*/{session_id}.jsonl"):
            # The CLI looks sessions up across project folders, so the folder name is kept.
            target = home / source.relative_to(parent_home)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)

    async def _git_identity(self, repo: Path) -> dict[str, str]:
        name = await gitops.config_value(repo, "user.name") or "Gluon agent"
        email = await gitops.config_value(repo, "user.email") or "gluon@localhost"
        return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}


def die_with_parent() -> list[str]:
    """A wrapper that kills the agent when its Gluon dies (even by SIGKILL), so a restarted
    Gluon never races an orphaned agent in the same worktree."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL"] if setpriv else []


def bundled_cli() -> str:
    """The Claude Code CLI shipped inside claude-agent-sdk."""
    import claude_agent_sdk

    path = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if path.is_file():
        return str(path)
    found = shutil.which("claude")
    if found is None:
        raise InvalidInput("the Claude Code CLI was not found; reinstall claude-agent-sdk or "
                           "set agents.cli_path")
    return found
