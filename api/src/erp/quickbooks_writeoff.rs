//! A short pay's write-off (`invoice.written_off`) posted to QuickBooks Online as a `CreditMemo`: one
//! `SalesItemLineDetail` line of the written-off amount naming the endpoint's `writeoff_item_id` (a service
//! item whose account is the seller's fee-variance expense account), for the invoice's customer. Intuit's
//! documented way of writing off a small balance is exactly this (a credit memo with a write-off item,
//! applied to the invoice); a `JournalEntry` (debit the expense, credit Accounts Receivable with the
//! customer as `Entity`) would need two configured accounts and, not being a sales transaction, is never
//! applied to the invoice by QuickBooks' "automatically apply credits". Kept apart from `quickbooks.rs`.
//! Amounts are written as JSON numbers straight from the decimal strings (never through a float).

use serde::Serialize;
use serde_json::value::RawValue;

use crate::erp::events::InvoiceWrittenOff;
use crate::erp::quickbooks::MappingError;
use crate::erp::relay::Outcome;
use crate::state::AppState;

/// The URL a CreditMemo is posted to: the endpoint's payment URL (`.../v3/company/{realm}/payment`) with its
/// last segment `creditmemo`, keeping any query (`minorversion`).
pub fn credit_memo_url(payment_url: &str) -> Option<String> {
    let (path, query) = match payment_url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (payment_url, None),
    };
    let base = path.strip_suffix("/payment")?;
    Some(match query {
        Some(query) => format!("{base}/creditmemo?{query}"),
        None => format!("{base}/creditmemo"),
    })
}

fn number(decimal: &str) -> Result<Box<RawValue>, MappingError> {
    // The decimal strings come from `Money`'s Display: digits and one point, valid JSON numbers.
    if decimal.is_empty() || !decimal.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(MappingError::Incomplete("amount"));
    }
    RawValue::from_string(decimal.to_owned()).map_err(|_| MappingError::Incomplete("amount"))
}

/// The last `n` characters of `text` (QuickBooks limits `DocNumber` to 21).
fn tail(text: &str, n: usize) -> String {
    let skip = text.chars().count().saturating_sub(n);
    text.chars().skip(skip).collect()
}

/// The QBO CreditMemo body for an `invoice.written_off` event.
pub fn credit_memo_body(event: &InvoiceWrittenOff, item_id: &str) -> Result<String, MappingError> {
    let customer_ref = event
        .customer
        .external_ref
        .as_deref()
        .ok_or(MappingError::MissingCustomerRef)?;
    let reason = event.reason.replace('_', " ");
    let note = format!(
        "Tranche write-off {} of invoice {} ({}){}",
        event.write_off_id,
        event.invoice_number,
        reason,
        event
            .payment_id
            .as_deref()
            .map(|p| format!("; short pay on payment {p}"))
            .unwrap_or_default()
    );
    let description = format!(
        "Short pay written off ({reason}) on invoice {}",
        event.invoice_number
    );
    let doc_number = tail(&event.write_off_id, 21);
    let body = QboCreditMemo {
        customer_ref: QboRef { value: customer_ref },
        currency_ref: QboRef {
            value: &event.currency,
        },
        txn_date: event.written_off_at.get(..10).unwrap_or(&event.written_off_at),
        doc_number: &doc_number,
        private_note: &note,
        line: [QboSalesLine {
            amount: number(&event.amount)?,
            description: &description,
            detail_type: "SalesItemLineDetail",
            sales_item_line_detail: QboSalesItemLineDetail {
                item_ref: QboRef { value: item_id },
                qty: 1,
                unit_price: number(&event.amount)?,
            },
        }],
    };
    serde_json::to_string(&body).map_err(|_| MappingError::Incomplete("amount"))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QboCreditMemo<'a> {
    customer_ref: QboRef<'a>,
    currency_ref: QboRef<'a>,
    txn_date: &'a str,
    doc_number: &'a str,
    private_note: &'a str,
    line: [QboSalesLine<'a>; 1],
}

#[derive(Serialize)]
struct QboRef<'a> {
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QboSalesLine<'a> {
    amount: Box<RawValue>,
    description: &'a str,
    detail_type: &'a str,
    sales_item_line_detail: QboSalesItemLineDetail<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QboSalesItemLineDetail<'a> {
    item_ref: QboRef<'a>,
    qty: u32,
    unit_price: Box<RawValue>,
}

/// `(url, body)` of the CreditMemo for one claimed delivery, or the outcome that ends the attempt: a
/// missing item or customer ref cannot be helped by retrying (dead, with the reason); a database hiccup
/// can (retry).
pub async fn request(
    state: &AppState,
    seller_id: &str,
    endpoint_id: &str,
    payment_url: &str,
    event: &InvoiceWrittenOff,
) -> Result<(String, String), Outcome> {
    let dead = |error: String| Outcome::Dead { status: None, error };
    let item = match crate::store::short_pays::writeoff_item(&state.db, seller_id, endpoint_id).await {
        Ok(item) => item,
        Err(error) => {
            tracing::warn!(%endpoint_id, %error, "reading the endpoint's write-off item");
            return Err(Outcome::Retry {
                status: None,
                error: "temporarily unavailable".to_owned(),
                after_ms: None,
            });
        }
    };
    let Some(item) = item else {
        return Err(dead(
            "the QuickBooks endpoint has no writeoff_item_id (the CreditMemo line's ItemRef for write-offs); register it again with one"
                .to_owned(),
        ));
    };
    let url = credit_memo_url(payment_url)
        .ok_or_else(|| dead("the endpoint URL does not end in /payment".to_owned()))?;
    let body = credit_memo_body(event, &item).map_err(|e| dead(e.to_string()))?;
    Ok((url, body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use serde_json::Value;

    use super::*;
    use crate::erp::events::ReceiptCustomer;

    fn event(amount: &str, customer_ref: Option<&str>) -> InvoiceWrittenOff {
        InvoiceWrittenOff {
            amount: amount.to_owned(),
            currency: "USD".to_owned(),
            customer: ReceiptCustomer {
                email: "ap@acme.example".to_owned(),
                external_ref: customer_ref.map(str::to_owned),
                id: "cus_1".to_owned(),
                name: "Acme".to_owned(),
            },
            exception_id: None,
            invoice_balance_after: "0.00".to_owned(),
            invoice_external_ref: Some("145".to_owned()),
            invoice_id: "inv_1".to_owned(),
            invoice_number: "INV-1".to_owned(),
            invoice_status_after: "paid".to_owned(),
            payment_id: Some("pay_1".to_owned()),
            reason: "bank_fee".to_owned(),
            write_off_id: "wo_0193aaaabbbbccccddddeeeeffff0000".to_owned(),
            written_off_at: "2026-12-04T11:00:00.000Z".to_owned(),
        }
    }

    #[test]
    fn a_write_off_is_a_credit_memo_with_the_write_off_item_and_exact_amounts() {
        let body = credit_memo_body(&event("90071992547409.93", Some("58")), "77").unwrap();
        assert!(body.contains("\"Amount\":90071992547409.93"), "{body}");
        assert!(body.contains("\"UnitPrice\":90071992547409.93"), "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["CustomerRef"]["value"], "58");
        assert_eq!(v["CurrencyRef"]["value"], "USD");
        assert_eq!(v["TxnDate"], "2026-12-04");
        assert_eq!(v["DocNumber"].as_str().unwrap().chars().count(), 21);
        assert_eq!(v["Line"][0]["DetailType"], "SalesItemLineDetail");
        assert_eq!(v["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"], "77");
        assert_eq!(v["Line"][0]["SalesItemLineDetail"]["Qty"], 1);
        assert!(v["PrivateNote"].as_str().unwrap().contains("bank fee"));
        assert_eq!(
            credit_memo_body(&event("1.00", None), "77"),
            Err(MappingError::MissingCustomerRef)
        );
    }

    #[test]
    fn the_credit_memo_url_sits_beside_the_payment_url() {
        assert_eq!(
            credit_memo_url("https://qb.example/v3/company/1/payment?minorversion=70").as_deref(),
            Some("https://qb.example/v3/company/1/creditmemo?minorversion=70")
        );
        assert_eq!(credit_memo_url("https://qb.example/v3/company/1/invoice"), None);
    }
}
