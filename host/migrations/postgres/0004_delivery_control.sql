-- Delivery control (docs/contracts.md, "Delivery control"): alerts to the tenant's
-- alert_url, bulk recoveries of FAILED documents, and the jobs a recovery queued.

-- The tenant's alert endpoint and its signing secret (sealed, like connection secrets).
ALTER TABLE tenants ADD COLUMN alert_url TEXT;
ALTER TABLE tenants ADD COLUMN alert_secret BYTEA;

-- A bulk recovery: which connection, which failures, how fast, how many it queued.
CREATE TABLE recoveries (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    connection_id  TEXT NOT NULL,
    since_ms       BIGINT NOT NULL,
    until_ms       BIGINT NOT NULL,
    max_per_second BIGINT NOT NULL,
    count          BIGINT NOT NULL,
    created_ms     BIGINT NOT NULL,
    done_ms        BIGINT
);
CREATE INDEX recoveries_open ON recoveries(done_ms);

-- The recovery a job was queued by; NULL for every other job.
ALTER TABLE jobs ADD COLUMN recovery_id TEXT;
CREATE INDEX jobs_by_recovery ON jobs(recovery_id) WHERE recovery_id IS NOT NULL;
-- The FAILED jobs of a connection by when they failed: what a recovery (and the
-- failed-documents gauge) reads.
CREATE INDEX jobs_failed ON jobs(connection_id, updated_ms) WHERE state = 'failed';

-- Operational events: open until closed (by the condition clearing, or an operator);
-- delivered to the tenant's alert_url, when it has one, with the webhook retries.
CREATE TABLE alerts (
    id             TEXT PRIMARY KEY,       -- the event id (webhook-id), stable across retries
    tenant_id      TEXT NOT NULL,
    type           TEXT NOT NULL,          -- connection.needs_reauth | connection.paused | sync.failed | recovery.done
    connection_id  TEXT,
    body           TEXT NOT NULL,          -- the event JSON, as delivered
    created_ms     BIGINT NOT NULL,
    closed_ms      BIGINT,
    attempts       BIGINT NOT NULL DEFAULT 0,
    next_ms        BIGINT,                -- due for delivery; NULL: nothing (more) to send
    delivered_ms   BIGINT,
    last_error     TEXT
);
CREATE INDEX alerts_by_tenant ON alerts(tenant_id, created_ms);
CREATE INDEX alerts_due ON alerts(next_ms) WHERE next_ms IS NOT NULL;
