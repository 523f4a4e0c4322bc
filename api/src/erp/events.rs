//! The events the outbox writes and every delivery channel reads (webhooks, receipt emails, QuickBooks).
//! One struct per event type: the outbox serialises it into `outbox.payload`, the channels deserialise
//! it back, so no channel builds or indexes untyped JSON. The catalogue is published in
//! `docs/webhooks.md`, which a test checks against these types.
//!
//! Fields are declared in alphabetical order on purpose: payloads used to be built with `json!`, whose
//! map sorts its keys, so declaring them sorted keeps webhook bodies byte-identical to what receivers
//! got before the types existed.

use serde::{Deserialize, Serialize};

use crate::store::RowError;

/// The type of an event, as stored in `outbox.event_type` and sent as the webhook envelope's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    PaymentSucceeded,
    InvoicePaid,
    RefundSucceeded,
    InvoiceSent,
    CreditNoteCreated,
    InvoiceReminder,
    InstallmentMissed,
    InvoiceLateFeeApplied,
    DisputeOpened,
    DisputeResolved,
    InvoiceWrittenOff,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::PaymentSucceeded,
        EventType::InvoicePaid,
        EventType::RefundSucceeded,
        EventType::InvoiceSent,
        EventType::CreditNoteCreated,
        EventType::InvoiceReminder,
        EventType::InstallmentMissed,
        EventType::InvoiceLateFeeApplied,
        EventType::DisputeOpened,
        EventType::DisputeResolved,
        EventType::InvoiceWrittenOff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PaymentSucceeded => "payment.succeeded",
            EventType::InvoicePaid => "invoice.paid",
            EventType::RefundSucceeded => "refund.succeeded",
            EventType::InvoiceSent => "invoice.sent",
            EventType::CreditNoteCreated => "credit_note.created",
            EventType::InvoiceReminder => "invoice.reminder",
            EventType::InstallmentMissed => "installment.missed",
            EventType::InvoiceLateFeeApplied => "invoice.late_fee_applied",
            EventType::DisputeOpened => "dispute.opened",
            EventType::DisputeResolved => "dispute.resolved",
            EventType::InvoiceWrittenOff => "invoice.written_off",
        }
    }

    /// Whether the event is money taken or given back: what QuickBooks books and the buyer gets a
    /// receipt for. A credit note moves no money: webhooks only (docs/decisions.md).
    pub fn moves_money(self) -> bool {
        matches!(self, EventType::PaymentSucceeded | EventType::RefundSucceeded)
    }

    /// Whether QuickBooks books the event: money taken or given back, a late fee (a new line on the QBO
    /// invoice, so that payments of the fee can be applied to it) and a write-off (a CreditMemo).
    pub fn posts_to_quickbooks(self) -> bool {
        self.moves_money()
            || matches!(
                self,
                EventType::InvoiceLateFeeApplied | EventType::InvoiceWrittenOff
            )
    }

    /// Whether the event sends the buyer an email (a receipt, the invoice itself, a reminder, or the
    /// answer to their dispute).
    pub fn emails_buyer(self) -> bool {
        self.moves_money()
            || matches!(
                self,
                EventType::InvoiceSent | EventType::InvoiceReminder | EventType::DisputeResolved
            )
    }
}

impl std::str::FromStr for EventType {
    type Err = RowError;

    /// An unknown stored type is an error, never a guess.
    fn from_str(text: &str) -> Result<EventType, RowError> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| RowError::unknown("outbox.event_type", text))
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `payment.succeeded`: a cash receipt, written when a payment succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentSucceeded {
    /// What the payment paid of each invoice: one entry for a single-invoice payment, one per invoice
    /// for an account payment (DESIGN 12), so consumers read one shape. Then the `invoice_*` fields above
    /// describe the first allocated invoice by id, and `amount` is the one charge, the allocations' sum.
    /// Absent in events written before accounts (read as none).
    #[serde(default)]
    pub allocations: Vec<ReceiptAllocation>,
    /// Decimal string in the currency's minor-unit precision, e.g. `"250.00"`.
    pub amount: String,
    pub currency: String,
    pub customer: ReceiptCustomer,
    /// The early-payment discount taken with this payment (decimal string), or null.
    pub discount: Option<String>,
    pub gateway_charge_id: Option<String>,
    /// The invoice's balance after this payment (decimal string).
    pub invoice_balance_after: String,
    pub invoice_external_ref: Option<String>,
    pub invoice_id: String,
    pub invoice_number: String,
    pub invoice_status_after: String,
    pub method: PaymentMethod,
    pub paid_at: String,
    pub payment_id: String,
}

/// One invoice's part of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiptAllocation {
    /// Decimal string: the cash this payment applied to the invoice.
    pub amount: String,
    /// The early-payment discount taken on this invoice with it (decimal string), or null.
    pub discount: Option<String>,
    /// The invoice's balance after this payment (decimal string).
    pub invoice_balance_after: String,
    /// The invoice's id in the seller's ERP (QuickBooks `TxnId`), as on the invoice.
    pub invoice_external_ref: Option<String>,
    pub invoice_id: String,
    pub invoice_number: String,
}

/// The paying customer, as the receipt names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiptCustomer {
    pub email: String,
    pub external_ref: Option<String>,
    pub id: String,
    pub name: String,
}

/// How the buyer paid: never more than the brand and the last four digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentMethod {
    pub brand: String,
    pub kind: String,
    pub last4: String,
}

/// `invoice.paid`: written with the payment that brings the balance to zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoicePaid {
    pub currency: String,
    pub invoice_id: String,
    pub invoice_number: String,
    pub paid_at: String,
    /// The invoice total (decimal string).
    pub total: String,
}

/// `refund.succeeded`: money went back to the buyer, written with the refund's effect on the payment and
/// the invoice (the balance it reopened, the statuses it moved back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefundSucceeded {
    /// What this refund gave back (decimal string).
    pub amount: String,
    pub currency: String,
    pub customer: ReceiptCustomer,
    pub gateway_refund_id: Option<String>,
    /// The invoice's balance after this refund (decimal string).
    pub invoice_balance_after: String,
    pub invoice_external_ref: Option<String>,
    pub invoice_id: String,
    pub invoice_number: String,
    pub invoice_status_after: String,
    /// How the refunded payment was made (the refund goes back to it).
    pub method: PaymentMethod,
    /// Everything refunded on the payment so far, this refund included (decimal string).
    pub payment_amount_refunded: String,
    pub payment_id: String,
    /// `partially_refunded` or `refunded`.
    pub payment_status_after: String,
    /// `requested_by_customer`, `duplicate`, `fraudulent`, `other`, or null.
    pub reason: Option<String>,
    pub refund_id: String,
    pub refunded_at: String,
}

/// `invoice.sent`: the seller sent the invoice by email with a fresh checkout link. The link's token is not
/// in the event (webhook receivers and logs never see it): the email channel reads it back by `link_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceSent {
    /// The invoice's balance when it was sent (decimal string).
    pub balance_due: String,
    pub currency: String,
    pub customer_id: String,
    pub due_date: String,
    pub invoice_id: String,
    pub invoice_number: String,
    pub link_expires_at: String,
    pub link_id: String,
    pub sent_at: String,
    /// The address the email goes to.
    pub sent_to: String,
}

/// `credit_note.created`: the seller took part of the balance off an invoice without money moving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditNoteCreated {
    /// What the credit note took off (decimal string).
    pub amount: String,
    pub created_at: String,
    pub credit_note_id: String,
    pub currency: String,
    /// The invoice's balance after this credit note (decimal string).
    pub invoice_balance_after: String,
    /// Everything credited on the invoice so far, this credit note included (decimal string).
    pub invoice_credited_after: String,
    pub invoice_external_ref: Option<String>,
    pub invoice_id: String,
    pub invoice_number: String,
    pub invoice_status_after: String,
    pub memo: Option<String>,
    pub reason: String,
}

/// `invoice.reminder`: the scheduler reminded the buyer of an amount due (before or after its due date);
/// the email channel sends it with a fresh checkout link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceReminder {
    /// What is open on the installment (or the invoice, without a plan): decimal string.
    pub amount_due: String,
    pub currency: String,
    pub customer_id: String,
    pub due_date: String,
    /// The installment's number; 1 for an invoice without a plan.
    pub installment: u32,
    pub invoice_id: String,
    pub invoice_number: String,
    /// `before_due` or `after_due`.
    pub kind: String,
    /// Days before or after the due date, as the terms say.
    pub offset_days: u32,
    pub reminder_id: String,
    /// The scheduler's date for the pass that decided it.
    pub sent_on: String,
    /// The address the email goes to.
    pub sent_to: String,
}

/// `installment.missed`: an installment of a payment plan passed its due date not fully paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstallmentMissed {
    /// What is still open on it: decimal string.
    pub amount_open: String,
    pub currency: String,
    pub due_date: String,
    pub installment: u32,
    pub invoice_external_ref: Option<String>,
    pub invoice_id: String,
    pub invoice_number: String,
    pub missed_on: String,
}

/// `invoice.late_fee_applied`: the scheduler added a late fee to an invoice (total and balance rose).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceLateFeeApplied {
    /// The fee (decimal string).
    pub amount: String,
    /// The day the terms put the fee on (`YYYY-MM-DD`).
    pub applied_on: String,
    pub currency: String,
    pub fee_id: String,
    /// The installment whose lateness it is for (1 without a plan).
    pub installment: u32,
    pub invoice_balance_after: String,
    pub invoice_external_ref: Option<String>,
    pub invoice_id: String,
    pub invoice_number: String,
    pub invoice_total_after: String,
}

/// `dispute.opened`: a buyer contested (part of) a line; the amount is held out of what may be paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DisputeOpened {
    /// What is disputed (decimal string).
    pub amount: String,
    pub created_at: String,
    pub currency: String,
    pub dispute_id: String,
    /// Everything open disputes hold on the invoice after this one (decimal string).
    pub invoice_disputed_after: String,
    pub invoice_external_ref: Option<String>,
    pub invoice_id: String,
    pub invoice_number: String,
    /// The disputed line (0-based), or null for a dispute the seller opened from a short-pay exception.
    pub line: Option<i64>,
    /// The buyer's words as they typed them (plain text: escape before showing it in markup).
    pub note: Option<String>,
    /// `pricing`, `quantity`, `damaged`, `not_received`, `duplicate` or `other`.
    pub reason: String,
}

/// `dispute.resolved`: the seller credited (part of) a dispute or rejected it; the buyer is emailed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DisputeResolved {
    /// What was disputed (decimal string).
    pub amount: String,
    /// What the credit note took off (decimal string, `0.00` when rejected).
    pub amount_credited: String,
    /// What went back to the payable balance (decimal string).
    pub amount_rejected: String,
    /// The credit note, when something was credited.
    pub credit_note_id: Option<String>,
    pub currency: String,
    pub customer_id: String,
    pub dispute_id: String,
    pub invoice_balance_after: String,
    pub invoice_external_ref: Option<String>,
    pub invoice_id: String,
    pub invoice_number: String,
    pub invoice_status_after: String,
    /// `credit` or `reject`.
    pub outcome: String,
    pub resolved_at: String,
    /// The address the buyer's email goes to.
    pub sent_to: String,
}

/// `invoice.written_off`: a short pay's shortfall was written off (within the seller's tolerance, or by the
/// seller resolving an exception); ERPs book it to their fee-variance account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceWrittenOff {
    /// What was written off (decimal string).
    pub amount: String,
    pub currency: String,
    pub customer: ReceiptCustomer,
    /// The short-pay exception it resolved, when a person decided it.
    pub exception_id: Option<String>,
    pub invoice_balance_after: String,
    pub invoice_external_ref: Option<String>,
    pub invoice_id: String,
    pub invoice_number: String,
    pub invoice_status_after: String,
    /// The offline payment that arrived short.
    pub payment_id: Option<String>,
    /// `bank_fee`, `fx` or `small_balance`.
    pub reason: String,
    pub write_off_id: String,
    pub written_off_at: String,
}

/// Any event, with what the outbox needs to store it. Serialises as the event's own fields (untagged):
/// the type travels beside it, in `outbox.event_type` and the envelope's `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// Boxed: it is several times the size of the other events.
    PaymentSucceeded(Box<PaymentSucceeded>),
    InvoicePaid(InvoicePaid),
    /// Boxed, as the payment's.
    RefundSucceeded(Box<RefundSucceeded>),
    InvoiceSent(InvoiceSent),
    CreditNoteCreated(CreditNoteCreated),
    InvoiceReminder(InvoiceReminder),
    InstallmentMissed(InstallmentMissed),
    InvoiceLateFeeApplied(InvoiceLateFeeApplied),
    DisputeOpened(DisputeOpened),
    DisputeResolved(DisputeResolved),
    InvoiceWrittenOff(Box<InvoiceWrittenOff>),
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Event::PaymentSucceeded(_) => EventType::PaymentSucceeded,
            Event::InvoicePaid(_) => EventType::InvoicePaid,
            Event::RefundSucceeded(_) => EventType::RefundSucceeded,
            Event::InvoiceSent(_) => EventType::InvoiceSent,
            Event::CreditNoteCreated(_) => EventType::CreditNoteCreated,
            Event::InvoiceReminder(_) => EventType::InvoiceReminder,
            Event::InstallmentMissed(_) => EventType::InstallmentMissed,
            Event::InvoiceLateFeeApplied(_) => EventType::InvoiceLateFeeApplied,
            Event::DisputeOpened(_) => EventType::DisputeOpened,
            Event::DisputeResolved(_) => EventType::DisputeResolved,
            Event::InvoiceWrittenOff(_) => EventType::InvoiceWrittenOff,
        }
    }

    /// The id of what the event is about (the payment, the invoice, or the refund).
    pub fn aggregate_id(&self) -> &str {
        match self {
            Event::PaymentSucceeded(e) => &e.payment_id,
            Event::InvoicePaid(e) => &e.invoice_id,
            Event::RefundSucceeded(e) => &e.refund_id,
            Event::InvoiceSent(e) => &e.invoice_id,
            Event::CreditNoteCreated(e) => &e.credit_note_id,
            Event::InvoiceReminder(e) => &e.reminder_id,
            Event::InstallmentMissed(e) => &e.invoice_id,
            Event::InvoiceLateFeeApplied(e) => &e.fee_id,
            Event::DisputeOpened(e) => &e.dispute_id,
            Event::DisputeResolved(e) => &e.dispute_id,
            Event::InvoiceWrittenOff(e) => &e.write_off_id,
        }
    }

    /// The payload as stored in `outbox.payload` and sent as the webhook's `data`.
    pub fn payload(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// Reads a stored payload back into its type: a payload that does not fit is an error.
    pub fn parse(event_type: EventType, payload: &str) -> serde_json::Result<Event> {
        Ok(match event_type {
            EventType::PaymentSucceeded => Event::PaymentSucceeded(serde_json::from_str(payload)?),
            EventType::InvoicePaid => Event::InvoicePaid(serde_json::from_str(payload)?),
            EventType::RefundSucceeded => Event::RefundSucceeded(serde_json::from_str(payload)?),
            EventType::InvoiceSent => Event::InvoiceSent(serde_json::from_str(payload)?),
            EventType::CreditNoteCreated => Event::CreditNoteCreated(serde_json::from_str(payload)?),
            EventType::InvoiceReminder => Event::InvoiceReminder(serde_json::from_str(payload)?),
            EventType::InstallmentMissed => Event::InstallmentMissed(serde_json::from_str(payload)?),
            EventType::InvoiceLateFeeApplied => Event::InvoiceLateFeeApplied(serde_json::from_str(payload)?),
            EventType::DisputeOpened => Event::DisputeOpened(serde_json::from_str(payload)?),
            EventType::DisputeResolved => Event::DisputeResolved(serde_json::from_str(payload)?),
            EventType::InvoiceWrittenOff => Event::InvoiceWrittenOff(serde_json::from_str(payload)?),
        })
    }
}

/// The webhook body: the event envelope around the payload (keys sorted, as before the types).
#[derive(Serialize)]
pub struct Envelope<'a> {
    pub created_at: String,
    pub data: &'a Event,
    pub id: &'a str,
    #[serde(rename = "type")]
    pub event_type: &'static str,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{json, Value};

    use super::*;

    const CATALOGUE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/webhooks.md"));

    #[test]
    fn event_types_round_trip_and_unknown_ones_fail() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().ok(), Some(t));
        }
        let error = "payment.refunded".parse::<EventType>().err();
        assert_eq!(
            error.map(|e| e.to_string()),
            Some("unknown outbox.event_type \"payment.refunded\" in a stored row".to_owned())
        );
    }

    /// The catalogue's section under `heading`: from the heading to the next `## `.
    fn section(heading: &str) -> &'static str {
        let start = CATALOGUE
            .find(&format!("\n## {heading}\n"))
            .unwrap_or_else(|| panic!("docs/webhooks.md has no `## {heading}` section"));
        let rest = &CATALOGUE[start + 1..];
        let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
        &rest[..end]
    }

    /// Field names of the section's table (first column, in backticks).
    fn documented_fields(section: &str) -> BTreeSet<String> {
        section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
            .collect()
    }

    fn example(section: &str) -> Value {
        let start = section.find("```json\n").expect("a json example") + 8;
        let end = section[start..].find("```").expect("the example's end") + start;
        serde_json::from_str(&section[start..end]).expect("the example is JSON")
    }

    /// Every field path of a serialised value (`customer.email`), objects included.
    fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        if let Value::Object(map) = value {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                paths(child, &path, out);
            }
        }
    }

    #[test]
    fn catalogue_matches_the_types() {
        for event_type in EventType::ALL {
            let text = section(event_type.as_str());
            let example = example(text);
            assert_eq!(example["type"], event_type.as_str());
            // The documented example reads into the type, and the type writes it back unchanged: no
            // field the type lacks, none it has that the example leaves out.
            let event = Event::parse(event_type, &example["data"].to_string())
                .unwrap_or_else(|e| panic!("{event_type} example does not fit its type: {e}"));
            let written: Value = serde_json::from_str(&event.payload().unwrap()).unwrap();
            assert_eq!(written, example["data"], "{event_type}");
            let mut fields = BTreeSet::new();
            paths(&written, "", &mut fields);
            assert_eq!(
                documented_fields(text),
                fields,
                "{event_type}: documented fields vs the type's"
            );
            // And the whole webhook body is the envelope the relay writes.
            let envelope = Envelope {
                created_at: example["created_at"].as_str().unwrap().to_owned(),
                data: &event,
                id: example["id"].as_str().unwrap(),
                event_type: event_type.as_str(),
            };
            assert_eq!(serde_json::to_value(&envelope).unwrap(), example);
            let mut envelope_fields = BTreeSet::new();
            if let Value::Object(map) = &example {
                envelope_fields.extend(map.keys().cloned());
            }
            assert_eq!(documented_fields(section("Delivery")), envelope_fields);
        }
        // No documented event the types do not know.
        for line in CATALOGUE.lines() {
            if let Some(heading) = line.strip_prefix("## ").filter(|h| h.contains('.')) {
                assert!(
                    heading.parse::<EventType>().is_ok(),
                    "documented but not a type: {heading}"
                );
            }
        }
    }

    #[test]
    fn webhook_bodies_are_byte_identical_to_the_untyped_ones() {
        let documented = example(section("payment.succeeded"));
        let event = Event::parse(EventType::PaymentSucceeded, &documented["data"].to_string()).unwrap();
        // What the relay sent before the types: `json!` around the stored payload (keys sorted).
        let before = json!({
            "id": "evt_1",
            "type": "payment.succeeded",
            "created_at": "2026-11-23T10:00:00Z",
            "data": serde_json::from_str::<Value>(&event.payload().unwrap()).unwrap(),
        })
        .to_string();
        let now = serde_json::to_string(&Envelope {
            created_at: "2026-11-23T10:00:00Z".to_owned(),
            data: &event,
            id: "evt_1",
            event_type: "payment.succeeded",
        })
        .unwrap();
        assert_eq!(now, before);
    }
}
