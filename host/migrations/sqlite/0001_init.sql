-- The whole erp-sync store. The jobs table *is* the queue: an invoice version and its
-- jobs are written in one transaction, so nothing accepted can be lost between "stored"
-- and "queued". Times are UTC unix milliseconds.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    multi_erp   INTEGER NOT NULL DEFAULT 0,
    created_ms  INTEGER NOT NULL
);

-- API keys are stored as SHA-256 hashes only (see crypto/api_key.rs).
CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    created_ms  INTEGER NOT NULL
);

CREATE TABLE connections (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    provider    TEXT NOT NULL,
    name        TEXT NOT NULL,
    entity      TEXT,
    status      TEXT NOT NULL,
    config      TEXT NOT NULL,      -- non-secret JSON
    secrets     BLOB,               -- sealed JSON (crypto/seal.rs), bound to the id
    last_test   TEXT,               -- JSON of the last test sync's result
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);
CREATE INDEX connections_by_tenant ON connections(tenant_id, status);

-- The current version of each invoice; every version's body is in invoice_versions.
CREATE TABLE invoices (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    version       INTEGER NOT NULL,
    content_hash  TEXT NOT NULL,
    status        TEXT NOT NULL,
    entity        TEXT,
    updated_ms    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;

CREATE TABLE invoice_versions (
    tenant_id     TEXT NOT NULL,
    invoice_id    TEXT NOT NULL,
    version       INTEGER NOT NULL,
    content_hash  TEXT NOT NULL,
    status        TEXT NOT NULL,
    body          TEXT NOT NULL,    -- canonical invoice JSON
    received_ms   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, version)
) WITHOUT ROWID;

-- One row per delivery of one invoice version to one connection. `seq` orders the
-- versions of an invoice; a job waits while an earlier job of the same
-- (connection, invoice) is still open.
CREATE TABLE jobs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    tenant_id     TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    invoice_id    TEXT NOT NULL,
    version       INTEGER NOT NULL,
    event_id      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    kind          TEXT NOT NULL,            -- sync | manual
    event_ms      INTEGER NOT NULL,         -- the event's created_at; kept by redeliveries
    state         TEXT NOT NULL,            -- pending | leased | succeeded | failed | cancelled
    attempts      INTEGER NOT NULL DEFAULT 0,
    run_at_ms     INTEGER NOT NULL,
    lease_token   TEXT,
    lease_until_ms INTEGER,
    last_error    TEXT,
    last_code     INTEGER,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, run_at_ms);
CREATE INDEX jobs_by_invoice ON jobs(connection_id, invoice_id, seq);
CREATE INDEX jobs_by_tenant_invoice ON jobs(tenant_id, invoice_id);

-- The append-only audit trail: one row per attempt (and per test or cancellation).
CREATE TABLE sync_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL,
    at_ms         INTEGER NOT NULL,
    invoice_id    TEXT,
    connection_id TEXT NOT NULL,
    provider      TEXT NOT NULL,
    kind          TEXT NOT NULL,            -- sync | test | manual
    job_id        TEXT,
    event_id      TEXT,
    attempt       INTEGER NOT NULL,
    status        TEXT NOT NULL,            -- SUCCESS | FAILED
    response_code INTEGER,
    error         TEXT,
    erp_record_id TEXT,
    duration_ms   INTEGER NOT NULL
);
CREATE INDEX sync_log_by_tenant ON sync_log(tenant_id, id);
CREATE INDEX sync_log_by_invoice ON sync_log(tenant_id, invoice_id, id);
CREATE INDEX sync_log_by_connection ON sync_log(tenant_id, connection_id, id);
CREATE INDEX sync_log_by_status ON sync_log(tenant_id, status, id);
CREATE INDEX sync_log_by_time ON sync_log(tenant_id, at_ms);
