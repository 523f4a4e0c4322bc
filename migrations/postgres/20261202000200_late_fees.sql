-- Issue 16: late fees. A fee raises the invoice's total and balance: `fees_minor` is what fees added, and the
-- total is now lines plus tax plus fees. Each fee is a row of `invoice_fees`, UNIQUE per (invoice,
-- installment, sequence number) so two schedulers or a re-run pass apply each fee once.
ALTER TABLE invoices ADD COLUMN fees_minor BIGINT NOT NULL DEFAULT 0 CHECK (fees_minor >= 0);
ALTER TABLE invoices DROP CONSTRAINT invoices_total_is_sum;
ALTER TABLE invoices ADD CONSTRAINT invoices_total_is_sum CHECK (subtotal_minor + tax_minor + fees_minor = total_minor);

CREATE TABLE invoice_fees (
    id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    installment BIGINT NOT NULL CHECK (installment BETWEEN 1 AND 24),
    seq BIGINT NOT NULL CHECK (seq BETWEEN 1 AND 24),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    applied_on TEXT NOT NULL CHECK (length(applied_on) = 10),
    created_at BIGINT NOT NULL,
    CONSTRAINT invoice_fees_once UNIQUE (invoice_id, installment, seq)
);
CREATE INDEX invoice_fees_invoice ON invoice_fees (invoice_id, created_at);
