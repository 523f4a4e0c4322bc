//! The audit log (DESIGN section 10): one row per seller write, payment and refund, written by [`record`] in
//! the transaction of the change itself, so a change that rolls back leaves no row and a committed change
//! always has one. `changes` is a JSON object: for an edit, `{field: {before, after}}` of the fields that
//! changed; for a creation, the few fields that identify it. Never a secret (keys, tokens, credentials).

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::db::{new_id, Db, Tx};
use crate::store::page::{Keyset, Rows};

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A seller's secret key, by its last four characters.
    Key { last4: &'a str },
    /// The operator (`TRANCHE_OPERATOR_TOKEN`).
    Operator,
    /// A buyer at the checkout.
    Buyer,
    /// Tranche itself: the reconciler, the relay.
    System,
}

impl Actor<'_> {
    /// The stored and shown form: `key:<last 4>`, `operator`, `buyer` or `system`.
    pub fn label(&self) -> String {
        match self {
            Actor::Key { last4 } => format!("key:{last4}"),
            Actor::Operator => "operator".to_owned(),
            Actor::Buyer => "buyer".to_owned(),
            Actor::System => "system".to_owned(),
        }
    }
}

/// One audit row to write.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub seller_id: &'a str,
    pub actor: Actor<'a>,
    /// `{object}.{verb}`, e.g. `invoice.updated`, `refund.succeeded`.
    pub action: &'static str,
    pub object_id: &'a str,
    pub changes: Value,
    pub at: i64,
}

/// Writes `entry` in `tx`: it commits or rolls back with the change it describes.
pub async fn record(tx: &mut Tx, entry: &Entry<'_>) -> Result<(), sqlx::Error> {
    let changes = serde_json::to_string(&entry.changes).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO audit_log (id, seller_id, created_at, actor, action, object_id, changes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id("aud"))
    .bind(entry.seller_id)
    .bind(entry.at)
    .bind(entry.actor.label())
    .bind(entry.action)
    .bind(entry.object_id)
    .bind(changes)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Collects `{field: {before, after}}` for the fields an edit changed; fields left as they were are omitted.
#[derive(Debug, Default)]
pub struct Changes(Map<String, Value>);

impl Changes {
    pub fn new() -> Changes {
        Changes::default()
    }

    /// Adds `field` if `after` differs from `before`.
    pub fn field<T: Serialize + PartialEq>(&mut self, field: &str, before: &T, after: &T) -> &mut Changes {
        if before != after {
            self.0
                .insert(field.to_owned(), json!({"before": before, "after": after}));
        }
        self
    }

    /// Adds `field` with a value of its own shape (e.g. a count of lines replaced).
    pub fn set(&mut self, field: &str, value: Value) -> &mut Changes {
        self.0.insert(field.to_owned(), value);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// An audit row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: String,
    pub created_at: i64,
    pub actor: String,
    pub action: String,
    pub object_id: String,
    pub changes: String,
}

/// A page of the seller's audit log, newest first, optionally for one object.
pub async fn list(
    db: &Db,
    seller_id: &str,
    object_id: Option<&str>,
    keyset: &Keyset,
) -> Result<Rows<AuditRow>, sqlx::Error> {
    let sql = format!(
        "SELECT id, created_at, actor, action, object_id, changes FROM audit_log \
         WHERE seller_id = $1 AND ($2 IS NULL OR object_id = $2){}",
        Keyset::clause("", 3)
    );
    let rows = keyset
        .bind(sqlx::query_as(&sql).bind(seller_id).bind(object_id))
        .fetch_all(db.pool())
        .await?;
    Ok(keyset.rows(rows))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn changes_hold_only_the_fields_that_changed() {
        let mut changes = Changes::new();
        changes
            .field("memo", &Some("a"), &Some("b"))
            .field("due_date", &"2026-12-01", &"2026-12-01");
        assert_eq!(
            changes.into_value(),
            json!({"memo": {"before": "a", "after": "b"}})
        );
    }

    #[test]
    fn actors_are_labelled_as_the_log_shows_them() {
        assert_eq!(Actor::Key { last4: "ab12" }.label(), "key:ab12");
        assert_eq!(Actor::Buyer.label(), "buyer");
        assert_eq!(Actor::System.label(), "system");
        assert_eq!(Actor::Operator.label(), "operator");
    }
}
