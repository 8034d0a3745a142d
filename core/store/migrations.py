"""Core's numbered schema migrations, applied once each and recorded in ``migrations``.

Append new migrations at the end; never edit one that has shipped. The one exception is the
move of the chat package's tables to its own list (``bots.chat.migrations``): up to release
0.1.0, migrations 4 and 5 also created them. They now create only core's tables (4: the paired
users and pairing codes of ``core.access``; 5: nothing), and the chat list's first migration
adopts the chat tables where an older release already created them. A data dir that recorded
4 and 5 keeps every table and row; a new one gets the same schema from the two lists.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    ("initial", """
CREATE TABLE workspaces (
    path        TEXT PRIMARY KEY,
    created_at  REAL NOT NULL
);
CREATE TABLE projects (
    name        TEXT PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,
    workspace   TEXT REFERENCES workspaces(path) ON DELETE SET NULL,
    trusted     INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL
);
CREATE TABLE permission_rules (
    project     TEXT NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
    rule        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (project, rule)
);
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    project         TEXT NOT NULL REFERENCES projects(name),
    prompt          TEXT NOT NULL,
    model           TEXT NOT NULL,
    state           TEXT NOT NULL,
    state_reason    TEXT NOT NULL DEFAULT '',
    use_worktree    INTEGER NOT NULL,
    cwd             TEXT NOT NULL,
    branch          TEXT,
    base_branch     TEXT,
    base_sha        TEXT,
    session_id      TEXT NOT NULL,
    session_started INTEGER NOT NULL DEFAULT 0,
    fork_from       TEXT,
    pending_prompt  TEXT,
    queued_at       REAL,
    parent_id       TEXT REFERENCES runs(id),
    budget_usd      REAL,
    created_by      TEXT NOT NULL DEFAULT '',
    created_at      REAL NOT NULL,
    started_at      REAL,
    ended_at        REAL,
    last_activity_at REAL,
    turns           INTEGER NOT NULL DEFAULT 0,
    tool_calls      INTEGER NOT NULL DEFAULT 0,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    cost_usd        REAL NOT NULL DEFAULT 0,
    session_cost_usd REAL NOT NULL DEFAULT 0,
    result_text     TEXT,
    error           TEXT,
    last_message    TEXT,
    commits         TEXT NOT NULL DEFAULT '[]',
    changed_files   TEXT NOT NULL DEFAULT '[]',
    worktree_removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_state ON runs(state);
CREATE INDEX runs_project ON runs(project, created_at);
CREATE TABLE run_transitions (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          REAL NOT NULL
);
CREATE INDEX run_transitions_run ON run_transitions(run_id, id);
CREATE TABLE run_events (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    summary     TEXT NOT NULL,
    at          REAL NOT NULL
);
CREATE INDEX run_events_run ON run_events(run_id, id);
CREATE TABLE interactions (
    id          TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    tool_name   TEXT NOT NULL,
    tool_input  TEXT NOT NULL,
    title       TEXT NOT NULL,
    status      TEXT NOT NULL,
    answer      TEXT,
    answered_by TEXT,
    created_at  REAL NOT NULL,
    answered_at REAL,
    reminded_at REAL
);
CREATE INDEX interactions_status ON interactions(status);
CREATE TABLE usage (
    id            INTEGER PRIMARY KEY,
    run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    project       TEXT NOT NULL,
    day           TEXT NOT NULL,
    cost_usd      REAL NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    at            REAL NOT NULL
);
CREATE INDEX usage_day ON usage(day, project);
CREATE TABLE activity (
    id          INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);
"""),
    ("settings", """
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  REAL NOT NULL
);
"""),
    ("runs_newest_first", """
CREATE INDEX runs_created ON runs(created_at);
"""),
    ("chat", """
CREATE TABLE chat_users (
    platform     TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    role         TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    added_by     TEXT NOT NULL,
    added_at     REAL NOT NULL,
    PRIMARY KEY (platform, user_id)
);
CREATE TABLE pairing_codes (
    code_hash    TEXT PRIMARY KEY,
    role         TEXT NOT NULL,
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL,
    used_by      TEXT
);
"""),
    # Kept for its number: it created only chat tables (see the module docstring).
    ("chat_messages", ""),
    ("run_commands", """
CREATE TABLE run_commands (
    id          INTEGER PRIMARY KEY,  -- the order commands are applied in
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,        -- steer, interrupt, cancel, answer
    payload     TEXT NOT NULL,        -- a JSON object, never a secret
    actor       TEXT NOT NULL,
    created_at  REAL NOT NULL,
    done_at     REAL                  -- set in the step that applies it
);
CREATE INDEX run_commands_open ON run_commands(run_id, id) WHERE done_at IS NULL;
"""),
    ("event_log", """
CREATE TABLE event_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    project     TEXT NOT NULL,
    data        TEXT NOT NULL,
    at          REAL NOT NULL
);
CREATE INDEX event_log_run ON event_log(run_id, seq);
CREATE INDEX event_log_kind ON event_log(kind, seq);
CREATE TABLE event_cursors (
    consumer    TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    updated_at  REAL NOT NULL
);
"""),
    ("web_sessions", """
CREATE TABLE web_links (
    token_hash  TEXT PRIMARY KEY,     -- sha256 of the one-time token; the token is never stored
    actor       TEXT NOT NULL,        -- who signs in (telegram:42, discord:7, cli)
    role        TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    used_at     REAL
);
CREATE TABLE web_sessions (
    id_hash     TEXT PRIMARY KEY,     -- sha256 of the cookie's value
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    name        TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    seen_at     REAL NOT NULL
);
CREATE INDEX web_sessions_actor ON web_sessions(actor);
"""),
    ("run_queue", """
ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;  -- -100..100, higher first
ALTER TABLE runs ADD COLUMN not_before REAL;  -- earliest start of the current attempt
ALTER TABLE runs ADD COLUMN key TEXT;         -- idempotency key of the request that made it
ALTER TABLE runs ADD COLUMN source TEXT NOT NULL DEFAULT '';  -- chat, cli, mcp, cron, ...
ALTER TABLE runs ADD COLUMN start_job TEXT;   -- the job of its current start attempt
CREATE UNIQUE INDEX runs_key ON runs(key) WHERE key IS NOT NULL;
"""),
    ("run_subagents", """
ALTER TABLE runs ADD COLUMN subagents_started INTEGER NOT NULL DEFAULT 0;  -- its agent's subagents
ALTER TABLE runs ADD COLUMN subagents_done INTEGER NOT NULL DEFAULT 0;     -- of them, stopped
"""),
    ("run_turn_result", """
-- A turn a worker's agent ended well, as JSON, until the coordinator decides what follows it.
ALTER TABLE runs ADD COLUMN turn_result TEXT;
"""),
]
