//! Strings and formatting for the eight supported locales (en, de, fr, es, it, nl, pt, ja). Unknown
//! locales fall back to English; the region part (`de-AT`) only picks the language. Every amount rejection
//! and decline code has its own sentence, so the buyer always reads *why*, never "something went wrong".
//!
//! English is compiled in. The other languages live in `assets/i18n/{lang}.json`: the build ships each as
//! a hashed file that the loader fetches (integrity-checked) only for a page in that language and hands to
//! `mount`, so a new language costs the buyers of the others nothing. Natively (the view-model tests) the
//! files are compiled in.
//!
//! Money and dates: in the browser, `Intl.NumberFormat` (with the currency) and `Intl.DateTimeFormat`
//! (see [`intl`]), so the wasm carries no symbol or month tables. The amount goes to `Intl` as its decimal
//! *string*, which Chromium formats exactly (no float in between). Natively, a small stand-in formats the
//! same way for en/de/fr/es, so the view model's tests read as the browser does.

use std::sync::OnceLock;

use tranche_domain::{Currency, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    En,
    De,
    Fr,
    Es,
    It,
    Nl,
    Pt,
    Ja,
}

impl Locale {
    pub const ALL: [Locale; 8] = [
        Locale::En,
        Locale::De,
        Locale::Fr,
        Locale::Es,
        Locale::It,
        Locale::Nl,
        Locale::Pt,
        Locale::Ja,
    ];

    /// `"de-DE"`, `"de"`, `"DE_at"` -> German; anything unknown -> English.
    pub fn parse(tag: &str) -> Locale {
        let lang = tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        Locale::ALL
            .into_iter()
            .find(|l| l.tag() == lang)
            .unwrap_or(Locale::En)
    }

    /// The language tag: for `Intl`, for the domain's number input and output, and the strings file's name.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::De => "de",
            Locale::Fr => "fr",
            Locale::Es => "es",
            Locale::It => "it",
            Locale::Nl => "nl",
            Locale::Pt => "pt",
            Locale::Ja => "ja",
        }
    }

    /// `"1234.50"` in `currency` -> `"$1,234.50"` / `"1.234,50 $"` / `"1 234,50 $US"` (what `Intl` says).
    pub fn money(self, canonical: &str, currency: Currency) -> String {
        // In the browser `Intl` always answers; were it ever to fail, the number and the code still say it
        // (the stand-in's tables stay out of the wasm).
        #[cfg(target_arch = "wasm32")]
        return intl::money(self.tag(), canonical, currency).unwrap_or_else(|| {
            format!(
                "{} {}",
                tranche_domain::format::format_amount(canonical, self.tag()),
                currency.code()
            )
        });
        #[cfg(not(target_arch = "wasm32"))]
        stand_in::money(self, canonical, currency)
    }

    /// `"2026-11-01"` -> `"Nov 1, 2026"` / `"1. Nov. 2026"` / ...; anything not a date is returned as is.
    pub fn date(self, iso: &str) -> String {
        let valid = iso.len() == 10
            && iso.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
            && matches!(iso[5..7].parse::<u8>(), Ok(1..=12))
            && matches!(iso[8..10].parse::<u8>(), Ok(1..=31));
        if !valid {
            return iso.to_owned();
        }
        #[cfg(target_arch = "wasm32")]
        return intl::date(self.tag(), iso).unwrap_or_else(|| iso.to_owned());
        #[cfg(not(target_arch = "wasm32"))]
        stand_in::date(self, iso)
    }

    /// A fixed UI string.
    pub fn t(self, key: Key) -> &'static str {
        self.translated(&format!("{key:?}"))
            .unwrap_or_else(|| english(key))
    }

    /// The buyer-facing sentence for an amount rejection code, with the amounts it needs (any other code
    /// reads as a server error).
    pub fn rejection(self, code: ErrorCode, amount: &str) -> String {
        let s = match (code, english_rejection(code)) {
            (ErrorCode::InvoiceNotPayable, _) => self.t(Key::InvoicePaid),
            (_, Some(en)) => self
                .translated(&format!("rejection:{}", code.as_str()))
                .unwrap_or(en),
            (_, None) => self.t(Key::ServerError),
        };
        s.replace("{amount}", amount)
    }

    /// Advice for a gateway decline code, in the buyer's language.
    pub fn decline(self, decline_code: &str) -> &'static str {
        let (name, en) = english_decline(decline_code);
        self.translated(&format!("decline:{name}")).unwrap_or(en)
    }

    /// The string `key` from this locale's table, if it has one (English has none: it is the fallback).
    fn translated(self, key: &str) -> Option<&'static str> {
        strings::table(self)?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every key a strings file has: the [`Key`] names, `rejection:<code>` and `decline:<code>`.
pub fn string_keys() -> Vec<String> {
    let mut keys: Vec<String> = Key::ALL.iter().map(|k| format!("{k:?}")).collect();
    keys.extend(
        tranche_domain::AmountRejected::CODES
            .iter()
            .filter(|c| english_rejection(**c).is_some())
            .map(|c| format!("rejection:{}", c.as_str())),
    );
    keys.extend(DECLINES.iter().map(|d| format!("decline:{d}")));
    keys
}

/// Decline codes with their own advice; any other reads as `other`.
const DECLINES: [&str; 4] = ["insufficient_funds", "expired_card", "incorrect_cvc", "other"];

/// The translated tables, one per locale, filled once: in the browser by [`strings::install`] (from the
/// file the loader fetched), natively from the files compiled in.
pub mod strings {
    use super::*;

    pub type Table = Vec<(String, String)>;

    static TABLES: [OnceLock<Table>; 8] = [const { OnceLock::new() }; 8];

    fn slot(locale: Locale) -> &'static OnceLock<Table> {
        &TABLES[locale as usize]
    }

    /// Sets `locale`'s strings unless it has some already (several elements on a page share them).
    pub fn install(locale: Locale, table: Table) {
        if locale != Locale::En {
            let _ = slot(locale).set(table);
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub fn table(locale: Locale) -> Option<&'static Table> {
        slot(locale).get()
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn table(locale: Locale) -> Option<&'static Table> {
        let json = bundled(locale)?;
        Some(slot(locale).get_or_init(|| {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(json).unwrap_or_default();
            map.into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                .collect()
        }))
    }

    /// The strings file of `locale` as shipped (natively only; the browser fetches it).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn bundled(locale: Locale) -> Option<&'static str> {
        Some(match locale {
            Locale::En => return None,
            Locale::De => include_str!("../assets/i18n/de.json"),
            Locale::Fr => include_str!("../assets/i18n/fr.json"),
            Locale::Es => include_str!("../assets/i18n/es.json"),
            Locale::It => include_str!("../assets/i18n/it.json"),
            Locale::Nl => include_str!("../assets/i18n/nl.json"),
            Locale::Pt => include_str!("../assets/i18n/pt.json"),
            Locale::Ja => include_str!("../assets/i18n/ja.json"),
        })
    }
}

/// The browser's `Intl`. The amount is passed as its canonical decimal string: `Intl.NumberFormat`
/// formats strings as exact decimals (ECMA-402 "Intl.NumberFormat v3", Chromium 106+), so no amount ever
/// becomes a float. Fraction digits are pinned to the currency's exponent, which the domain enforced.
#[cfg(target_arch = "wasm32")]
mod intl {
    use js_sys::{Array, Intl, Object, Reflect};
    use wasm_bindgen::JsValue;

    fn options(pairs: &[(&str, JsValue)]) -> Object {
        let o = Object::new();
        for (k, v) in pairs {
            let _ = Reflect::set(&o, &JsValue::from_str(k), v);
        }
        o
    }

    pub fn money(tag: &str, canonical: &str, currency: tranche_domain::Currency) -> Option<String> {
        let digits = JsValue::from(currency.exponent());
        let o = options(&[
            ("style", "currency".into()),
            ("currency", currency.code().into()),
            ("minimumFractionDigits", digits.clone()),
            ("maximumFractionDigits", digits),
        ]);
        let format = Intl::NumberFormat::new(&Array::of1(&tag.into()), &o).format();
        format
            .call1(&JsValue::UNDEFINED, &JsValue::from_str(canonical))
            .ok()?
            .as_string()
    }

    /// A calendar date: midnight UTC formatted in UTC, so no time zone moves it a day.
    pub fn date(tag: &str, iso: &str) -> Option<String> {
        let o = options(&[
            ("year", "numeric".into()),
            ("month", "short".into()),
            ("day", "numeric".into()),
            ("timeZone", "UTC".into()),
        ]);
        let date = js_sys::Date::new(&JsValue::from_str(&format!("{iso}T00:00:00Z")));
        let format = Intl::DateTimeFormat::new(&Array::of1(&tag.into()), &o).format();
        format.call1(&JsValue::UNDEFINED, &date).ok()?.as_string()
    }
}

/// What `Intl` prints for en/de/fr/es, for the native tests (the browser never runs this unless `Intl`
/// fails); other locales get the number with the code. Native only: the wasm falls back to the plain
/// number and code (or the ISO date), so these tables cost the download nothing.
#[cfg(not(target_arch = "wasm32"))]
mod stand_in {
    use super::Locale;
    use tranche_domain::format::format_amount;
    use tranche_domain::Currency;

    pub fn money(locale: Locale, canonical: &str, currency: Currency) -> String {
        let number = format_amount(canonical, locale.tag());
        let code = currency.code();
        match (locale, code) {
            (Locale::En, "USD") => format!("${number}"),
            (Locale::En, "EUR") => format!("€{number}"),
            (Locale::En, "GBP") => format!("£{number}"),
            (Locale::En, "JPY") => format!("¥{number}"),
            (Locale::En | Locale::Ja, _) => format!("{code}\u{a0}{number}"),
            (Locale::Fr, "USD") => format!("{number}\u{a0}$US"),
            (_, "USD") => format!("{number}\u{a0}$"),
            (_, "EUR") => format!("{number}\u{a0}€"),
            _ => format!("{number}\u{a0}{code}"),
        }
    }

    pub fn date(locale: Locale, iso: &str) -> String {
        const EN: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        const DE: [&str; 12] = [
            "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez.",
        ];
        let (y, m, d) = (&iso[..4], &iso[5..7], iso[8..10].trim_start_matches('0'));
        let month = m.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1;
        match locale {
            Locale::En => format!("{} {d}, {y}", EN[month]),
            Locale::De => format!("{d}. {} {y}", DE[month]),
            _ => iso.to_owned(),
        }
    }
}

fn english(key: Key) -> &'static str {
    use Key::*;
    match key {
            Invoice => "Invoice",
            Issued => "Issued",
            Due => "Due",
            Description => "Description",
            Quantity => "Qty",
            UnitPrice => "Unit price",
            Amount => "Amount",
            Subtotal => "Subtotal",
            Tax => "Tax",
            LateFees => "Late fees",
            Total => "Total",
            AmountPaid => "Amount paid",
            Discounts => "Discounts taken",
            BalanceDue => "Balance due",
            StatusOpen => "Open",
            StatusPartiallyPaid => "Partially paid",
            StatusPaid => "Paid",
            StatusVoid => "Void",
            History => "Payments",
            ChooseAmount => "How much do you want to pay?",
            FullBalance => "Full balance",
            OtherAmount => "Other amount",
            RemainingAfter => "Remaining after this payment",
            Continue => "Continue to payment",
            Back => "Change amount",
            PaymentMethod => "Payment method",
            Pay => "Pay",
            Paying => "Paying…",
            Loading => "Loading invoice…",
            ThankYou => "Thank you! Your payment was received.",
            PendingNote => "Your bank payment is being processed; the balance updates when it clears.",
            PaidAmount => "Amount paid now",
            NewBalance => "New balance",
            PayAgain => "Pay another part",
            TryAgain => "Try again",
            Retry => "Retry the same payment",
            InvoicePaid => "This invoice is paid in full. Nothing is due.",
            InvoiceVoid => "This invoice was voided by the seller and cannot be paid.",
            InProgress => "A payment for the whole balance is being processed. Check back shortly.",
            NetworkError => "We could not reach the payment service. Check your connection; retrying will not charge you twice.",
            LinkInvalid => "This payment link is invalid or has expired. Ask the seller for a new one.",
            OriginBlocked => "This site is not allowed to take payments for this seller.",
            KeyInUse => "This payment is still being processed. Wait a moment, then retry.",
            BalanceChanged => "The balance changed while you were paying. The amounts below are up to date.",
            ServerError => "The payment service had a problem and nothing was charged. Try again in a moment.",
            Unconfirmed => "We could not confirm whether your payment went through. Retrying sends the same payment again and can never charge you twice.",
            Declined => "Payment declined",
            DiscountOffer => "Early-payment discount",
            SaveBy => "Pay the balance by {date} and save {amount}",
            MinimumHint => "Minimum {amount}",
            FieldsLoading => "Loading secure payment fields…",
            FieldsTitle => "Secure payment fields",
            Plan => "Payment plan",
            InstallmentCol => "Installment",
            Status => "Status",
            Upcoming => "Upcoming",
            DueNow => "Due now",
            Overdue => "Overdue",
            PayInstallment => "Pay installment {number}",
            OpenInvoices => "Open invoices",
            PayAll => "Pay all",
            Select => "Select",
            Disputed => "Disputed",
            OneCurrency => "Choose invoices in one currency for one payment.",
            Dispute => "Dispute",
            Reason => "Reason",
            Note => "Note (optional)",
            SendDispute => "Send dispute",
            ReasonPricing => "Wrong price",
            ReasonQuantity => "Wrong quantity",
            ReasonDamaged => "Damaged goods",
            ReasonNotReceived => "Not received",
            ReasonDuplicate => "Billed twice",
            ReasonOther => "Other",
    }
}

fn english_rejection(code: ErrorCode) -> Option<&'static str> {
    Some(match code {
        ErrorCode::AmountNotPositive => "Enter an amount greater than zero.",
        ErrorCode::AmountMalformed => "Enter the amount as a number, for example {amount}.",
        ErrorCode::AmountPrecision => "Too many decimal places: {amount} allows no more.",
        ErrorCode::CurrencyMismatch => "This invoice is payable in {amount} only.",
        ErrorCode::PartialNotAllowed => "This invoice must be paid in full: {amount}.",
        ErrorCode::AmountBelowMinimum => "The minimum payment is {amount}.",
        ErrorCode::AmountExceedsBalance => {
            "That is more than the balance due. The most you can pay is {amount}."
        }
        _ => return None,
    })
}

/// `(name in the strings files, English advice)`.
fn english_decline(decline_code: &str) -> (&'static str, &'static str) {
    match decline_code {
        "insufficient_funds" => (
            "insufficient_funds",
            "The card has insufficient funds. Pay a smaller part now, or use another card.",
        ),
        "expired_card" => (
            "expired_card",
            "The card has expired. Check the expiry date or use another card.",
        ),
        "incorrect_cvc" => (
            "incorrect_cvc",
            "The security code is incorrect. Check the 3 or 4 digits on the card and try again.",
        ),
        _ => (
            "other",
            "The card was declined by the bank. Use another card, or contact your bank.",
        ),
    }
}

/// Keys of the fixed UI strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Invoice,
    Issued,
    Due,
    Description,
    Quantity,
    UnitPrice,
    Amount,
    Subtotal,
    Tax,
    LateFees,
    Total,
    AmountPaid,
    Discounts,
    BalanceDue,
    StatusOpen,
    StatusPartiallyPaid,
    StatusPaid,
    StatusVoid,
    History,
    ChooseAmount,
    FullBalance,
    OtherAmount,
    RemainingAfter,
    Continue,
    Back,
    PaymentMethod,
    Pay,
    Paying,
    Loading,
    ThankYou,
    PendingNote,
    PaidAmount,
    NewBalance,
    PayAgain,
    TryAgain,
    Retry,
    InvoicePaid,
    InvoiceVoid,
    InProgress,
    NetworkError,
    LinkInvalid,
    OriginBlocked,
    KeyInUse,
    BalanceChanged,
    ServerError,
    Declined,
    DiscountOffer,
    SaveBy,
    MinimumHint,
    FieldsLoading,
    FieldsTitle,
    /// A success answer that could not be read, and the invoice does not show the payment yet.
    Unconfirmed,
    /// The payment plan (DESIGN 11): its table, the installment statuses, the installment choice.
    Plan,
    InstallmentCol,
    Status,
    Upcoming,
    DueNow,
    Overdue,
    PayInstallment,
    /// Account mode and the dispute form (DESIGN 12).
    OpenInvoices,
    PayAll,
    Select,
    Disputed,
    OneCurrency,
    Dispute,
    Reason,
    Note,
    SendDispute,
    ReasonPricing,
    ReasonQuantity,
    ReasonDamaged,
    ReasonNotReceived,
    ReasonDuplicate,
    ReasonOther,
}

impl Key {
    pub const ALL: [Key; 74] = [
        Key::Invoice,
        Key::Issued,
        Key::Due,
        Key::Description,
        Key::Quantity,
        Key::UnitPrice,
        Key::Amount,
        Key::Subtotal,
        Key::Tax,
        Key::LateFees,
        Key::Total,
        Key::AmountPaid,
        Key::Discounts,
        Key::BalanceDue,
        Key::StatusOpen,
        Key::StatusPartiallyPaid,
        Key::StatusPaid,
        Key::StatusVoid,
        Key::History,
        Key::ChooseAmount,
        Key::FullBalance,
        Key::OtherAmount,
        Key::RemainingAfter,
        Key::Continue,
        Key::Back,
        Key::PaymentMethod,
        Key::Pay,
        Key::Paying,
        Key::Loading,
        Key::ThankYou,
        Key::PendingNote,
        Key::PaidAmount,
        Key::NewBalance,
        Key::PayAgain,
        Key::TryAgain,
        Key::Retry,
        Key::InvoicePaid,
        Key::InvoiceVoid,
        Key::InProgress,
        Key::NetworkError,
        Key::LinkInvalid,
        Key::OriginBlocked,
        Key::KeyInUse,
        Key::BalanceChanged,
        Key::ServerError,
        Key::Declined,
        Key::DiscountOffer,
        Key::SaveBy,
        Key::MinimumHint,
        Key::FieldsLoading,
        Key::FieldsTitle,
        Key::Unconfirmed,
        Key::Plan,
        Key::InstallmentCol,
        Key::Status,
        Key::Upcoming,
        Key::DueNow,
        Key::Overdue,
        Key::PayInstallment,
        Key::OpenInvoices,
        Key::PayAll,
        Key::Select,
        Key::Disputed,
        Key::OneCurrency,
        Key::Dispute,
        Key::Reason,
        Key::Note,
        Key::SendDispute,
        Key::ReasonPricing,
        Key::ReasonQuantity,
        Key::ReasonDamaged,
        Key::ReasonNotReceived,
        Key::ReasonDuplicate,
        Key::ReasonOther,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_locales_fall_back_to_english() {
        assert_eq!(Locale::parse("de-AT"), Locale::De);
        assert_eq!(Locale::parse("FR_ca"), Locale::Fr);
        assert_eq!(Locale::parse("es"), Locale::Es);
        assert_eq!(Locale::parse("ja-JP"), Locale::Ja);
        assert_eq!(Locale::parse("pt-BR"), Locale::Pt);
        assert_eq!(Locale::parse("xx-YY"), Locale::En);
        assert_eq!(Locale::parse(""), Locale::En);
    }

    #[test]
    fn the_native_stand_in_formats_as_intl_does() {
        let usd = Currency::USD;
        assert_eq!(Locale::En.money("1234.50", usd), "$1,234.50");
        assert_eq!(Locale::De.money("1234.50", Currency::EUR), "1.234,50\u{a0}€");
        assert_eq!(Locale::Es.money("1234.50", usd), "1.234,50\u{a0}$");
        assert_eq!(Locale::En.money("250.000", Currency::KWD), "KWD\u{a0}250.000");
        assert_eq!(Locale::En.money("120000", Currency::JPY), "¥120,000");
        assert_eq!(Locale::En.date("2026-11-01"), "Nov 1, 2026");
        assert_eq!(Locale::De.date("2026-03-09"), "9. März 2026");
    }

    #[test]
    fn only_real_dates_are_formatted() {
        for bad in ["2026-13-01", "garbage", "2026-1-01", "2026-02-00", ""] {
            assert_eq!(Locale::En.date(bad), bad);
        }
    }

    #[test]
    fn every_strings_file_has_exactly_the_english_keys_and_placeholders() {
        let keys = string_keys();
        for locale in Locale::ALL.into_iter().skip(1) {
            let table = strings::table(locale).unwrap();
            let mut got: Vec<&str> = table.iter().map(|(k, _)| k.as_str()).collect();
            let mut want: Vec<&str> = keys.iter().map(String::as_str).collect();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{locale:?}");
            for (key, text) in table {
                let english = Locale::En;
                let en = if let Some(code) = key.strip_prefix("rejection:") {
                    let code = ErrorCode::parse(code).unwrap();
                    english.rejection(code, "{amount}")
                } else if let Some(code) = key.strip_prefix("decline:") {
                    english.decline(code).to_owned()
                } else {
                    let k = Key::ALL.iter().find(|k| format!("{k:?}") == *key).unwrap();
                    english.t(*k).to_owned()
                };
                for placeholder in ["{amount}", "{date}"] {
                    assert_eq!(
                        en.contains(placeholder),
                        text.contains(placeholder),
                        "{locale:?} {key}: {text}"
                    );
                }
                assert!(!text.trim().is_empty(), "{locale:?} {key}");
            }
        }
    }

    #[test]
    fn every_rejection_code_has_a_sentence_in_every_locale() {
        for locale in Locale::ALL {
            for code in tranche_domain::AmountRejected::CODES {
                let s = locale.rejection(code, "X");
                assert!(!s.is_empty());
                assert_ne!(s, locale.t(Key::ServerError), "{code} in {locale:?} fell through");
            }
            // Translated, not the English fallback.
            if locale != Locale::En {
                assert_ne!(locale.t(Key::ChooseAmount), Locale::En.t(Key::ChooseAmount));
                assert_ne!(locale.decline("expired_card"), Locale::En.decline("expired_card"));
            }
        }
    }
}
