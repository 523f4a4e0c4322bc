-- Issue 16: late fees. A fee raises the invoice's total and balance: `fees_minor` is what fees added, and the
-- total is now lines plus tax plus fees. Each fee is a row of `invoice_fees`, UNIQUE per (invoice,
-- installment, sequence number) so two schedulers or a re-run pass apply each fee once.
--
-- SQLite cannot change a CHECK in place; as in 20261130000300, the stored definition is edited under
-- `writable_schema`. Unlike there, only the one CHECK's text is replaced (`replace()` on the stored SQL), so a
-- column another migration added to `invoices` stays in the definition. Existing rows have fees 0, so the new
-- CHECK reduces to the old one for them. `schema_version` is raised far above any value an earlier migration
-- set (the procedure requires it to increase).
ALTER TABLE invoices ADD COLUMN fees_minor INTEGER NOT NULL DEFAULT 0 CHECK (fees_minor >= 0);
PRAGMA writable_schema = ON;
UPDATE sqlite_master
   SET sql = replace(sql,
       'CONSTRAINT invoices_total_is_sum CHECK (subtotal_minor + tax_minor = total_minor)',
       'CONSTRAINT invoices_total_is_sum CHECK (subtotal_minor + tax_minor + fees_minor = total_minor)')
 WHERE type = 'table' AND name = 'invoices';
PRAGMA schema_version = 202612020;
PRAGMA writable_schema = OFF;

CREATE TABLE invoice_fees (
    id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    installment INTEGER NOT NULL CHECK (installment BETWEEN 1 AND 24),
    seq INTEGER NOT NULL CHECK (seq BETWEEN 1 AND 24),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    applied_on TEXT NOT NULL CHECK (length(applied_on) = 10),
    created_at INTEGER NOT NULL,
    CONSTRAINT invoice_fees_once UNIQUE (invoice_id, installment, seq)
);
CREATE INDEX invoice_fees_invoice ON invoice_fees (invoice_id, created_at);
