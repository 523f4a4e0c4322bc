//! The reconciler's queue, shared by payments and refunds: both tables keep pending rows with a
//! `reconcile_after` time, and the reconciler takes the overdue ones and puts back those still unsettled.

use crate::db::Db;

/// A table the reconciler works through. Closed: the name goes into SQL text, never from input.
#[derive(Debug, Clone, Copy)]
pub enum Queue {
    Payments,
    Refunds,
}

impl Queue {
    fn table(self) -> &'static str {
        match self {
            Queue::Payments => "payments",
            Queue::Refunds => "refunds",
        }
    }
}

/// Ids of pending rows whose reconcile time has come, most overdue first.
pub async fn due(db: &Db, queue: Queue, now: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    let sql = format!(
        "SELECT id FROM {} WHERE status = 'pending' AND reconcile_after <= $1 ORDER BY reconcile_after LIMIT $2",
        queue.table()
    );
    let rows: Vec<(String,)> = sqlx::query_as(&sql)
        .bind(now)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Asks the reconciler to look at a still-pending row again at `at`.
pub async fn later(db: &Db, queue: Queue, id: &str, at: i64) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET reconcile_after = $1 WHERE id = $2 AND status = 'pending'",
        queue.table()
    );
    sqlx::query(&sql)
        .bind(at)
        .bind(id)
        .execute(&mut *db.writer().await?)
        .await?;
    Ok(())
}
