-- Tenant quotas (issue 16), shared by every service on this database (common.quotas.SqlQuotaStore):
-- quota_counters holds counters per tenant and period (tasks per UTC day, US dollars and tokens per UTC month),
-- each changed by one atomic statement; quota_slots holds the running workflows that count against a tenant's
-- concurrent-workflow quota (a slot older than its lease no longer counts, so a crashed replica cannot leak one).
CREATE TABLE quota_counters (
    tenant_id TEXT NOT NULL CHECK (tenant_id NOT IN ('', '*')),
    name TEXT NOT NULL,                      -- tasks, cost_usd, tokens
    period TEXT NOT NULL,                    -- YYYY-MM-DD (tasks) or YYYY-MM (cost_usd, tokens), UTC
    value DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, name, period)
);

CREATE TABLE quota_slots (
    tenant_id TEXT NOT NULL CHECK (tenant_id NOT IN ('', '*')),
    workflow_id TEXT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id)
);

ALTER TABLE quota_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quota_counters
    USING (tenant_id = current_setting('marketing.tenant_id', true)
           OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true)
                OR current_setting('marketing.tenant_id', true) = '*');

ALTER TABLE quota_slots ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_slots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quota_slots
    USING (tenant_id = current_setting('marketing.tenant_id', true)
           OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true)
                OR current_setting('marketing.tenant_id', true) = '*');
