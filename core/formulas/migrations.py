"""The formulas' table in ``gluon.db``, numbered and recorded in ``formula_migrations``.

Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from core.tables import TableSet

FORMULA_TABLES = TableSet("formula_migrations", (
    ("formula runs", """
CREATE TABLE formula_runs (
    run_id      TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    formula     TEXT NOT NULL,
    definition  TEXT NOT NULL,            -- the formula as it was when the run started (JSON)
    source      TEXT NOT NULL,            -- where it was read from
    vars        TEXT NOT NULL,            -- the resolved variables (JSON object)
    model       TEXT NOT NULL,            -- the model of the steps that name none
    step        INTEGER NOT NULL,         -- 0-based index of the current step; = steps when done
    results     TEXT NOT NULL DEFAULT '[]', -- each finished step's final reply (JSON list)
    created_by  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
"""),
))
