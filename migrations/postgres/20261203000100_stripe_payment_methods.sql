-- The Stripe gateway's own records (issue 18). Stripe does not bind a PaymentMethod (pm_...) made by
-- Stripe.js to our checkout, so this table does: the first checkout that uses a pm_ owns it, and
-- `consumed_by` is the payment that spent it, set by one conditional UPDATE in the payment's hold
-- transaction (the sandbox tokens' rule: one pm_, one payment, one checkout).
CREATE TABLE stripe_payment_methods (
    payment_method_id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    invoice_id TEXT NOT NULL,
    checkout_link_id TEXT NOT NULL,
    consumed_by TEXT,
    consumed_at BIGINT,
    created_at BIGINT NOT NULL,
    CHECK ((consumed_by IS NULL) = (consumed_at IS NULL))
);
CREATE UNIQUE INDEX stripe_payment_methods_consumed_by ON stripe_payment_methods (consumed_by);

-- Stripe's PaymentIntent for each payment, stored as soon as Stripe answers, so the reconciler asks for
-- it by id; a crash before this row is written leaves the metadata search as the fallback.
CREATE TABLE stripe_payment_intents (
    payment_id TEXT PRIMARY KEY,
    payment_intent_id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
