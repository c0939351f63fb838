-- Uploaded Wasm components and the per-customer invoice tweaks that use them.

-- Component bytes, stored once per content hash whoever uploads them.
CREATE TABLE wasm_modules (
    sha256      TEXT PRIMARY KEY,
    bytes       BLOB NOT NULL,
    created_ms  INTEGER NOT NULL
);

CREATE TABLE transforms (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    world       TEXT NOT NULL,            -- webhook-transform | invoice-tweak
    export      TEXT NOT NULL,            -- e.g. erp-sync:transform/webhook@1.0.0
    sha256      TEXT NOT NULL REFERENCES wasm_modules(sha256),
    size        INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE UNIQUE INDEX transforms_dedup ON transforms(tenant_id, sha256, world);

CREATE TABLE customer_tweaks (
    tenant_id     TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    transform_id  TEXT NOT NULL REFERENCES transforms(id),
    updated_ms    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
) WITHOUT ROWID;

-- What a guest printed during the attempt (bounded), beside the error.
ALTER TABLE sync_log ADD COLUMN guest_logs TEXT;
