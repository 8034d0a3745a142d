"""The ``gluon`` command run in the test's own process: its ``main()`` with the environment,
folder, standard input and output a subprocess would have, without the second or two of
Python start and imports each subprocess costs.

What differs from the console script, and where a test must use a real subprocess instead:
signals, a killed process, commands running at the same time, the OS passing arguments
(bytes that are not UTF-8), what the command imports, and output to a pipe that closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bots.cli.main import main

# Threads of the fakes (tests/fakes/threaded.py) live in this process too: what they log is not
# the command's.
_FAKES = ("model-server-", "fake-telegram-", "fake-discord-")


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


class _CommandsOwn(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith(_FAKES)


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` is ``env`` alone for the duration, as in a subprocess given ``env``."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _logged_to(stream: io.TextIOWrapper) -> Iterator[None]:
    """Warnings logged by the command go to its stderr, as ``main()``'s ``basicConfig`` sends
    them in the console script (with this handler in place, that call changes nothing)."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_CommandsOwn())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _stream() -> tuple[io.BytesIO, io.TextIOWrapper]:
    raw = io.BytesIO()
    # UTF-8, strict until main() makes it tolerant: as Python sets up a pipe under C.UTF-8.
    return raw, io.TextIOWrapper(raw, encoding="utf-8", write_through=True)


def run_main(argv: list[str], env: dict[str, str], cwd: Path, stdin: bytes = b"") -> Done:
    """``gluon ARGV`` in this process, from ``cwd`` with exactly ``env``; its exit status and
    what it wrote, decoded as a subprocess's output is."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise AssertionError("run_main runs the command's own event loop: call it from a "
                             "synchronous test")
    out_raw, out = _stream()
    err_raw, err = _stream()
    saved = sys.stdin, sys.stdout, sys.stderr
    folder = os.getcwd()
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    try:
        with environment(env), _logged_to(err):
            os.chdir(cwd)
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(folder)
        sys.stdin, sys.stdout, sys.stderr = saved
    return Done(code, out_raw.getvalue().decode(errors="backslashreplace"),
                err_raw.getvalue().decode(errors="backslashreplace"))
