//! The delivery relay. It claims due deliveries (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite's
//! `BEGIN IMMEDIATE` write lock), leases them, and runs each attempt as its own task, so attempts finish
//! independently: a black-hole endpoint holds its own slots until its timeout and nothing else.
//!
//! Fairness: the claim takes at most `max_in_flight_per_endpoint` deliveries per lane (an endpoint, or a
//! seller's receipt emails) and `max_in_flight_per_seller` per seller, counting leases other nodes
//! hold, and interleaves sellers (each seller's first delivery before anyone's second), within this
//! node's `max_in_flight` slots. One seller's dead endpoints can take only their own lanes' slots and
//! never delay another seller's deliveries.
//!
//! Outcomes: delivered, retry later (exponential schedule with jitter, `Retry-After` honoured for
//! 429), or dead (schedule exhausted, unmappable data, 410 Gone or refused QuickBooks credentials, the
//! last two also disabling the endpoint). An endpoint failing `disable_after_failures` times in a row
//! over at least `disable_after_failing_ms` is disabled too. Errors sellers see are coarse ("could not
//! connect", "endpoint answered 503"): they must not tell a port scanner refused from timed out.

use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use tokio::task::JoinSet;

use crate::db::{now_ms, rfc3339};
use crate::erp::events::{Envelope, Event, InvoiceLateFeeApplied};
use crate::erp::quickbooks_fee::{self, FeeUpdate};
use crate::erp::quickbooks_oauth::{self, TokenError};
use crate::erp::{quickbooks, receipts, signature};
use crate::masking::Secret;
use crate::state::AppState;
use crate::store::deliveries::{self, ClaimLimits, DeliveryKind};
use crate::store::endpoints::{self, SecretColumn};

/// A claimed delivery with what is needed to attempt it (kind and event type already parsed).
pub use crate::store::deliveries::Claimed;

/// What one attempt achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: Option<u16>,
    },
    /// A failure that may pass. `error` is what the seller sees: coarse on purpose.
    Retry {
        status: Option<u16>,
        error: String,
        after_ms: Option<i64>,
    },
    Dead {
        status: Option<u16>,
        error: String,
    },
    /// The endpoint cannot work until the seller acts (410 Gone, credentials refused): it is disabled
    /// and its pending deliveries are dead-lettered with `reason`.
    Disable {
        status: Option<u16>,
        reason: String,
    },
    /// Not attempted (the seller's receipt-email budget is spent): tried again later, not counted.
    Deferred {
        after_ms: i64,
        note: String,
    },
}

/// Runs until the task is dropped (which aborts the attempts in flight; their leases expire and
/// another pass or node picks them up).
pub async fn run(state: AppState) {
    if let Err(error) = seal_stored_secrets(&state).await {
        tracing::warn!(error = ?error, "sealing endpoint secrets written before the master key failed");
    }
    let poll = Duration::from_millis(state.settings.erp.poll_interval_ms.max(20));
    let slots = usize::try_from(state.settings.erp.max_in_flight.max(1)).unwrap_or(64);
    let batch = usize::try_from(state.settings.erp.batch_size.max(1)).unwrap_or(16);
    // Every attempt ends well inside its lease (see `claim`), whatever it waits on (a DNS lookup, a
    // slow SMTP server): a lease must never expire under an attempt still in flight, or another node
    // would send the same delivery.
    let attempt_ms = state.settings.erp.attempt_timeout_ms;
    let deadline = Duration::from_millis(attempt_ms.saturating_mul(3).saturating_add(15_000));
    let mut in_flight: JoinSet<()> = JoinSet::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        let free = slots.saturating_sub(in_flight.len());
        let mut claimed_any = false;
        if free > 0 {
            match claim(&state, free.min(batch)).await {
                Ok(claimed) => {
                    claimed_any = !claimed.is_empty();
                    for claimed in claimed {
                        let state = state.clone();
                        in_flight.spawn(async move {
                            let outcome = tokio::time::timeout(deadline, attempt(&state, &claimed))
                                .await
                                .unwrap_or_else(|_| Outcome::Retry {
                                    status: None,
                                    error: "could not connect".to_owned(),
                                    after_ms: None,
                                });
                            if let Err(error) = record(&state, &claimed, &outcome).await {
                                // The lease expires and the delivery is attempted again.
                                tracing::warn!(delivery_id = %claimed.id, error = ?error, "recording a delivery outcome failed");
                            }
                        });
                    }
                }
                Err(error) => tracing::warn!(error = ?error, "ERP relay claim failed"),
            }
        }
        if !claimed_any || in_flight.len() >= slots {
            tokio::select! {
                _ = state.relay_wakeup.notified() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// Endpoint secrets written before a master key was configured are stored as they came; once there is a
/// key, they are sealed at the relay's start (each node does it; the `NOT LIKE` makes it idempotent).
pub async fn seal_stored_secrets(state: &AppState) -> anyhow::Result<usize> {
    if !state.secrets.has_key() {
        return Ok(0);
    }
    let mut sealed = 0;
    for column in SecretColumn::ALL {
        for (id, plain) in endpoints::unsealed(&state.db, column).await? {
            let value = state
                .secrets
                .seal(&format!("erp_endpoints.{}:{id}", column.as_str()), &plain)
                .map_err(anyhow::Error::new)?;
            endpoints::replace_secret(&state.db, column, &id, &plain, &value).await?;
            sealed += 1;
        }
    }
    if sealed > 0 {
        tracing::info!(sealed, "endpoint secrets sealed with the master key");
    }
    Ok(sealed)
}

/// Claims up to `limit` due deliveries, fairly (see the module comment), and leases them.
async fn claim(state: &AppState, limit: usize) -> anyhow::Result<Vec<Claimed>> {
    let now = state.clock().now_ms(); // the clock events are stamped with, so due means due in tests too
    let erp = &state.settings.erp;
    // Long enough for the slowest attempt: a token refresh, the post, and its one retry after a 401.
    let attempt_ms = i64::try_from(erp.attempt_timeout_ms).unwrap_or(15_000);
    let lease_until = now + 3 * attempt_ms + 30_000;
    let limits = ClaimLimits {
        per_lane: i64::from(erp.max_in_flight_per_endpoint.max(1)),
        per_seller: i64::from(erp.max_in_flight_per_seller.max(1)),
        total: i64::try_from(limit).unwrap_or(16),
    };
    let ids = deliveries::claim(&state.db, now, lease_until, limits).await?;
    let mut claimed = Vec::with_capacity(ids.len());
    for (id, row) in deliveries::claimed(&state.db, &ids)
        .await
        .context("loading claimed deliveries")?
    {
        match row {
            Ok(row) => claimed.push(row),
            // A kind or event type this node does not know: dead-lettered with the reason, loudly,
            // never attempted as something it is not.
            Err(unknown) => dead(state, &id, None, &unknown.to_string()).await?,
        }
    }
    Ok(claimed)
}

/// The webhook body: the event envelope around the payload.
pub fn webhook_body(claimed: &Claimed) -> anyhow::Result<String> {
    let event = Event::parse(claimed.event_type, &claimed.payload).context("outbox payload")?;
    let envelope = Envelope {
        created_at: rfc3339(claimed.event_created_at),
        data: &event,
        id: &claimed.event_id,
        event_type: claimed.event_type.as_str(),
    };
    serde_json::to_string(&envelope).context("webhook body")
}

async fn attempt(state: &AppState, claimed: &Claimed) -> Outcome {
    match claimed.kind {
        DeliveryKind::Webhook => webhook(state, claimed).await,
        DeliveryKind::Quickbooks => quickbooks(state, claimed).await,
        DeliveryKind::Email => email(state, claimed).await,
    }
}

async fn email(state: &AppState, claimed: &Claimed) -> Outcome {
    // Cluster-wide budget per seller: receipts sent in the last hour, from the deliveries themselves.
    let hour_ago = state.clock().now_ms() - 3_600_000;
    match deliveries::emails_sent_since(&state.db, &claimed.seller_id, hour_ago).await {
        Ok(sent) if sent >= i64::from(state.settings.erp.emails_per_seller_per_hour) => {
            return Outcome::Deferred {
                after_ms: 5 * 60 * 1000,
                note: "receipt email limit per hour reached; sending later".to_owned(),
            }
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(delivery_id = %claimed.id, %error, "counting the seller's receipt emails");
            return Outcome::Retry {
                status: None,
                error: "temporarily unavailable".to_owned(),
                after_ms: None,
            };
        }
    }
    match receipts::send(state, claimed).await {
        Ok(()) => Outcome::Delivered { status: None },
        Err(error) => Outcome::Retry {
            status: None,
            error: format!("{error:#}"),
            after_ms: None,
        },
    }
}

/// Checks the destination again right before sending: a URL stored before the policy changed, or a
/// name that resolves elsewhere now, is refused.
async fn destination(state: &AppState, claimed: &Claimed, url: &str) -> Result<reqwest::Url, Outcome> {
    // IP literals here; names are judged at connect time by the client's resolver (DNS rebinding).
    crate::outbound::parse_guarded(state.settings.destination_policy(), url).map_err(|error| {
            tracing::warn!(delivery_id = %claimed.id, endpoint_id = ?claimed.endpoint_id, %error, "destination refused before sending");
            Outcome::Retry {
                status: None,
                error: "destination not allowed".to_owned(),
                after_ms: None,
            }
        })
}

async fn webhook(state: &AppState, claimed: &Claimed) -> Outcome {
    let (Some(url), Some(endpoint_id), Some(stored_secret)) =
        (&claimed.url, &claimed.endpoint_id, &claimed.signing_secret)
    else {
        return Outcome::Dead {
            status: None,
            error: "endpoint deleted".to_owned(),
        };
    };
    let secret = match state.secrets.open(
        &format!("erp_endpoints.signing_secret:{endpoint_id}"),
        stored_secret,
    ) {
        Ok(secret) => secret,
        Err(error) => {
            tracing::error!(endpoint_id, %error, "cannot open the endpoint's signing secret");
            return Outcome::Retry {
                status: None,
                error: "signing secret cannot be read".to_owned(),
                after_ms: None,
            };
        }
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
    let signature = match signature::sign(secret.expose(), &claimed.event_id, timestamp, body.as_bytes()) {
        Ok(s) => s,
        Err(error) => {
            return Outcome::Dead {
                status: None,
                error: error.to_string(),
            }
        }
    };
    let url = match destination(state, claimed, url).await {
        Ok(url) => url,
        Err(outcome) => return outcome,
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
    classify(claimed, request.send().await)
}

async fn quickbooks(state: &AppState, claimed: &Claimed) -> Outcome {
    let (Some(url), Some(endpoint_id)) = (&claimed.url, &claimed.endpoint_id) else {
        return Outcome::Dead {
            status: None,
            error: "endpoint deleted".to_owned(),
        };
    };
    let dead = |error: String| Outcome::Dead { status: None, error };
    // A payment is a QBO Payment posted to the endpoint's URL; a refund a RefundReceipt posted beside it.
    // A mapping error cannot be helped by retrying until the seller fixes the data; a replay picks it up.
    let (url, body) = match Event::parse(claimed.event_type, &claimed.payload) {
        Ok(Event::PaymentSucceeded(receipt)) => match quickbooks::payment_body(&receipt) {
            Ok(body) => (url.clone(), body),
            Err(error) => return dead(error.to_string()),
        },
        Ok(Event::RefundSucceeded(refund)) => {
            let refs = match endpoints::refund_refs(&state.db, &claimed.seller_id, endpoint_id).await {
                Ok(refs) => refs,
                Err(error) => {
                    tracing::warn!(delivery_id = %claimed.id, %error, "reading the endpoint's refund refs");
                    return Outcome::Retry {
                        status: None,
                        error: "temporarily unavailable".to_owned(),
                        after_ms: None,
                    };
                }
            };
            let Some((Some(account_id), Some(item_id))) = refs else {
                return dead(quickbooks::MappingError::MissingRefundRefs.to_string());
            };
            let Some(refund_url) = quickbooks::refund_receipt_url(url) else {
                return dead("the endpoint URL does not end in /payment".to_owned());
            };
            match quickbooks::refund_receipt_body(&refund, &account_id, &item_id) {
                Ok(body) => (refund_url, body),
                Err(error) => return dead(error.to_string()),
            }
        }
        Ok(Event::InvoiceLateFeeApplied(fee)) => {
            return late_fee(state, claimed, url, endpoint_id, &fee).await;
        }
        Ok(Event::InvoiceWrittenOff(written_off)) => {
            match crate::erp::quickbooks_writeoff::request(
                state,
                &claimed.seller_id,
                endpoint_id,
                url,
                &written_off,
            )
            .await
            {
                Ok(request) => request,
                Err(outcome) => return outcome,
            }
        }
        // `fan_out` gives QuickBooks money movements, late fees and write-offs only.
        Ok(other) => {
            return dead(format!(
                "QuickBooks takes payments, refunds, late fees and write-offs only, not {}",
                other.event_type()
            ))
        }
        Err(error) => return dead(error.to_string()),
    };
    let url = match destination(state, claimed, &url).await {
        Ok(url) => url,
        Err(outcome) => return outcome,
    };
    // Only this endpoint's own credentials: there is no other token to fall back to.
    // Intuit deduplicates by request id: the same delivery never posts twice.
    let post = |token: Secret| qbo_post(state, &url, &token, &claimed.id, &body).send();
    match with_token(state, endpoint_id, post).await {
        Ok(result) => classify(claimed, result),
        Err(outcome) => outcome,
    }
}

/// A JSON post to QuickBooks with the endpoint's token and Intuit's idempotency `requestid`.
fn qbo_post(
    state: &AppState,
    url: &reqwest::Url,
    token: &Secret,
    request_id: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    state
        .http
        .post(url.clone())
        .bearer_auth(token.expose())
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .query(&[("requestid", request_id)])
        .body(body.to_owned())
}

/// Sends a request with the endpoint's own access token. An access token can be revoked before it
/// expires: one refresh and one retry on 401, never more.
async fn with_token<F, Fut>(
    state: &AppState,
    endpoint_id: &str,
    send: F,
) -> Result<Result<reqwest::Response, reqwest::Error>, Outcome>
where
    F: Fn(Secret) -> Fut,
    Fut: std::future::Future<Output = Result<reqwest::Response, reqwest::Error>>,
{
    let token = quickbooks_oauth::access_token(state, endpoint_id, None)
        .await
        .map_err(token_failure)?;
    let first = send(token.clone()).await;
    if matches!(&first, Ok(response) if response.status().as_u16() == 401) {
        let fresh = quickbooks_oauth::access_token(state, endpoint_id, Some(&token))
            .await
            .map_err(token_failure)?;
        return Ok(send(fresh).await);
    }
    Ok(first)
}

/// A late fee: read the QBO invoice, then post a sparse update adding the fee's line
/// ([`quickbooks_fee`]). A concurrent change in QuickBooks makes the update stale (Intuit answers 400,
/// error 5010): the attempt is retried, and the retry reads the invoice again.
async fn late_fee(
    state: &AppState,
    claimed: &Claimed,
    payment_url: &str,
    endpoint_id: &str,
    fee: &InvoiceLateFeeApplied,
) -> Outcome {
    let dead = |error: String| Outcome::Dead { status: None, error };
    let item = match endpoints::late_fee_item(&state.db, &claimed.seller_id, endpoint_id).await {
        Ok(Some(Some(item))) => item,
        Ok(_) => return dead(quickbooks::MappingError::MissingLateFeeItem.to_string()),
        Err(error) => {
            tracing::warn!(delivery_id = %claimed.id, %error, "reading the endpoint's late fee item");
            return Outcome::Retry {
                status: None,
                error: "temporarily unavailable".to_owned(),
                after_ms: None,
            };
        }
    };
    let qbo_id = match quickbooks_fee::invoice_id(fee) {
        Ok(id) => id,
        Err(error) => return dead(error.to_string()),
    };
    let (Some(read_url), Some(update_url)) = (
        quickbooks::sibling_url(payment_url, &format!("invoice/{qbo_id}")),
        quickbooks::sibling_url(payment_url, "invoice"),
    ) else {
        return dead("the endpoint URL does not end in /payment".to_owned());
    };
    let read_url = match destination(state, claimed, &read_url).await {
        Ok(url) => url,
        Err(outcome) => return outcome,
    };
    let update_url = match destination(state, claimed, &update_url).await {
        Ok(url) => url,
        Err(outcome) => return outcome,
    };
    let read = |token: Secret| {
        state
            .http
            .get(read_url.clone())
            .bearer_auth(token.expose())
            .header("accept", "application/json")
            .send()
    };
    let response = match with_token(state, endpoint_id, read).await {
        Ok(Ok(response)) if response.status().is_success() => response,
        Ok(other) => return classify(claimed, other),
        Err(outcome) => return outcome,
    };
    let text = match response.text().await {
        Ok(text) => text,
        Err(error) => return classify(claimed, Err(error)),
    };
    let (body, sync_token) = match quickbooks_fee::update(&text, fee, &item) {
        Ok(FeeUpdate::AlreadyPosted) => return Outcome::Delivered { status: Some(200) },
        Ok(FeeUpdate::Post { body, sync_token }) => (body, sync_token),
        Err(error) => return dead(error.to_string()),
    };
    // Intuit answers a repeated `requestid` with its first answer: after a stale-token refusal the retry
    // must be a new request. One id per (delivery, invoice version): the same update is deduplicated, an
    // update of a newer version is not (and an update that landed is seen on the read, above).
    let request_id = format!("{}-{sync_token}", claimed.id);
    let post = |token: Secret| qbo_post(state, &update_url, &token, &request_id, &body).send();
    match with_token(state, endpoint_id, post).await {
        Ok(result) => classify(claimed, result),
        Err(outcome) => outcome,
    }
}

fn token_failure(error: TokenError) -> Outcome {
    match error {
        TokenError::Reauthorize(_) => Outcome::Disable {
            status: None,
            reason: error.to_string(),
        },
        TokenError::Transient(text) => Outcome::Retry {
            status: None,
            error: text,
            after_ms: None,
        },
    }
}

fn classify(claimed: &Claimed, result: Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match result {
        Ok(response) => {
            let status = response.status().as_u16();
            match status {
                200..=299 => Outcome::Delivered { status: Some(status) },
                410 => Outcome::Disable {
                    status: Some(status),
                    reason: "the endpoint answered 410 Gone".to_owned(),
                },
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
            // Refused, timed out, TLS failed, reset: one text for all. Telling them apart would make
            // `last_error` a port scanner's oracle; the detail goes to the operator's log only.
            let (timeout, connect) = (error.is_timeout(), error.is_connect());
            // Without the URL: a seller's URL may carry a token in its path or query.
            let detail = error.without_url();
            tracing::info!(delivery_id = %claimed.id, endpoint_id = ?claimed.endpoint_id, timeout, connect,
                error = %detail, "delivery attempt could not reach the endpoint");
            Outcome::Retry {
                status: None,
                error: "could not connect".to_owned(),
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
    let now = state.clock().now_ms();
    let status_code = |s: &Option<u16>| s.map(i64::from);
    match outcome {
        Outcome::Delivered { status } => {
            deliveries::mark_delivered(&state.db, &claimed.id, status_code(status), now).await?;
            if let Some(endpoint_id) = &claimed.endpoint_id {
                endpoints::reset_failures(&state.db, endpoint_id).await?;
            }
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
            // One transaction for the delivery's next attempt and the endpoint's failure count (which may
            // disable the endpoint and dead-letter this delivery): the relay can never claim the delivery
            // again in between and count an attempt the endpoint's disabling should have stopped.
            let mut tx = state.db.begin_write().await?;
            match delay {
                Some(delay) => {
                    deliveries::reschedule(&mut tx, &claimed.id, now + delay, status_code(status), error)
                        .await?
                }
                None => {
                    let reason = format!("gave up after {} attempts: {error}", claimed.attempts);
                    deliveries::mark_dead(&mut *tx, &claimed.id, status_code(status), &reason).await?;
                    tracing::warn!(delivery_id = %claimed.id, error = %reason, "delivery dead-lettered");
                }
            }
            if let Some(endpoint_id) = &claimed.endpoint_id {
                endpoint_failed(state, &mut tx, endpoint_id, error, now).await?;
            }
            tx.commit().await?;
            tracing::info!(delivery_id = %claimed.id, kind = claimed.kind.as_str(), %error, "delivery attempt failed");
        }
        Outcome::Dead { status, error } => dead(state, &claimed.id, status_code(status), error).await?,
        Outcome::Disable { status, reason } => {
            let mut tx = state.db.begin_write().await?;
            if let Some(endpoint_id) = &claimed.endpoint_id {
                disable(&mut tx, endpoint_id, reason, now).await?;
            }
            let error = format!("endpoint disabled: {reason}");
            deliveries::mark_dead(&mut *tx, &claimed.id, status_code(status), &error).await?;
            tx.commit().await?;
            tracing::warn!(endpoint_id = ?claimed.endpoint_id, %reason, "ERP endpoint disabled");
        }
        Outcome::Deferred { after_ms, note } => {
            // Not an attempt: the claim's increment is undone.
            deliveries::defer(&state.db, &claimed.id, now + after_ms, note).await?;
        }
    }
    Ok(())
}

/// Disables an endpoint and dead-letters its pending deliveries (in the caller's transaction).
async fn disable(tx: &mut crate::db::Tx, endpoint_id: &str, reason: &str, now: i64) -> anyhow::Result<()> {
    endpoints::disable(tx, endpoint_id, reason, now).await?;
    deliveries::dead_letter_pending(tx, endpoint_id, &format!("endpoint disabled: {reason}")).await?;
    Ok(())
}

/// Counts a failed attempt against the endpoint; disables it after `disable_after_failures` failures in
/// a row that have lasted at least `disable_after_failing_ms`. In the caller's transaction, with the attempt's outcome.
async fn endpoint_failed(
    state: &AppState,
    tx: &mut crate::db::Tx,
    endpoint_id: &str,
    error: &str,
    now: i64,
) -> anyhow::Result<()> {
    let erp = &state.settings.erp;
    let row = endpoints::count_failure(tx, endpoint_id, now).await?;
    if let Some((failures, Some(since))) = row {
        let span = i64::try_from(erp.disable_after_failing_ms).unwrap_or(i64::MAX);
        if failures >= i64::from(erp.disable_after_failures.max(1)) && now - since >= span {
            let reason = format!(
                "disabled after {failures} failed attempts in a row since {} (last: {error})",
                rfc3339(since)
            );
            disable(tx, endpoint_id, &reason, now).await?;
            tracing::warn!(endpoint_id, %reason, "ERP endpoint disabled after repeated failures");
        }
    }
    Ok(())
}

async fn dead(state: &AppState, id: &str, status: Option<i64>, error: &str) -> anyhow::Result<()> {
    deliveries::mark_dead(&mut *state.db.writer().await?, id, status, error).await?;
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
