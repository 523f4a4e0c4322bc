-- Issue 15, edits: an invoice carries a memo for the seller's records (PATCH /v1/invoices/{id}), and a terms
-- profile can be archived (POST /v1/terms/{id}/archive): an archived profile is given to no new invoice or
-- customer, while invoices that copied its terms keep them.
ALTER TABLE invoices ADD COLUMN memo TEXT CHECK (memo IS NULL OR length(memo) <= 500);
ALTER TABLE terms_profiles ADD COLUMN archived_at INTEGER;
-- GET /v1/terms pages by (created_at, id) newest first.
CREATE INDEX terms_seller_created ON terms_profiles (seller_id, created_at, id);
