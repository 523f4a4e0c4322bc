//! The QuickBooks Online connector: a cash receipt becomes a QBO `Payment` linked to the invoice.
//! Amounts are written as JSON numbers straight from the decimal strings (never through a float).

use serde::Serialize;
use serde_json::value::RawValue;

use crate::erp::events::{PaymentSucceeded, RefundSucceeded};

/// Why a receipt cannot be posted to QuickBooks (not retryable: the data must be fixed first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the customer has no external_ref (the QuickBooks customer id)")]
    MissingCustomerRef,
    #[error("the invoice has no external_ref (the QuickBooks invoice id)")]
    MissingInvoiceRef,
    #[error("the receipt payload is incomplete: {0}")]
    Incomplete(&'static str),
    #[error("the QuickBooks endpoint has no late_fee_item_id (the ItemRef of a late fee's invoice line); register it again with one")]
    MissingLateFeeItem,
    #[error("QuickBooks answered the invoice read with something else than an Invoice: {0}")]
    UnexpectedInvoice(&'static str),
    #[error("the QuickBooks endpoint has no refund_account_id and refund_item_id (RefundReceipt's DepositToAccountRef and ItemRef); register it again with both")]
    MissingRefundRefs,
}

/// The last `n` characters of `text` (QuickBooks limits reference numbers to 21).
fn tail(text: &str, n: usize) -> String {
    let skip = text.chars().count().saturating_sub(n);
    text.chars().skip(skip).collect()
}

/// The URL a RefundReceipt is posted to: the endpoint's payment URL (`.../v3/company/{realm}/payment`)
/// with its last segment `refundreceipt`, keeping any query (`minorversion`).
pub fn refund_receipt_url(payment_url: &str) -> Option<String> {
    sibling_url(payment_url, "refundreceipt")
}

/// The endpoint's payment URL with its last segment replaced by `tail` (`invoice`, `invoice/42`), keeping
/// any query (`minorversion`): every QBO entity of the company lives beside `payment`.
pub fn sibling_url(payment_url: &str, tail: &str) -> Option<String> {
    let (path, query) = match payment_url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (payment_url, None),
    };
    let base = path.strip_suffix("/payment")?;
    Some(match query {
        Some(query) => format!("{base}/{tail}?{query}"),
        None => format!("{base}/{tail}"),
    })
}

/// The QBO RefundReceipt body for a `refund.succeeded` event: money paid back to the customer from
/// `account_id` (Intuit's required `DepositToAccountRef`), one `SalesItemLineDetail` line of the refunded
/// amount naming `item_id`, the refund's reference in `PaymentRefNum` (21 characters at most, like the
/// payment's) and the full ids in `PrivateNote`.
pub fn refund_receipt_body(
    refund: &RefundSucceeded,
    account_id: &str,
    item_id: &str,
) -> Result<String, MappingError> {
    let customer_ref = refund
        .customer
        .external_ref
        .as_deref()
        .ok_or(MappingError::MissingCustomerRef)?;
    let amount = number(&refund.amount)?;
    let note = format!(
        "Tranche refund {} of payment {} for invoice {}",
        refund.refund_id, refund.payment_id, refund.invoice_number
    );
    let description = format!("Refund for invoice {}", refund.invoice_number);
    let ref_num = tail(&refund.refund_id, 21);
    let body = QboRefundReceipt {
        customer_ref: QboRef { value: customer_ref },
        currency_ref: QboRef {
            value: &refund.currency,
        },
        deposit_to_account_ref: QboRef { value: account_id },
        total_amt: number(&refund.amount)?,
        txn_date: refund.refunded_at.get(..10).unwrap_or(&refund.refunded_at),
        payment_ref_num: &ref_num,
        private_note: &note,
        line: [QboSalesLine {
            amount: number(&refund.amount)?,
            description: &description,
            detail_type: "SalesItemLineDetail",
            sales_item_line_detail: QboSalesItemLineDetail {
                item_ref: QboRef { value: item_id },
                qty: 1,
                unit_price: amount,
            },
        }],
    };
    serde_json::to_string(&body).map_err(|_| MappingError::Incomplete("amount"))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QboRefundReceipt<'a> {
    customer_ref: QboRef<'a>,
    currency_ref: QboRef<'a>,
    deposit_to_account_ref: QboRef<'a>,
    total_amt: Box<RawValue>,
    txn_date: &'a str,
    payment_ref_num: &'a str,
    private_note: &'a str,
    line: [QboSalesLine<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QboSalesLine<'a> {
    pub(crate) amount: Box<RawValue>,
    pub(crate) description: &'a str,
    pub(crate) detail_type: &'a str,
    pub(crate) sales_item_line_detail: QboSalesItemLineDetail<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QboSalesItemLineDetail<'a> {
    pub(crate) item_ref: QboRef<'a>,
    pub(crate) qty: u32,
    pub(crate) unit_price: Box<RawValue>,
}

pub(crate) fn number(decimal: &str) -> Result<Box<RawValue>, MappingError> {
    // The decimal strings come from `Money`'s Display: digits and one point, valid JSON numbers.
    if decimal.is_empty() || !decimal.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(MappingError::Incomplete("amount"));
    }
    RawValue::from_string(decimal.to_owned()).map_err(|_| MappingError::Incomplete("amount"))
}

/// The QBO Payment body for a `payment.succeeded` receipt. `PaymentRefNum` is limited to 21 characters
/// by QuickBooks, so it carries the tail of the payment id (unique per seller in practice); the full id
/// goes in `PrivateNote`.
pub fn payment_body(receipt: &PaymentSucceeded) -> Result<String, MappingError> {
    let customer_ref = receipt
        .customer
        .external_ref
        .as_deref()
        .ok_or(MappingError::MissingCustomerRef)?;
    let invoice_ref = receipt
        .invoice_external_ref
        .as_deref()
        .ok_or(MappingError::MissingInvoiceRef)?;
    let (amount, payment_id, paid_at) = (&receipt.amount, &receipt.payment_id, &receipt.paid_at);
    let ref_num: String = payment_id
        .chars()
        .rev()
        .take(21)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    // An early-payment discount settles part of the invoice without cash: the Payment carries the cash
    // (TotalAmt, the linked line) and names the discount, so the bookkeeper can book it as a sales
    // discount (docs/decisions.md, "Payment plans, reminders, late fees and alerts").
    // An account payment names every invoice it paid.
    let invoices = if receipt.allocations.len() > 1 {
        let numbers: Vec<&str> = receipt
            .allocations
            .iter()
            .map(|a| a.invoice_number.as_str())
            .collect();
        format!("invoices {}", numbers.join(", "))
    } else {
        format!("invoice {}", receipt.invoice_number)
    };
    let note = match receipt.discount.as_deref() {
        Some(discount) => format!(
            "Tranche payment {payment_id} for {invoices}; early-payment discount {discount} {} taken",
            receipt.currency
        ),
        None => format!("Tranche payment {payment_id} for {invoices}"),
    };
    // Serialised from a struct, not through `json!`: a `Value` would parse the raw amounts into `f64`
    // (`"1000.00"` became `1000.0`, and large amounts lost cents).
    let body = QboPayment {
        customer_ref: QboRef { value: customer_ref },
        currency_ref: QboRef {
            value: &receipt.currency,
        },
        total_amt: number(amount)?,
        txn_date: paid_at.get(..10).unwrap_or(paid_at),
        payment_ref_num: &ref_num,
        private_note: &note,
        line: lines(receipt, invoice_ref)?,
    };
    serde_json::to_string(&body).map_err(|_| MappingError::Incomplete("amount"))
}

/// One `Line` per invoice the payment paid, each linked to that invoice (`LinkedTxn`, `TxnType: Invoice`)
/// with its allocation as `Amount`; QuickBooks applies the Payment's `TotalAmt` (the one charge) across them.
/// A receipt without allocations (written before accounts) is one line for the whole amount, as before.
fn lines<'a>(receipt: &'a PaymentSucceeded, invoice_ref: &'a str) -> Result<Vec<QboLine<'a>>, MappingError> {
    if receipt.allocations.is_empty() {
        return Ok(vec![QboLine {
            amount: number(&receipt.amount)?,
            linked_txn: [QboLinkedTxn {
                txn_id: invoice_ref,
                txn_type: "Invoice",
            }],
        }]);
    }
    receipt
        .allocations
        .iter()
        .map(|a| {
            Ok(QboLine {
                amount: number(&a.amount)?,
                linked_txn: [QboLinkedTxn {
                    txn_id: a
                        .invoice_external_ref
                        .as_deref()
                        .ok_or(MappingError::MissingInvoiceRef)?,
                    txn_type: "Invoice",
                }],
            })
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QboPayment<'a> {
    customer_ref: QboRef<'a>,
    currency_ref: QboRef<'a>,
    total_amt: Box<RawValue>,
    txn_date: &'a str,
    payment_ref_num: &'a str,
    private_note: &'a str,
    line: Vec<QboLine<'a>>,
}

#[derive(Serialize)]
pub(crate) struct QboRef<'a> {
    pub(crate) value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QboLine<'a> {
    amount: Box<RawValue>,
    linked_txn: [QboLinkedTxn<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QboLinkedTxn<'a> {
    txn_id: &'a str,
    txn_type: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erp::events::{PaymentMethod, ReceiptCustomer};
    use serde_json::{json, Value};

    fn receipt(amount: &str, customer_ref: Option<&str>, invoice_ref: Option<&str>) -> PaymentSucceeded {
        PaymentSucceeded {
            amount: amount.to_owned(),
            currency: "USD".to_owned(),
            customer: ReceiptCustomer {
                email: "ap@acme.example".to_owned(),
                external_ref: customer_ref.map(str::to_owned),
                id: "cus_1".to_owned(),
                name: "Acme".to_owned(),
            },
            discount: None,
            gateway_charge_id: None,
            invoice_balance_after: "0.00".to_owned(),
            invoice_external_ref: invoice_ref.map(str::to_owned),
            invoice_id: "inv_1".to_owned(),
            invoice_number: "INV-1".to_owned(),
            invoice_status_after: "paid".to_owned(),
            method: PaymentMethod {
                brand: "visa".to_owned(),
                kind: "card".to_owned(),
                last4: "4242".to_owned(),
            },
            paid_at: "2026-11-23T10:00:00Z".to_owned(),
            payment_id: "pay_0193aaaabbbbccccddddeeeeffff0000".to_owned(),
            allocations: Vec::new(),
        }
    }

    #[test]
    fn maps_a_receipt_to_a_linked_payment_without_floats() {
        let receipt = receipt("1234567890123.45", Some("58"), Some("145"));
        let body = payment_body(&receipt).unwrap();
        assert!(body.contains("\"TotalAmt\":1234567890123.45"), "{body}");
        // Exact even where a float is not: trailing zeros kept, no rounding beyond 2^53.
        let mut big = receipt.clone();
        big.amount = "90071992547409.93".to_owned();
        let big = payment_body(&big).unwrap();
        assert!(big.contains("\"TotalAmt\":90071992547409.93"), "{big}");
        assert!(big.contains("\"Amount\":90071992547409.93"), "{big}");
        let mut round = receipt.clone();
        round.amount = "1000.00".to_owned();
        assert!(payment_body(&round).unwrap().contains("\"TotalAmt\":1000.00"));
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["Line"][0]["LinkedTxn"][0],
            json!({"TxnId": "145", "TxnType": "Invoice"})
        );
        assert_eq!(v["CustomerRef"]["value"], "58");
        assert_eq!(v["PaymentRefNum"].as_str().unwrap().len(), 21);
        assert_eq!(v["TxnDate"], "2026-11-23");
    }

    #[test]
    fn an_allocated_payment_is_one_line_per_invoice() {
        use crate::erp::events::ReceiptAllocation;
        let allocation = |id: &str, reference: Option<&str>, amount: &str| ReceiptAllocation {
            invoice_id: id.to_owned(),
            invoice_number: format!("N-{id}"),
            invoice_external_ref: reference.map(str::to_owned),
            amount: amount.to_owned(),
            discount: None,
            invoice_balance_after: "0.00".to_owned(),
        };
        let mut receipt = receipt("90071992547409.93", Some("58"), Some("145"));
        receipt.allocations = vec![
            allocation("inv_1", Some("145"), "90071992547400.00"),
            allocation("inv_2", Some("146"), "9.93"),
        ];
        let body = payment_body(&receipt).unwrap();
        assert!(body.contains("\"TotalAmt\":90071992547409.93"), "{body}");
        assert!(body.contains("\"Amount\":90071992547400.00"), "{body}");
        assert!(body.contains("\"Amount\":9.93"), "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["Line"].as_array().unwrap().len(), 2);
        assert_eq!(
            v["Line"][1]["LinkedTxn"][0],
            json!({"TxnId": "146", "TxnType": "Invoice"})
        );
        receipt.allocations[1].invoice_external_ref = None;
        assert_eq!(payment_body(&receipt), Err(MappingError::MissingInvoiceRef));
    }

    #[test]
    fn missing_refs_are_named() {
        let receipt = receipt("1.00", None, Some("1"));
        assert_eq!(payment_body(&receipt), Err(MappingError::MissingCustomerRef));
    }
}
