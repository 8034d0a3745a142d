"""The budget package's own tables in ``gluon.db``, numbered and recorded in
``budget_migrations`` (``usage`` and ``settings`` came with core's first migrations).

Their one writer is :mod:`core.budget.store`. Append new ones at the end; never edit one that
has shipped.
"""

from __future__ import annotations

from core.tables import Migration, TableSet

BUDGET_MIGRATIONS: tuple[Migration, ...] = (
    ("voice_usage", """
CREATE TABLE voice_usage (
    id          INTEGER PRIMARY KEY,
    actor       TEXT NOT NULL,        -- who sent the note (telegram:42, discord:7, cli)
    backend     TEXT NOT NULL,        -- openai, local
    day         TEXT NOT NULL,        -- UTC, as in usage
    seconds     REAL NOT NULL,        -- of audio transcribed
    cost_usd    REAL NOT NULL,
    at          REAL NOT NULL
);
CREATE INDEX voice_usage_day ON voice_usage(day);
CREATE INDEX voice_usage_actor ON voice_usage(actor, at);
"""),
)

BUDGET_TABLES = TableSet("budget_migrations", BUDGET_MIGRATIONS)
