"""``gluon doctor``: the checks live in :mod:`core.doctor`, shared with the ``run_doctor`` tool."""

from __future__ import annotations

from core.doctor import Check, run_checks, sandbox_check

__all__ = ["Check", "run_checks", "sandbox_check"]
