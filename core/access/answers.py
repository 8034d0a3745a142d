"""Who may answer a run's questions and permission requests.

``telegram.answers`` / ``discord.answers``: "anyone" allowed in (the default), or "requester":
only the person who started the run, or an admin. The rule of a person's chat platform follows
them to every surface they answer from as that person (their chat, the status page).
"""

from __future__ import annotations

from core.config import Config
from core.models import Run
from core.types import Role

PLATFORMS = ("telegram", "discord")


def why_not_answer(config: Config, actor: str, role: Role, run: Run) -> str | None:
    """Why ``actor`` may not answer ``run``'s requests, or None if they may."""
    platform = actor.partition(":")[0]
    if platform not in PLATFORMS or role is Role.ADMIN or run.created_by == actor:
        return None
    if getattr(config, platform).answers == "anyone":
        return None
    return (f"Only the person who started run {run.short} or an admin can answer it here; "
            "nothing was changed.")
