-- A team's own audit log: see the PostgreSQL twin.
CREATE TABLE team_audit_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    at TEXT NOT NULL
);
CREATE INDEX team_audit_events_tenant_newest ON team_audit_events (tenant_id, source, at DESC, id DESC);
