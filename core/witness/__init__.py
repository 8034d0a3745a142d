"""The witness: watches the runs for what needs a person, and for money and hours running out.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.witness.estimate import Estimate as Estimate
    from core.witness.estimate import estimate as estimate

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Estimate": "estimate",
    "estimate": "estimate",
})
