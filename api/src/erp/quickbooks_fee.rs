//! A late fee in QuickBooks Online: a new line on the QBO invoice the Tranche invoice is linked to, so the
//! invoice's QBO balance grows with Tranche's and a later payment of the fee can be applied to it.
//!
//! QBO changes an invoice by a *sparse update*: `POST .../invoice` with `Id`, the current `SyncToken` and
//! `sparse: true`. A `Line` array in a sparse update replaces every line of the invoice, so the update is
//! built from the invoice just read: its lines exactly as QuickBooks sent them (as raw JSON, so no amount
//! passes through a float and no field we do not know is lost), without the `SubTotalLineDetail` line
//! QuickBooks computes itself, plus the fee's line. The fee's line carries the fee id in its description:
//! a retry that finds it already there posts nothing (Intuit's `requestid` deduplicates the same request,
//! but not a second delivery attempt after a timeout whose update did land).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::erp::events::InvoiceLateFeeApplied;
use crate::erp::quickbooks::{number, MappingError, QboRef, QboSalesItemLineDetail, QboSalesLine};

/// What to do with the invoice QuickBooks holds now.
#[derive(Debug, PartialEq, Eq)]
pub enum FeeUpdate {
    /// The fee's line is on the invoice already (an earlier attempt landed): nothing to post.
    AlreadyPosted,
    /// The sparse-update body to post to the company's `invoice` URL, and the `SyncToken` it was built on.
    Post { body: String, sync_token: String },
}

/// The QBO invoice id the fee goes on. QBO ids are digits; anything else (a seller's typo, or `../`) would
/// put another path into the request URL, so it is refused as unmappable.
pub fn invoice_id(fee: &InvoiceLateFeeApplied) -> Result<&str, MappingError> {
    let id = fee
        .invoice_external_ref
        .as_deref()
        .ok_or(MappingError::MissingInvoiceRef)?;
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MappingError::MissingInvoiceRef);
    }
    Ok(id)
}

#[derive(Deserialize)]
struct Read<'a> {
    #[serde(rename = "Invoice", borrow)]
    invoice: ReadInvoice<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReadInvoice<'a> {
    id: String,
    sync_token: String,
    #[serde(borrow, default)]
    line: Vec<&'a RawValue>,
}

/// The two fields of a line that decide what happens to it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LineMeta {
    #[serde(default)]
    detail_type: String,
    #[serde(default)]
    description: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SparseUpdate<'a> {
    id: &'a str,
    sync_token: &'a str,
    #[serde(rename = "sparse")]
    sparse: bool,
    line: Vec<&'a RawValue>,
}

/// The description of the fee's line: what the seller's bookkeeper reads, and the marker that makes the
/// posting idempotent.
pub fn description(fee: &InvoiceLateFeeApplied) -> String {
    format!(
        "Late fee, installment {} ({}; Tranche {})",
        fee.installment, fee.applied_on, fee.fee_id
    )
}

/// The sparse update adding `fee` to the invoice QuickBooks answered with (`GET .../invoice/{id}`).
pub fn update(read: &str, fee: &InvoiceLateFeeApplied, item_id: &str) -> Result<FeeUpdate, MappingError> {
    let read: Read<'_> = serde_json::from_str(read)
        .map_err(|_| MappingError::UnexpectedInvoice("no Invoice with Id and SyncToken"))?;
    if read.invoice.id != invoice_id(fee)? {
        return Err(MappingError::UnexpectedInvoice("another invoice's Id"));
    }
    let mut lines = Vec::with_capacity(read.invoice.line.len() + 1);
    for raw in read.invoice.line {
        let meta: LineMeta = serde_json::from_str(raw.get())
            .map_err(|_| MappingError::UnexpectedInvoice("a Line that is not an object"))?;
        if meta.description.contains(&fee.fee_id) {
            return Ok(FeeUpdate::AlreadyPosted);
        }
        // QuickBooks computes the subtotal line; sending it back is at best ignored.
        if meta.detail_type != "SubTotalLineDetail" {
            lines.push(raw);
        }
    }
    let description = description(fee);
    let line = QboSalesLine {
        amount: number(&fee.amount)?,
        description: &description,
        detail_type: "SalesItemLineDetail",
        sales_item_line_detail: QboSalesItemLineDetail {
            item_ref: QboRef { value: item_id },
            qty: 1,
            unit_price: number(&fee.amount)?,
        },
    };
    let line = serde_json::value::to_raw_value(&line).map_err(|_| MappingError::Incomplete("amount"))?;
    lines.push(&line);
    let body = SparseUpdate {
        id: &read.invoice.id,
        sync_token: &read.invoice.sync_token,
        sparse: true,
        line: lines,
    };
    let sync_token = read.invoice.sync_token.clone();
    serde_json::to_string(&body)
        .map(|body| FeeUpdate::Post { body, sync_token })
        .map_err(|_| MappingError::Incomplete("amount"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn fee(external_ref: Option<&str>) -> InvoiceLateFeeApplied {
        InvoiceLateFeeApplied {
            amount: "6.00".into(),
            applied_on: "2027-01-05".into(),
            currency: "USD".into(),
            fee_id: "fee_0193abc".into(),
            installment: 2,
            invoice_balance_after: "706.00".into(),
            invoice_external_ref: external_ref.map(str::to_owned),
            invoice_id: "inv_1".into(),
            invoice_number: "INV-1".into(),
            invoice_total_after: "1006.00".into(),
        }
    }

    const READ: &str = r#"{"Invoice": {"Id": "130", "SyncToken": "3", "TotalAmt": 1000.10,
        "Line": [
          {"Id": "1", "LineNum": 1, "Amount": 1000.10, "DetailType": "SalesItemLineDetail",
           "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 1000.10, "TaxCodeRef": {"value": "NON"}}},
          {"Amount": 1000.10, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
        ]}, "time": "2027-01-05T10:00:00-08:00"}"#;

    #[test]
    fn the_fee_is_appended_to_the_lines_quickbooks_sent_verbatim() {
        let FeeUpdate::Post { body, sync_token } = update(READ, &fee(Some("130")), "77").unwrap() else {
            panic!("expected a post")
        };
        // The existing line is byte for byte what QuickBooks sent (1000.10 keeps its trailing zero: no float).
        assert!(body.contains(r#""UnitPrice": 1000.10, "TaxCodeRef""#), "{body}");
        assert_eq!(sync_token, "3");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["Id"], "130");
        assert_eq!(v["SyncToken"], "3");
        assert_eq!(v["sparse"], true);
        let lines = v["Line"].as_array().unwrap();
        assert_eq!(lines.len(), 2, "the subtotal line is QuickBooks' own: {body}");
        assert_eq!(lines[0]["Id"], "1");
        assert_eq!(lines[1]["DetailType"], "SalesItemLineDetail");
        assert_eq!(lines[1]["SalesItemLineDetail"]["ItemRef"]["value"], "77");
        assert!(body.contains(r#""Amount":6.00"#), "{body}");
        assert!(lines[1]["Description"].as_str().unwrap().contains("fee_0193abc"));
    }

    #[test]
    fn a_fee_already_on_the_invoice_is_not_posted_again() {
        let FeeUpdate::Post { body, .. } = update(READ, &fee(Some("130")), "77").unwrap() else {
            panic!("expected a post")
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let again = serde_json::json!({"Invoice": {"Id": "130", "SyncToken": "4", "Line": v["Line"]}});
        assert_eq!(
            update(&again.to_string(), &fee(Some("130")), "77").unwrap(),
            FeeUpdate::AlreadyPosted
        );
    }

    #[test]
    fn refs_that_are_not_qbo_ids_and_answers_that_are_not_the_invoice_are_refused() {
        for bad in [None, Some(""), Some("../customer/1"), Some("13 0")] {
            assert_eq!(
                invoice_id(&fee(bad)),
                Err(MappingError::MissingInvoiceRef),
                "{bad:?}"
            );
        }
        assert!(matches!(
            update(READ, &fee(Some("131")), "77"),
            Err(MappingError::UnexpectedInvoice(_))
        ));
        assert!(matches!(
            update(r#"{"Fault": {}}"#, &fee(Some("130")), "77"),
            Err(MappingError::UnexpectedInvoice(_))
        ));
    }
}
