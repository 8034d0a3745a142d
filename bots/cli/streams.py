"""The edges of the ``gluon`` command: the text it is given (arguments, prompt files, standard
input) and the streams it writes to, and what it says about an error that is a bug.

Any text, in any argument, gets its result or one line saying what is wrong: never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bots.cli import output as fmt
from bots.cli.output import say
from bots.owner import ToolFailed
from core.errors import InvalidInput
from core.text_input import user_path


def check_arguments(argv: list[str]) -> None:
    """Arguments that are not UTF-8 (Python keeps their bytes as lone surrogates) are refused
    here, before they reach a tool, a database or a terminal."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise ToolFailed(f"the argument {arg!r} is not valid UTF-8 text; Gluon takes "
                             "text in UTF-8 (check the terminal's or the file's encoding)"
                             ) from None


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ToolFailed(f"{where} is not valid UTF-8 text (byte {exc.start}); save it as "
                         "UTF-8") from None


def read_inputs(args: argparse.Namespace) -> None:
    """A prompt or message given as `-` (standard input) or with --prompt-file, read now: the
    OS limits one argument to about 128 KB, a file or a pipe has no such limit."""
    if args.command == "run":
        if args.prompt_file is not None:
            if args.prompt is not None:
                raise ToolFailed("give the prompt either as an argument or with --prompt-file, "
                                 "not both")
            try:
                path = user_path(args.prompt_file, "--prompt-file")
            except InvalidInput as exc:
                raise ToolFailed(str(exc)) from None
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ToolFailed(f"cannot read --prompt-file {str(path)!r}: "
                                 f"{exc.strerror or exc}") from None
            args.prompt = _decode(data, f"--prompt-file {str(path)!r}")
        elif args.prompt is None:
            raise ToolFailed("say what the agent should do: a PROMPT argument, `-` to read it "
                             "from standard input, or --prompt-file PATH")
    for name in ("prompt", "message"):
        if getattr(args, name, None) == "-":
            setattr(args, name, _decode(sys.stdin.buffer.read(), "standard input"))


def confirm(args: argparse.Namespace, question: str) -> None:
    """Ask on the terminal before a destructive command (``--yes`` answers for scripts)."""
    if getattr(args, "yes", False):
        return
    if not sys.stdin.isatty():
        raise ToolFailed(f"{question} needs a confirmation; pass --yes to confirm")
    answer = input(f"{fmt.clean(question)} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise ToolFailed("not confirmed; nothing was changed")


def reader_gone() -> int:
    """The reader of our output went away (`gluon runs | head -3`): stop quietly, as Unix
    tools do, with SIGPIPE's exit status."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the final flush at exit cannot fail again
    except (OSError, ValueError):
        pass
    return 141


def unexpected(exc: BaseException) -> int:
    """A bug: one line on the terminal, the traceback in a file."""
    import tempfile
    import traceback

    from bots.owner import NeedsFullConfig, where

    try:
        logs = where().home / "logs"
    except NeedsFullConfig:
        logs = Path(tempfile.gettempdir())
    report = logs / "cli-errors.log"
    try:
        logs.mkdir(parents=True, exist_ok=True)
        with report.open("a") as fh:
            fh.write("".join(traceback.format_exception(exc)))
        where_to = f"; the details are in {report}"
    except OSError:
        where_to = ""
    say(f"gluon: unexpected error ({type(exc).__name__}: {fmt.one_line(str(exc), 200)})"
        f"{where_to}", err=True)
    return 1


def tolerant_streams() -> None:
    # A character the terminal's encoding cannot show is printed escaped, never an error.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
