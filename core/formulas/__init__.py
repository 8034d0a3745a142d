"""Formulas: multi-step workflows (plan, implement, test, review) that run as one run.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.formulas.catalogue import Found as Found
    from core.formulas.loader import InvalidFormula as InvalidFormula
    from core.formulas.migrations import FORMULA_TABLES as FORMULA_TABLES
    from core.formulas.model import Formula as Formula
    from core.formulas.model import FormulaStep as FormulaStep
    from core.formulas.model import FormulaVar as FormulaVar
    from core.formulas.model import Profile as Profile
    from core.formulas.service import Formulas as Formulas
    from core.formulas.store import FormulaStore as FormulaStore
    from core.formulas.types import FormulaProgress as FormulaProgress
    from core.formulas.types import FormulaRun as FormulaRun
    from core.formulas.types import FormulaView as FormulaView

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Found": "catalogue",
    "InvalidFormula": "loader",
    "FORMULA_TABLES": "migrations",
    "Formula": "model",
    "FormulaStep": "model",
    "FormulaVar": "model",
    "Profile": "model",
    "Formulas": "service",
    "FormulaStore": "store",
    "FormulaProgress": "types",
    "FormulaRun": "types",
    "FormulaView": "types",
})
