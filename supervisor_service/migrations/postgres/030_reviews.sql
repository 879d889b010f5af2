-- Human review (issue 17, supervisor_service.reviews): a team's request for approval in a workflow. snapshot is the
-- serialized marketing.supervisor.v1.Review (items, findings, approvals); decision the base64 ReviewDecision the
-- workflow resumes with once decided. version guards every decision (compare and set), so one decision wins.
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    team TEXT NOT NULL,
    round INTEGER NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    snapshot BYTEA NOT NULL,
    decision TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    decided_at TIMESTAMPTZ,
    UNIQUE (tenant_id, workflow_id, team, round)
);
CREATE INDEX reviews_tenant_newest ON reviews (tenant_id, created_at DESC, id DESC);
CREATE INDEX reviews_pending_expiry ON reviews (expires_at) WHERE status = 'pending';

ALTER TABLE reviews ENABLE ROW LEVEL SECURITY;
ALTER TABLE reviews FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reviews
    USING (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*');
