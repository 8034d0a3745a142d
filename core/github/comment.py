"""The text of a run's status comment on GitHub: one comment, edited in place as the run moves.

A pure function of the run, its link and its open questions. The first line is a hidden marker
naming the run, so the comment is found again (and never posted twice) when Gluon stopped
between posting it and recording its id.
"""

from __future__ import annotations

import time

from core.github.store import GitHubLink, LinkKind
from core.models import Interaction, Run
from core.runs.health import assess
from core.types import RunState

MAX_RESULT = 6000  # characters of the agent's summary shown; the rest is in Gluon
ICONS = {RunState.QUEUED: "⏳", RunState.RUNNING: "▶️", RunState.WAITING: "⏸",
         RunState.REVIEW: "✅", RunState.FAILED: "❌", RunState.CANCELLED: "⏹",
         RunState.INTERRUPTED: "⚠️", RunState.MERGED: "🔀", RunState.CLOSED: "📦"}
WORDS = {RunState.QUEUED: "is queued", RunState.RUNNING: "is working",
         RunState.WAITING: "is waiting for a person", RunState.REVIEW: "finished",
         RunState.FAILED: "failed", RunState.CANCELLED: "was cancelled",
         RunState.INTERRUPTED: "was interrupted", RunState.MERGED: "was merged",
         RunState.CLOSED: "was closed"}


def marker(run_id: str) -> str:
    return f"<!-- gluon:run:{run_id} -->"


def reply_marker(delivery_id: str) -> str:
    return f"<!-- gluon:reply:{delivery_id} -->"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def status_comment(run: Run, link: GitHubLink, pending: list[Interaction], trigger: str,
                   now: float | None = None) -> str:
    now = time.time() if now is None else now
    lines = [marker(run.id),
             f"### {ICONS.get(run.state, '•')} Gluon run `{run.short}` {WORDS[run.state]}", ""]
    facts = [f"project **{run.project}**", f"model `{run.model}`"]
    if run.branch:
        facts.append(f"branch `{run.branch}`")
    if run.turns:
        facts.append(f"{run.turns} turn(s)")
    if run.cost_usd:
        facts.append(f"${run.cost_usd:.4f}")
    lines += [" · ".join(facts), ""]
    if run.state.is_live:
        health = assess(run, now).text
        if health:
            lines += [f"_{health}_", ""]
    for item in pending:
        lines += [f"❓ {item.title} — answer it in Gluon's chat or with "
                  f"`gluon answer {item.id} CHOICE`.", ""]
    if run.state is RunState.REVIEW or run.state is RunState.MERGED:
        if run.commits:
            where = f"`{run.branch}`" if run.branch else "the project's branch"
            lines.append(f"{len(run.commits)} commit(s) on {where}:")
            lines += [f"- `{c.sha[:7]}` {c.subject}" for c in run.commits[:20]]
            lines.append("")
        if link.kind is LinkKind.PULL and link.pushed_sha:
            lines += [f"Pushed to `{link.push_to}` (`{link.pushed_sha[:7]}`).", ""]
    body = run.result_text if run.state is not RunState.FAILED else (
        run.state_reason or run.error or run.result_text)
    if body and run.state.is_ended:
        if len(body) > MAX_RESULT:
            body = body[:MAX_RESULT] + "\n…"
        lines += [_quote(body), ""]
    if link.fix_attempts:
        lines += [f"Resumed {link.fix_attempts} time(s) to fix failed checks.", ""]
    verb = "steer it" if run.state.is_live else "continue it"
    if link.kind is not LinkKind.BRANCH:
        lines.append(f"<sub>Comment <code>{trigger} …</code> here to {verb}.</sub>")
    return "\n".join(lines).rstrip() + "\n"
