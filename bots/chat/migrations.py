"""The chat package's tables in ``gluon.db``, numbered and recorded in ``chat_migrations``.

Only the chat layer uses these tables (conversation turns and preferences, which chats follow
which runs, bot messages about runs, linked channels, calls held for confirmation), so it owns
them: this ordered list, declared to the runtime by whoever runs chat (``CHAT_TABLES``), and the
one module that writes them, :mod:`bots.chat.store`. Append new migrations at the end; never edit
one that has shipped.

Up to release 0.1.0 core's own list created these tables (its migrations 4 and 5). The first
migration here therefore adopts them: every statement is ``IF NOT EXISTS`` with exactly the
schema that release created, so an old data dir keeps its tables and rows, and a new one gets
them created. Migrations after the first are ordinary.
"""

from __future__ import annotations

from core.tables import Migration, TableSet

CHAT_MIGRATIONS: tuple[Migration, ...] = (
    ("chat_tables", """
CREATE TABLE IF NOT EXISTS chat_turns (
    id           INTEGER PRIMARY KEY,
    conversation TEXT NOT NULL,
    role         TEXT NOT NULL,
    content      TEXT NOT NULL,
    chars        INTEGER NOT NULL,
    at           REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_turns_conversation ON chat_turns(conversation, id);
CREATE TABLE IF NOT EXISTS chat_prefs (
    conversation TEXT PRIMARY KEY,
    model        TEXT,
    project      TEXT
);
CREATE TABLE IF NOT EXISTS chat_runs (
    run_id       TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    conversation TEXT NOT NULL,
    platform     TEXT NOT NULL,
    chat_id      TEXT NOT NULL,
    thread_id    TEXT,
    own_topic    INTEGER NOT NULL DEFAULT 0,
    status_message_id TEXT
);
CREATE TABLE IF NOT EXISTS chat_messages (
    platform       TEXT NOT NULL,
    chat_id        TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    run_id         TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    interaction_id TEXT,
    PRIMARY KEY (platform, chat_id, message_id)
);
CREATE INDEX IF NOT EXISTS chat_messages_run ON chat_messages(run_id);
CREATE TABLE IF NOT EXISTS chat_links (
    platform     TEXT NOT NULL,
    chat_id      TEXT NOT NULL,
    project      TEXT NOT NULL,
    linked_by    TEXT NOT NULL,
    linked_at    REAL NOT NULL,
    PRIMARY KEY (platform, chat_id)
);
CREATE TABLE IF NOT EXISTS chat_confirmations (
    id           TEXT PRIMARY KEY,
    speaker      TEXT NOT NULL,
    tool         TEXT NOT NULL,
    arguments    TEXT NOT NULL,
    preview      TEXT NOT NULL,
    created_at   REAL NOT NULL
);
"""),
)

CHAT_TABLES = TableSet("chat_migrations", CHAT_MIGRATIONS)
