-- Tenants (issue 15): every scheduled post belongs to a tenant, and tenants keep their own platform credentials,
-- encrypted (AES-GCM, common.secrets). Posts scheduled before tenants existed are the default tenant's.
-- Row-level security is the backstop of the tenant filter every query carries: a query runs inside
-- database.for_tenant(tenant), which sets marketing.tenant_id for its transaction ('*' for the publisher loop).
ALTER TABLE scheduled_posts ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE scheduled_posts ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE scheduled_posts ADD CONSTRAINT scheduled_posts_tenant_id_named CHECK (tenant_id NOT IN ('', '*'));
ALTER TABLE scheduled_posts DROP CONSTRAINT scheduled_posts_workflow_id_artifact_id_key;
ALTER TABLE scheduled_posts ADD CONSTRAINT scheduled_posts_tenant_workflow_artifact_key
    UNIQUE (tenant_id, workflow_id, artifact_id);
DROP INDEX scheduled_posts_newest;
DROP INDEX scheduled_posts_status_newest;
CREATE INDEX scheduled_posts_newest ON scheduled_posts (tenant_id, created_at DESC, id DESC);
CREATE INDEX scheduled_posts_status_newest ON scheduled_posts (tenant_id, status, created_at DESC, id DESC);
ALTER TABLE scheduled_posts ENABLE ROW LEVEL SECURITY;
ALTER TABLE scheduled_posts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON scheduled_posts
    USING (tenant_id = current_setting('marketing.tenant_id', true)
           OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true)
                OR current_setting('marketing.tenant_id', true) = '*');

-- A tenant's secrets for the social team (x_bearer_token, linkedin_access_token, linkedin_author_urn): value is
-- "v1.<key id>.<nonce>.<ciphertext>" from common.secrets.Keyring, never the plaintext.
CREATE TABLE tenant_secrets (
    tenant_id TEXT NOT NULL CHECK (tenant_id NOT IN ('', '*')),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
ALTER TABLE tenant_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_secrets
    USING (tenant_id = current_setting('marketing.tenant_id', true)
           OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true)
                OR current_setting('marketing.tenant_id', true) = '*');
