"""Formula files: YAML 1.2 read with its lines, every error naming the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.formulas import Formula, InvalidFormula
from core.formulas.catalogue import BUILTIN_DIR
from core.formulas.loader import load, parse
from core.formulas.service import resolve_vars
from core.formulas.templates import render

GOOD = """\
name: bugfix
description: fix a bug
vars:
  description:
    required: true
  area:
    default: the whole app
steps:
  - name: diagnose
    profile: planning
    prompt: |
      Find the cause of {{ description }} in {{ area }}.
  - name: fix
    model: haiku
    prompt: Fix it. {{ previous }} / {{ steps.diagnose }}
"""


def error_of(text: str, label: str = "bugfix.yml") -> str:
    with pytest.raises(InvalidFormula) as caught:
        parse(text, label, stem=label.rsplit(".", 1)[0])
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_good_file_loads_with_its_vars_steps_and_profiles() -> None:
    formula = parse(GOOD, "bugfix.yml", stem="bugfix")
    assert [s.name for s in formula.steps] == ["diagnose", "fix"]
    assert [str(s.profile) for s in formula.steps] == ["planning", "standard"]
    assert formula.steps[1].model == "haiku" and formula.vars["description"].required


def test_an_unknown_key_names_its_line_and_the_key_it_likely_meant() -> None:
    text = GOOD.replace("    model: haiku\n", "    modle: haiku\n")
    assert error_of(text) == "bugfix.yml line 14: unknown key 'modle'; did you mean 'model'?"
    assert error_of(GOOD.replace("steps:", "stpes:")) == (
        "bugfix.yml line 8: unknown key 'stpes'; did you mean 'steps'?")


def test_a_duplicate_key_is_refused_at_its_line() -> None:
    text = GOOD.replace("    profile: planning\n",
                        "    profile: planning\n    profile: review\n")
    message = error_of(text)
    assert message.startswith("bugfix.yml line 11: found duplicate key \"profile\"")


def test_on_and_yes_stay_strings() -> None:
    text = GOOD.replace("  area:\n    default: the whole app\n",
                        "  on:\n    default: yes\n").replace("{{ area }}", "{{ on }}")
    formula = parse(text, "bugfix.yml", stem="bugfix")
    assert formula.vars["on"].default == "yes"
    values = resolve_vars(formula, {"description": "a crash"})
    assert render(formula, 0, values, [], "api") == "Find the cause of a crash in yes."


def test_an_unknown_variable_in_a_prompt_is_refused_at_its_line() -> None:
    text = GOOD.replace("{{ area }}", "{{ areas }}")
    message = error_of(text)
    assert message.startswith("bugfix.yml line 12: unknown variable 'areas' in the prompt of "
                              "step 'diagnose'; known: area, description, previous, ")
    later = GOOD.replace("{{ steps.diagnose }}", "{{ steps.fix }}")
    assert error_of(later) == ("bugfix.yml line 15: steps.fix is not an earlier step of 'fix' "
                               "(earlier steps: diagnose)")


def test_a_template_syntax_error_and_a_bad_profile_name_their_lines() -> None:
    assert error_of(GOOD.replace("{{ area }}.", "{{ area .")).startswith(
        "bugfix.yml line 12: template error: ")
    assert error_of(GOOD.replace("profile: planning", "profile: plan")) == (
        "bugfix.yml line 10: steps.0.profile: Input should be 'planning', 'standard' or "
        "'review'")
    assert error_of(GOOD.replace("model: haiku", "model: gpt-4")).startswith(
        "bugfix.yml line 14: steps.1.model: unknown model 'gpt-4'; use opus, ")
    assert error_of("name: x\n", "x.yml").startswith("x.yml line 1: steps: Field required")
    assert error_of("steps: [\n", "x.yml").startswith("x.yml line 2: ")


def test_a_missing_required_var_and_an_unknown_var_are_refused_in_one_line() -> None:
    formula = parse(GOOD, "bugfix.yml", stem="bugfix")
    with pytest.raises(InvalidInput, match=r"^formula 'bugfix' needs the variable "
                       r"'description'; give it as description=\.\.\.$"):
        resolve_vars(formula, {})
    with pytest.raises(InvalidInput, match="^formula 'bugfix' has no variable 'descripton'; "
                       "its variables: description, area$"):
        resolve_vars(formula, {"descripton": "x"})
    assert resolve_vars(formula, {"description": "x"}) == {"description": "x",
                                                          "area": "the whole app"}


def test_previous_and_earlier_steps_reach_a_later_prompt() -> None:
    formula = parse(GOOD, "bugfix.yml", stem="bugfix")
    values = resolve_vars(formula, {"description": "x"})
    assert render(formula, 1, values, ["the cause is y"], "api") == (
        "Fix it. the cause is y / the cause is y")


def test_the_file_name_is_the_formula_name() -> None:
    assert error_of(GOOD, "other.yml") == (
        "other.yml line 1: name 'bugfix' differs from the file's name 'other'")


@pytest.mark.parametrize("path", sorted(BUILTIN_DIR.glob("*.yml")), ids=lambda p: p.stem)
def test_the_builtin_formulas_load(path: Path) -> None:
    formula: Formula = load(path)
    assert formula.vars["description"].required
    assert formula.name in ("bugfix", "feature")
