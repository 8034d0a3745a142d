"""``gluon project ...``, ``gluon workspace ...`` and ``gluon workers ...``: what Gluon works
on and where, from the command line. Thin wrappers over their tools."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from bots.cli import output as fmt
from bots.cli.client import Session, ToolFailed
from bots.cli.output import out
from bots.cli.streams import confirm
from core.errors import InvalidInput
from core.text_input import user_path

Handler = Callable[[Session, argparse.Namespace], Awaitable[int]]
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


def local_path(path: str) -> str:
    """A path as the user meant it: from this command's folder, not the daemon's."""
    try:
        return str(user_path(path))
    except InvalidInput as exc:
        raise ToolFailed(str(exc)) from None



@handler("project add")
async def project_add(c: Session, a: argparse.Namespace) -> int:
    p = await c.call("add_project", {"path": local_path(a.path), "name": a.name,
                                     "trusted": a.trusted})
    out(a, p, f"added project {p['name']} ({p['path']})")
    return 0


@handler("project list")
async def project_list(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("list_projects")
    out(a, data, fmt.projects(data))
    return 0


@handler("project show")
async def project_show(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("get_project", {"name": a.name})
    out(a, data, fmt.project_status(data))
    return 0


@handler("project remove")
async def project_remove(c: Session, a: argparse.Namespace) -> int:
    confirm(a, f"Forget project {a.name!r} and its run history (no files are deleted)?")
    data = await c.call("remove_project", {"name": a.name})
    out(a, data, f"removed project {data['name']}; {data['path']} is untouched")
    return 0


@handler("project move")
async def project_move(c: Session, a: argparse.Namespace) -> int:
    p = await c.call("move_project", {"name": a.name, "path": local_path(a.path)})
    out(a, p, f"project {p['name']} is now at {p['path']}")
    return 0


@handler("workspace add")
async def workspace_add(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("add_workspace", {"path": local_path(a.path)})
    out(a, data, fmt.projects(data) if data["projects"] else "no new repositories found")
    return 0


@handler("workspace rescan")
async def workspace_rescan(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("scan_workspace")
    out(a, data, fmt.projects(data) if data["projects"] else "no new repositories found")
    return 0


# -- workers --------------------------------------------------------------------------------

@handler("workers")
async def workers(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("list_workers")
    out(a, data, fmt.workers(data))
    return 0


@handler("workers drain")
async def workers_drain(c: Session, a: argparse.Namespace) -> int:
    w = await c.call("drain_worker", {"name": a.name})
    out(a, w, f"worker {w['name']} drains: it finishes its {len(w['runs'])} run(s) and takes "
        f"no new ones (`gluon workers undrain {w['name']}` reverses it)")
    return 0


@handler("workers undrain")
async def workers_undrain(c: Session, a: argparse.Namespace) -> int:
    w = await c.call("undrain_worker", {"name": a.name})
    out(a, w, f"worker {w['name']} takes new runs again")
    return 0
