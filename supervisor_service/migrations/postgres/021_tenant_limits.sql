-- A tenant's budgets, quotas and rate limits (issue 16): a serialized marketing.admin.v1.Tenant holding only
-- default_budget, budget_ceiling, quotas and rate_limits ('' = none of them).
ALTER TABLE tenants ADD COLUMN limits BYTEA NOT NULL DEFAULT ''::bytea;
