//! The database handle: one `AnyPool` for SQLite or PostgreSQL, with the few dialect differences kept here.
//!
//! Queries elsewhere use `$1`-style parameters (both drivers accept them) and only portable SQL. What is
//! not portable -- how a write transaction starts, how a row is locked, how errors are classified -- is a
//! method on [`Db`].

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::state::Clock;

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The write turn on SQLite: SQLite lets one writer in at a time, and a writer that finds the lock taken
/// sleeps in SQLite's busy handler (1, 2, 5, 10 ... 100 ms steps) instead of queueing, so under load the
/// unlucky ones wait hundreds of milliseconds while the lock sits free between their naps (the bench's
/// SQLite p99 of 646 ms at half the peak rate). Taking this async, first-come-first-served turn before
/// asking SQLite for the lock makes writers queue in order and start the moment the previous one ends.
/// SQLite is one node only (DESIGN section 9), so an in-process turn covers every writer; PostgreSQL locks
/// rows and needs none.
#[derive(Clone, Default)]
struct WriteTurn(Option<Arc<Mutex<()>>>);

impl WriteTurn {
    async fn take(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.0 {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        }
    }
}

/// A write transaction on the shared pool, holding the write turn (SQLite) until it ends. Derefs to the
/// connection, so `&mut *tx` is an executor as with a plain sqlx transaction.
pub struct Tx {
    // `Option` so `Drop` can hand an unfinished transaction to a task that rolls it back.
    inner: Option<sqlx::Transaction<'static, Any>>,
    turn: Option<OwnedMutexGuard<()>>,
}

impl Tx {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self.inner.take() {
            Some(tx) => tx.commit().await,
            None => Ok(()),
        }
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        match self.inner.take() {
            Some(tx) => tx.rollback().await,
            None => Ok(()),
        }
    }
}

impl Drop for Tx {
    /// A transaction dropped unfinished (an early `?` return) is rolled back *before* the write turn passes
    /// on: sqlx would only queue the rollback for the connection's next use, leaving SQLite's lock held by an
    /// idle pooled connection while the next writer waits for it.
    fn drop(&mut self) {
        if let Some(tx) = self.inner.take() {
            let turn = self.turn.take();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        if let Err(e) = tx.rollback().await {
                            tracing::warn!(error = %e, "rolling back an abandoned transaction");
                        }
                        drop(turn);
                    });
                }
                // No runtime (shutting down): sqlx's own queued rollback applies.
                Err(_) => drop((tx, turn)),
            }
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        // `inner` is only `None` inside commit/rollback/drop, which consume or end the value.
        match &self.inner {
            Some(tx) => tx,
            None => unreachable!("transaction used after it ended"),
        }
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.inner {
            Some(tx) => tx,
            None => unreachable!("transaction used after it ended"),
        }
    }
}

/// A pooled connection for one autocommit write, holding the write turn (SQLite) while it lives.
pub struct Writer {
    conn: PoolConnection<Any>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Deref for Writer {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    dialect: Dialect,
    clock: Clock,
    turn: WriteTurn,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("Db")
            .field("dialect", &self.dialect)
            .finish_non_exhaustive()
    }
}

static MIGRATE_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static MIGRATE_POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    /// Connects (creating a SQLite file and its folder on first use) and applies pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            anyhow::bail!("TRANCHE_DATABASE_URL must start with sqlite: or postgres://");
        };
        let url = match dialect {
            Dialect::Sqlite => prepare_sqlite_url(url)?,
            Dialect::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).context("parsing the database URL")?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers run beside the one writer; busy_timeout makes writers queue
                        // instead of failing; foreign keys are off by default per connection.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .context("connecting to the database")?;
        let turn = match dialect {
            Dialect::Sqlite => WriteTurn(Some(Arc::new(Mutex::new(())))),
            Dialect::Postgres => WriteTurn(None),
        };
        let db = Db {
            pool,
            dialect,
            clock: Clock::system(),
            turn,
        };
        db.migrate().await?;
        Ok(db)
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &MIGRATE_SQLITE,
            Dialect::Postgres => &MIGRATE_POSTGRES,
        };
        migrator.run(&self.pool).await.context("applying migrations")?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The clock stored times are read from: every clone of this handle shares it (see [`Clock`]).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A transaction that will write. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`), so a
    /// read-then-write never fails to upgrade; on PostgreSQL rows are locked with [`Db::for_update`].
    /// On SQLite it first waits its turn among this process's writers (see [`WriteTurn`]); the turn is
    /// taken before a pooled connection, so queued writers do not hold connections readers need.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        let turn = self.turn.take().await;
        let inner = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            inner: Some(inner),
            turn,
        })
    }

    /// A connection for one autocommit write (a single INSERT or UPDATE), in turn with the transactions
    /// on SQLite so it never meets the busy handler either.
    pub async fn writer(&self) -> Result<Writer, sqlx::Error> {
        let turn = self.turn.take().await;
        let conn = self.pool.acquire().await?;
        Ok(Writer { conn, _turn: turn })
    }

    /// Suffix that locks the selected rows until commit (empty on SQLite, where the transaction holds
    /// the database write lock already).
    pub fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Like [`Db::for_update`], locking only the rows of the table aliased `alias` in a join.
    pub fn for_update_of(&self, alias: &'static str) -> String {
        match self.dialect {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!(" FOR UPDATE OF {alias}"),
        }
    }

    /// Suffix that claims rows other transactions have not locked, skipping those they have, so several
    /// relays share work (empty on SQLite, whose write lock already serialises claimers).
    pub fn skip_locked(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Makes sure the SQLite file's folder exists and the file is created on first connect.
fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if path != ":memory:" && !path.is_empty() {
        if let Some(parent) = std::path::Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// Whether the error is a unique-constraint violation (both dialects).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// The system time in unix milliseconds (the storage form of every timestamp). Code on the payment path reads
/// [`Db::clock`] instead, so tests can move time; this stays for the callers that do not need that yet.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// RFC 3339 form of a stored timestamp, for the wire.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A new prefixed id (`inv_0193...`): time-ordered UUIDv7, so indexes stay append-mostly.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}
