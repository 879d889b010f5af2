-- A team's own audit log (common.audit.TeamAuditLog; served by TeamService/ListAuditEvents, merged into the
-- supervisor's AdminService/ListAuditEvents). The social team records here, in the transaction of each change, the
-- approvals it applies to posts and every publish attempt with its outcome. ``source`` is the team that recorded
-- the event: services that share this database each read only their own. Kept when a workflow is erased (like the
-- supervisor's audit_events), erased with the tenant (TeamService/EraseTenant). Details hold digests, ids and
-- errors, never a post's text.
CREATE TABLE team_audit_events (
    id UUID PRIMARY KEY,
    tenant_id TEXT NOT NULL CHECK (tenant_id NOT IN ('', '*')),
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',      -- JSON object of strings
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX team_audit_events_tenant_newest ON team_audit_events (tenant_id, source, at DESC, id DESC);

ALTER TABLE team_audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON team_audit_events
    USING (tenant_id = current_setting('marketing.tenant_id', true)
           OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true)
                OR current_setting('marketing.tenant_id', true) = '*');
