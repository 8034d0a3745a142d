"""The merge queue's tables in ``gluon.db``, numbered and recorded in ``merge_migrations``.

Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from core.tables import TableSet

MERGE_TABLES = TableSet("merge_migrations", (
    ("merge entries", """
CREATE TABLE merge_entries (
    id              TEXT PRIMARY KEY,
    seq             INTEGER NOT NULL UNIQUE,  -- the order of the line
    run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    project         TEXT NOT NULL,
    base            TEXT NOT NULL,
    branch          TEXT NOT NULL,
    state           TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    created_by      TEXT NOT NULL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    ended_at        REAL,
    conflict_fixes  INTEGER NOT NULL DEFAULT 0,
    check_fixes     INTEGER NOT NULL DEFAULT 0,
    rebases         INTEGER NOT NULL DEFAULT 0,
    files           TEXT NOT NULL DEFAULT '[]',
    expected_head   TEXT,                     -- the branch head Gluon last saw or made
    head            TEXT,                     -- the rebased head that is checked and merged
    onto            TEXT,                     -- the base commit it was rebased onto
    pushed          TEXT,                     -- the head Gluon last pushed to the remote
    pull_request    INTEGER,
    pull_request_url TEXT,
    merged_commit   TEXT,
    cleaned         INTEGER NOT NULL DEFAULT 0
);
-- At most one open entry per run.
CREATE UNIQUE INDEX merge_entries_open_run ON merge_entries(run_id)
    WHERE state NOT IN ('merged', 'failed', 'cancelled');
CREATE INDEX merge_entries_line ON merge_entries(project, base, seq);
CREATE TABLE merge_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id    TEXT NOT NULL REFERENCES merge_entries(id) ON DELETE CASCADE,
    old_state   TEXT,
    new_state   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          REAL NOT NULL
);
CREATE INDEX merge_transitions_entry ON merge_transitions(entry_id, id);
"""),
))
