-- Issue 15: credit notes. An invoice records how much credit notes took off it (`amount_credited_minor`),
-- and the invariant `0 <= amount_paid + amount_credited + discount_taken <= total` (with each part
-- non-negative) and the paid status now count credits; each credit note is a row of `credit_notes`.
ALTER TABLE invoices ADD COLUMN amount_credited_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices DROP CONSTRAINT invoices_paid_within_total;
ALTER TABLE invoices ADD CONSTRAINT invoices_paid_within_total CHECK (
    amount_paid_minor >= 0 AND discount_taken_minor >= 0 AND amount_credited_minor >= 0
    AND amount_paid_minor + discount_taken_minor + amount_credited_minor <= total_minor);
ALTER TABLE invoices DROP CONSTRAINT invoices_paid_status;
ALTER TABLE invoices ADD CONSTRAINT invoices_paid_status CHECK (
    (status = 'paid') = (amount_paid_minor + discount_taken_minor + amount_credited_minor = total_minor
        AND voided_at IS NULL));

CREATE TABLE credit_notes (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL CHECK (char_length(currency) = 3),
    reason TEXT NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    memo TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id, created_at, id);
CREATE INDEX credit_notes_seller ON credit_notes (seller_id, created_at, id);
