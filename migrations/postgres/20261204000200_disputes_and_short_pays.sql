-- Issue 17: disputes and short pays (DESIGN 12).
--
-- An invoice now records what open disputes hold out of the payable balance (`amount_disputed_minor`) and
-- what write-offs took off it (`amount_written_off_minor`). The invariant becomes
-- `paid + discount + credited + written_off + disputed <= total` (a dispute holds part of the balance, so it
-- fits inside it), and `paid` status means `paid + discount + credited + written_off = total`: a short pay
-- written off closes the invoice as paid (docs/decisions/disputes.md).
ALTER TABLE invoices ADD COLUMN amount_disputed_minor BIGINT NOT NULL DEFAULT 0 CHECK (amount_disputed_minor >= 0);
ALTER TABLE invoices ADD COLUMN amount_written_off_minor BIGINT NOT NULL DEFAULT 0 CHECK (amount_written_off_minor >= 0);
ALTER TABLE invoices DROP CONSTRAINT invoices_paid_within_total;
ALTER TABLE invoices ADD CONSTRAINT invoices_paid_within_total CHECK (
    amount_paid_minor >= 0 AND discount_taken_minor >= 0 AND amount_credited_minor >= 0
    AND amount_paid_minor + discount_taken_minor + amount_credited_minor + amount_written_off_minor
        + amount_disputed_minor <= total_minor);
ALTER TABLE invoices DROP CONSTRAINT invoices_paid_status;
ALTER TABLE invoices ADD CONSTRAINT invoices_paid_status CHECK (
    (status = 'paid') = (amount_paid_minor + discount_taken_minor + amount_credited_minor + amount_written_off_minor = total_minor
        AND voided_at IS NULL));

-- A buyer's dispute of one line (or, `line_position` NULL, one the seller opened from a short-pay
-- exception). `open` holds `amount_minor` on the invoice; `credited` took `amount_credited_minor` of it off
-- by a credit note and gave the rest back; `rejected` gave it all back.
CREATE TABLE disputes (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    line_position BIGINT CHECK (line_position >= 0),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL CHECK (char_length(currency) = 3),
    reason TEXT NOT NULL CHECK (reason IN ('pricing', 'quantity', 'damaged', 'not_received', 'duplicate', 'other')),
    note TEXT CHECK (char_length(note) <= 1000),
    status TEXT NOT NULL CHECK (status IN ('open', 'credited', 'rejected')),
    amount_credited_minor BIGINT NOT NULL DEFAULT 0,
    credit_note_id TEXT REFERENCES credit_notes (id),
    created_at BIGINT NOT NULL,
    resolved_at BIGINT,
    CONSTRAINT disputes_credit_within CHECK (amount_credited_minor >= 0 AND amount_credited_minor <= amount_minor),
    CONSTRAINT disputes_resolved CHECK ((status = 'open') = (resolved_at IS NULL)),
    CONSTRAINT disputes_credit_note CHECK ((status = 'credited') = (credit_note_id IS NOT NULL AND amount_credited_minor > 0))
);
CREATE INDEX disputes_seller ON disputes (seller_id, created_at, id);
CREATE INDEX disputes_invoice ON disputes (invoice_id, line_position);

-- Short pays: an offline payment that arrived short of what was expected, above the seller's tolerance,
-- waiting for a person (`GET /v1/exceptions`).
CREATE TABLE short_pay_exceptions (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    payment_id TEXT NOT NULL REFERENCES payments (id),
    expected_minor BIGINT NOT NULL,
    received_minor BIGINT NOT NULL CHECK (received_minor > 0),
    currency TEXT NOT NULL CHECK (char_length(currency) = 3),
    reason TEXT CHECK (reason IN ('bank_fee', 'fx', 'small_balance')),
    suggested_cause TEXT CHECK (suggested_cause IN ('open_dispute', 'plan_installment', 'late_discount')),
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    action TEXT CHECK (action IN ('write_off', 'dispute', 'leave_open')),
    created_at BIGINT NOT NULL,
    resolved_at BIGINT,
    CONSTRAINT short_pay_exceptions_short CHECK (expected_minor > received_minor),
    CONSTRAINT short_pay_exceptions_resolved CHECK ((status = 'resolved') = (action IS NOT NULL AND resolved_at IS NOT NULL))
);
CREATE INDEX short_pay_exceptions_seller ON short_pay_exceptions (seller_id, created_at, id);

-- What was written off, and why; `amount_written_off_minor` on the invoice is their sum.
CREATE TABLE write_offs (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    payment_id TEXT REFERENCES payments (id),
    exception_id TEXT REFERENCES short_pay_exceptions (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL CHECK (char_length(currency) = 3),
    reason TEXT NOT NULL CHECK (reason IN ('bank_fee', 'fx', 'small_balance')),
    created_at BIGINT NOT NULL
);
CREATE INDEX write_offs_invoice ON write_offs (invoice_id, created_at, id);

-- The seller's short-pay tolerance: JSON `{"amounts_minor": {"USD": 2500}, "percent": "0.5"}` (minor
-- units per currency; the percent an exact decimal string), NULL for none.
ALTER TABLE sellers ADD COLUMN short_pay_tolerance TEXT;
