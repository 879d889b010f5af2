-- Tenants, their API keys and the audit log (supervisor_service, AdminService). SQLite has no row-level
-- security: the tenant filters of the queries are the isolation.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    profile BLOB NOT NULL,
    retention_days INTEGER NOT NULL DEFAULT 0 CHECK (retention_days >= 0),
    secrets TEXT NOT NULL DEFAULT '',
    secret_names TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL DEFAULT '',
    scopes TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT
);
CREATE INDEX api_keys_tenant_newest ON api_keys (tenant_id, created_at DESC, id DESC);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    at TEXT NOT NULL
);
CREATE INDEX audit_events_tenant_newest ON audit_events (tenant_id, at DESC, id DESC);
