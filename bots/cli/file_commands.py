"""``gluon file RUN PATH [-o OUT]``: a file of a run's work, through the get_run_file tool.

Without ``-o`` a text file is printed (on a terminal with control characters shown; into a
pipe or a file exactly as it is); a binary file goes to standard output only when that is not
a terminal. ``-o OUT`` writes it to OUT (into OUT under its own name when OUT is a folder).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bots.cli.client import Session, ToolFailed
from bots.cli.output import clean, say
from core.errors import InvalidInput
from core.text_input import user_path

MAX_BYTES = 50_000_000  # what the tool hands out at once


def add_commands(sub: Any, cmd: Callable[..., argparse.ArgumentParser]) -> None:
    x = cmd("file", "a file of a run's work: printed, or written with -o")
    x.add_argument("run", help="run id or a unique prefix")
    x.add_argument("path", help="the file's path in the run's worktree, its name, or a glob "
                   "such as '*.sql'")
    x.add_argument("-o", "--output", metavar="OUT",
                   help="write it to OUT (a folder: under the file's own name; -: standard "
                   "output)")


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1000 else f"{n / 1000:.0f} KB" if n < 1e6 else f"{n / 1e6:.1f} MB"


async def get_file(c: Session, a: argparse.Namespace) -> int:
    data = await c.call("get_run_file", {"run": a.run, "path": a.path,
                                         "max_bytes": MAX_BYTES})
    if a.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    where = f"{data['path']} of run {data['run_id'][:8]}"
    if data.get("omitted"):
        get = f"download it from {data['url']}" if data.get("url") else \
            "copy it from the run's worktree"
        raise ToolFailed(f"{where} is {_size(data['size'])}, more than `gluon file` takes "
                         f"({_size(MAX_BYTES)}): {get}")
    text: str | None = data.get("text")
    content = text.encode() if text is not None else base64.b64decode(data["base64"] or "")
    if a.output is None or a.output == "-":
        if sys.stdout.isatty():
            if text is None:
                raise ToolFailed(f"{where} is binary ({_size(len(content))}); write it with "
                                 "-o FILE, or send the output to a file or a pipe")
            sys.stdout.write(clean(text))
            sys.stdout.flush()
            return 0
        sys.stdout.flush()
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return 0
    try:
        target = user_path(a.output)
    except InvalidInput as exc:
        raise ToolFailed(str(exc)) from None
    if target.is_dir():
        target = target / data["name"]
    try:
        Path(target).write_bytes(content)
    except OSError as exc:
        raise ToolFailed(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
    say(f"wrote {target} ({_size(len(content))}, {where})")
    return 0


HANDLERS = {"file": get_file}
