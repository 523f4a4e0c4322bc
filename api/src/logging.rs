//! Log output: `TRANCHE_LOG` filters (default `info,sqlx=warn`), `TRANCHE_LOG_FORMAT=json|text` (default
//! text) picks the format. Every request runs in a `request` span (`request_id.rs`) carrying its
//! `request_id` and, when the caller sent a valid W3C `traceparent`, its `trace_id` and `parent_id`; in JSON
//! each line a handler logs has them under `span`, in text they prefix the line.
//!
//! Read before the settings exist (a bad setting must be reported through the logger), so these two are
//! plain environment variables, not `Settings` fields; an unknown format is a warning, never a failed start.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `json` or `text` (any case); `None` for anything else.
    pub fn parse(value: &str) -> Option<LogFormat> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Some(LogFormat::Json),
            "text" | "" => Some(LogFormat::Text),
            _ => None,
        }
    }
}

/// Installs the global subscriber once; later calls (tests, the demo) are no-ops.
pub fn init() {
    let filter = EnvFilter::try_from_env("TRANCHE_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let asked = std::env::var("TRANCHE_LOG_FORMAT").unwrap_or_default();
    let format = LogFormat::parse(&asked);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format.unwrap_or(LogFormat::Text) {
        LogFormat::Json => builder
            .json()
            // The request's fields on every line it logs, without the whole span stack.
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if format.is_none() {
        tracing::warn!(value = %asked, "TRANCHE_LOG_FORMAT must be json or text: logging as text");
    }
}

/// A W3C Trace Context `traceparent` (version 00): `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
/// Anything else (wrong lengths, upper case, all-zero ids, version ff) is ignored as the spec asks, so a
/// caller cannot put arbitrary text into our logs through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: String,
    pub parent_id: String,
}

impl TraceParent {
    pub fn parse(header: &str) -> Option<TraceParent> {
        let mut parts = header.trim().split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        // Version 00 has exactly four fields; a later version may add more, which we do not read.
        let fields_ok = version != "00" || parts.next().is_none();
        (hex(version, 2)
            && version != "ff"
            && fields_ok
            && hex(trace_id, 32)
            && !zero(trace_id)
            && hex(parent_id, 16)
            && !zero(parent_id)
            && hex(flags, 2))
        .then(|| TraceParent {
            trace_id: trace_id.to_owned(),
            parent_id: parent_id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_follows_the_w3c_format() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            TraceParent::parse(good),
            Some(TraceParent {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                parent_id: "00f067aa0ba902b7".into()
            })
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473\n-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
        // A future version may carry more fields; the first four are still read.
        assert!(TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more").is_some());
    }

    #[test]
    fn log_format_is_json_or_text() {
        assert_eq!(LogFormat::parse("JSON"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("text"), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("yaml"), None);
    }
}
