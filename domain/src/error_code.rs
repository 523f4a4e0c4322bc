//! The closed set of error codes the API puts in a problem document's `code`, each with its HTTP status.
//! The API builds every problem from one of these and the widget parses the code back into one, so neither
//! side matches on free strings. The snake_case codes are a public contract: add codes, never rename one.
//!
//! ARCHITECTURE.md's "Error codes" table lists them all (a test in the API holds the two together).

/// Declares [`ErrorCode`] from one table: variant, wire code and HTTP status side by side, so the three
/// cannot drift apart. A macro rather than a derive crate: the widget's wasm size is budgeted.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal, $status:literal;)*) => {
        /// One variant per code the API can emit. See the module header.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        /// Every code's text back to back, and where each one ends: one copy of the strings and two bytes
        /// per code. A `match` returning literals made a (pointer, length) table, and a copy of the
        /// strings, in each crate that inlined it: ~400 bytes more gzip in the widget's budgeted wasm.
        static TEXT: &str = concat!($($code),*);
        static ENDS: [u16; ErrorCode::ALL.len()] = ends([$($code.len()),*]);

        impl ErrorCode {
            /// Every code, in declaration order: for documentation and exhaustive tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The snake_case code on the wire.
            pub fn as_str(self) -> &'static str {
                // In range for every variant, and TEXT is ASCII: these index a fixed table, never input.
                let i = self as usize;
                let start = if i == 0 { 0 } else { usize::from(ENDS[i - 1]) };
                &TEXT[start..usize::from(ENDS[i])]
            }

            /// The HTTP status a problem with this code is sent with.
            pub const fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }
        }
    };
}

/// Running totals of `lengths`: where each code ends in the concatenated text.
const fn ends<const N: usize>(lengths: [usize; N]) -> [u16; N] {
    let mut ends = [0u16; N];
    let mut at = 0;
    let mut i = 0;
    while i < N {
        at += lengths[i];
        // Only ever evaluated for a static, at compile time: a text past 64 KiB fails the build.
        assert!(at <= u16::MAX as usize, "error code text too long");
        ends[i] = at as u16;
        i += 1;
    }
    ends
}

error_codes! {
    // 400: the request itself is wrong.
    /// The body is not JSON, or not the shape the endpoint takes.
    MalformedBody = "malformed_body", 400;
    /// The body has a field the endpoint does not take.
    UnknownField = "unknown_field", 400;
    /// A field the request needs is absent (`field` names it).
    MissingField = "missing_field", 400;
    /// A field's value is invalid (`field` names it).
    InvalidField = "invalid_field", 400;
    /// A query parameter is invalid.
    InvalidQuery = "invalid_query", 400;
    /// Not a supported ISO 4217 currency.
    InvalidCurrency = "invalid_currency", 400;
    /// An invoice line is invalid (`field` names the line and its field).
    InvalidLines = "invalid_lines", 400;
    /// A terms profile is invalid (`field` names the term).
    InvalidTerms = "invalid_terms", 400;
    /// A payment plan is invalid (empty, too many installments, due dates out of order, an unreadable part).
    InvalidSchedule = "invalid_schedule", 400;
    /// A terms schedule's percents do not sum to exactly 100.
    SchedulePercentSum = "schedule_percent_sum", 400;
    /// An invoice's installments do not sum to its total.
    InstallmentsSumMismatch = "installments_sum_mismatch", 400;
    /// An installment is due before the invoice's issue date.
    InstallmentDueBeforeIssue = "installment_due_before_issue", 400;
    /// The currency's minor unit cannot split the total into the plan (some installment would be zero).
    ScheduleUnsplittable = "schedule_unsplittable", 400;
    /// A late fee names both a percent and fixed amounts.
    LateFeeBothWays = "late_fee_both_ways", 400;
    /// An id in the body (customer, terms) does not name one of the seller's own.
    UnknownReference = "unknown_reference", 400;
    /// A payment or refund without an `Idempotency-Key` header.
    IdempotencyKeyMissing = "idempotency_key_missing", 400;
    /// An `Idempotency-Key` that is not 1 to 255 printable ASCII characters.
    IdempotencyKeyInvalid = "idempotency_key_invalid", 400;
    /// The payment token is missing, unknown, expired, already used or made for another checkout.
    PaymentTokenInvalid = "payment_token_invalid", 400;
    /// Sandbox: the card details do not make a card (`field` names the detail).
    InvalidCard = "invalid_card", 400;
    /// Sandbox: the routing or account number is invalid.
    InvalidBankAccount = "invalid_bank_account", 400;
    /// A list's `starting_after` does not name one of the seller's objects in that list.
    StartingAfterNotFound = "starting_after_not_found", 400;
    /// An email template that does not compile or uses a placeholder not documented (`field` names the part).
    InvalidTemplate = "invalid_template", 400;
    /// A gateway webhook whose signature is missing, forged or older than the 5-minute tolerance.
    WebhookSignatureInvalid = "webhook_signature_invalid", 400;

    // 401: who is calling is not known.
    /// Missing or invalid seller secret key.
    InvalidApiKey = "invalid_api_key", 401;
    /// Missing, invalid, expired or revoked checkout token.
    InvalidCheckoutToken = "invalid_checkout_token", 401;
    /// Missing or invalid operator token.
    InvalidOperatorToken = "invalid_operator_token", 401;
    /// Seller creation is off: no `TRANCHE_OPERATOR_TOKEN` is set.
    OperatorDisabled = "operator_disabled", 401;

    // 402: the payment was not made (yet).
    /// The gateway declined the payment; `decline_code` and `advice` say why and what to do.
    PaymentDeclined = "payment_declined", 402;
    /// The card issuer asks the buyer to authenticate (3-D Secure): the payment stays pending; run the
    /// gateway's next action with `client_secret`, then confirm `payment_id`.
    ActionRequired = "action_required", 402;

    /// 403: a checkout call from an origin not in the seller's `allowed_origins`.
    OriginNotAllowed = "origin_not_allowed", 403;

    /// 404: no such resource, or another seller's.
    NotFound = "not_found", 404;

    /// 405: the path exists but not with this method; `Allow` lists the methods it takes.
    MethodNotAllowed = "method_not_allowed", 405;

    // 409: the request conflicts with the resource's state.
    /// The invoice is void or paid, or its whole balance is held by payments in progress.
    InvoiceNotPayable = "invoice_not_payable", 409;
    /// A request with this `Idempotency-Key` is still being processed; retry with the same key.
    IdempotencyKeyInUse = "idempotency_key_in_use", 409;
    /// Confirming a payment the running gateway did not make (e.g. a sandbox payment on a Stripe server).
    PaymentNotConfirmable = "payment_not_confirmable", 409;
    /// The seller already has an invoice with this number.
    InvoiceNumberTaken = "invoice_number_taken", 409;
    /// A checkout link for a void invoice.
    InvoiceVoid = "invoice_void", 409;
    /// Voiding an invoice that is already void.
    InvoiceAlreadyVoid = "invoice_already_void", 409;
    /// Voiding an invoice with payments or discounts taken, or editing its lines once anything was paid or credited.
    InvoiceHasPayments = "invoice_has_payments", 409;
    /// Voiding an invoice, or editing its lines, while a payment on it is in progress.
    InvoiceHasPendingPayments = "invoice_has_pending_payments", 409;
    /// Sending an invoice that is paid in full.
    InvoiceAlreadyPaid = "invoice_already_paid", 409;
    /// The seller has as many ERP endpoints as allowed.
    EndpointLimitReached = "endpoint_limit_reached", 409;
    /// Retrying a delivery whose endpoint is disabled.
    EndpointDisabled = "endpoint_disabled", 409;
    /// Retrying a delivery that is delivered, or pending without a failed attempt.
    DeliveryNotRetryable = "delivery_not_retryable", 409;
    /// Retrying a delivery while an attempt of it is in flight.
    DeliveryInProgress = "delivery_in_progress", 409;
    /// Refunding a payment that is pending, failed or already refunded in full.
    PaymentNotRefundable = "payment_not_refundable", 409;
    /// Rolling the secret key with a key that was already rolled: a newer key exists.
    KeyAlreadyRolled = "key_already_rolled", 409;
    /// Editing a void invoice: nothing on it can change.
    InvoiceNotEditable = "invoice_not_editable", 409;
    /// An archived terms profile given to an invoice or customer, or edited.
    TermsArchived = "terms_archived", 409;
    /// Resolving a dispute that is already resolved.
    DisputeAlreadyResolved = "dispute_already_resolved", 409;
    /// Resolving a short-pay exception that is already resolved.
    ExceptionAlreadyResolved = "exception_already_resolved", 409;

    /// 413: the request body is too large.
    BodyTooLarge = "body_too_large", 413;

    /// 415: the body is not `application/json`.
    UnsupportedMediaType = "unsupported_media_type", 415;

    // 422: well-formed, but refused.
    /// The amount is zero or negative.
    AmountNotPositive = "amount_not_positive", 422;
    /// The amount is not a plain decimal number such as `1250.00`.
    AmountMalformed = "amount_malformed", 422;
    /// The amount has more decimals than the currency allows.
    AmountPrecision = "amount_precision", 422;
    /// The payment's currency is not the invoice's.
    CurrencyMismatch = "currency_mismatch", 422;
    /// The terms require the invoice to be paid in full (`maximum` is that amount).
    PartialNotAllowed = "partial_not_allowed", 422;
    /// The amount is below the effective minimum (`minimum`).
    AmountBelowMinimum = "amount_below_minimum", 422;
    /// The amount is more than the available balance (`maximum`).
    AmountExceedsBalance = "amount_exceeds_balance", 422;
    /// This `Idempotency-Key` was first used with a different request.
    IdempotencyKeyReused = "idempotency_key_reused", 422;
    /// The refund is more than is still refundable on the payment (`maximum`).
    RefundExceedsPayment = "refund_exceeds_payment", 422;
    /// A seller-chosen URL is, or resolves to, an address the destination policy refuses.
    DestinationNotAllowed = "destination_not_allowed", 422;
    /// A dispute larger than what is still undisputed on its line (`maximum`).
    DisputeExceedsLine = "dispute_exceeds_line", 422;
    /// A dispute resolution crediting more than is disputed (`maximum`).
    AmountExceedsDispute = "amount_exceeds_dispute", 422;

    /// 429: too many attempts; `Retry-After` says when to try again.
    RateLimited = "rate_limited", 429;

    /// 500: an unexpected failure on the server; quote `request_id` to support.
    InternalError = "internal_error", 500;

    /// 503: the hosted checkout page without a built widget.
    WidgetUnavailable = "widget_unavailable", 503;
}

impl ErrorCode {
    /// The code for a wire string, `None` for one this build does not know (a newer API's, or not ours).
    /// A search of [`ErrorCode::ALL`] rather than a `match` on strings: it reuses `as_str`'s table, which
    /// keeps the widget's wasm smaller (an index loop over the bytes measured larger still).
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// Whether this is one of the amount rules' rejections ([`crate::AmountRejected`]).
    pub const fn is_amount_rejection(self) -> bool {
        matches!(
            self,
            ErrorCode::AmountNotPositive
                | ErrorCode::AmountMalformed
                | ErrorCode::AmountPrecision
                | ErrorCode::CurrencyMismatch
                | ErrorCode::PartialNotAllowed
                | ErrorCode::AmountBelowMinimum
                | ErrorCode::AmountExceedsBalance
                | ErrorCode::InvoiceNotPayable
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// In the OpenAPI document the problem's `code` is this enum of strings, so clients can generate it.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .description(Some(
                "Stable snake_case error code; the status each one is sent with is in ARCHITECTURE.md.",
            ))
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ErrorCode {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::ErrorCode;
    use crate::AmountRejected;

    #[test]
    fn codes_are_distinct_snake_case_and_parse_back() {
        let mut seen = BTreeSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} is used twice");
            assert!(
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s} is not snake_case"
            );
            assert_eq!(ErrorCode::parse(s), Some(code));
            assert_eq!(code.to_string(), s);
        }
        for unknown in [
            "",
            "Not_Found",
            "not-found",
            "not_found ",
            "http_error",
            "card_declined",
        ] {
            assert_eq!(ErrorCode::parse(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn statuses_are_client_or_server_errors() {
        for &code in ErrorCode::ALL {
            assert!((400..600).contains(&code.status()), "{code:?}");
        }
    }

    #[test]
    fn amount_rejections_are_exactly_the_rules_codes() {
        let rules: BTreeSet<ErrorCode> = AmountRejected::CODES.into_iter().collect();
        let flagged: BTreeSet<ErrorCode> = ErrorCode::ALL
            .iter()
            .copied()
            .filter(|c| c.is_amount_rejection())
            .collect();
        assert_eq!(rules, flagged);
    }
}
