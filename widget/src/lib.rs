//! Tranche widget: the `<tranche-checkout>` custom element (built by the widget issue).
