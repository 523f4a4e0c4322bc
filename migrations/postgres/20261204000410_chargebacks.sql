-- Issue 18 / DESIGN 13: a Stripe dispute (a chargeback: the buyer's bank takes the money back while it is
-- contested) is recorded once per Stripe dispute id from `charge.dispute.created`, and shown in the seller's
-- alerts. It changes no balance here: the outcome (won or lost) is the seller's to follow in Stripe.
CREATE TABLE chargebacks (
    id TEXT PRIMARY KEY,
    seller_id TEXT NOT NULL REFERENCES sellers (id),
    payment_id TEXT NOT NULL REFERENCES payments (id),
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    reason TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 64),
    created_at BIGINT NOT NULL
);
CREATE INDEX chargebacks_seller ON chargebacks (seller_id, created_at);
