-- The ledger: credit notes, payments, refunds and customer updates are stored, versioned
-- and queued exactly like invoices, so the invoice tables become the document tables,
-- keyed by (document type, id): a credit note may share its id with an invoice. SQLite
-- cannot change a primary key in place, so the tables are rebuilt and every row copied.

CREATE TABLE documents (
    tenant_id TEXT NOT NULL, doc_type TEXT NOT NULL, id TEXT NOT NULL,
    version INTEGER NOT NULL, content_hash TEXT NOT NULL, status TEXT NOT NULL,
    entity TEXT, updated_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, doc_type, id)
) WITHOUT ROWID;
INSERT INTO documents (tenant_id, doc_type, id, version, content_hash, status, entity, updated_ms)
    SELECT tenant_id, 'invoice', id, version, content_hash, status, entity, updated_ms FROM invoices;
DROP TABLE invoices;

-- Every version's body (canonical document JSON).
CREATE TABLE document_versions (tenant_id TEXT NOT NULL, doc_type TEXT NOT NULL,
    document_id TEXT NOT NULL, version INTEGER NOT NULL, content_hash TEXT NOT NULL,
    status TEXT NOT NULL, body TEXT NOT NULL, received_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, doc_type, document_id, version)) WITHOUT ROWID;
INSERT INTO document_versions (tenant_id, doc_type, document_id, version, content_hash, status, body, received_ms)
    SELECT tenant_id, 'invoice', invoice_id, version, content_hash, status, body, received_ms FROM invoice_versions;
DROP TABLE invoice_versions;

-- What each document's current version applies to (a payment's invoices, a credit
-- note's invoice, a refund's credit note), with the amount (decimal text): the credit cap
-- of an invoice, and the console's links between documents.
CREATE TABLE document_links (
    tenant_id TEXT NOT NULL, target_type TEXT NOT NULL, target_id TEXT NOT NULL,
    doc_type TEXT NOT NULL, document_id TEXT NOT NULL, amount TEXT,
    PRIMARY KEY (tenant_id, target_type, target_id, doc_type, document_id)
) WITHOUT ROWID;
CREATE INDEX document_links_by_document ON document_links(tenant_id, doc_type, document_id);

-- A job delivers one version of one document; versions of one document still reach a
-- connection in order.
DROP INDEX jobs_by_invoice;
DROP INDEX jobs_by_tenant_invoice;
ALTER TABLE jobs RENAME COLUMN invoice_id TO document_id;
ALTER TABLE jobs ADD COLUMN doc_type TEXT NOT NULL DEFAULT 'invoice';
CREATE INDEX jobs_by_document ON jobs(connection_id, document_id, doc_type, seq);
CREATE INDEX jobs_by_tenant_document ON jobs(tenant_id, doc_type, document_id);

-- Sync-log entries say which document they are about; `invoice_id` stays for invoices.
ALTER TABLE sync_log ADD COLUMN document_type TEXT;
ALTER TABLE sync_log ADD COLUMN document_id TEXT;
UPDATE sync_log SET document_type = 'invoice', document_id = invoice_id WHERE invoice_id IS NOT NULL;
DROP INDEX sync_log_by_invoice;
CREATE INDEX sync_log_by_document ON sync_log(tenant_id, document_id, id);
