"""Files people send in chat with a request, kept for the runs that request starts.

Every chat adapter saves what it received through ``save_upload``: each file in a folder of
its own under ``<home>/uploads`` (so two files of the same name never meet), under a name that
is safe to show an agent and to use in its shell (see ``safe_name``), and only up to
``MAX_UPLOAD_BYTES``. ``start_run`` accepts attachments from that folder only, never other
host files, and stages a copy for the run (``<home>/uploads/runs/<run_id>``) that goes into
its worktree when the worktree is made.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import unicodedata
from pathlib import Path, PurePosixPath

from core.errors import InvalidInput

MAX_UPLOAD_BYTES = 25_000_000  # what Discord lets anyone send; Telegram bots get 20 MB
MAX_NAME = 100  # characters of a saved file's name
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NO_STEM = re.compile(r"[_-]*\.[A-Za-z0-9_-]+")


class UploadTooBig(InvalidInput):
    """A file over the size Gluon takes."""


def uploads_dir(home: Path) -> Path:
    """The folder of files sent in chat, in the data dir."""
    return home / "uploads"


def safe_name(name: str) -> str:
    """`name` as a plain file name: its last path part, accents dropped, anything but ASCII
    letters, digits, ``.``, ``_`` and ``-`` made ``_``, no leading dot or dash (no hidden file,
    nothing a shell reads as an option; ``.env`` becomes ``file.env``), at most `MAX_NAME`
    characters with its extension kept."""
    base = PurePosixPath(name.replace("\\", "/")).name
    unaccented = "".join(c for c in unicodedata.normalize("NFKD", base)
                         if not unicodedata.combining(c))
    clean = _UNSAFE.sub("_", unaccented).rstrip(".")
    if _NO_STEM.fullmatch(clean):  # ".env", "日本語.txt": name what is left
        clean = "file" + clean.lstrip("_-")
    clean = clean.lstrip("._-")
    if len(clean) > MAX_NAME:
        stem, dot, ext = clean.rpartition(".")
        ext = f".{ext}" if dot and stem and len(ext) <= 16 else ""
        clean = clean[:MAX_NAME - len(ext)].rstrip(".") + ext
    return clean or "file"


def check_size(name: str, size: int | None, limit: int = MAX_UPLOAD_BYTES) -> None:
    """Refuse a file bigger than `limit` bytes (before downloading it, when its size is
    announced); `size` None: not known yet."""
    if size is not None and size > limit:
        raise UploadTooBig(f"{name!r} is {size / 1e6:.1f} MB; I take files up to "
                           f"{limit / 1e6:.0f} MB: send a smaller file, or a link to it.")


async def save_upload(home: Path, name: str, data: bytes,
                      limit: int = MAX_UPLOAD_BYTES) -> Path:
    """Keep a file sent in chat; returns where it is, for ``start_run(attachments=...)``.
    Raises `UploadTooBig` past `limit` bytes."""
    check_size(name, len(data), limit)
    folder = uploads_dir(home) / secrets.token_hex(8)
    path = folder / safe_name(name)

    def write() -> None:
        folder.mkdir(parents=True)
        path.write_bytes(data)

    await asyncio.to_thread(write)
    return path


def attached_files(home: Path, paths: list[str], worktree: bool) -> list[Path]:
    """Files sent with a request: only chat uploads (the uploads folder of the data dir),
    never arbitrary host files, which the sandbox keeps from agents."""
    if not paths:
        return []
    if not worktree:
        raise InvalidInput("attachments need a worktree; drop --no-worktree")
    uploads = uploads_dir(home).resolve()
    files = []
    for raw in paths:
        path = Path(raw).resolve()
        if not path.is_relative_to(uploads) or not path.is_file():
            raise InvalidInput(f"attachment {raw!r} is not a file sent in chat; only "
                               f"files under {str(uploads)!r} can be attached")
        files.append(path)
    return files


def _staged(home: Path, run_id: str) -> Path:
    return uploads_dir(home) / "runs" / run_id


def stage_attachments(home: Path, run_id: str, files: list[Path]) -> None:
    """Keep a copy of a new run's attachments until its worktree exists."""
    if files:
        staged = _staged(home, run_id)
        staged.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, staged / f.name)


async def unstage_attachments(home: Path, run_id: str, target: Path) -> None:
    """Copy the run's attachments (if it has any) into ``target`` in its worktree."""
    staged = _staged(home, run_id)
    if staged.is_dir():
        await asyncio.to_thread(shutil.copytree, staged, target, dirs_exist_ok=True)
