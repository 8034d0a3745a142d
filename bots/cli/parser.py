"""The ``gluon`` command line: every command, its arguments and its help text."""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from bots.cli import file_commands, formula_commands, merge_commands, voice_commands, work
from bots.cli.output import clean
from core.types import Role

MODEL_HELP = "opus, sonnet, haiku (any case) or a full model id"
MESSAGE_HELP = "the message; `-` reads it from standard input"
NAME_HELP = ("project name: 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with "
             "a letter or digit (default: from the folder name)")


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported on one line that says where to find the usage."""

    def error(self, message: str) -> NoReturn:
        one_line = clean(message).replace("\r", "\\r").replace("\n", "\\n")
        sys.stderr.write(f"gluon: {one_line} (see `{self.prog} --help`)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="gluon", description="Run Claude Code agents on your git projects, each "
               "in its own worktree.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name: str, help: str, parent: Any = sub, json_flag: bool = True,
            ) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print JSON")
        return sp

    proj = sub.add_parser("project", help="manage projects (git repositories)")
    psub = proj.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = cmd("add", "register a git repository as a project", psub)
    x.add_argument("path")
    x.add_argument("--name", help=NAME_HELP)
    x.add_argument("--trusted", action="store_true",
                   help="load the repository's .claude settings and hooks")
    cmd("list", "list projects", psub)
    x = cmd("show", "a project's branch, changes and live runs", psub)
    x.add_argument("name")
    x = cmd("remove", "forget a project (never deletes files)", psub)
    x.add_argument("name")
    x.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    x = cmd("move", "tell Gluon where a project's repository is now, after moving it", psub)
    x.add_argument("name")
    x.add_argument("path", help="the repository's new folder")

    ws = sub.add_parser("workspace", help="folders whose repositories become projects")
    wsub = ws.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = cmd("add", "register a folder of repositories", wsub)
    x.add_argument("path")
    cmd("rescan", "add repositories that appeared in workspaces", wsub)

    def start_flags(x: argparse.ArgumentParser) -> None:
        x.add_argument("--wait", action="store_true",
                       help="stay until the run ends, showing what the agent does")

    x = cmd("run", "start an agent on a project")
    x.add_argument("project")
    x.add_argument("prompt", nargs="?",
                   help="the task; `-` reads it from standard input (or use --prompt-file)")
    x.add_argument("--prompt-file", metavar="PATH", help="read the task from this file")
    x.add_argument("--model", help=MODEL_HELP)
    x.add_argument("--no-worktree", action="store_true",
                   help="work in the project's checkout instead of a new worktree")
    x.add_argument("--base", help="branch to start from (default: the current branch)")
    x.add_argument("--budget", type=float, help="spend limit for this run, in USD")
    x.add_argument("--loop", action="store_true",
                   help="keep the agent going, iteration after iteration, until it says the "
                   "task is done (an autonomous loop with a circuit breaker)")
    x.add_argument("--max-loops", type=int, metavar="N",
                   help="with --loop: at most N iterations (default: [loop] max_loops, 10)")
    x.add_argument("--max-cost", type=float, metavar="USD",
                   help="with --loop: stop once the loop has cost this much")
    start_flags(x)
    x = cmd("runs", "list runs")
    x.add_argument("--project")
    x.add_argument("--state", action="append", help="only runs in this state (repeatable)")
    x.add_argument("--limit", type=int, default=50)
    x.add_argument("--all", action="store_true", help="every run, page after page")
    x = cmd("show", "everything about a run")
    x.add_argument("run", help="run id or a unique prefix")
    x = cmd("gates", "what the quality gates (lint auto-fix, lint, tests) said about a run")
    x.add_argument("run", help="run id or a unique prefix")
    x.add_argument("-v", "--verbose", action="store_true",
                   help="every attempt, with the end of its output")
    x = cmd("logs", "what a run's agent said and did")
    x.add_argument("run")
    x.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    x.add_argument("-n", "--lines", type=int, default=200)
    x = cmd("events", "what happened to runs: state changes, questions and answers, in order")
    x.add_argument("--after", type=int, metavar="SEQ",
                   help="only events after this one (default: the most recent ones)")
    x.add_argument("--run", help="only this run's events")
    x.add_argument("--limit", type=int, default=50)
    x.add_argument("-f", "--follow", action="store_true",
                   help="keep printing new events (with --json: one JSON object a line)")
    x = cmd("steer", "send a message into a live run")
    x.add_argument("run")
    x.add_argument("message", help=MESSAGE_HELP)
    x = cmd("interrupt", "stop the agent's current turn, keep its session")
    x.add_argument("run")
    x = cmd("cancel", "stop a run (its work is kept)")
    x.add_argument("run")
    x.add_argument("--yes", action="store_true")
    x = cmd("resume", "continue an ended run with a follow-up")
    x.add_argument("run")
    x.add_argument("message", help=MESSAGE_HELP)
    start_flags(x)
    x = cmd("recover", "continue an ended run in a fresh session with a summary of its work")
    x.add_argument("run")
    start_flags(x)
    x = cmd("fork", "start a new run from a copy of a run's session and branch")
    x.add_argument("run")
    x.add_argument("message", help=MESSAGE_HELP)
    x.add_argument("--model", help=MODEL_HELP)
    x.add_argument("--budget", type=float)
    start_flags(x)
    x = cmd("answer", "answer an agent's question or permission request")
    x.add_argument("id")
    x.add_argument("choice", help="an option, its number, free text; or allow, allow_run, "
                   "allow_project, deny")
    x = cmd("attention", "what needs you: questions, runs in trouble, failed merges, budgets")
    x.add_argument("--project")
    x = cmd("pending", "questions and permission requests waiting for you")
    x.add_argument("--run")
    x = cmd("diff", "a run's changes against its base")
    x.add_argument("run")
    x.add_argument("path", nargs="?")
    file_commands.add_commands(sub, cmd)
    merge_commands.add_commands(sub)
    lp = sub.add_parser("loop", help="autonomous loops (started with `gluon run --loop`)")
    lsub = lp.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = cmd("status", "a loop's iteration, circuit breaker, spend and why it ended", lsub)
    x.add_argument("run", help="run id or a unique prefix")
    x = cmd("close", "close a finished run without merging")
    x.add_argument("run")
    x.add_argument("--delete-branch", action="store_true")
    x.add_argument("--yes", action="store_true")
    x = cmd("cleanup", "remove worktrees of runs that ended long ago")
    x.add_argument("--older-than", type=float, metavar="DAYS")
    x = cmd("usage", "spend and tokens per project and day")
    x.add_argument("--days", type=int, default=7)
    x = cmd("activity", "the audit log: who did what, from where, and how it ended")
    x.add_argument("--limit", type=int, default=30)
    x.add_argument("--actor", help="only this actor: cli, mcp, telegram:ID, ...")
    x.add_argument("--action", dest="prefix",
                   help="only actions starting with this: tool., run., access.")
    x = cmd("pair", "let a person into the chat bots with a one-time code")
    x.add_argument("--role", choices=[r.value for r in Role], default=Role.OPERATOR.value)
    x.add_argument("--list", action="store_true", help="who may use the bots")
    x.add_argument("--revoke", metavar="PLATFORM:ID", help="take a paired user's access away")
    x.add_argument("--yes", action="store_true")
    x = cmd("web-link", "a one-time link that signs you in to the status page")
    x.add_argument("--list", action="store_true",
                   help="the browsers signed in to the status page, everyone's")
    x.add_argument("--revoke", nargs="?", const="", metavar="SESSION_ID",
                   help="sign out: that session (anyone's), or all of yours without an id")
    x.add_argument("--yes", action="store_true")
    hooks = sub.add_parser("hooks", help="webhook endpoints and the deliveries received")
    hsub = hooks.add_subparsers(dest="action", required=True, metavar="ACTION")
    cmd("list", "the webhook endpoints (GitHub's and the generic hooks)", hsub)
    x = cmd("deliveries", "deliveries received, newest first, and what Gluon did", hsub)
    x.add_argument("--source", help="github, or a generic hook's name")
    x.add_argument("--state", choices=["queued", "done", "ignored", "refused", "failed"])
    x.add_argument("--run", help="only deliveries that acted on this run")
    x.add_argument("--limit", type=int, default=30)
    gh = sub.add_parser("github", help="GitHub: setup and the runs linked to issues")
    gsub = gh.add_subparsers(dest="action", required=True, metavar="ACTION")
    x = cmd("status", "GitHub's setup, its repositories and the runs linked to them", gsub)
    x.add_argument("--limit", type=int, default=20)
    work.add_commands(sub, cmd)
    work.add_schedule_commands(sub, cmd)
    formula_commands.add_commands(sub, cmd)
    voice_commands.add_commands(sub, cmd)
    cmd("chat", "talk to Gluon in the terminal, as in Telegram or Discord", json_flag=False)
    cmd("doctor", "check git, the Claude CLI, the sandbox tools, credentials, the database")
    cmd("serve", "run the Gluon daemon", json_flag=False)
    x = cmd("worker", "execute runs that gluon serve dispatches through the cluster's Redis",
            json_flag=False)
    x.add_argument("--name", help="this worker's name among the workers (default: "
                   "worker.name, else the host's name)")
    wk = sub.add_parser("workers", help="the workers that execute runs ([cluster])",
                        description="The workers that execute runs: `gluon workers` lists them; "
                        "`drain NAME` lets one finish its runs and take no new ones, "
                        "`undrain NAME` lets it take runs again.")
    wk.add_argument("--json", action="store_true", help="print JSON")
    wksub = wk.add_subparsers(dest="action", metavar="ACTION")
    x = cmd("drain", "let a worker finish its runs and take no new ones", wksub)
    x.add_argument("name")
    x = cmd("undrain", "let a draining worker take new runs again", wksub)
    x.add_argument("name")
    x = sub.add_parser("mcp", help="serve Gluon's tools over stdio to an MCP client",
                       description="Serve Gluon's tools over stdio (`claude mcp add gluon -- "
                       "gluon mcp`). `gluon mcp token` prints the bearer token of the daemon's "
                       "HTTP endpoint.")
    x.add_argument("action", nargs="?", choices=["token"], help="print the HTTP bearer token")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(merge_commands.normalize(argv))


def command_name(args: argparse.Namespace) -> str:
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if action else str(args.command)
