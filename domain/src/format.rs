//! Locale-aware display and input of amounts, without floats: formatting works on the canonical decimal
//! string (`"1234.50"` -> `"1.234,50"` in German) and parsing turns what a buyer typed back into the
//! canonical string, refusing anything ambiguous (`"1.5"` in German is neither 1.5 nor 15).

/// Separators of a locale: `(group, decimal)`.
fn separators(locale: &str) -> (&'static str, char) {
    let language = locale
        .split(['-', '_'])
        .next()
        .unwrap_or("en")
        .to_ascii_lowercase();
    match language.as_str() {
        "de" | "es" | "it" | "nl" | "pt" | "da" | "id" | "tr" => (".", ','),
        // French groups with a narrow no-break space.
        "fr" => ("\u{202f}", ','),
        "sv" | "nb" | "no" | "fi" | "pl" | "cs" => ("\u{a0}", ','),
        _ => (",", '.'),
    }
}

/// Formats a canonical decimal string for `locale` (`"1234567.5"` -> `"1,234,567.5"` in `en`).
/// Input that is not canonical is returned unchanged.
pub fn format_amount(canonical: &str, locale: &str) -> String {
    let (int_part, frac_part) = match canonical.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (canonical, None),
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return canonical.to_owned();
    }
    let (group, decimal) = separators(locale);
    let mut out = String::with_capacity(canonical.len() + canonical.len() / 3 * group.len());
    for (i, digit) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            out.push_str(group);
        }
        out.push(digit);
    }
    if let Some(frac) = frac_part {
        out.push(decimal);
        out.push_str(frac);
    }
    out
}

/// Parses a buyer's input in `locale` into a canonical decimal string, or `None` when it is not a
/// plain, unambiguous number. Spaces are ignored; group separators must group by threes.
/// More integer (or decimal) digits than this is beyond any amount (`MAX_MINOR_UNITS` has 15 digits); too many
/// decimals for the currency is left to `Money::parse`, which names the problem (`amount_precision`).
const MAX_DIGITS: usize = 18;

pub fn parse_localized(input: &str, locale: &str) -> Option<String> {
    let (group, decimal) = separators(locale);
    let cleaned: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}'))
        .collect();
    // Long enough for any canonical amount with its group separators (18 + 5 + 1 + 18), no longer.
    if cleaned.is_empty() || cleaned.len() > 64 {
        return None;
    }
    let group_char = group.chars().next().filter(|c| !c.is_whitespace());
    let (int_part, frac_part) = match cleaned.split_once(decimal) {
        Some((i, f)) => (i, Some(f)),
        None => (cleaned.as_str(), None),
    };
    if frac_part.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let digits: String = match group_char {
        Some(g) if int_part.contains(g) => {
            let groups: Vec<&str> = int_part.split(g).collect();
            let first_ok = groups.first().is_some_and(|f| (1..=3).contains(&f.len()));
            let rest_ok = groups.iter().skip(1).all(|g| g.len() == 3);
            if !first_ok || !rest_ok {
                return None;
            }
            groups.concat()
        }
        _ => int_part.to_owned(),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Canonical form: no leading zeros ("007" is 7), and no more integer digits than any amount can have, so
    // the canonical string always formats back to input this function accepts (found by fuzzing).
    let digits = match digits.trim_start_matches('0') {
        "" => "0".to_owned(),
        significant => significant.to_owned(),
    };
    if digits.len() > MAX_DIGITS || frac_part.is_some_and(|f| f.len() > MAX_DIGITS) {
        return None;
    }
    Some(match frac_part {
        Some(frac) => format!("{digits}.{frac}"),
        None => digits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_per_locale() {
        assert_eq!(format_amount("1234567.50", "en-US"), "1,234,567.50");
        assert_eq!(format_amount("1234567.50", "de-DE"), "1.234.567,50");
        assert_eq!(format_amount("1234.5", "fr-FR"), "1\u{202f}234,5");
        assert_eq!(format_amount("999", "en"), "999");
        assert_eq!(format_amount("0.001", "es"), "0,001");
        assert_eq!(format_amount("abc", "en"), "abc");
    }

    #[test]
    fn fuzz_regressions() {
        // cargo fuzz (money_parse): a leading-zero, 35-digit number parsed but did not survive format -> parse.
        let input = "08108888888180888881808888888881081";
        assert_eq!(parse_localized(input, "en"), None);
        assert_eq!(parse_localized("007", "en").as_deref(), Some("7"));
        assert_eq!(parse_localized("000,5", "de").as_deref(), Some("0.5"));
        // ... and a 23-decimal one.
        assert_eq!(
            parse_localized("8888010888880.88111111088882801088888", "en"),
            None
        );
        assert_eq!(
            parse_localized("12.34567", "en").as_deref(),
            Some("12.34567"),
            "precision is Money's call"
        );
        let canonical = parse_localized("0012345.5", "en").unwrap();
        assert_eq!(
            parse_localized(&format_amount(&canonical, "en"), "en"),
            Some(canonical)
        );
    }

    #[test]
    fn parses_input_back_strictly() {
        assert_eq!(parse_localized("1,234.50", "en").as_deref(), Some("1234.50"));
        assert_eq!(parse_localized("1.234,50", "de-DE").as_deref(), Some("1234.50"));
        assert_eq!(parse_localized(" 1 234,5 ", "fr").as_deref(), Some("1234.5"));
        assert_eq!(parse_localized("250", "de").as_deref(), Some("250"));
        // Ambiguous or malformed input is refused rather than guessed.
        for (input, locale) in [
            ("1.5", "de"),
            ("1,5", "en"),
            ("12,34,567", "en"),
            ("1,234.", "en"),
            ("", "en"),
            ("-5", "en"),
            ("1e3", "en"),
        ] {
            assert_eq!(parse_localized(input, locale), None, "{input} {locale}");
        }
    }

    #[test]
    fn round_trips() {
        for canonical in ["0.01", "1000", "1234567.891", "5"] {
            for locale in ["en", "de", "fr", "es"] {
                assert_eq!(
                    parse_localized(&format_amount(canonical, locale), locale).as_deref(),
                    Some(canonical)
                );
            }
        }
    }
}
