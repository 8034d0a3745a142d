"""The database: one SQLite connection, its transactions and the numbered migrations.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.store.db import CORE_TABLES as CORE_TABLES
    from core.store.db import Database as Database
    from core.store.migrations import MIGRATIONS as MIGRATIONS

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Database": "db",
    "CORE_TABLES": "db",
    "MIGRATIONS": "migrations",
})
