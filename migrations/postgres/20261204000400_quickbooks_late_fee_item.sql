-- Issue 16: a late fee reaches QuickBooks as a new line on the QBO invoice (a sparse update), naming the
-- seller's "Late fee" item. Without the item the fee is not posted (dead-lettered with the reason).
ALTER TABLE erp_endpoints ADD COLUMN late_fee_item_id TEXT;
