"""Checking a database file without opening it for Gluon (``gluon doctor``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def integrity(path: Path) -> str:
    """SQLite's integrity check of the file, read only: "ok", or what is wrong with it."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    except sqlite3.Error as exc:
        return str(exc)
