//! Money, percent and localized-amount parsing never panic, and whatever parses round-trips exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tranche_domain::format::{format_amount, parse_localized};
use tranche_domain::{Currency, Money, Percent};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for code in ["USD", "JPY", "KWD", "CLF"] {
        let c = Currency::parse(code).unwrap();
        if let Ok(m) = Money::parse(s, c) {
            let shown = m.to_string();
            assert_eq!(Money::parse(&shown, c).unwrap(), m);
            assert_eq!(Money::from_minor_units(m.minor_units(), c).unwrap(), m);
        }
    }
    let _ = Percent::parse(s);
    let _ = Currency::parse(s);
    for locale in ["en", "de", "fr", "sv"] {
        if let Some(canonical) = parse_localized(s, locale) {
            assert_eq!(parse_localized(&format_amount(&canonical, locale), locale).as_deref(), Some(canonical.as_str()));
        }
    }
});
