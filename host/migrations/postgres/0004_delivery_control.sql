-- Delivery control: see the SQLite migration of the same name for what each table and
-- column is for. Same schema, PostgreSQL's types.
ALTER TABLE tenants ADD COLUMN alert_url TEXT, ADD COLUMN alert_secret BYTEA;
CREATE TABLE recoveries (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, connection_id TEXT NOT NULL,
    since_ms BIGINT NOT NULL, until_ms BIGINT NOT NULL, max_per_second BIGINT NOT NULL,
    count BIGINT NOT NULL, created_ms BIGINT NOT NULL, done_ms BIGINT);
CREATE INDEX recoveries_open ON recoveries(done_ms);
ALTER TABLE jobs ADD COLUMN recovery_id TEXT;
CREATE INDEX jobs_by_recovery ON jobs(recovery_id) WHERE recovery_id IS NOT NULL;
CREATE INDEX jobs_failed ON jobs(connection_id, updated_ms) WHERE state = 'failed';
CREATE TABLE alerts (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, type TEXT NOT NULL,
    connection_id TEXT, body TEXT NOT NULL, created_ms BIGINT NOT NULL, closed_ms BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0, next_ms BIGINT, delivered_ms BIGINT, last_error TEXT);
CREATE INDEX alerts_by_tenant ON alerts(tenant_id, created_ms);
CREATE INDEX alerts_due ON alerts(next_ms) WHERE next_ms IS NOT NULL;
