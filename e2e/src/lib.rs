//! Tranche end-to-end browser tests (built by the widget issue).
