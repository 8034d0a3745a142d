"""The door to ``gluon.db`` for a package outside core that owns tables of its own (chat).

Such a package keeps its schema in its own ordered migrations list, a :class:`TableSet` recorded
in a table of its own, and its SQL in its own store module. Its composition root declares the set
to the :class:`core.runtime.Runtime`, which applies it with core's list when it opens the
database (one transaction: all or nothing) and hands the store a :class:`Tables`: statements,
rows and transactions, never the database object or its connection. So the package is the only
writer of its tables while ``bots`` never imports the database (``core.store``) nor a SQLite
driver; the architecture test holds both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

Params = Sequence[Any] | Mapping[str, Any]
# A numbered migration: its name (recorded once applied) and its SQL script.
Migration = tuple[str, str]


class Row(Protocol):
    """One result row: by column name or position (a ``sqlite3.Row``)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Tables(Protocol):
    """What a table owner outside core may do with the database."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> Sequence[Row]: ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on error."""
        ...


@dataclass(frozen=True)
class TableSet:
    """A package's tables: the table that records its applied migrations, and the ordered
    list (numbered from 1; append only, never edit one that has shipped)."""

    record: str
    migrations: tuple[Migration, ...]

    def __post_init__(self) -> None:
        assert self.record.isidentifier(), self.record
