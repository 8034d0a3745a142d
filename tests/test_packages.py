"""Each package's ``__init__`` offers its public names, and importing a package loads none of
its modules until a name is used (so packages cannot import each other in a circle through
their ``__init__`` files, and a short ``gluon`` command loads only what it uses)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(".".join(p.parent.relative_to(ROOT).parts)
                  for top in ("core", "bots") for p in (ROOT / top).glob("*/__init__.py"))


def test_every_sub_package_names_its_public_names() -> None:
    assert {"core.runs", "core.store", "core.events", "bots.chat", "bots.cli"} <= set(PACKAGES)
    for name in PACKAGES:
        package = importlib.import_module(name)
        assert package.__all__, f"{name} offers no public names"
        for public in package.__all__:
            value = getattr(package, public)
            assert getattr(value, "__name__", public) == public or not callable(value), public


def test_a_name_a_package_does_not_offer_is_an_attribute_error() -> None:
    runs = importlib.import_module("core.runs")
    with pytest.raises(AttributeError, match="'core.runs' has no attribute 'Nope'"):
        _ = runs.Nope


def test_importing_a_package_loads_none_of_its_modules_until_a_name_is_used() -> None:
    code = ("import sys\n"
            f"names = {PACKAGES!r}\n"
            "for name in names: __import__(name)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('core.', 'bots.'))"
            " and m not in names))\n"
            "from core.runs import RunStore\n"
            "print('core.runs.store' in sys.modules, 'core.runs.service' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded, used = done.stdout.splitlines()
    assert loaded == "['core.exports']"
    assert used == "True False"
