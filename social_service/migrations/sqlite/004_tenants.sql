-- Tenants (issue 15): every scheduled post belongs to a tenant, and tenants keep their own platform credentials,
-- encrypted (AES-GCM, common.secrets). Posts scheduled before tenants existed are the default tenant's. SQLite
-- cannot change a table's UNIQUE constraint, so the table is rebuilt, and it has no row-level security (the tenant
-- filter of every query is the isolation).
CREATE TABLE scheduled_posts_new (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL CHECK (tenant_id NOT IN ('', '*')),
    workflow_id TEXT NOT NULL,
    artifact_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    text TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'publishing', 'published', 'failed', 'cancelled')),
    dry_run INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT NOT NULL DEFAULT '',
    claimed_at TEXT,
    published_at TEXT,
    external_id TEXT NOT NULL DEFAULT '',
    external_url TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    outcome_unknown INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, workflow_id, artifact_id)
);
INSERT INTO scheduled_posts_new (id, tenant_id, workflow_id, artifact_id, platform, text, scheduled_at, status,
    dry_run, attempts, claimed_by, claimed_at, published_at, external_id, external_url, error, outcome_unknown,
    created_at, updated_at)
SELECT id, 'default', workflow_id, artifact_id, platform, text, scheduled_at, status, dry_run, attempts, claimed_by,
    claimed_at, published_at, external_id, external_url, error, outcome_unknown, created_at, updated_at
FROM scheduled_posts;
DROP TABLE scheduled_posts;
ALTER TABLE scheduled_posts_new RENAME TO scheduled_posts;
CREATE INDEX scheduled_posts_due ON scheduled_posts (scheduled_at, id) WHERE status = 'scheduled';
CREATE INDEX scheduled_posts_claimed ON scheduled_posts (claimed_at) WHERE status = 'publishing';
CREATE INDEX scheduled_posts_newest ON scheduled_posts (tenant_id, created_at DESC, id DESC);
CREATE INDEX scheduled_posts_status_newest ON scheduled_posts (tenant_id, status, created_at DESC, id DESC);

-- A tenant's secrets for the social team (x_bearer_token, linkedin_access_token, linkedin_author_urn): value is
-- "v1.<key id>.<nonce>.<ciphertext>" from common.secrets.Keyring, never the plaintext.
CREATE TABLE tenant_secrets (
    tenant_id TEXT NOT NULL CHECK (tenant_id NOT IN ('', '*')),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
