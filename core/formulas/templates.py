"""Step prompts are Jinja2 templates, rendered in a sandbox with strict undefined names.

A prompt sees the formula's variables by name (``{{ description }}``), ``previous`` (the
previous step's final reply; empty for the first step), ``steps`` (each earlier step's final
reply by name: ``{{ steps.diagnose }}``) and ``project`` (the project's name). A name that is
none of these is an error when the file is loaded, not when the step starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from core.formulas.model import BUILTIN_NAMES, Formula

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                            keep_trailing_newline=True)


@dataclass(frozen=True)
class TemplateProblem:
    step: int  # 0-based index of the step whose prompt it is in
    line: int  # 1-based line in the prompt
    message: str


def problems(formula: Formula) -> list[TemplateProblem]:
    """Syntax errors and names no prompt can know, step by step."""
    found: list[TemplateProblem] = []
    known = BUILTIN_NAMES | set(formula.vars)
    for i, step in enumerate(formula.steps):
        try:
            tree = _ENV.parse(step.prompt)
        except TemplateSyntaxError as exc:
            found.append(TemplateProblem(i, exc.lineno, f"template error: {exc.message}"))
            continue
        for name in sorted(meta.find_undeclared_variables(tree) - known):
            found.append(TemplateProblem(i, _line_of(tree, name),
                                         f"unknown variable {name!r} in the prompt of step "
                                         f"{step.name!r}; known: {', '.join(sorted(known))}"))
        earlier = [s.name for s in formula.steps[:i]]
        for node in tree.find_all(nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name == "steps" and (
                    node.attr not in earlier):
                where = (f"earlier steps: {', '.join(earlier)}" if earlier
                         else "it is the first step")
                found.append(TemplateProblem(i, node.lineno,
                                             f"steps.{node.attr} is not an earlier step of "
                                             f"{step.name!r} ({where})"))
    return found


def _line_of(tree: nodes.Template, name: str) -> int:
    for node in tree.find_all(nodes.Name):
        if node.name == name:
            return int(node.lineno)
    return 1


def render(formula: Formula, index: int, values: Mapping[str, str], results: list[str],
           project: str) -> str:
    """The prompt of step ``index`` given the variables and the earlier steps' replies."""
    earlier = {s.name: r for s, r in zip(formula.steps[:index], results, strict=False)}
    context = {**values, "previous": results[index - 1] if index else "",
               "steps": earlier, "project": project}
    try:
        return _ENV.from_string(formula.steps[index].prompt).render(context).strip()
    except TemplateError as exc:
        raise ValueError(f"the prompt of step {formula.steps[index].name!r} did not render: "
                         f"{exc}") from exc
