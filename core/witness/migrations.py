"""The witness's tables in ``gluon.db``, numbered and recorded in ``witness_migrations``.

Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from core.tables import TableSet

WITNESS_TABLES = TableSet("witness_migrations", (
    ("witness", """
CREATE TABLE witness_runs (
    run_id          TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    classification  TEXT NOT NULL,       -- healthy, looping, stuck, stalled, zombie
    reason          TEXT NOT NULL,
    since           REAL NOT NULL,
    silenced        INTEGER NOT NULL DEFAULT 0   -- a person said it is a false alarm
);
CREATE TABLE witness_changes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    classification  TEXT NOT NULL,
    reason          TEXT NOT NULL,
    at              REAL NOT NULL,
    action          TEXT                 -- what the policy did: notify, nudge, restart
);
CREATE INDEX witness_changes_run ON witness_changes (run_id, id);
"""),
))
