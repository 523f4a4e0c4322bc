//! The hand-written wire names of the enums (used by the widget's serde-free reader) are exactly serde's.
#![allow(clippy::unwrap_used)]

use serde::Serialize;
use tranche_domain::wire::PaymentStatus;
use tranche_domain::{InvoiceStatus, NotPayable, PresetBasis};

fn serde_name(v: impl Serialize) -> String {
    serde_json::to_value(v).unwrap().as_str().unwrap().to_owned()
}

macro_rules! same_names {
    ($ty:ty: $($variant:expr),+) => {
        $(
            let name = serde_name($variant);
            assert_eq!($variant.as_str(), name);
            assert_eq!(<$ty>::parse(&name), Some($variant));
        )+
        assert_eq!(<$ty>::parse(""), None);
        assert_eq!(<$ty>::parse("Paid"), None, "names are case-sensitive, as in serde");
    };
}

#[test]
fn enum_wire_names_match_serde() {
    same_names!(InvoiceStatus: InvoiceStatus::Open, InvoiceStatus::PartiallyPaid, InvoiceStatus::Paid, InvoiceStatus::Void);
    same_names!(NotPayable: NotPayable::Void, NotPayable::Paid, NotPayable::PaymentInProgress);
    same_names!(PresetBasis: PresetBasis::Balance, PresetBasis::Total);
    same_names!(PaymentStatus: PaymentStatus::Pending, PaymentStatus::Succeeded, PaymentStatus::Failed, PaymentStatus::PartiallyRefunded, PaymentStatus::Refunded);
}
