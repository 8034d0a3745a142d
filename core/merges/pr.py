"""The text of a run's pull request: a title from its task, and a body that says what was asked,
what it cost and what changed, so a reviewer on GitHub needs nothing else to start."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.git.ops import ChangedFile, Commit
from core.models import Run

TITLE_LIMIT = 72  # what git and GitHub show of a subject line without cutting it
PROMPT_LIMIT = 4000  # characters of the task quoted; GitHub refuses bodies past 65,536
LIST_LIMIT = 50  # commits or files listed; the rest are counted

_STATUS = {"A": "new", "D": "deleted"}


def pr_title(run: Run) -> str:
    """The first line of the run's task, at most 72 characters (cut at a word, with "…")."""
    line = next((ln.strip() for ln in run.prompt.splitlines() if ln.strip()), "")
    line = re.sub(r"\s+", " ", line) or f"Gluon run {run.id}"
    if len(line) <= TITLE_LIMIT:
        return line
    cut = line[:TITLE_LIMIT - 1]
    space = cut.rfind(" ")
    if line[len(cut)] != " " and space >= TITLE_LIMIT // 2:  # not at the end of a word
        cut = cut[:space]
    return cut.rstrip(" .,;:-") + "…"


def pr_body(run: Run, commits: Sequence[Commit], files: Sequence[ChangedFile],
            thread_url: str | None = None) -> str:
    """The pull request's description (Markdown): the task quoted, the run that did it (id,
    turns, cost), its commits, the files it changed with their line counts (the first 50,
    then how many more), and a link back to the chat thread when there is one."""
    turns = f"{run.turns} turn{'' if run.turns == 1 else 's'}"
    made = f"Made by Gluon run {_code(run.id)}: {turns}, ${run.cost_usd:.2f}."
    if thread_url:
        made += f" Discussed in [the chat thread]({thread_url})."
    parts = [_quote(run.prompt), made]
    parts.append(_section(f"Commits ({len(commits)})", [
        f"- {c.subject} ({_code(c.sha[:8])})" for c in commits], "commits"))
    added = sum(f.additions for f in files)
    deleted = sum(f.deletions for f in files)
    parts.append(_section(f"Changed files ({len(files)}, +{added}/-{deleted})",
                          [_file_line(f) for f in files], "files"))
    return "\n\n".join(parts) + "\n"


def _file_line(change: ChangedFile) -> str:
    line = f"- {_code(change.path)} +{change.additions}/-{change.deletions}"
    if change.old_path is not None and change.old_path != change.path:
        verb = "copied" if change.status == "C" else "renamed"
        return f"{line} ({verb} from {_code(change.old_path)})"
    if change.status in _STATUS:
        return f"{line} ({_STATUS[change.status]})"
    return line


def _section(heading: str, lines: list[str], what: str) -> str:
    if not lines:
        return f"### {heading}\n\nNone."
    shown = lines[:LIST_LIMIT]
    if len(lines) > LIST_LIMIT:
        shown.append(f"- … and {len(lines) - LIST_LIMIT} more {what}")
    return f"### {heading}\n\n" + "\n".join(shown)


def _quote(prompt: str) -> str:
    text = prompt.strip() or "(no task text)"
    if len(text) > PROMPT_LIMIT:
        text = text[:PROMPT_LIMIT].rstrip() + f"\n\n… ({len(prompt.strip()) - PROMPT_LIMIT} " \
                                              "more characters)"
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines())


def _code(text: str) -> str:
    """``text`` as a Markdown code span, whatever backticks it holds."""
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
