"""A package's public names, loaded when first used.

Each package's ``__init__`` names what it offers and the module each name lives in; the module
is imported on first access (PEP 562), so importing a package, or any one of its modules, loads
nothing else: no import circles between packages, and a short-lived ``gluon`` command pays
only for what it uses. A leaf module: imports nothing from Gluon.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str]
                 ) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``; ``names`` maps each public
    name to the submodule (relative to the package) that defines it."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return sorted(names), __getattr__, __dir__
