//! The payment body: JSON decoding and the amount rules on whatever decodes never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tranche_domain::wire::{parse_date, PaymentRequest};
use tranche_domain::{Currency, InvoiceTotals, Money, Rules, Terms};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<PaymentRequest>(data) else { return };
    let usd = Currency::parse("USD").unwrap();
    let zero = Money::zero(usd);
    let invoice = InvoiceTotals::new(
        Money::parse("1000.00", usd).unwrap(),
        Money::parse("250.00", usd).unwrap(),
        zero,
        zero,
        false,
        parse_date("2026-11-01").unwrap(),
    )
    .unwrap();
    let rules = Rules::new(&invoice, &Terms::default(), parse_date("2026-11-20").unwrap());
    if let Ok(accepted) = rules.check_str(&req.amount, req.currency.as_deref()) {
        assert!(accepted.amount.minor_units() <= 75_000);
    }
});
