"""The agent edge: a Claude Code session, its clean environment and sandbox, and warm agents.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.agent.redact import Redactor as Redactor
    from core.agent.sandbox import SandboxPlan as SandboxPlan
    from core.agent.sandbox import SandboxStatus as SandboxStatus
    from core.agent.sandbox import SandboxUnavailable as SandboxUnavailable
    from core.agent.session import AgentRunner as AgentRunner
    from core.agent.session import AgentSession as AgentSession
    from core.agent.session import AgentSpec as AgentSpec
    from core.agent.session import Decision as Decision
    from core.agent.session import SdkRunner as SdkRunner
    from core.agent.setup import AgentSetup as AgentSetup
    from core.agent.warm import WarmAgents as WarmAgents

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "AgentRunner": "session",
    "AgentSession": "session",
    "AgentSpec": "session",
    "SdkRunner": "session",
    "Decision": "session",
    "AgentSetup": "setup",
    "WarmAgents": "warm",
    "SandboxPlan": "sandbox",
    "SandboxStatus": "sandbox",
    "SandboxUnavailable": "sandbox",
    "Redactor": "redact",
})
