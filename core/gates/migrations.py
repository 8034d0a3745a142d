"""The quality gates' tables in ``gluon.db``, numbered and recorded in ``gate_migrations``.

Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from core.tables import TableSet

GATE_TABLES = TableSet("gate_migrations", (
    ("gate results and rounds", """
CREATE TABLE gate_results (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    gate        TEXT NOT NULL,               -- lint_fix, lint, test
    attempt     INTEGER NOT NULL,
    passed      INTEGER NOT NULL,
    outcome     TEXT NOT NULL,               -- passed, failed, timed_out, missing, fixed
    command     TEXT NOT NULL,
    output      TEXT NOT NULL,               -- the end of what it printed
    seconds     REAL NOT NULL,
    at          REAL NOT NULL
);
CREATE INDEX gate_results_run ON gate_results(run_id, id);
-- Where a run is in its gates: a round starts when a turn Gluon did not ask for ends.
CREATE TABLE gate_rounds (
    run_id      TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    asking      INTEGER NOT NULL DEFAULT 0,  -- 1: the run's turn is a fix the gates asked for
    fixes       TEXT NOT NULL DEFAULT '{}',  -- {gate: fixes asked for this round}
    extra       INTEGER NOT NULL DEFAULT 0,  -- resumes the supervision policy gave this round
    said        TEXT NOT NULL DEFAULT '[]',  -- warnings said once per run
    updated_at  REAL NOT NULL
);
"""),
))
