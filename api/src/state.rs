//! What every handler shares: the database, the token keys, the gateway, settings and metrics.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::config::Settings;
use crate::db::Db;
use crate::gateway::sandbox::SandboxGateway;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::tokens::KeyRing;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: Arc<KeyRing>,
    pub gateway: Arc<dyn Gateway>,
    /// The sandbox's tokenization endpoint and fields page (present while the sandbox is the gateway).
    pub sandbox: Arc<SandboxGateway>,
    pub settings: Arc<Settings>,
    /// Public base URL, no trailing slash (`https://pay.example.com`).
    pub public_base: String,
    pub metrics: Arc<Metrics>,
    /// Wakes the ERP relay the moment a payment commits.
    pub relay_wakeup: Arc<tokio::sync::Notify>,
    /// Outbound HTTP (ERP deliveries), with the per-attempt timeout.
    pub http: reqwest::Client,
    pub rate_limits: Arc<crate::rate_limit::RateLimits>,
    /// Seals and opens secrets at rest with the master key.
    pub secrets: Arc<crate::secret_box::SecretBox>,
    /// The one SMTP transport, shared by every buyer email (`None`: no SMTP configured).
    pub smtp: Option<Arc<crate::erp::receipts::Transport>>,
}

impl AppState {
    /// The clock every payment-path timestamp is read from (shared with the database handle and the sandbox).
    pub fn clock(&self) -> &Clock {
        self.db.clock()
    }
}

/// The one clock of the payment path: payment times, token expiry, settlement and reconciler grace.
///
/// Production reads the system clock. Tests move it forward with [`Clock::advance`] instead of sleeping or
/// backdating rows by SQL: the offset is shared by every clone (the app, its sandbox gateway and the test
/// hold the same one), and it only ever moves forward, so stored times never run backwards. It lives in
/// [`crate::db::Db`] because every stored timestamp is written through that handle, and the handle already
/// reaches everything that needs the time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock (what production runs on).
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Now, in unix milliseconds (the storage form of every timestamp).
    pub fn now_ms(&self) -> i64 {
        crate::db::now_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Today's date (UTC) on this clock: what every date rule reads (payment plans, discounts, the scheduler),
    /// so a test that moves the clock moves the calendar with it.
    pub fn today(&self) -> time::Date {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.now_ms()) * 1_000_000)
            .map(|t| t.date())
            .unwrap_or_else(|_| today())
    }

    /// Moves this clock (and every clone of it) `ms` milliseconds forward; negative values are ignored.
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms.max(0), Ordering::Relaxed);
    }
}

/// Today's date in UTC: the one calendar both the API and the widget (which is sent it) use.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
