-- A tenant's budgets, quotas and rate limits (issue 16): see the PostgreSQL twin.
ALTER TABLE tenants ADD COLUMN limits BLOB NOT NULL DEFAULT x'';
