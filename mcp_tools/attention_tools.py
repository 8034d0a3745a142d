"""The tool that says what needs a person now."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from core.attention import AttentionList
from core.runtime import Runtime
from mcp_tools.registry import ToolKit


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(read_only=True)
    async def list_attention(
            project: Annotated[str | None, Field(
                description="only this project's items")] = None) -> AttentionList:
        """What needs a person now, oldest first: agents' questions and permission requests,
        runs that are quiet, near their budget, failed or interrupted, failed merge-queue
        entries, and daily budgets 80% spent or more. Each item says what it is, its run and
        project, how long it has waited, and the tool that deals with it (action, with the
        arguments known already)."""
        if project is not None:
            await rt.projects.named(project)
        return AttentionList(items=await rt.attention.items(project))
