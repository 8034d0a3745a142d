"""Files from a run's work: one file of its worktree, found by path, by name or by a glob.

A path is read inside the run's worktree and never outside it: ``..`` is refused, links are
followed only while they stay inside, and nothing under ``.git`` is handed out. Files git
ignores are not special (a screenshot in an ignored folder is still a file of the run). Once
the worktree is gone (the run was closed or cleaned up), the file is read from the run's
branch with git instead.

A wanted name that is not a path of the run finds the file whose name (or path end) it is, or
that its glob (``*.sql``) matches; when several match, the ones the run changed win. Errors
are one line: no such file (naming close matches), several files (listing them), too large.
"""

from __future__ import annotations

import asyncio
import difflib
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import quote

from core.errors import Ambiguous, InvalidInput, NotFound, UserError
from core.git import blobs
from core.models import Run
from core.projects.service import ProjectService
from core.runs.store import RunStore

# Images the chat shows as pictures (and the agent's screenshots posted to a run's chat).
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp"}
MAX_READ_BYTES = 50_000_000  # read at once (Telegram lets a bot send 50 MB)
MAX_WALK = 50_000  # files looked at when searching a worktree by name
SHOWN = 8  # names listed in an error
_GLOB = frozenset("*?[")

Source = Literal["worktree", "branch"]


class FileTooLarge(UserError):
    """A file bigger than what is read at once."""


def is_image(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGE_TYPES


def media_type(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    return IMAGE_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or \
        "application/octet-stream"


def size_text(size: int) -> str:
    """A size as a person reads it: ``812 bytes``, ``14 KB``, ``3.2 MB``."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.0f} KB"
    return f"{size / 1e6:.1f} MB"


def file_path(run_id: str, path: str) -> str:
    """Where the status page serves a run's file (``/runs/<id>/files/<path>``)."""
    return f"/runs/{run_id}/files/{quote(path)}"


def file_link(base_url: str | None, run_id: str, path: str) -> str | None:
    """The status page's link to a run's file; None when nothing serves the page."""
    return f"{base_url}{file_path(run_id, path)}" if base_url else None


@dataclass(frozen=True)
class RunFileInfo:
    """A file of a run, found: its path in the worktree (relative, with ``/``), its size,
    and whether it is read from the worktree (``where`` on disk) or from the run's branch."""

    run: Run
    path: str
    size: int
    source: Source
    where: Path | None = None  # the file on disk, for a worktree file

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def media_type(self) -> str:
        return media_type(self.path)

    @property
    def image(self) -> bool:
        return is_image(self.path)


@dataclass(frozen=True)
class RunFile:
    info: RunFileInfo
    data: bytes

    @property
    def text(self) -> str | None:
        """The content as text, or None for a binary file (not UTF-8, or holding NUL)."""
        if self.info.image or b"\0" in self.data:
            return None
        try:
            return self.data.decode()
        except UnicodeDecodeError:
            return None


class RunFiles:
    def __init__(self, store: RunStore, projects: ProjectService) -> None:
        self.store = store
        self.projects = projects

    async def find(self, run_ref: str, wanted: str) -> RunFileInfo:
        """The file ``wanted`` names in the run (a path, a name, a glob); see the module."""
        run = await self.store.resolve(run_ref)
        root = Path(run.cwd)
        rel = _relative(wanted, root)
        if not run.worktree_removed and root.is_dir():
            exact = await asyncio.to_thread(_on_disk, root, rel, wanted)
            if exact is not None:
                return RunFileInfo(run, rel, exact[1], "worktree", exact[0])
            candidates = await asyncio.to_thread(_walk, root)
            changed = await _changed(run, root)
            found = _one(run, wanted, rel, candidates, changed, "worktree")
            exact = await asyncio.to_thread(_on_disk, root, found, wanted)
            assert exact is not None
            return RunFileInfo(run, found, exact[1], "worktree", exact[0])
        tree = await self._tree(run)
        if rel in tree:
            return RunFileInfo(run, rel, tree[rel], "branch")
        found = _one(run, wanted, rel, list(tree), {f.path for f in run.changed_files},
                     "branch")
        return RunFileInfo(run, found, tree[found], "branch")

    async def read(self, run_ref: str, wanted: str,
                   limit: int = MAX_READ_BYTES) -> RunFile:
        """The file and its bytes; FileTooLarge past ``limit`` bytes."""
        info = await self.find(run_ref, wanted)
        if info.size > limit:
            raise FileTooLarge(
                f"{info.path!r} of run {info.run.short} is {size_text(info.size)}, more than "
                f"the {size_text(limit)} read at once; download it from the run's page on the "
                "status page")
        if info.where is not None:
            data = await asyncio.to_thread(info.where.read_bytes)
        else:
            data = await blobs.read_blob(await self._repo(info.run), _branch(info.run),
                                         info.path)
        return RunFile(info, data)

    async def _repo(self, run: Run) -> Path:
        return Path((await self.projects.get(run.project)).path)

    async def _tree(self, run: Run) -> dict[str, int]:
        try:
            return await blobs.tree_files(await self._repo(run), _branch(run))
        except NotFound:
            raise NotFound(f"run {run.short}'s worktree and its branch {run.branch!r} are "
                           "both gone, so its files are too") from None


def _branch(run: Run) -> str:
    if not run.branch:
        raise NotFound(f"run {run.short} worked in its project's checkout, which is gone "
                       f"({run.cwd!r})")
    return run.branch


def _relative(wanted: str, root: Path) -> str:
    """``wanted`` as a path relative to the worktree, checked: never ``..``, never ``.git``,
    an absolute path only inside the worktree."""
    text = wanted.strip().replace("\\", "/")
    if not text or "\0" in text:
        raise InvalidInput("give the file's path in the run's worktree, its name, or a glob "
                           "such as '*.sql'")
    path = PurePosixPath(text)
    if path.is_absolute():
        try:
            path = path.relative_to(PurePosixPath(root.as_posix()))
        except ValueError:
            raise InvalidInput(f"{wanted!r} is outside the run's worktree; give a path "
                               "inside it") from None
    if ".." in path.parts:
        raise InvalidInput(f"{wanted!r} goes up out of the run's worktree ('..'); give a "
                           "path inside it")
    if ".git" in path.parts:
        raise InvalidInput(f"{wanted!r} is inside .git, which Gluon does not hand out")
    rel = path.as_posix()
    if rel in ("", "."):
        raise InvalidInput("give a file's path, not the worktree itself")
    return rel


def _on_disk(root: Path, rel: str, wanted: str) -> tuple[Path, int] | None:
    """The worktree file at ``rel`` (links followed only inside the worktree) and its size;
    None when there is none."""
    if any(c in _GLOB for c in rel):
        return None
    real, top = (root / rel).resolve(), root.resolve()
    if not real.is_relative_to(top) or ".git" in real.relative_to(top).parts:
        raise InvalidInput(f"{wanted!r} links outside the run's worktree; refused")
    if not real.exists():
        return None
    if not real.is_file():
        if real.is_dir():
            raise InvalidInput(f"{wanted!r} is a folder; name a file in it")
        return None
    return real, real.stat().st_size


def _walk(root: Path) -> list[str]:
    """The worktree's files (relative paths), without .git; at most MAX_WALK."""
    found: list[str] = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        rel = Path(top).relative_to(root)
        for name in sorted(files):
            found.append((rel / name).as_posix())
            if len(found) >= MAX_WALK:
                return found
    return found


async def _changed(run: Run, root: Path) -> set[str]:
    """The run's changed files, for choosing between files of the same name."""
    if not run.base_sha:
        return set()
    try:
        return set(await blobs.changed_paths(root, run.base_sha))
    except Exception:  # a broken worktree still serves its files by path
        return {f.path for f in run.changed_files}


def _matches(wanted: str, candidates: list[str]) -> list[str]:
    if any(c in _GLOB for c in wanted):
        return [c for c in candidates if PurePosixPath(c).match(wanted)]
    if "/" not in wanted:
        return [c for c in candidates if PurePosixPath(c).name == wanted]
    return [c for c in candidates if c.endswith("/" + wanted)]


def _one(run: Run, wanted: str, rel: str, candidates: list[str], changed: set[str],
         source: Source) -> str:
    """The one candidate ``wanted`` means, or the error saying why there is none."""
    found = _matches(rel, candidates)
    if len(found) > 1:
        mine = [f for f in found if f in changed]
        if len(mine) == 1:
            return mine[0]
        shown = ", ".join(found[:SHOWN]) + (f" and {len(found) - SHOWN} more"
                                             if len(found) > SHOWN else "")
        raise Ambiguous(f"{wanted!r} matches {len(found)} files of run {run.short}: {shown}; "
                        "give the path")
    if found:
        return found[0]
    where = "worktree" if source == "worktree" else f"branch {run.branch!r}"
    names = {PurePosixPath(c).name: c for c in reversed(candidates)}
    close = [names[n] for n in difflib.get_close_matches(PurePosixPath(rel).name,
                                                         list(names), n=5, cutoff=0.6)]
    close += difflib.get_close_matches(rel, candidates, n=3, cutoff=0.6)
    close = list(dict.fromkeys(close))[:5]
    if close:
        hint = f"; close: {', '.join(close)}"
    elif changed:
        hint = f"; the files it changed: {', '.join(sorted(changed)[:SHOWN])}"
    else:
        hint = ""
    raise NotFound(f"no file {wanted!r} in run {run.short}'s {where}{hint}")
