"""Reading a formula file: YAML 1.2 (``on``, ``yes`` stay strings; a duplicate key is an
error), checked against the model and its templates, every error naming the file and line:
``bugfix.yml line 12: unknown key 'stpes'; did you mean 'steps'?``."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from core.errors import InvalidInput
from core.formulas.model import Formula, FormulaStep, FormulaVar
from core.formulas.templates import problems as template_problems

MAX_BYTES = 256 * 1024


class InvalidFormula(InvalidInput):
    """A formula file that cannot be used; the message names the file and the line."""


def load(path: Path) -> Formula:
    """The formula in ``path``, or :class:`InvalidFormula` saying where it is wrong."""
    label = path.name
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InvalidFormula(f"{label}: larger than {MAX_BYTES // 1024} KiB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFormula(f"{label}: cannot be read ({exc})") from None
    return parse(text, label, stem=path.stem)


def parse(text: str, label: str, *, stem: str | None = None) -> Formula:
    try:
        doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "not valid YAML").split())
        raise InvalidFormula(f"{label}{line}: {problem}") from None
    except YAMLError as exc:
        raise InvalidFormula(f"{label}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(doc, CommentedMap):
        raise InvalidFormula(f"{label}: a formula is a mapping with name, description, vars "
                             "and steps")
    if stem is not None:
        doc.setdefault("name", stem)
        if doc["name"] != stem:
            raise InvalidFormula(f"{label} line {_line(doc, ['name'], value=True)}: name "
                                 f"{doc['name']!r} differs from the file's name {stem!r}")
    try:
        formula = Formula.model_validate(doc)
    except ValidationError as exc:
        errors = _explained(exc.errors())
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidFormula(f"{label} line {_line(doc, first['loc'])}: "
                             f"{_say(first)}{more}") from None
    found = template_problems(formula)
    if found:
        p = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InvalidFormula(f"{label} line {_prompt_line(doc, p.step, p.line)}: "
                             f"{p.message}{more}")
    return formula


def _explained(errors: list[Any]) -> list[Any]:
    """Unknown keys first, without the missing keys they are typos of ("stpes" for
    "steps")."""
    typos: set[tuple[Any, ...]] = set()
    for e in errors:
        if e["type"] == "extra_forbidden":
            parent = tuple(e["loc"][:-1])
            close = difflib.get_close_matches(str(e["loc"][-1]), _fields_at(parent), n=1)
            typos.update((*parent, c) for c in close)
    kept = [e for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in typos)]
    return sorted(kept, key=lambda e: e["type"] != "extra_forbidden")


def _say(error: Any) -> str:
    loc = [str(p) for p in error["loc"]]
    if error["type"] == "extra_forbidden":
        key = loc[-1]
        known = _fields_at(error["loc"][:-1])
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
        return f"unknown key {key!r}{hint}"
    where = ".".join(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _fields_at(loc: Sequence[Any]) -> list[str]:
    """The keys accepted at ``loc``: the top level's, a step's or a variable's."""
    model: type[BaseModel] = Formula if not loc else (
        FormulaStep if loc[0] == "steps" else FormulaVar)
    return list(model.model_fields)


def _line(doc: Any, loc: Sequence[Any], *, value: bool = False) -> int:
    """The 1-based line of ``loc`` in the document: of its key, or of its value."""
    node, line = doc, 1
    for i, part in enumerate(loc):
        if isinstance(node, CommentedMap) and part in node:
            last = i == len(loc) - 1
            line = (node.lc.value(part) if last and value else node.lc.key(part))[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _prompt_line(doc: Any, step: int, template_line: int) -> int:
    """The file line of line ``template_line`` of step ``step``'s prompt."""
    try:
        mapping = doc["steps"][step]
        value = mapping["prompt"]
        start = int(mapping.lc.value("prompt")[0]) + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        return _line(doc, ["steps", step])
    if isinstance(value, LiteralScalarString | FoldedScalarString):
        return start + template_line  # the text starts below the `|` or `>`
    return start
