//! ISO 4217 currencies and their minor-unit exponents.
//!
//! The exponent is what makes `"10.5"` valid for USD and invalid for JPY, so it lives next to the code
//! and nowhere else. The table covers every active currency with exponent 0, 3 or 4 and the common
//! two-decimal currencies sellers invoice in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 4217 currency known to Tranche. Only constructible from the table below.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// `(code, exponent)` for every supported currency, sorted by code.
const TABLE: &[(&str, u8)] = &[
    ("AED", 2),
    ("AUD", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("GNF", 0),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PHP", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("RON", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYI", 0),
    ("UYW", 4),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("ZAR", 2),
];

/// The code is not an ISO 4217 currency Tranche supports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency code {code:?}: use an ISO 4217 code such as USD, EUR, JPY or KWD")]
pub struct UnknownCurrency {
    /// The code as given (truncated to 16 characters so hostile input stays small).
    pub code: String,
}

impl Currency {
    pub const USD: Currency = Currency {
        code: "USD",
        exponent: 2,
    };
    pub const EUR: Currency = Currency {
        code: "EUR",
        exponent: 2,
    };
    pub const GBP: Currency = Currency {
        code: "GBP",
        exponent: 2,
    };
    pub const JPY: Currency = Currency {
        code: "JPY",
        exponent: 0,
    };
    pub const KWD: Currency = Currency {
        code: "KWD",
        exponent: 3,
    };

    /// Looks up an upper-case ISO 4217 code. Lower case is rejected: codes are identifiers, not prose.
    pub fn parse(code: &str) -> Result<Currency, UnknownCurrency> {
        TABLE
            .binary_search_by(|(c, _)| (*c).cmp(code))
            .ok()
            .and_then(|i| TABLE.get(i))
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or_else(|| UnknownCurrency {
                code: code.chars().take(16).collect(),
            })
    }

    /// Every supported currency, sorted by code.
    pub fn all() -> impl Iterator<Item = Currency> {
        TABLE.iter().map(|&(code, exponent)| Currency { code, exponent })
    }

    /// The three-letter ISO 4217 code.
    pub fn code(self) -> &'static str {
        self.code
    }

    /// Number of decimal places of the minor unit (USD 2, JPY 0, KWD 3).
    pub fn exponent(self) -> u32 {
        u32::from(self.exponent)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl FromStr for Currency {
    type Err = UnknownCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique_so_binary_search_is_valid() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn exponents_of_well_known_currencies() {
        for (code, exp) in [
            ("USD", 2),
            ("JPY", 0),
            ("KWD", 3),
            ("EUR", 2),
            ("BHD", 3),
            ("KRW", 0),
            ("CLF", 4),
        ] {
            assert_eq!(Currency::parse(code).unwrap().exponent(), exp, "{code}");
        }
    }

    #[test]
    fn every_required_currency_is_present() {
        let required = [
            "USD", "EUR", "GBP", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK", "PLN", "MXN", "BRL", "INR", "CNY",
            "SGD", "HKD", "NZD", "ZAR", "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
            "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF", "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND",
        ];
        for code in required {
            assert!(Currency::parse(code).is_ok(), "{code} missing");
        }
    }

    #[test]
    fn unknown_and_lowercase_codes_are_rejected() {
        for code in ["usd", "XXX", "", "US", "USDD", "💶"] {
            assert!(Currency::parse(code).is_err(), "{code}");
        }
    }

    #[test]
    fn serde_uses_the_code() {
        let json = serde_json::to_string(&Currency::KWD).unwrap();
        assert_eq!(json, "\"KWD\"");
        assert_eq!(serde_json::from_str::<Currency>(&json).unwrap(), Currency::KWD);
        assert!(serde_json::from_str::<Currency>("\"ABC\"").is_err());
    }
}
