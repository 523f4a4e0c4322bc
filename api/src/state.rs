//! What every handler shares: the database, the token keys, the gateway, settings and metrics.

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
}

/// Today's date in UTC: the one calendar both the API and the widget (which is sent it) use.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
