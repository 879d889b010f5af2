-- Social posts scheduled by the social team and published by its publisher loop (social_service).
CREATE TABLE scheduled_posts (
    id UUID PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    artifact_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    text TEXT NOT NULL,
    scheduled_at TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'publishing', 'published', 'failed', 'cancelled')),
    dry_run BOOLEAN NOT NULL DEFAULT TRUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT NOT NULL DEFAULT '',
    claimed_at TIMESTAMPTZ,
    published_at TIMESTAMPTZ,
    external_id TEXT NOT NULL DEFAULT '',
    external_url TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    outcome_unknown BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (workflow_id, artifact_id)
);
CREATE INDEX scheduled_posts_due ON scheduled_posts (scheduled_at, id) WHERE status = 'scheduled';
CREATE INDEX scheduled_posts_claimed ON scheduled_posts (claimed_at) WHERE status = 'publishing';
CREATE INDEX scheduled_posts_newest ON scheduled_posts (created_at DESC, id DESC);
CREATE INDEX scheduled_posts_status_newest ON scheduled_posts (status, created_at DESC, id DESC);
