-- Workflow records, agent executions and stored team results (idempotent team calls).
CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL DEFAULT '',
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    completed_at TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    snapshot BLOB NOT NULL
);
CREATE INDEX workflows_newest ON workflows (created_at DESC, id DESC);
CREATE INDEX workflows_status_newest ON workflows (status, created_at DESC, id DESC);

CREATE TABLE agent_executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    team TEXT NOT NULL,
    agent TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    kind TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    success INTEGER NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    recorded_at TEXT NOT NULL,
    UNIQUE (workflow_id, team, step_index)
);

CREATE TABLE team_results (
    idempotency_key TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    result BLOB NOT NULL,
    created_at TEXT NOT NULL
);
