//! The delivery relay. Each pass claims due deliveries (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite's
//! `BEGIN IMMEDIATE` write lock), leases them, delivers them concurrently, and records the outcome:
//! delivered, retry later (exponential schedule with jitter, `Retry-After` honoured for 429), or dead
//! (schedule exhausted, unmappable data, or 410 Gone, which also disables the endpoint). It wakes at
//! once when a payment commits and otherwise polls, so other nodes' events and retries are picked up.

use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use serde_json::{json, Value};

use crate::db::{now_ms, rfc3339};
use crate::erp::{quickbooks, signature};
use crate::state::AppState;

/// A claimed delivery with what is needed to attempt it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: String,
    pub seller_id: String,
    pub event_id: String,
    pub endpoint_id: Option<String>,
    pub kind: String,
    pub attempts: i64,
    pub event_type: String,
    pub payload: String,
    pub event_created_at: i64,
    pub url: Option<String>,
    pub signing_secret: Option<String>,
    pub access_token: Option<String>,
}

/// What one attempt achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: Option<u16>,
    },
    Retry {
        status: Option<u16>,
        error: String,
        after_ms: Option<i64>,
    },
    Dead {
        status: Option<u16>,
        error: String,
    },
    Gone {
        status: u16,
    },
}

/// Runs until the task is dropped.
pub async fn run(state: AppState) {
    let poll = Duration::from_millis(state.settings.erp.poll_interval_ms.max(20));
    loop {
        let handled = match pass(&state).await {
            Ok(n) => n,
            Err(error) => {
                tracing::warn!(error = ?error, "ERP relay pass failed");
                0
            }
        };
        if handled == 0 {
            tokio::select! {
                _ = state.relay_wakeup.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// One pass: claim, attempt, record. Returns how many deliveries were attempted.
pub async fn pass(state: &AppState) -> anyhow::Result<usize> {
    let claimed = claim(state).await?;
    let attempts = claimed
        .iter()
        .map(|c| async move { (c, attempt(state, c).await) });
    let results = futures_util::future::join_all(attempts).await;
    for (claimed, outcome) in &results {
        record(state, claimed, outcome).await?;
    }
    Ok(results.len())
}

async fn claim(state: &AppState) -> anyhow::Result<Vec<Claimed>> {
    let now = now_ms();
    let lease_until = now + i64::try_from(state.settings.erp.attempt_timeout_ms).unwrap_or(15_000) + 30_000;
    let mut tx = state.db.begin_write().await?;
    let ids: Vec<(String,)> = sqlx::query_as(&format!(
        "SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND (locked_until IS NULL OR locked_until < $1) ORDER BY next_attempt_at, id LIMIT $2{}",
        state.db.skip_locked()
    ))
    .bind(now)
    .bind(i64::from(state.settings.erp.batch_size))
    .fetch_all(&mut *tx)
    .await?;
    for (id,) in &ids {
        sqlx::query("UPDATE deliveries SET locked_until = $1, attempts = attempts + 1 WHERE id = $2")
            .bind(lease_until)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let mut claimed = Vec::with_capacity(ids.len());
    for (id,) in ids {
        let row: Claimed = sqlx::query_as(
            "SELECT d.id, d.seller_id, d.event_id, d.endpoint_id, d.kind, d.attempts, o.event_type, o.payload, \
             o.created_at AS event_created_at, e.url, e.signing_secret, e.access_token \
             FROM deliveries d JOIN outbox o ON o.id = d.event_id LEFT JOIN erp_endpoints e ON e.id = d.endpoint_id \
             WHERE d.id = $1",
        )
        .bind(&id)
        .fetch_one(state.db.pool())
        .await
        .context("loading a claimed delivery")?;
        claimed.push(row);
    }
    Ok(claimed)
}

/// The webhook body: the event envelope around the payload.
pub fn webhook_body(claimed: &Claimed) -> anyhow::Result<String> {
    let data: Value = serde_json::from_str(&claimed.payload).context("outbox payload")?;
    Ok(json!({
        "id": claimed.event_id,
        "type": claimed.event_type,
        "created_at": rfc3339(claimed.event_created_at),
        "data": data,
    })
    .to_string())
}

async fn attempt(state: &AppState, claimed: &Claimed) -> Outcome {
    match claimed.kind.as_str() {
        "webhook" => webhook(state, claimed).await,
        "quickbooks" => quickbooks(state, claimed).await,
        "email" => match crate::receipts::send(state, claimed).await {
            Ok(()) => Outcome::Delivered { status: None },
            Err(error) => Outcome::Retry {
                status: None,
                error: format!("{error:#}"),
                after_ms: None,
            },
        },
        other => Outcome::Dead {
            status: None,
            error: format!("unknown delivery kind {other}"),
        },
    }
}

async fn webhook(state: &AppState, claimed: &Claimed) -> Outcome {
    let (Some(url), Some(secret)) = (&claimed.url, &claimed.signing_secret) else {
        return Outcome::Dead {
            status: None,
            error: "endpoint deleted".to_owned(),
        };
    };
    let body = match webhook_body(claimed) {
        Ok(body) => body,
        Err(error) => {
            return Outcome::Dead {
                status: None,
                error: error.to_string(),
            }
        }
    };
    let timestamp = now_ms() / 1000;
    let signature = match signature::sign(secret, &claimed.event_id, timestamp, body.as_bytes()) {
        Ok(s) => s,
        Err(error) => {
            return Outcome::Dead {
                status: None,
                error: error.to_string(),
            }
        }
    };
    let request = state
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "Tranche-Webhooks/1")
        .header("webhook-id", &claimed.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body);
    classify(request.send().await)
}

async fn quickbooks(state: &AppState, claimed: &Claimed) -> Outcome {
    let Some(url) = &claimed.url else {
        return Outcome::Dead {
            status: None,
            error: "endpoint deleted".to_owned(),
        };
    };
    let receipt: Value = match serde_json::from_str(&claimed.payload) {
        Ok(v) => v,
        Err(error) => {
            return Outcome::Dead {
                status: None,
                error: error.to_string(),
            }
        }
    };
    let body = match quickbooks::payment_body(&receipt) {
        Ok(body) => body,
        // Retrying cannot help until the seller adds the external refs; a replay will pick it up.
        Err(error) => {
            return Outcome::Dead {
                status: None,
                error: error.to_string(),
            }
        }
    };
    let token = claimed.access_token.clone().or_else(|| {
        state
            .settings
            .erp
            .quickbooks_access_token
            .as_ref()
            .map(|t| t.expose().to_owned())
    });
    let Some(token) = token else {
        return Outcome::Retry {
            status: None,
            error: "no QuickBooks access token configured".to_owned(),
            after_ms: None,
        };
    };
    let request = state
        .http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        // Intuit deduplicates by request id: the same delivery never posts twice.
        .query(&[("requestid", claimed.id.as_str())])
        .body(body);
    classify(request.send().await)
}

fn classify(result: Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match result {
        Ok(response) => {
            let status = response.status().as_u16();
            match status {
                200..=299 => Outcome::Delivered { status: Some(status) },
                410 => Outcome::Gone { status },
                429 => {
                    let after_ms = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<i64>().ok())
                        .map(|s| s.clamp(0, 24 * 3600) * 1000);
                    Outcome::Retry {
                        status: Some(status),
                        error: "rate limited (429)".to_owned(),
                        after_ms,
                    }
                }
                _ => Outcome::Retry {
                    status: Some(status),
                    error: format!("endpoint answered {status}"),
                    after_ms: None,
                },
            }
        }
        Err(error) => {
            let kind = if error.is_timeout() {
                "timed out"
            } else if error.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            Outcome::Retry {
                status: None,
                error: kind.to_owned(),
                after_ms: None,
            }
        }
    }
}

/// Delay before the next attempt after `attempts` attempts, with +-10 % jitter; `None` when the
/// schedule is exhausted and the delivery is dead-lettered.
pub fn next_delay_ms(schedule: &[u64], attempts: i64) -> Option<i64> {
    let index = usize::try_from(attempts.saturating_sub(1)).ok()?;
    let base = i64::try_from(*schedule.get(index)?).ok()?;
    let jitter = base / 10;
    Some(
        base + if jitter > 0 {
            rand::thread_rng().gen_range(-jitter..=jitter)
        } else {
            0
        },
    )
}

async fn record(state: &AppState, claimed: &Claimed, outcome: &Outcome) -> anyhow::Result<()> {
    let now = now_ms();
    let db = state.db.pool();
    let status_code = |s: &Option<u16>| s.map(i64::from);
    match outcome {
        Outcome::Delivered { status } => {
            sqlx::query(
                "UPDATE deliveries SET status = 'delivered', delivered_at = $1, locked_until = NULL, last_status_code = $2, last_error = NULL WHERE id = $3",
            )
            .bind(now)
            .bind(status_code(status))
            .bind(&claimed.id)
            .execute(db)
            .await?;
        }
        Outcome::Retry {
            status,
            error,
            after_ms,
        } => {
            // `Retry-After` sets when to retry, never whether: an endpoint that rate-limits forever is
            // dead-lettered once the schedule is exhausted, like any other failure.
            let delay = next_delay_ms(&state.settings.erp.retry_schedule_ms, claimed.attempts)
                .map(|scheduled| after_ms.unwrap_or(scheduled));
            match delay {
                Some(delay) => {
                    sqlx::query(
                        "UPDATE deliveries SET next_attempt_at = $1, locked_until = NULL, last_status_code = $2, last_error = $3 WHERE id = $4",
                    )
                    .bind(now + delay)
                    .bind(status_code(status))
                    .bind(error)
                    .bind(&claimed.id)
                    .execute(db)
                    .await?;
                }
                None => {
                    dead(
                        state,
                        &claimed.id,
                        status_code(status),
                        &format!("gave up after {} attempts: {error}", claimed.attempts),
                    )
                    .await?
                }
            }
            tracing::info!(delivery_id = %claimed.id, kind = %claimed.kind, %error, "delivery attempt failed");
        }
        Outcome::Dead { status, error } => dead(state, &claimed.id, status_code(status), error).await?,
        Outcome::Gone { status } => {
            let mut tx = state.db.begin_write().await?;
            if let Some(endpoint_id) = &claimed.endpoint_id {
                sqlx::query("UPDATE erp_endpoints SET disabled_at = $1, disabled_reason = $2 WHERE id = $3 AND disabled_at IS NULL")
                    .bind(now)
                    .bind("the endpoint answered 410 Gone")
                    .bind(endpoint_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE deliveries SET status = 'dead', locked_until = NULL, last_error = 'endpoint disabled (410 Gone)' \
                     WHERE endpoint_id = $1 AND status = 'pending'",
                )
                .bind(endpoint_id)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE deliveries SET status = 'dead', locked_until = NULL, last_status_code = $1, last_error = 'endpoint answered 410 Gone; endpoint disabled' WHERE id = $2")
                .bind(i64::from(*status))
                .bind(&claimed.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::warn!(endpoint_id = ?claimed.endpoint_id, "ERP endpoint answered 410 Gone: disabled");
        }
    }
    Ok(())
}

async fn dead(state: &AppState, id: &str, status: Option<i64>, error: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE deliveries SET status = 'dead', locked_until = NULL, last_status_code = $1, last_error = $2 WHERE id = $3")
        .bind(status)
        .bind(error)
        .bind(id)
        .execute(state.db.pool())
        .await?;
    tracing::warn!(delivery_id = %id, %error, "delivery dead-lettered");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spans_three_days_then_stops() {
        let schedule = crate::config::ErpSettings::default().retry_schedule_ms;
        let total: u64 = schedule.iter().sum();
        assert!(total >= 72 * 3600 * 1000, "schedule spans only {total} ms");
        for attempt in 1..=schedule.len() {
            let base = i64::try_from(schedule[attempt - 1]).unwrap();
            let delay = next_delay_ms(&schedule, i64::try_from(attempt).unwrap()).unwrap();
            assert!(
                (delay - base).abs() <= base / 10,
                "attempt {attempt}: {delay} vs {base}"
            );
        }
        assert_eq!(
            next_delay_ms(&schedule, i64::try_from(schedule.len()).unwrap() + 1),
            None
        );
    }
}
