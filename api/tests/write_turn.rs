//! The write turn on SQLite (`Db::begin_write`, `Db::writer`): writers queue in the process, an abandoned
//! transaction is rolled back before the next writer runs, and no concurrent write is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tranche_api::db::Db;

async fn sqlite() -> (Db, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("tranche-db-{}", uuid::Uuid::now_v7().simple()));
    let db = Db::connect(&format!("sqlite://{}/t.db", dir.display()), 8)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        .execute(&mut *db.writer().await.unwrap())
        .await
        .unwrap();
    sqlx::query("INSERT INTO counter (id, n) VALUES (1, 0)")
        .execute(&mut *db.writer().await.unwrap())
        .await
        .unwrap();
    (db, dir)
}

#[tokio::test]
async fn a_dropped_transaction_is_rolled_back_before_the_next_writer_runs() {
    let (db, dir) = sqlite().await;
    {
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("UPDATE counter SET n = 99 WHERE id = 1")
            .execute(&mut *tx)
            .await
            .unwrap();
        // Dropped here without commit, as an early `?` return would.
    }
    // The next writer gets the turn only after the rollback: no wait on SQLite's lock, and no 99.
    let mut tx = tokio::time::timeout(Duration::from_secs(2), db.begin_write())
        .await
        .expect("the next writer was kept waiting")
        .unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT n FROM counter WHERE id = 1")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 0);
    tx.commit().await.unwrap();
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_take_turns_and_none_is_lost() {
    let (db, dir) = sqlite().await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let mut tx = db.begin_write().await?;
                let (n,): (i64,) = sqlx::query_as("SELECT n FROM counter WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query("UPDATE counter SET n = $1 WHERE id = 1")
                    .bind(n + 1)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            } else {
                sqlx::query("UPDATE counter SET n = n + 1 WHERE id = 1")
                    .execute(&mut *db.writer().await?)
                    .await
                    .map(|_| ())
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let (n,): (i64,) = sqlx::query_as("SELECT n FROM counter WHERE id = 1")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n, 64);
    std::fs::remove_dir_all(dir).ok();
}
