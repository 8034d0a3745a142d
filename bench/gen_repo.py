"""Generate a large git repository for benchmarks: many small files in nested folders, one commit.

The commit is built by ``git fast-import`` (one pack, no per-file ``git add``) and then checked
out, so 20,000 files take a few seconds.

    python bench/gen_repo.py PATH [--files N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

FILES_PER_FOLDER = 25
FOLDERS_PER_PACKAGE = 32
_IDENTITY = "Gluon Bench <bench@localhost> 1700000000 +0000"


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, check=True,
                   stdout=subprocess.DEVNULL, timeout=600)


def _file(index: int) -> tuple[str, bytes]:
    folder = index // FILES_PER_FOLDER
    package, module = divmod(folder, FOLDERS_PER_PACKAGE)
    path = f"src/pkg{package:03d}/mod{module:02d}/file{index:05d}.py"
    text = f'"""Generated module {index}."""\n\n\ndef value_{index}() -> int:\n    return {index}\n'
    return path, text.encode()


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def _fast_import_stream(files: int) -> bytes:
    """One commit on refs/heads/main holding a README and ``files`` generated modules."""
    message = f"Generate {files} files".encode()
    parts = [
        b"commit refs/heads/main\n",
        f"author {_IDENTITY}\ncommitter {_IDENTITY}\n".encode(),
        _data(message),
        b"M 100644 inline README.md\n",
        _data(f"# Benchmark repository\n\n{files} generated files.\n".encode()),
    ]
    for index in range(files):
        path, content = _file(index)
        parts.append(b"M 100644 inline %s\n" % path.encode())
        parts.append(_data(content))
    parts.append(b"done\n")
    return b"".join(parts)


def generate_repo(path: Path, files: int = 20000) -> None:
    """Create a git repository at ``path`` (missing or empty) with ``files`` files, one commit."""
    if files < 0:
        raise ValueError(f"files must be zero or more, not {files!r}")
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{str(path)!r} is not empty; pass a new folder")
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "--quiet", "-b", "main")
    _git(path, "fast-import", "--quiet", "--done", stdin=_fast_import_stream(files))
    _git(path, "reset", "--hard", "--quiet")  # check the commit out into the working tree


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", type=Path, help="folder to create (must be missing or empty)")
    parser.add_argument("--files", type=int, default=20000, help="number of files (20000)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        generate_repo(args.path, args.files)
    except (FileExistsError, ValueError) as error:
        sys.exit(f"gen_repo: {error}")
    print(f"{args.files} files in {args.path} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
