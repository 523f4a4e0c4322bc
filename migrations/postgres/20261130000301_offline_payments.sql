-- Issue 15: offline payments (cheque, wire, cash, other), recorded by the seller. They are payments like
-- any other (`gateway` 'offline', `method_kind` 'offline', `method_brand` the method), with the seller's
-- `reference` (cheque number, wire reference) and the date the money was received (`received_on`). They
-- have no card, so `method_last4` is empty for them.
ALTER TABLE payments ADD COLUMN reference TEXT;
ALTER TABLE payments ADD COLUMN received_on TEXT;
ALTER TABLE payments DROP CONSTRAINT payments_method_kind_check;
ALTER TABLE payments ADD CONSTRAINT payments_method_kind_check
    CHECK (method_kind IN ('card', 'bank_account', 'offline'));
ALTER TABLE payments DROP CONSTRAINT payments_method_last4_check;
ALTER TABLE payments ADD CONSTRAINT payments_method_last4 CHECK (
    CASE method_kind WHEN 'offline' THEN method_last4 = '' ELSE char_length(method_last4) = 4 END);
ALTER TABLE payments ADD CONSTRAINT payments_offline_shape CHECK (
    (method_kind = 'offline') = (gateway = 'offline')
    AND (method_kind <> 'offline' OR (
        method_brand IN ('check', 'wire', 'cash', 'other') AND received_on IS NOT NULL
        AND status IN ('succeeded', 'partially_refunded', 'refunded'))));
