"""Tools for signing in to the status page: a one-time link for the caller, the browsers
signed in, and signing them out.

A link signs in whoever opens it first, as the person who asked for it, so it is made only for
the caller (never for someone else) and its URL is never written anywhere but the result: the
audit log records that a link was made, not the link. Chat never shows this tool's result to
the model either; it sends the link to the person's private chat (see ``bots.chat``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from core.access.web import WebSession
from core.errors import InvalidInput, NotFound
from core.runtime import Runtime
from core.types import Role
from mcp_tools.registry import ToolKit, caller


class WebLinkCreated(BaseModel):
    url: str = Field(description="the sign-in link; it works once")
    actor: str = Field(description="who it signs in")
    role: Role = Field(description="their role on the page (a chat user's role is "
                            "read again on every request)")
    expires_at: float = Field(description="unix time after which it no longer works")
    minutes: float = Field(description="how long it works from now")
    note: str = Field(description="how to use it, in one sentence for the person")


class WebSessions(BaseModel):
    sessions: list[WebSession]


class SignedOut(BaseModel):
    actor: str = Field(description="whose browsers were signed out")
    ended: int = Field(description="how many sessions ended")


def _minutes(value: float) -> str:
    return f"{value:g} minute{'s' if value != 1 else ''}"


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(role=Role.VIEWER)
    async def create_web_link() -> WebLinkCreated:
        """Make a one-time link that signs the caller in to Gluon's status page (the board
        of runs, in a browser), with the caller's own role. It works once, for a few minutes
        (web.link_minutes), and whoever opens it first is signed in as the caller: give it
        only to the person who asked, where nobody else can read it. Fails when nothing serves
        the page (start `gluon serve`, or set web.public_url)."""
        who = caller()
        link = await rt.web.create_link(who.actor, who.role, who.name)
        minutes = rt.config.web.link_minutes
        return WebLinkCreated(
            url=link.url, actor=link.actor, role=link.role, expires_at=link.expires_at,
            minutes=minutes, note=(f"It works once, for {_minutes(minutes)}: open it in a "
                                   "private browser you trust; whoever opens it first is "
                                   "signed in as you."))

    @kit.tool(read_only=True)
    async def list_web_sessions(everyone: Annotated[bool, Field(
            description="every person's sessions, not only the caller's (admins only)")
            ] = False) -> WebSessions:
        """List the browsers signed in to the status page: the caller's own, or (for an
        admin, with everyone) everybody's, oldest first, each with its session id (for
        revoke_web_sessions), who it is, their role now, and when it was last seen."""
        who = caller()
        if everyone and not who.role.at_least(Role.ADMIN):
            raise InvalidInput("only an admin may list everyone's sessions; leave out "
                               "everyone to list your own")
        return WebSessions(sessions=await rt.web.sessions(None if everyone else who.actor))

    async def whose(session_id: str, actor: str) -> str:
        """The person whose sessions a revoke_web_sessions call ends."""
        who = caller()
        admin = who.role.at_least(Role.ADMIN)
        if actor and actor != who.actor:
            if not admin:
                raise InvalidInput("only an admin may sign someone else out; leave out actor "
                                   "to sign yourself out")
            return actor
        if session_id and admin and not actor:  # an admin may end anyone's session by its id
            owners = {s.actor for s in await rt.web.sessions() if s.id.startswith(session_id)}
            if len(owners) == 1:
                return owners.pop()
        return who.actor

    async def revoke_preview(session_id: str = "", actor: str = "") -> str:
        person = await whose(session_id, actor)
        you = "you" if person == caller().actor else person
        ended = [s for s in await rt.web.sessions(person) if s.id.startswith(session_id)]
        if not ended:
            what = f"no signed-in session {session_id}" if session_id else \
                "no browser signed in to the status page"
            has = "you have" if you == "you" else f"{person} has"
            raise NotFound(f"{has} {what}; nothing to sign out")
        if session_id:
            return f"sign {you} out of the status page in session {ended[0].id}"
        return f"sign {you} out of the status page in {len(ended)} browser(s)"

    @kit.tool(destructive=True, role=Role.VIEWER, preview=revoke_preview,
              caller_param="actor")
    async def revoke_web_sessions(
            session_id: Annotated[str, Field(
                description="one session's id (from list_web_sessions); empty: all of them",
                max_length=64)] = "",
            actor: Annotated[str, Field(
                description="whose sessions (telegram:123, discord:456, cli, ...); empty: "
                "the caller's. Only an admin may name someone else", max_length=128)] = "",
    ) -> SignedOut:
        """Sign browsers out of the status page: all of the caller's, or one session by its
        id. An admin may name another person (actor), or any person's session by its id.
        The browser then needs a new sign-in link."""
        person = await whose(session_id, actor)
        ended = await rt.web.revoke(person, session_id, by=caller().actor)
        return SignedOut(actor=person, ended=ended)
