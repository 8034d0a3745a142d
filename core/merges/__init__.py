"""The merge queue: from a finished run to merged code, one entry at a time per base branch.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.merges.forecast import Forecast as Forecast
    from core.merges.forecast import Overlap as Overlap
    from core.merges.states import MergeState as MergeState
    from core.merges.types import MergeEntry as MergeEntry

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Forecast": "forecast",
    "Overlap": "forecast",
    "MergeState": "states",
    "MergeEntry": "types",
})
