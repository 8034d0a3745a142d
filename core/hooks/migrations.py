"""The webhook deliveries table in ``gluon.db``, numbered and recorded in ``hook_migrations``.

The hooks package owns this table (its one writer is :mod:`core.hooks.store`), so it owns its
migrations: append new ones at the end; never edit one that has shipped.
"""

from __future__ import annotations

from core.tables import Migration, TableSet

HOOK_MIGRATIONS: tuple[Migration, ...] = (
    ("deliveries", """
CREATE TABLE hook_deliveries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order deliveries are worked through
    source       TEXT NOT NULL,       -- 'github' or a generic hook's name
    delivery_id  TEXT NOT NULL,       -- X-GitHub-Delivery, the hook's id header, or body:<sha>
    event        TEXT NOT NULL DEFAULT '',
    action       TEXT NOT NULL DEFAULT '',
    repo         TEXT,                -- owner/name, for GitHub
    project      TEXT,
    body_hash    TEXT NOT NULL,
    payload      TEXT,                -- the JSON body, kept until the delivery is worked on
    state        TEXT NOT NULL,       -- queued, done, ignored, failed
    outcome      TEXT NOT NULL DEFAULT '',
    run_id       TEXT,
    replays      INTEGER NOT NULL DEFAULT 0,
    received_at  REAL NOT NULL,
    processed_at REAL,
    UNIQUE (source, delivery_id)
);
CREATE INDEX hook_deliveries_state ON hook_deliveries(state, seq);
CREATE INDEX hook_deliveries_body ON hook_deliveries(source, body_hash, received_at);
"""),
)

HOOK_TABLES = TableSet("hook_migrations", HOOK_MIGRATIONS)
