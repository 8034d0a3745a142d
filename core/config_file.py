"""Where Gluon's configuration file is: a leaf module, so that a command that only needs the data
dir and the daemon's token finds the same file as the full loader without importing pydantic."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def config_path(env: Mapping[str, str]) -> Path | None:
    """The TOML file that will be read, if any: ``GLUON_CONFIG``, else ``config.toml`` in the
    data dir (``GLUON_HOME``, default ``~/.gluon``), else in the current folder."""
    if env.get("GLUON_CONFIG"):
        return Path(env["GLUON_CONFIG"]).expanduser()
    home = Path(env.get("GLUON_HOME") or "~/.gluon").expanduser()
    for candidate in (home / "config.toml", Path("config.toml")):
        if candidate.is_file():
            return candidate
    return None
