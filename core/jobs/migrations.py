"""The job queue's tables in ``gluon.db``, numbered and recorded in ``job_migrations``.

The jobs package owns these tables, so it owns their migrations: one ordered list applied by
:meth:`core.store.db.Database.migrate` and recorded like core's own list, in a record table of its
own. Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

RECORD_TABLE = "job_migrations"

JOB_MIGRATIONS: list[tuple[str, str]] = [
    ("jobs", """
CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY,  -- enqueue order: first in, first out within a priority
    id           TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,        -- a JSON object, never a secret
    key          TEXT UNIQUE,          -- idempotency key: a second enqueue returns this job
    priority     INTEGER NOT NULL,
    state        TEXT NOT NULL,        -- queued, leased, done, dead
    ready_at     REAL NOT NULL,        -- not before: enqueue, not_before or retry time
    tries        INTEGER NOT NULL DEFAULT 0,
    fence        INTEGER NOT NULL DEFAULT 0,  -- the newest lease's token
    worker       TEXT,
    leased_until REAL,
    error        TEXT,
    enqueued_at  REAL NOT NULL,
    updated_at   REAL NOT NULL
);
-- The claim walks this index in claim order and stops at the first job that is ready.
CREATE INDEX jobs_claim ON jobs(priority DESC, ready_at, seq) WHERE state IN ('queued', 'leased');
CREATE INDEX jobs_expired ON jobs(leased_until) WHERE state = 'leased';
CREATE INDEX jobs_state ON jobs(state, seq);
"""),
]
