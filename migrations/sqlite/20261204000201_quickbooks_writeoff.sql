-- Issue 17: a QuickBooks endpoint may name the item a short pay's write-off is booked with (a CreditMemo
-- line's `ItemRef`: a service item whose account is the seller's fee-variance expense account). Without it,
-- write-offs are not posted to QuickBooks (the delivery dead-letters with the reason).
ALTER TABLE erp_endpoints ADD COLUMN writeoff_item_id TEXT;
