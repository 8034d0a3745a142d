"""``gluon formula list|show|validate``: formulas from the command line, thin wrappers over
their tools (``gluon formula run`` is with ``gluon run`` in main, as it follows its run)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bots.cli import output as fmt
from bots.cli.client import Session, ToolFailed
from bots.cli.output import say

Handler = Callable[[Session, argparse.Namespace], Awaitable[int]]
HANDLERS: dict[str, Handler] = {}
AddCommand = Callable[..., argparse.ArgumentParser]


def add_commands(sub: Any, cmd: AddCommand) -> None:
    """The ``formula`` command and its actions."""
    formula = sub.add_parser("formula", help="multi-step workflows run as one run: list, "
                             "show, validate, run")
    fsub = formula.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = cmd("list", "the formulas there are (builtin, the data dir's, a project's)", fsub)
    x.add_argument("--project", help="include this project's .gluon/formulas/")
    x = cmd("show", "a formula's variables and steps", fsub)
    x.add_argument("name")
    x.add_argument("--project", help="look in this project's .gluon/formulas/ first")
    x = cmd("validate", "check a formula file (or a formula by name)", fsub)
    x.add_argument("formula", help="a .yml file, or a formula's name")
    x.add_argument("--project", help="look in this project's .gluon/formulas/ first")
    x = cmd("run", "run a formula on a project as one run", fsub)
    x.add_argument("name")
    x.add_argument("project")
    x.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                   help="a variable of the formula (repeat for more)")
    x.add_argument("--model", help="the model of the steps that name none")
    x.add_argument("--wait", action="store_true",
                   help="stay until the run ends, showing what the agent does")


def variables(pairs: list[str]) -> dict[str, str]:
    """``--var KEY=VALUE`` flags as a dict."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ToolFailed(f"--var {pair!r} is not KEY=VALUE, e.g. --var "
                             "description='login fails'")
        found[key.strip()] = value
    return found


def _handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


def formula_text(f: dict[str, Any]) -> str:
    lines = [f"{f['name']}: {f['description']}".rstrip(": "), f"  from: {f['source']}"]
    for v in f["vars"]:
        what = "required" if v["required"] else f"default {v['default']!r}"
        about = f": {v['description']}" if v["description"] else ""
        lines.append(f"  var {v['name']} ({what}){about}")
    for i, s in enumerate(f["steps"], 1):
        model = f", {s['model']}" if s["model"] else ""
        lines.append(f"  {i}. {s['name']} ({s['profile']}{model}): "
                     f"{fmt.one_line(s['prompt'], 80)}")
    return "\n".join(lines)


def _out(a: argparse.Namespace, data: dict[str, Any], human: str) -> None:
    if a.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        say(human)


@_handler("formula list")
async def formula_list(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("list_formulas", {"project": a.project})
    rows = [[f["name"], " > ".join(f["steps"]) or "(unusable)", ", ".join(f["vars"]),
             f["source"] if not f["error"] else f"error: {f['error']}"]
            for f in data["formulas"]]
    _out(a, data, fmt.table(rows, ["NAME", "STEPS", "VARS", "FROM"]) if rows
         else "no formulas")
    return 0


@_handler("formula show")
async def formula_show(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("show_formula", {"name": a.name, "project": a.project})
    _out(a, data, formula_text(data))
    return 0


@_handler("formula validate")
async def formula_validate(c: Session, a: argparse.Namespace) -> int:
    target = a.formula
    if target.endswith((".yml", ".yaml")) or "/" in target:
        target = str(Path(target).expanduser().resolve())  # the daemon's folder is not ours
    data = await c.call("validate_formula", {"formula": target, "project": a.project})
    _out(a, data, f"{data['name']}: valid ({len(data['steps'])} steps: "
         f"{', '.join(s['name'] for s in data['steps'])})")
    return 0
