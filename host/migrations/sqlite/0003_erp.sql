-- What ERP connectors need to remember: OAuth round trips in progress, and which ERP
-- records stand for our invoices and customers. Mappings are keyed by the ERP account
-- (e.g. `quickbooks:<realm id>`), not by the connection, so reconnecting the same
-- company keeps updating the same records.

CREATE TABLE oauth_states (
    state          TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    connection_id  TEXT NOT NULL,
    provider       TEXT NOT NULL,
    verifier       BLOB,              -- sealed PKCE verifier, when the provider uses PKCE
    expires_ms     INTEGER NOT NULL,
    used_ms        INTEGER
);

CREATE TABLE erp_records (
    account        TEXT NOT NULL,
    tenant_id      TEXT NOT NULL,
    kind           TEXT NOT NULL,     -- invoice | customer
    local_id       TEXT NOT NULL,
    remote_id      TEXT NOT NULL,
    version        TEXT,              -- e.g. the QuickBooks SyncToken
    updated_ms     INTEGER NOT NULL,
    PRIMARY KEY (account, tenant_id, kind, local_id)
) WITHOUT ROWID;
