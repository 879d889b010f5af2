-- Tenants, their API keys and the audit log (supervisor_service, AdminService).
-- Row-level security is the backstop of the tenant filters in the queries: every statement runs in a transaction
-- that first sets marketing.tenant_id (database.for_tenant); '*' is cross-tenant work (platform administrators,
-- API-key lookups before the tenant is known). The policies are FORCED, so they hold for the tables' owner too;
-- only superusers bypass them.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    profile BYTEA NOT NULL,                  -- serialized marketing.tenant.v1.TenantProfile (no secret)
    retention_days INTEGER NOT NULL DEFAULT 0 CHECK (retention_days >= 0),
    secrets TEXT NOT NULL DEFAULT '',        -- common.secrets ciphertext of the serialized SocialCredentials, or ''
    secret_names TEXT NOT NULL DEFAULT '',   -- which secrets are set (space-separated names, never values)
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,                     -- the <12 hex> of mka_<12 hex>_<secret>
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL DEFAULT '',
    scopes TEXT NOT NULL,                    -- space-separated
    key_hash TEXT NOT NULL,                  -- SHA-256 (hex) of the whole key; the key itself is never stored
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant_newest ON api_keys (tenant_id, created_at DESC, id DESC);

CREATE TABLE audit_events (
    id UUID PRIMARY KEY,
    tenant_id TEXT NOT NULL,                 -- no foreign key: a tenant's deletion is recorded after its rows go
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',      -- JSON object of strings; never secrets
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_events_tenant_newest ON audit_events (tenant_id, at DESC, id DESC);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*');

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*');

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
    USING (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*');
