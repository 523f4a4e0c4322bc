//! The widget's serde-free JSON reader against serde itself: the same document must give the same value, or
//! fail in both, for the full checkout and for every single-field mutation of it (missing, null, wrong type,
//! unknown key). Natively the reader runs over `serde_json::Value`; in the browser over the parsed JS object.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tranche_domain::wire::{CheckoutView, PaymentRequest, PaymentResponse, Problem};
use tranche_widget::wire::{self, FieldsMessage, FromJson};

fn checkout_json() -> Value {
    json!({
        "seller": {"name": "Northwind"},
        "invoice": {
            "id": "inv_1", "number": "INV-1", "currency": "USD", "customer_name": "Acme",
            "issue_date": "2026-11-01", "due_date": "2026-12-01",
            "lines": [
                {"description": "Widgets", "quantity": "2", "unit_price": "400.00", "tax_rate": "25",
                 "amount": "800.00", "tax": "200.00"}
            ],
            "subtotal": "800.00", "tax": "200.00", "late_fees": "0.00", "total": "1000.00", "amount_paid": "250.00",
            "discount_taken": "0.00", "amount_credited": "0.00", "balance_due": "750.00", "status": "partially_paid"
        },
        "options": {
            "allow_partial": true, "minimum": "50.00", "maximum": "750.00", "full_balance": "750.00",
            "presets": [
                {"percent": "10", "amount": "75.00", "enabled": true},
                {"percent": "5", "amount": "37.50", "enabled": false, "reason": "amount_below_minimum"}
            ],
            "discount": {"percent": "2", "discount": "15.00", "amount": "735.00", "available_until": "2026-11-11"}
        },
        "payments": [
            {"id": "pay_1", "amount": "250.00", "currency": "USD", "status": "succeeded",
             "method": "visa •••• 4242", "created_at": "2026-11-02T10:00:00Z"},
            {"id": "pay_2", "amount": "10.00", "currency": "USD", "status": "failed", "discount": null,
             "created_at": "2026-11-03T10:00:00Z"}
        ],
        "gateway": {"kind": "sandbox", "fields_url": "http://api/sandbox/fields", "fields_origin": "http://api"},
        "rules": {
            "currency": "USD", "total": "1000.00", "amount_paid": "250.00", "discount_taken": "0.00",
            "amount_credited": "0.00", "pending": "0.00", "voided": false, "issue_date": "2026-11-01", "today": "2026-11-05",
            "terms": {
                "allow_partial": true, "minimum_amounts": {"USD": "50.00", "EUR": "45.00"},
                "minimum_percent": "5", "presets": ["10", "5"], "preset_basis": "total",
                "early_payment_discount": {"percent": "2", "within_days": 10}
            }
        }
    })
}

fn problem_json() -> Value {
    json!({
        "type": "https://tranche.dev/problems/card-declined", "title": "Card declined", "status": 402,
        "detail": "The card was declined.", "code": "card_declined", "request_id": "req_1",
        "decline_code": "insufficient_funds", "advice": "Use another card."
    })
}

fn response_json() -> Value {
    json!({
        "payment": {"id": "pay_3", "amount": "100.00", "currency": "USD", "status": "succeeded",
                    "created_at": "2026-11-05T10:00:00Z"},
        "invoice": {"id": "inv_1", "amount_paid": "350.00", "balance_due": "650.00", "status": "partially_paid"}
    })
}

/// Asserts the reader and serde agree on `doc`; returns whether it was accepted.
fn agree<T: FromJson + DeserializeOwned + PartialEq + std::fmt::Debug>(doc: &Value) -> bool {
    let ours = T::from_json(&doc.clone());
    let serde = serde_json::from_value::<T>(doc.clone()).ok();
    assert_eq!(ours, serde, "reader and serde disagree on {doc}");
    ours.is_some()
}

/// Every object path in `doc`, as JSON pointer segments.
fn object_paths(doc: &Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
    match doc {
        Value::Object(map) => {
            out.push(path.clone());
            for (k, v) in map {
                let mut p = path.clone();
                p.push(k.clone());
                object_paths(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut p = path.clone();
                p.push(i.to_string());
                object_paths(v, p, out);
            }
        }
        _ => {}
    }
}

fn at<'a>(doc: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(doc, |v, seg| match v {
        Value::Array(items) => &mut items[seg.parse::<usize>().unwrap()],
        other => &mut other[seg.as_str()],
    })
}

/// Each field of each object removed, nulled and replaced by each other JSON type; an unknown key added
/// to each object. Returns (accepted, refused) counts so the test can show both outcomes were exercised.
fn mutations_agree<T: FromJson + DeserializeOwned + PartialEq + std::fmt::Debug>(
    base: &Value,
) -> (usize, usize) {
    let mut objects = Vec::new();
    object_paths(base, Vec::new(), &mut objects);
    let replacements = [
        json!(null),
        json!(7),
        json!(2.5),
        json!("x"),
        json!(true),
        json!([]),
        json!({}),
    ];
    let (mut accepted, mut refused) = (0, 0);
    let mut count = |ok: bool| if ok { accepted += 1 } else { refused += 1 };
    for path in objects {
        let keys: Vec<String> = at(&mut base.clone(), &path)
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        for key in &keys {
            let mut doc = base.clone();
            at(&mut doc, &path).as_object_mut().unwrap().remove(key);
            count(agree::<T>(&doc));
            for r in &replacements {
                let mut doc = base.clone();
                at(&mut doc, &path)[key.as_str()] = r.clone();
                count(agree::<T>(&doc));
            }
        }
        let mut doc = base.clone();
        at(&mut doc, &path)["zz_unknown"] = json!(1);
        count(agree::<T>(&doc));
    }
    (accepted, refused)
}

#[test]
fn full_documents_read_exactly_as_serde_reads_them() {
    assert!(agree::<CheckoutView>(&checkout_json()));
    assert!(agree::<Problem>(&problem_json()));
    assert!(agree::<PaymentResponse>(&response_json()));
    // A serialized view round-trips, including every optional field left out.
    let view: CheckoutView = serde_json::from_value(checkout_json()).unwrap();
    assert!(agree::<CheckoutView>(&serde_json::to_value(&view).unwrap()));
}

#[test]
fn every_single_field_mutation_is_judged_as_serde_judges_it() {
    let (ok, bad) = mutations_agree::<CheckoutView>(&checkout_json());
    assert!(ok > 20 && bad > 200, "accepted {ok}, refused {bad}");
    let (ok, bad) = mutations_agree::<Problem>(&problem_json());
    assert!(ok > 5 && bad > 10, "accepted {ok}, refused {bad}");
    let (ok, bad) = mutations_agree::<PaymentResponse>(&response_json());
    assert!(ok > 5 && bad > 10, "accepted {ok}, refused {bad}");
}

#[test]
fn terms_refuse_unknown_fields_like_the_api() {
    let mut doc = checkout_json();
    doc["rules"]["terms"]["maximum_percent"] = json!("90");
    assert!(
        !agree::<CheckoutView>(&doc),
        "a term the widget does not know must not be ignored"
    );
    let mut doc = checkout_json();
    doc["invoice"]["new_field"] = json!("later");
    assert!(agree::<CheckoutView>(&doc), "responses may gain fields");
}

#[test]
fn non_objects_are_refused() {
    for doc in [
        json!(null),
        json!("x"),
        json!(1),
        json!([]),
        json!([checkout_json()]),
    ] {
        assert_eq!(CheckoutView::from_json(&doc.clone()), None, "{doc}");
        assert_eq!(Problem::from_json(&doc), None);
    }
}

#[test]
fn fields_iframe_messages() {
    let read = |v: Value| FieldsMessage::from_json(&v);
    assert_eq!(
        read(json!({"type": "tranche:token", "token": "tok_1", "brand": "visa", "last4": "4242"})),
        Some(FieldsMessage {
            kind: "tranche:token".into(),
            token: Some("tok_1".into()),
            message: None,
            height: None
        })
    );
    assert_eq!(
        read(json!({"type": "tranche:fields-resize", "height": 240}))
            .unwrap()
            .height,
        Some(240)
    );
    assert_eq!(read(json!({"type": "tranche:fields-resize", "height": -1})), None);
    assert_eq!(
        read(json!({"type": "tranche:fields-resize", "height": 24.5})),
        None
    );
    assert_eq!(read(json!({"token": "tok_1"})), None, "type is required");
    assert_eq!(read(json!("tranche:token")), None);
}

#[test]
fn payment_request_body_is_what_serde_writes_and_the_api_accepts() {
    for currency in [None, Some("USD".to_owned())] {
        let request = PaymentRequest {
            amount: "250.00".into(),
            payment_token: "tok_\"quoted\"".into(),
            currency,
        };
        let ours = wire::to_json(&wire::payment_request(&request));
        assert_eq!(ours, serde_json::to_value(&request).unwrap());
        // The API's own type (deny_unknown_fields) reads it back.
        assert_eq!(serde_json::from_value::<PaymentRequest>(ours).unwrap(), request);
    }
}
