-- Human review (issue 17, supervisor_service.reviews): see the PostgreSQL migration (no row-level security here:
-- every query filters by tenant).
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    team TEXT NOT NULL,
    round INTEGER NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    snapshot BLOB NOT NULL,
    decision TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    expires_at TEXT,
    decided_at TEXT,
    UNIQUE (tenant_id, workflow_id, team, round)
);
CREATE INDEX reviews_tenant_newest ON reviews (tenant_id, created_at DESC, id DESC);
CREATE INDEX reviews_pending_expiry ON reviews (expires_at) WHERE status = 'pending';
