"""Formulas: multi-step workflows (plan, implement, test, review) that run as one run."""

from core.formulas.catalogue import Found
from core.formulas.loader import InvalidFormula
from core.formulas.migrations import FORMULA_TABLES
from core.formulas.model import Formula, FormulaStep, FormulaVar, Profile
from core.formulas.service import Formulas
from core.formulas.store import FormulaStore
from core.formulas.types import FormulaProgress, FormulaRun, FormulaView

__all__ = ["FORMULA_TABLES", "Formula", "FormulaProgress", "FormulaRun", "FormulaStep",
           "FormulaStore", "FormulaVar", "FormulaView", "Formulas", "Found", "InvalidFormula",
           "Profile"]
