-- Durable task intake (SubmitTask): see the PostgreSQL twin. SQLite claims with one UPDATE ... RETURNING statement.
CREATE TABLE queued_tasks (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    task TEXT NOT NULL,
    priority INTEGER NOT NULL,
    notify_url TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    deliveries INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '',
    lease_until TEXT,
    available_at TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    dead_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX queued_tasks_request ON queued_tasks (tenant_id, request_id) WHERE request_id <> '';
CREATE INDEX queued_tasks_next ON queued_tasks (state, priority DESC, seq);
CREATE INDEX queued_tasks_dead ON queued_tasks (tenant_id, dead_at DESC) WHERE state = 'dead';

CREATE TABLE workflow_events (
    workflow_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    event BLOB NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (workflow_id, seq)
);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_subject ON webhook_deliveries (tenant_id, subject, id);
