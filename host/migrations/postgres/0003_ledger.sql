-- The ledger: credit notes, payments, refunds and customer updates are stored, versioned
-- and queued exactly like invoices, so the invoice tables become the document tables,
-- keyed by (document type, id): a credit note may share its id with an invoice. Renamed
-- in place; existing rows are invoices.

ALTER TABLE invoices RENAME TO documents;
ALTER TABLE documents ADD COLUMN doc_type TEXT NOT NULL DEFAULT 'invoice';
ALTER TABLE documents ALTER COLUMN doc_type DROP DEFAULT,
    DROP CONSTRAINT invoices_pkey, ADD PRIMARY KEY (tenant_id, doc_type, id);

ALTER TABLE invoice_versions RENAME TO document_versions;
ALTER TABLE document_versions RENAME COLUMN invoice_id TO document_id;
ALTER TABLE document_versions ADD COLUMN doc_type TEXT NOT NULL DEFAULT 'invoice';
ALTER TABLE document_versions ALTER COLUMN doc_type DROP DEFAULT,
    DROP CONSTRAINT invoice_versions_pkey, ADD PRIMARY KEY (tenant_id, doc_type, document_id, version);

-- What each document's current version applies to, with the amount (decimal text): see
-- the SQLite migration of the same name.
CREATE TABLE document_links (
    tenant_id TEXT NOT NULL, target_type TEXT NOT NULL, target_id TEXT NOT NULL,
    doc_type TEXT NOT NULL, document_id TEXT NOT NULL, amount TEXT,
    PRIMARY KEY (tenant_id, target_type, target_id, doc_type, document_id)
);
CREATE INDEX document_links_by_document ON document_links(tenant_id, doc_type, document_id);

-- Jobs and sync-log entries name their document, as on SQLite.
DROP INDEX jobs_by_invoice, jobs_by_tenant_invoice;
ALTER TABLE jobs RENAME COLUMN invoice_id TO document_id;
ALTER TABLE jobs ADD COLUMN doc_type TEXT NOT NULL DEFAULT 'invoice';
CREATE INDEX jobs_by_document ON jobs(connection_id, document_id, doc_type, seq);
CREATE INDEX jobs_by_tenant_document ON jobs(tenant_id, doc_type, document_id);
ALTER TABLE sync_log ADD COLUMN document_type TEXT, ADD COLUMN document_id TEXT;
UPDATE sync_log SET document_type = 'invoice', document_id = invoice_id WHERE invoice_id IS NOT NULL;
DROP INDEX sync_log_by_invoice;
CREATE INDEX sync_log_by_document ON sync_log(tenant_id, document_id, id);
