"""The autonomous loop's table in ``gluon.db``, numbered and recorded in ``loop_migrations``.

Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from core.tables import TableSet

LOOP_TABLES = TableSet("loop_migrations", (
    ("loops", """
CREATE TABLE loops (
    run_id              TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    max_loops           INTEGER NOT NULL,
    max_cost_usd        REAL,
    max_calls_per_hour  INTEGER,
    iteration           INTEGER NOT NULL DEFAULT 1,   -- the iteration under way (from 1)
    state               TEXT NOT NULL,                -- active, done, stopped
    breaker             TEXT NOT NULL,                -- closed, half_open, open
    no_progress         INTEGER NOT NULL DEFAULT 0,   -- iterations in a row without progress
    last_head           TEXT,                         -- the branch head after the last one
    last_fingerprint    TEXT,                         -- what the worktree held then
    last_error          TEXT,                         -- the error the agent was at then
    spend_at_start      REAL NOT NULL DEFAULT 0,      -- the run's cost when the loop began
    cost_warned         INTEGER NOT NULL DEFAULT 0,   -- the 80% warning was given
    turn_times          TEXT NOT NULL DEFAULT '[]',   -- iteration ends in the last hour
    stopped_reason      TEXT,
    created_by          TEXT NOT NULL,
    created_at          REAL NOT NULL,
    updated_at          REAL NOT NULL
);
"""),
))
