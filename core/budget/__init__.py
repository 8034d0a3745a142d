"""Usage and budgets, and the settings changed while Gluon runs.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.budget.settings import Settings as Settings
    from core.budget.store import BudgetStore as BudgetStore
    from core.budget.store import Spend as Spend
    from core.budget.usage import DiskUsage as DiskUsage
    from core.budget.usage import ProjectUsage as ProjectUsage
    from core.budget.usage import Usage as Usage

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Usage": "usage",
    "ProjectUsage": "usage",
    "DiskUsage": "usage",
    "Settings": "settings",
    "BudgetStore": "store",
    "Spend": "store",
})
