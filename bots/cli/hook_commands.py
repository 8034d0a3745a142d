"""``gluon hooks ...`` and ``gluon github status``: thin wrappers over the webhook tools."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bots.cli import output as fmt
from bots.cli.client import Session
from bots.cli.output import say


def _out(args: argparse.Namespace, data: dict[str, Any], human: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        say(human)


async def hooks_list(c: Session, a: argparse.Namespace) -> int:
    """The webhook endpoints: GitHub's and every generic hook."""
    data = await c.call("get_webhook_status")
    gh = data["github"]
    rows = [["/hooks/github", "GitHub", "X-Hub-Signature-256",
             "secret set" if gh["webhook_secret_set"] else "NO SECRET: set github.webhook_secret"]]
    rows += [[h["endpoint"], h["project"], h["header"], f"{h['auth']}, priority {h['priority']}"]
             for h in data["hooks"]]
    _out(a, data, fmt.table(rows, ["ENDPOINT", "PROJECT", "AUTH HEADER", ""]))
    return 0


async def hooks_deliveries(c: Session, a: argparse.Namespace) -> int:
    """Deliveries received, newest first."""
    args: dict[str, Any] = {"limit": a.limit}
    for key in ("source", "state", "run"):
        if getattr(a, key, None):
            args[key] = getattr(a, key)
    data = await c.call("list_deliveries", args)
    rows = [[str(d["seq"]), fmt.ago(d["received_at"]), d["source"],
             f"{d['event']} {d['action']}".strip() or "-", d["repo"] or d["project"] or "-",
             d["state"], fmt.one_line(d["outcome"], 60)]
            for d in data["deliveries"]]
    _out(a, data, fmt.table(rows, ["#", "RECEIVED", "SOURCE", "EVENT", "WHERE", "STATE",
                                   "OUTCOME"]) if rows else "no deliveries received yet")
    return 0


async def github_status(c: Session, a: argparse.Namespace) -> int:
    """GitHub's setup, the projects that are GitHub repositories, and the linked runs."""
    status = await c.call("get_webhook_status")
    links = await c.call("list_github_links", {"limit": a.limit})
    gh = status["github"]
    lines = [f"API:       {gh['api_url']} (token {'set' if gh['token_set'] else 'NOT set'})",
             f"Webhook:   POST /hooks/github (secret "
             f"{'set' if gh['webhook_secret_set'] else 'NOT set'})",
             f"Trigger:   {gh['trigger']} in a comment, or the label {gh['label']!r}",
             f"Users:     {', '.join(gh['users']) or 'none linked (github.users)'}",
             "Repos:     " + (", ".join(f"{r['repo']} = {r['project']}"
                                        for r in gh["repositories"]) or "none")]
    rows = [[link["run_id"][:8], link["project"],
             (f"{link['repo']}#{link['number']}" if link["number"] is not None
              else link["branch"] or "-"), link["kind"], str(link["fix_attempts"])]
            for link in links["links"]]
    if rows:
        lines += ["", fmt.table(rows, ["RUN", "PROJECT", "ON GITHUB", "KIND", "CI FIXES"])]
    _out(a, {"status": status, "links": links["links"]}, "\n".join(lines))
    return 0
