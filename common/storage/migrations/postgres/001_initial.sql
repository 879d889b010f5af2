-- Workflow records, agent executions and stored team results (idempotent team calls).
CREATE TABLE workflows (
    id UUID PRIMARY KEY,
    tenant_id TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL DEFAULT '',
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    snapshot BYTEA NOT NULL
);
CREATE INDEX workflows_newest ON workflows (created_at DESC, id DESC);
CREATE INDEX workflows_status_newest ON workflows (status, created_at DESC, id DESC);

CREATE TABLE agent_executions (
    id BIGSERIAL PRIMARY KEY,
    workflow_id UUID NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    team TEXT NOT NULL,
    agent TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    kind TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    success BOOLEAN NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    recorded_at TIMESTAMPTZ NOT NULL,
    UNIQUE (workflow_id, team, step_index)
);

CREATE TABLE team_results (
    idempotency_key TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    result BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
