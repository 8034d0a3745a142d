"""The GitHub package's table in ``gluon.db``, numbered and recorded in ``github_migrations``.

Its one writer is :mod:`core.github.store`. Append new migrations at the end; never edit one
that has shipped.
"""

from __future__ import annotations

from core.tables import Migration, TableSet

GITHUB_MIGRATIONS: tuple[Migration, ...] = (
    ("github_runs", """
CREATE TABLE github_runs (
    run_id       TEXT PRIMARY KEY,
    project      TEXT NOT NULL,
    repo         TEXT,               -- owner/name
    number       INTEGER,            -- the issue or pull request; NULL for a run CI found
    kind         TEXT NOT NULL,      -- issue, pull, branch
    branch       TEXT,               -- where its CI runs: the pull request's head, or its own
    push_to      TEXT,               -- the pull request's branch its commits are pushed to
    comment_id   INTEGER,            -- its status comment on GitHub
    comment_text TEXT,               -- what that comment says now
    fix_attempts INTEGER NOT NULL DEFAULT 0,
    fix_sha      TEXT,               -- the commit whose failed checks it was last asked to fix
    pushed_sha   TEXT,
    delivery_id  TEXT,               -- the delivery that started it
    created_at   REAL NOT NULL
);
CREATE INDEX github_runs_issue ON github_runs(repo, number, created_at);
CREATE INDEX github_runs_branch ON github_runs(project, branch);
"""),
)

GITHUB_TABLES = TableSet("github_migrations", GITHUB_MIGRATIONS)
