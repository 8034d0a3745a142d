"""Human-readable output of the ``gluon`` CLI. (``--json`` prints the tools' results as-is.)

Text from agents, prompts, repositories and chat reaches the terminal, so everything printed
goes through :func:`clean` first: a control character or escape sequence in it is shown, not
obeyed (it could otherwise recolour, retitle or rewrite the terminal, or hide text).
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any

# C0 controls but tab and newline, DEL, C1 controls (U+009B is a one-byte CSI), the Unicode
# line separators and the bidirectional overrides and isolates ("Trojan source" reordering).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
                      "\u2066-\u2069]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """``text`` safe to print on a terminal: controls and escape sequences made visible
    (ESC becomes ``\\x1b``), line breaks and tabs kept (``\\r\\n`` as a line break)."""
    return _CONTROL.sub(_shown, text.replace("\r\n", "\n"))


def ago(ts: float | None) -> str:
    if not ts:
        return "-"
    s = max(0, int(time.time() - ts))
    if s < 60:
        return f"{s}s ago"
    if s < 3600:
        return f"{s // 60}m ago"
    if s < 86400:
        return f"{s // 3600}h ago"
    return f"{s // 86400}d ago"


def clock(ts: float) -> str:
    """A time in this machine's time zone, to the minute."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def one_line(text: str | None, width: int = 60) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(rows: list[list[str]], header: list[str]) -> str:
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines)


def projects(data: dict[str, Any]) -> str:
    rows = [[p["name"], p["path"], "trusted" if p["trusted"] else ""] for p in data["projects"]]
    return (table(rows, ["NAME", "PATH", ""])
            or "no projects yet: add one with `gluon project add PATH`")


def project_status(p: dict[str, Any]) -> str:
    dirty = "uncommitted changes" if p["dirty"] else "clean"
    upstream = (f", {p['ahead']} ahead / {p['behind']} behind {p['upstream']}"
                if p["upstream"] else ", no upstream")
    return (f"{p['name']}  {p['path']}\n  branch: {p['branch'] or '(detached)'} "
            f"@ {p['head'][:8]}  {dirty}{upstream}\n  live runs: {p['live_runs']}")


LIVE_STATES = ("queued", "running", "waiting")


def health_word(r: dict[str, Any]) -> str:
    """A listed run's health: the witness's classification of a live run it watches."""
    h = r.get("health")
    if not h or r["state"] not in LIVE_STATES:
        return "-"
    return "healthy (silenced)" if h["silenced"] else h["classification"]


def runs(data: dict[str, Any]) -> str:
    rows = [[r["id"], r["project"], r["state"], health_word(r), f"${r['cost_usd']:.2f}",
             ago(r["created_at"]), one_line(r["prompt"], 50)] for r in data["runs"]]
    return table(rows, ["RUN", "PROJECT", "STATE", "HEALTH", "COST", "STARTED", "PROMPT"]) \
        or "no runs"


def run_started(r: dict[str, Any]) -> str:
    where = f"on branch {r['branch']} (from {r['base_branch']})" if r["branch"] else \
        f"in {r['cwd']} (no worktree)"
    return f"run {r['id']} {r['state']}: {r['project']} {where}"


def loop_line(loop: dict[str, Any]) -> str:
    """A loop (get_loop_status) in one line: "loop 3/10 · breaker closed · $1.20 of $10"."""
    spend = f"${loop['spent_usd']:.2f}"
    cap = loop.get("max_cost_usd")
    if cap is not None:
        spend += f" of ${cap:.0f}" if cap == int(cap) else f" of ${cap:.2f}"
    state = {"done": " · done", "stopped": " · stopped"}.get(loop["state"], "")
    return (f"loop {loop['iteration']}/{loop['max_loops']}{state} · breaker "
            f"{loop['breaker'].replace('_', '-')} · {spend}")


def loop_status(loop: dict[str, Any]) -> str:
    lines = [f"run {loop['run_id']}: {loop_line(loop)}",
             f"  no progress in the last {loop['no_progress']} iteration(s); the breaker "
             f"opens at {loop['breaker_after']}"]
    if loop.get("last_error"):
        lines.append(f"  last error: {one_line(loop['last_error'], 200)}")
    if loop.get("stopped_reason"):
        lines.append(f"  ended: {loop['stopped_reason']}")
    return "\n".join(lines)


def run_detail(d: dict[str, Any]) -> str:
    r = d["run"]
    lines = [f"run {r['id']}  {r['project']}  {r['state']}: {r['state_reason']}",
             f"  prompt:   {one_line(r['prompt'], 100)}",
             f"  model:    {r['model']}"]
    if r["branch"]:
        lines.append(f"  branch:   {r['branch']} (from {r['base_branch']} @ "
                     f"{(r['base_sha'] or '')[:8]})")
    if d.get("worker"):
        lines.append(f"  worker:   {d['worker']}")
    else:
        lines.append(f"  worktree: {r['cwd']}{' (removed)' if r['worktree_removed'] else ''}")
    budget = f" of ${r['budget_usd']:.2f}" if r["budget_usd"] else ""
    lines.append(f"  cost:     ${r['cost_usd']:.4f}{budget}   turns: {r['turns']}   "
                 f"tool calls: {r['tool_calls']}   tokens: {r['input_tokens']} in / "
                 f"{r['output_tokens']} out")
    if r.get("subagents_started"):
        lines.append(f"  subagents: {r['subagents_started']} started, {r['subagents_done']} "
                     "done")
    lines.append(f"  started:  {ago(r['created_at'])}   last activity: "
                 f"{ago(r['last_activity_at'])}")
    if r["parent_id"]:
        lines.append(f"  forked from: {r['parent_id']}")
    if r["error"]:
        lines.append(f"  error:    {one_line(r['error'], 200)}")
    for c in r["commits"]:
        lines.append(f"  commit:   {c['sha'][:8]} {c['subject']}")
    for f in r["changed_files"]:
        lines.append(f"  changed:  {f['status']} {f['path']} (+{f['additions']} "
                     f"-{f['deletions']})")
    if r["result_text"]:
        lines.append(f"  result:   {one_line(r['result_text'], 200)}")
    if d.get("loop"):
        lines.append(f"  loop:     {loop_line(d['loop'])}")
    if (h := d.get("health")) and h["classification"] != "healthy":
        quiet = " (silenced)" if h["silenced"] else ""
        lines.append(f"  health:   {h['classification']}: {h['reason']}, since "
                     f"{ago(h['since'])}{quiet}")
    for o in d.get("overlaps", []):
        lines.append(f"  also changing {files_named(o['files'])}: run {o['run_id']} "
                     f"({o['state']})")
    for g in d.get("gates", []):
        lines.append(f"  {gate_line(g)}")
    for p in d["pending"]:
        lines.append(pending_line(p))
    return "\n".join(lines)


_GATE_NAMES = {"lint_fix": "lint fix", "lint": "lint", "test": "tests"}


def gate_line(g: dict[str, Any]) -> str:
    """``gate:     tests  passed  (2 runs: sh test.sh)``."""
    mark = "ok  " if g["passed"] else "FAIL"
    runs = f"{g['attempts']} run{'s' if g['attempts'] != 1 else ''}"
    return (f"gate:     {mark} {_GATE_NAMES.get(g['gate'], g['gate'])}: {g['summary']} "
            f"({runs} of `{g['command']}`)")


def gate_results(d: dict[str, Any], *, verbose: bool = False) -> str:
    if not d["results"]:
        return (f"run {d['run_id']}: no quality gates ran (none configured or detected, "
                "switched off, or the run has not finished its work)")
    lines = [f"run {d['run_id']}", *(f"  {gate_line(g)}" for g in d["gates"])]
    if verbose:
        for r in d["results"]:
            lines.append(f"\n{_GATE_NAMES.get(r['gate'], r['gate'])} attempt {r['attempt']}: "
                         f"{r['outcome']} in {r['seconds']:.1f} s, {ago(r['at'])}: "
                         f"`{r['command']}`")
            lines.extend(f"  | {line}" for line in r["output"].rstrip().splitlines()[-20:])
    return "\n".join(lines)


def files_named(files: list[str], most: int = 3) -> str:
    """``a.py, b.py (and 4 more)``."""
    more = f" (and {len(files) - most} more)" if len(files) > most else ""
    return ", ".join(files[:most]) + more


def pending_line(p: dict[str, Any]) -> str:
    options = ", ".join(interaction_options(p))
    return (f"  {p['kind']} {p['id']} (run {p['run_id']}): {one_line(p['title'], 120)}\n"
            f"    answer with: gluon answer {p['id']} CHOICE   ({options})")


def interaction_options(p: dict[str, Any]) -> list[str]:
    if p["kind"] == "question":
        return [str(o.get("label", "")) for q in p["tool_input"].get("questions", [])
                for o in q.get("options", [])] + ["or any text"]
    return ["allow", "allow_run", "allow_project", "deny"]


def event(e: dict[str, Any]) -> str:
    kind, text = e["kind"], e["summary"]
    prefix = {"text": "agent", "tool": "tool ", "tool_error": "error", "result": "done ",
              "steer": "steer", "answer": "answer", "interrupt": "stop "}.get(kind, kind)
    body = text if kind == "text" else one_line(text, 200)
    return f"[{prefix}] {body}"


def logged_event(e: dict[str, Any]) -> str:
    """One line of `gluon events`: its seq, when, and what happened."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["at"]))
    return f"{e['seq']:>6}  {when}  {one_line(e['summary'], 200)}"


def usage(u: dict[str, Any]) -> str:
    budget = f" of ${u['daily_budget_usd']:.2f}" if u["daily_budget_usd"] else ""
    lines = [f"today ({u['today']}): ${u['today_cost_usd']:.4f}{budget}"]
    rows = [[r["key"], str(r["runs"]), f"${r['cost_usd']:.4f}", str(r["input_tokens"]),
             str(r["output_tokens"])] for r in u["by_project"]]
    if rows:
        lines.append(table(rows, ["PROJECT", "RUNS", "COST", "TOKENS IN", "TOKENS OUT"]))
    rows = [[r["key"], str(r["runs"]), f"${r['cost_usd']:.4f}"] for r in u["by_day"]]
    if rows:
        lines.append(table(rows, ["DAY", "RUNS", "COST"]))
    rows = [[r["key"], str(r["notes"]), f"{r['minutes']:.2f}", f"${r['cost_usd']:.4f}"]
            for r in u.get("voice_by_day", [])]
    if rows:  # not in the runs' budgets
        lines.append(table(rows, ["DAY", "VOICE NOTES", "MINUTES", "COST"]))
    return "\n".join(lines)


def say(text: str = "", *, err: bool = False) -> None:
    """Print a line of human output, cleaned, at once (a follower's lines appear live)."""
    print(clean(text), file=sys.stderr if err else sys.stdout, flush=True)


def out(args: Any, data: dict[str, Any], human: str) -> None:
    """A command's result: the tool's structured result as JSON with ``--json``, else the
    human line(s)."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        say(human)


def workers(data: dict[str, Any]) -> str:
    """The workers, one a line: name, state, runs, version, host, last heartbeat."""
    rows = [[w["name"], "STALE" if w["stale"] else "draining" if w["draining"] else "up",
             f"{len(w['runs'])}/{w['max_runs']}", ", ".join(w["runs"]) or "-", w["version"],
             w["host"], f"{w['load']:.2f}", ago(w["last_seen"])] for w in data["workers"]]
    if not rows:
        return "no worker is up; start one with `gluon worker` on a host with the agents' " \
               "credentials"
    return table(rows, ["worker", "state", "runs", "run ids", "version", "host", "load", "seen"])
