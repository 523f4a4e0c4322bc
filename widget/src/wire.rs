//! Reads the API's JSON into the domain's wire types, and writes request bodies and event details, without
//! serde. Why: in the wasm, serde's derived visitors, `serde-wasm-bindgen` and the float formatting its error
//! messages pull in were ~25 KB of the buyer's download (gzip), for a dozen fixed shapes.
//!
//! The reader follows serde's rules for these types exactly (missing `Option` = `None`, `null` = `None`,
//! unknown fields ignored except where the type denies them, enums by their `snake_case` names), and is generic
//! over [`Json`] so `widget/tests/wire.rs` runs it on `serde_json` values and checks it against serde itself.

use std::collections::BTreeMap;

use tranche_domain::wire::{
    AccountCustomerView, AccountInvoiceView, AccountPaymentResponse, AccountPaymentView, AccountView,
    AllocationView, CheckoutView, CurrencyAmount, DiscountView, GatewayView, InvoiceBalanceView, InvoiceView,
    LineView, OptionsView, PaymentRequest, PaymentResponse, PaymentStatus, PaymentView, PresetView, Problem,
    RulesInput, SellerView,
};
use tranche_domain::{
    Currency, DiscountSpec, InstallmentDueView, InstallmentStatus, InstallmentView, InvoiceStatus,
    NotPayable, PresetBasis, TermsSpec,
};

/// A parsed JSON value: the browser's `JSON.parse` result in the widget, `serde_json::Value` in tests.
pub trait Json: Sized {
    /// The value of an own property `key`, when `self` is an object that has it (a `null` value included).
    fn get(&self, key: &str) -> Option<Self>;
    /// The keys of an object; `None` for anything else (arrays included).
    fn keys(&self) -> Option<Vec<String>>;
    fn is_null(&self) -> bool;
    fn string(&self) -> Option<String>;
    fn boolean(&self) -> Option<bool>;
    /// A non-negative whole number (JSON has no integer type, so `2.0` counts in the browser).
    fn integer(&self) -> Option<u64>;
    fn items(&self) -> Option<Vec<Self>>;
}

/// A type read from JSON. `None` means "not this shape"; the caller reports the whole body as unreadable.
pub trait FromJson: Sized {
    fn from_json<J: Json>(value: &J) -> Option<Self>;
    /// What an absent field means: an error, except for `Option` (serde's rule).
    fn missing() -> Option<Self> {
        None
    }
}

/// Reads `object[key]`. A non-object has no keys, so every struct here (each has a required field) refuses it.
pub fn field<J: Json, T: FromJson>(object: &J, key: &str) -> Option<T> {
    match object.get(key) {
        Some(value) => T::from_json(&value),
        None => T::missing(),
    }
}

/// Refuses objects with keys outside `allowed` (serde's `deny_unknown_fields`).
fn only_keys<J: Json>(object: &J, allowed: &[&str]) -> Option<()> {
    object
        .keys()?
        .iter()
        .all(|k| allowed.contains(&k.as_str()))
        .then_some(())
}

impl FromJson for String {
    fn from_json<J: Json>(value: &J) -> Option<Self> {
        value.string()
    }
}

impl FromJson for bool {
    fn from_json<J: Json>(value: &J) -> Option<Self> {
        value.boolean()
    }
}

impl FromJson for u16 {
    fn from_json<J: Json>(value: &J) -> Option<Self> {
        value.integer()?.try_into().ok()
    }
}

impl FromJson for u32 {
    fn from_json<J: Json>(value: &J) -> Option<Self> {
        value.integer()?.try_into().ok()
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json<J: Json>(value: &J) -> Option<Self> {
        if value.is_null() {
            Some(None)
        } else {
            T::from_json(value).map(Some)
        }
    }
    fn missing() -> Option<Self> {
        Some(None)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json<J: Json>(value: &J) -> Option<Self> {
        value.items()?.iter().map(T::from_json).collect()
    }
}

impl FromJson for BTreeMap<String, String> {
    fn from_json<J: Json>(value: &J) -> Option<Self> {
        value
            .keys()?
            .into_iter()
            .map(|k| {
                let v = field(value, &k)?;
                Some((k, v))
            })
            .collect()
    }
}

/// Enums travel as their `snake_case` names.
macro_rules! by_name {
    ($($ty:ty),+) => {$(
        impl FromJson for $ty {
            fn from_json<J: Json>(value: &J) -> Option<Self> {
                <$ty>::parse(&value.string()?)
            }
        }
    )+};
}
by_name!(
    InvoiceStatus,
    NotPayable,
    PaymentStatus,
    PresetBasis,
    InstallmentStatus
);

impl FromJson for Currency {
    fn from_json<J: Json>(value: &J) -> Option<Self> {
        Currency::parse(&value.string()?).ok()
    }
}

/// `impl FromJson` for a struct read field by field; the JSON key is the field's name unless given
/// (`type_uri = "type"`), as with serde's derive, so a key cannot be mistyped.
macro_rules! object {
    ($ty:ident { $($field:ident $(= $key:literal)?),+ $(,)? }) => {
        impl FromJson for $ty {
            fn from_json<J: Json>(o: &J) -> Option<Self> {
                Some($ty {
                    $($field: field(o, object!(@key $field $($key)?))?,)+
                })
            }
        }
    };
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $key:literal) => { $key };
}

object!(CheckoutView {
    seller,
    invoice,
    options,
    not_payable,
    payments,
    gateway,
    rules
});
object!(SellerView { name });
object!(InvoiceView {
    id,
    number,
    currency,
    customer_name,
    issue_date,
    due_date,
    lines,
    subtotal,
    tax,
    late_fees,
    total,
    amount_paid,
    discount_taken,
    amount_credited,
    amount_disputed,
    balance_due,
    status,
    installments
});
object!(InstallmentView {
    number,
    due_date,
    amount,
    amount_paid,
    status
});
object!(InstallmentDueView {
    number,
    due_date,
    amount_due
});
object!(LineView {
    description,
    quantity,
    unit_price,
    tax_rate,
    amount,
    tax
});
object!(OptionsView {
    allow_partial,
    minimum,
    maximum,
    full_balance,
    presets,
    discount,
    installment
});
object!(PresetView {
    percent,
    amount,
    enabled,
    reason
});
object!(DiscountView {
    percent,
    discount,
    amount,
    available_until
});
object!(PaymentView {
    id,
    amount,
    currency,
    status,
    method,
    discount,
    created_at
});
object!(GatewayView {
    kind,
    fields_url,
    fields_origin,
    publishable_key,
    js_url
});
object!(RulesInput {
    currency,
    total,
    amount_paid,
    discount_taken,
    amount_credited,
    amount_disputed,
    amount_written_off,
    pending,
    voided,
    issue_date,
    today,
    terms,
    installment
});
object!(PaymentResponse { payment, invoice });
object!(InvoiceBalanceView {
    id,
    amount_paid,
    balance_due,
    status
});
// Account mode (DESIGN 12).
object!(AccountView {
    seller,
    customer,
    invoices,
    total_open,
    gateway
});
object!(AccountCustomerView { id, name });
object!(AccountInvoiceView {
    invoice,
    options,
    not_payable,
    rules
});
object!(CurrencyAmount { currency, amount });
object!(AccountPaymentResponse { payment, invoices });
object!(AccountPaymentView {
    id,
    amount,
    currency,
    status,
    method,
    allocations,
    created_at
});
object!(AllocationView {
    invoice_id,
    invoice_number,
    amount,
    discount
});
object!(Problem { type_uri = "type", title, status, detail, code, request_id, field, minimum, maximum, currency, decline_code, advice, invoice_id, client_secret, payment_id });

impl FromJson for TermsSpec {
    /// Strict, like the API: a term this widget does not know would change the rules it must mirror.
    fn from_json<J: Json>(o: &J) -> Option<Self> {
        only_keys(
            o,
            &[
                "allow_partial",
                "minimum_amounts",
                "minimum_percent",
                "presets",
                "preset_basis",
                "early_payment_discount",
            ],
        )?;
        Some(TermsSpec {
            allow_partial: field(o, "allow_partial")?,
            // `#[serde(default)]`: absent is empty, `null` is an error.
            minimum_amounts: match o.get("minimum_amounts") {
                Some(v) => FromJson::from_json(&v)?,
                None => BTreeMap::new(),
            },
            minimum_percent: field(o, "minimum_percent")?,
            presets: field(o, "presets")?,
            preset_basis: field(o, "preset_basis")?,
            early_payment_discount: field(o, "early_payment_discount")?,
            // The checkout's terms carry only what the amount rules read (`Terms::to_rules_spec`).
            schedule: None,
            reminders: None,
            late_fee: None,
        })
    }
}

impl FromJson for DiscountSpec {
    fn from_json<J: Json>(o: &J) -> Option<Self> {
        only_keys(o, &["percent", "within_days"])?;
        Some(DiscountSpec {
            percent: field(o, "percent")?,
            within_days: field(o, "within_days")?,
        })
    }
}

/// A message from the gateway's fields iframe (`postMessage` data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldsMessage {
    pub kind: String,
    pub token: Option<String>,
    pub message: Option<String>,
    pub height: Option<u32>,
}

object!(FieldsMessage { kind = "type", token, message, height });

/// One value written to JSON (request bodies, event details): all the shapes the widget sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Str(String),
    Bool(bool),
    /// Written for absent values in event details, so listeners see every documented key.
    Null,
}

impl From<&str> for Out {
    fn from(s: &str) -> Out {
        Out::Str(s.to_owned())
    }
}

impl From<&String> for Out {
    fn from(s: &String) -> Out {
        Out::Str(s.clone())
    }
}

impl From<bool> for Out {
    fn from(b: bool) -> Out {
        Out::Bool(b)
    }
}

impl From<&Option<String>> for Out {
    fn from(s: &Option<String>) -> Out {
        s.as_ref().map_or(Out::Null, Out::from)
    }
}

/// A flat JSON object, in key order.
pub type Fields = Vec<(&'static str, Out)>;

/// The body of `POST /v1/checkout/payments` (an absent currency is left out, as serde does).
pub fn payment_request(request: &PaymentRequest) -> Fields {
    let mut fields = vec![
        ("amount", Out::from(&request.amount)),
        ("payment_token", Out::from(&request.payment_token)),
    ];
    if let Some(currency) = &request.currency {
        fields.push(("currency", Out::from(currency)));
    }
    fields
}

/// Natively the reader runs over `serde_json` (tests check it against serde; tools may reuse it).
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use serde_json::Value;

    use super::{Fields, Json, Out};

    impl Json for Value {
        fn get(&self, key: &str) -> Option<Value> {
            self.as_object()?.get(key).cloned()
        }
        fn keys(&self) -> Option<Vec<String>> {
            Some(self.as_object()?.keys().cloned().collect())
        }
        fn is_null(&self) -> bool {
            Value::is_null(self)
        }
        fn string(&self) -> Option<String> {
            self.as_str().map(str::to_owned)
        }
        fn boolean(&self) -> Option<bool> {
            self.as_bool()
        }
        fn integer(&self) -> Option<u64> {
            self.as_u64()
        }
        fn items(&self) -> Option<Vec<Value>> {
            self.as_array().cloned()
        }
    }

    /// `fields` as the JSON object the browser builds from them.
    pub fn to_json(fields: &Fields) -> Value {
        let map = fields
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Out::Str(s) => Value::from(s.as_str()),
                    Out::Bool(b) => Value::from(*b),
                    Out::Null => Value::Null,
                };
                ((*k).to_owned(), v)
            })
            .collect();
        Value::Object(map)
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::to_json;
