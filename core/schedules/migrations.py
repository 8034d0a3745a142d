"""The schedules' table in ``gluon.db``, numbered and recorded in ``schedule_migrations``.

The schedules package owns it, so it owns its migrations (applied with core's when the runtime
opens the database). Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from core.tables import TableSet

SCHEDULE_TABLES = TableSet("schedule_migrations", (
    ("schedules", """
CREATE TABLE schedules (
    id            TEXT PRIMARY KEY,
    project       TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
    prompt        TEXT NOT NULL,
    cron          TEXT NOT NULL,
    tz            TEXT NOT NULL,
    overlap       TEXT NOT NULL,       -- skip, queue, parallel
    priority      INTEGER NOT NULL DEFAULT 0,
    model         TEXT,
    paused        INTEGER NOT NULL DEFAULT 0,
    created_by    TEXT NOT NULL,
    origin        TEXT NOT NULL DEFAULT '',  -- the conversation it was made in
    created_at    REAL NOT NULL,
    next_fire_at  REAL,                -- the next slot (UTC seconds); NULL while paused
    last_fire_at  REAL,                -- the slot it last fired for
    last_run_id   TEXT,
    last_result   TEXT NOT NULL DEFAULT '',
    fires         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX schedules_due ON schedules(next_fire_at) WHERE paused = 0;
"""),
))
