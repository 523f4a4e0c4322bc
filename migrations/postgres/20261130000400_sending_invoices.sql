-- Issue 15: sending invoices by email. The invoice records when it was last sent (null: never); the
-- seller's overrides of the invoice email (subject, text part, HTML part) are minijinja templates, null
-- meaning the built-in text in the customer's language. Checked at save time, so a stored one compiles.
ALTER TABLE invoices ADD COLUMN sent_at BIGINT;
ALTER TABLE sellers ADD COLUMN invoice_email_subject TEXT;
ALTER TABLE sellers ADD COLUMN invoice_email_text TEXT;
ALTER TABLE sellers ADD COLUMN invoice_email_html TEXT;
