"""The cluster's table in ``gluon.db``, numbered and recorded in ``cluster_migrations``.

The cluster package owns this table (its one writer is
:mod:`core.cluster.on_coordinator.store`), so it owns its migrations: append new ones at the
end; never edit one that has shipped.
"""

from __future__ import annotations

from core.tables import Migration, TableSet

CLUSTER_MIGRATIONS: tuple[Migration, ...] = (
    ("cluster_runs", """
CREATE TABLE cluster_runs (
    run_id        TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,    -- the attempt last dispatched to the workers
    phase         TEXT NOT NULL,       -- dispatched, running, ended
    worker        TEXT,                -- the worker holding the newest fence
    fence         INTEGER NOT NULL DEFAULT 0,  -- the newest fence seen for the run
    seq           INTEGER NOT NULL DEFAULT 0,  -- the last relay entry applied under it
    end_state     TEXT,                -- the run's state when its worker was done with it
    dispatched_at REAL NOT NULL,
    updated_at    REAL NOT NULL
);
"""),
)

CLUSTER_TABLES = TableSet("cluster_migrations", CLUSTER_MIGRATIONS)
