"""Tools for who may use the chat bots: pairing codes, the allowed users, revoking them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from core.access.users import ChatUser, PairingCode
from core.runtime import Runtime
from core.types import RoleName
from mcp_tools.registry import ToolKit, actor


class ChatUsers(BaseModel):
    users: list[ChatUser]


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(admin=True)
    async def create_pairing_code(role: Annotated[
            RoleName,
            Field(description="the role the person gets")] = "operator") -> PairingCode:
        """Make a one-time code that lets one person into the chat bots: they send
        `/pair CODE` to the bot within ten minutes. Returns the code and when it expires."""
        return await rt.access.create_code(role, actor=actor())

    @kit.tool(read_only=True)
    async def list_chat_users() -> ChatUsers:
        """Who may talk to the chat bots, with their role and whether the config file or a
        pairing code let them in."""
        return ChatUsers(users=await rt.access.users())

    async def revoke_preview(platform: str, user_id: str) -> str:
        return f"remove {platform} user {user_id}'s access to the bot"

    @kit.tool(destructive=True, idempotent=True, admin=True, preview=revoke_preview)
    async def revoke_chat_user(
            platform: Annotated[Literal["telegram", "discord"], Field(
                description="the chat platform")],
            user_id: Annotated[str, Field(description="the user's id on that platform")],
    ) -> ChatUser:
        """Take a paired user's access away (users from the config file are removed
        there)."""
        return await rt.access.revoke(platform, user_id, actor=actor())
