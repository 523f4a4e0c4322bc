-- Issue 16: payment plans and reminders.
--
-- An invoice with a plan has one row per installment: its amount and due date, fixed when the invoice is
-- created. What each installment has received is not stored: it is derived from the invoice's settled
-- amount (paid + discount + credited) by the domain, earliest installment first, so a payment, refund or
-- credit note can never leave an installment disagreeing with the invoice (docs/decisions/plans.md).
CREATE TABLE invoice_installments (
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    number BIGINT NOT NULL CHECK (number BETWEEN 1 AND 24),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    due_date TEXT NOT NULL CHECK (length(due_date) = 10),
    PRIMARY KEY (invoice_id, number)
);

-- Every reminder the scheduler decided on, and every missed installment it announced. The UNIQUE key is
-- what makes a pass idempotent: two schedulers deciding the same reminder race on the INSERT, and only the
-- one whose row lands queues the email (in the same transaction). `superseded`: an older offset whose day
-- also came (downtime, a backfill) is recorded, never sent late.
CREATE TABLE invoice_reminders (
    id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    installment BIGINT NOT NULL CHECK (installment BETWEEN 1 AND 24),
    kind TEXT NOT NULL CHECK (kind IN ('before_due', 'after_due', 'missed')),
    offset_days BIGINT NOT NULL CHECK (offset_days BETWEEN 0 AND 365),
    outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'superseded', 'recorded')),
    as_of TEXT NOT NULL CHECK (length(as_of) = 10),
    created_at BIGINT NOT NULL,
    CONSTRAINT invoice_reminders_once UNIQUE (invoice_id, installment, kind, offset_days)
);
CREATE INDEX invoice_reminders_invoice ON invoice_reminders (invoice_id, created_at);
