-- Durable task intake (SubmitTask, supervisor_service/queue/): the submitted tasks, the persisted events that
-- WatchWorkflow replays, and every webhook delivery attempt. With BROKER_URL the broker carries the deliveries and
-- queued_tasks keeps the idempotency key, the delivery count and the dead letters; without it this table is the queue
-- (claimed with FOR UPDATE SKIP LOCKED).
CREATE TABLE queued_tasks (
    id UUID PRIMARY KEY,                      -- the workflow's id
    seq BIGSERIAL NOT NULL,                   -- submission order inside a priority
    tenant_id TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',      -- the client's idempotency key ('' = none)
    task TEXT NOT NULL,
    priority INTEGER NOT NULL,                -- marketing.supervisor.v1.Priority (1 low .. 4 urgent)
    notify_url TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    deliveries INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '',
    lease_until TIMESTAMPTZ,
    available_at TIMESTAMPTZ NOT NULL,
    published BOOLEAN NOT NULL DEFAULT FALSE, -- RabbitMQ: the broker confirmed the message
    last_error TEXT NOT NULL DEFAULT '',
    dead_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX queued_tasks_request ON queued_tasks (tenant_id, request_id) WHERE request_id <> '';
CREATE INDEX queued_tasks_next ON queued_tasks (state, priority DESC, seq);
CREATE INDEX queued_tasks_dead ON queued_tasks (tenant_id, dead_at DESC) WHERE state = 'dead';

CREATE TABLE workflow_events (
    workflow_id UUID NOT NULL,
    seq INTEGER NOT NULL,                     -- the watcher's cursor
    tenant_id TEXT NOT NULL,
    event BYTEA NOT NULL,                     -- serialized marketing.supervisor.v1.StreamTaskResponse
    at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, seq)
);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,                -- Webhook-Id: the same for every attempt of one event
    subject TEXT NOT NULL,                    -- the workflow's id
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,   -- 0: no HTTP answer
    error TEXT NOT NULL DEFAULT '',
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_deliveries_subject ON webhook_deliveries (tenant_id, subject, id);

ALTER TABLE queued_tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE queued_tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON queued_tasks
    USING (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*');

ALTER TABLE workflow_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE workflow_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workflow_events
    USING (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*');

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*')
    WITH CHECK (tenant_id = current_setting('marketing.tenant_id', true) OR current_setting('marketing.tenant_id', true) = '*');
