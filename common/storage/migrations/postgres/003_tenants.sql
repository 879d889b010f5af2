-- Tenancy of the workflow records: every row names its tenant, the queries filter by it, and row-level security
-- is the backstop (FORCED, so it binds the tables' owner too; superusers and BYPASSRLS roles still bypass it).
-- Rows written before tenants existed belong to the default tenant (AUTH_DISABLED=true).
-- The policy: a row is visible and writable only when its tenant_id equals the transaction's marketing.tenant_id
-- setting (Database.for_tenant), or when that setting is '*' (the service's own background work).

UPDATE workflows SET tenant_id = 'default' WHERE tenant_id = '';
ALTER TABLE workflows ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE workflows ADD CONSTRAINT workflows_tenant_id_named CHECK (tenant_id NOT IN ('', '*'));
ALTER TABLE workflows ADD CONSTRAINT workflows_tenant_id_id_key UNIQUE (tenant_id, id);
DROP INDEX workflows_newest;
DROP INDEX workflows_status_newest;
CREATE INDEX workflows_tenant_newest ON workflows (tenant_id, created_at DESC, id DESC);
CREATE INDEX workflows_tenant_status_newest ON workflows (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX workflows_running_heartbeat ON workflows (heartbeat_at) WHERE status = 'running';

-- An execution belongs to its workflow's tenant: the foreign key includes the tenant.
ALTER TABLE agent_executions ADD COLUMN tenant_id TEXT;
UPDATE agent_executions AS e SET tenant_id = w.tenant_id FROM workflows AS w WHERE w.id = e.workflow_id;
ALTER TABLE agent_executions ALTER COLUMN tenant_id SET NOT NULL;
ALTER TABLE agent_executions DROP CONSTRAINT agent_executions_workflow_id_fkey;
ALTER TABLE agent_executions ADD CONSTRAINT agent_executions_workflow_fkey
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, id) ON DELETE CASCADE;
CREATE INDEX agent_executions_tenant_workflow ON agent_executions (tenant_id, workflow_id, id);

-- Stored team results are keyed by (tenant_id, idempotency_key).
ALTER TABLE team_results ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE team_results ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE team_results ADD CONSTRAINT team_results_tenant_id_named CHECK (tenant_id NOT IN ('', '*'));
ALTER TABLE team_results DROP CONSTRAINT team_results_pkey;
ALTER TABLE team_results ADD PRIMARY KEY (tenant_id, idempotency_key);
CREATE INDEX team_results_tenant_created ON team_results (tenant_id, created_at);

ALTER TABLE workflows ENABLE ROW LEVEL SECURITY;
ALTER TABLE workflows FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workflows
    USING (tenant_id = current_setting('marketing.tenant_id', true)
           OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true)
                OR current_setting('marketing.tenant_id', true) = '*');

ALTER TABLE agent_executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_executions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agent_executions
    USING (tenant_id = current_setting('marketing.tenant_id', true)
           OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true)
                OR current_setting('marketing.tenant_id', true) = '*');

ALTER TABLE team_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_results FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON team_results
    USING (tenant_id = current_setting('marketing.tenant_id', true)
           OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true)
                OR current_setting('marketing.tenant_id', true) = '*');
