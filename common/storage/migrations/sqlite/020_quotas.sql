-- Tenant quotas (issue 16): see the PostgreSQL twin. Without PostgreSQL or Redis every service opens the shared
-- file quotas.sqlite for these tables (common.quotas.open_quota_store), so the teams' charges reach the supervisor.
CREATE TABLE quota_counters (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    period TEXT NOT NULL,
    value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, name, period)
);

CREATE TABLE quota_slots (
    tenant_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id)
);
