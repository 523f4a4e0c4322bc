-- Issue 16: the seller's own reminder email (subject and text), minijinja templates checked when saved;
-- null means the built-in text in the customer's language.
ALTER TABLE sellers ADD COLUMN reminder_email_subject TEXT;
ALTER TABLE sellers ADD COLUMN reminder_email_text TEXT;
