-- Tenancy of the workflow records: every row names its tenant and the queries filter by it (SQLite has no
-- row-level security). Rows written before tenants existed belong to the default tenant (AUTH_DISABLED=true).
-- SQLite cannot change a key or a foreign key in place: agent_executions and team_results are rebuilt.

UPDATE workflows SET tenant_id = 'default' WHERE tenant_id = '';
DROP INDEX workflows_newest;
DROP INDEX workflows_status_newest;
CREATE UNIQUE INDEX workflows_tenant_id_id ON workflows (tenant_id, id);
CREATE INDEX workflows_tenant_newest ON workflows (tenant_id, created_at DESC, id DESC);
CREATE INDEX workflows_tenant_status_newest ON workflows (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX workflows_running_heartbeat ON workflows (heartbeat_at) WHERE status = 'running';

-- An execution belongs to its workflow's tenant: the foreign key includes the tenant.
CREATE TABLE agent_executions_tenanted (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
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
    UNIQUE (workflow_id, team, step_index),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, id) ON DELETE CASCADE
);
INSERT INTO agent_executions_tenanted (
    id, tenant_id, workflow_id, team, agent, step_index, kind, input, output, duration_ms, success, error,
    input_tokens, output_tokens, cost_usd, recorded_at
)
SELECT e.id, w.tenant_id, e.workflow_id, e.team, e.agent, e.step_index, e.kind, e.input, e.output, e.duration_ms,
    e.success, e.error, e.input_tokens, e.output_tokens, e.cost_usd, e.recorded_at
FROM agent_executions AS e JOIN workflows AS w ON w.id = e.workflow_id;
DROP TABLE agent_executions;
ALTER TABLE agent_executions_tenanted RENAME TO agent_executions;
CREATE INDEX agent_executions_tenant_workflow ON agent_executions (tenant_id, workflow_id, id);

-- Stored team results are keyed by (tenant_id, idempotency_key).
CREATE TABLE team_results_tenanted (
    tenant_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    team TEXT NOT NULL,
    result BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
);
INSERT INTO team_results_tenanted (tenant_id, idempotency_key, team, result, created_at)
SELECT 'default', idempotency_key, team, result, created_at FROM team_results;
DROP TABLE team_results;
ALTER TABLE team_results_tenanted RENAME TO team_results;
CREATE INDEX team_results_tenant_created ON team_results (tenant_id, created_at);
