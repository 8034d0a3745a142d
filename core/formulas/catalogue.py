"""Where formulas are found: a project's ``.gluon/formulas/``, then the data dir's
``formulas/``, then the ones shipped with Gluon; the first file of a name wins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import InvalidInput, NotFound
from core.formulas.loader import InvalidFormula, load
from core.formulas.model import Formula

BUILTIN_DIR = Path(__file__).parent / "builtin"
PROJECT_DIR = Path(".gluon") / "formulas"
SUFFIXES = (".yml", ".yaml")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$")


@dataclass(frozen=True)
class Place:
    label: str  # "project", "data dir", "builtin"
    path: Path


@dataclass(frozen=True)
class Found:
    name: str
    path: Path
    source: str  # e.g. "project: .gluon/formulas/bugfix.yml"
    formula: Formula | None
    error: str | None  # why the file cannot be used


def places(data_dir: Path, project_dir: Path | None) -> list[Place]:
    """The folders formulas come from, the one that wins first."""
    found = [Place("data dir", data_dir / "formulas"), Place("builtin", BUILTIN_DIR)]
    if project_dir is not None:
        found.insert(0, Place("project", project_dir / PROJECT_DIR))
    return found


def _source(place: Place, path: Path) -> str:
    if place.label == "builtin":
        return f"builtin: {path.name}"
    if place.label == "project":
        return f"project: {PROJECT_DIR / path.name}"
    return f"data dir: {path}"


def _read(place: Place, path: Path) -> Found:
    try:
        formula: Formula | None = load(path)
        error = None
    except InvalidFormula as exc:
        formula, error = None, str(exc)
    return Found(path.stem, path, _source(place, path), formula, error)


def find(name: str, where: list[Place]) -> Found:
    """The formula called ``name`` (a NotFound naming those there are)."""
    if not _NAME.match(name):
        raise InvalidInput(f"{name!r} is not a formula name (letters, digits, - and _)")
    for place in where:
        for suffix in SUFFIXES:
            path = place.path / f"{name}{suffix}"
            if path.is_file():
                return _read(place, path)
    known = ", ".join(sorted(f.name for f in every(where))) or "none"
    raise NotFound(f"no formula named {name!r}; there are: {known}")


def every(where: list[Place]) -> list[Found]:
    """Each formula name once (the winning file), sorted by name."""
    seen: dict[str, Found] = {}
    for place in where:
        if not place.path.is_dir():
            continue
        for path in sorted(place.path.iterdir()):
            if path.suffix in SUFFIXES and path.is_file() and _NAME.match(path.stem) and (
                    path.stem not in seen):
                seen[path.stem] = _read(place, path)
    return [seen[n] for n in sorted(seen)]
