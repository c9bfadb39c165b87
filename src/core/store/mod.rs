//! The store: SQLite (default) or Postgres, behind one small SQL layer.
//!
//! SQL is written once with `?` placeholders and portable syntax (`ON CONFLICT`, `RETURNING`,
//! window functions); for Postgres the placeholders become `$1, $2, ...`. Integers are `BIGINT`,
//! floats `DOUBLE PRECISION`, and money is `TEXT` holding the exact decimal string on both
//! backends. Where the backends really differ (bulk loads, full-text search, locks) the callers
//! branch on [`Store::kind`].

mod migrate;
#[cfg(feature = "postgres")]
pub mod pg_tls;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;
pub mod value;

pub mod candles;
pub mod identity;
/// COPY rows in Postgres's text format (bulk writes outside this module).
#[cfg(feature = "postgres")]
pub(crate) use postgres::copy_in_text;
pub mod optimizations;

use anyhow::{Context, Result, bail};
pub use migrate::HYPERTABLE_SQL;
use std::path::{Path, PathBuf};
pub use value::{Row, Value};

/// Build a parameter slice: `vals![a, b, c]`.
#[macro_export]
macro_rules! vals {
    ($($x:expr),* $(,)?) => { &[$($crate::core::store::Value::from($x)),*][..] };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// Where the store lives, parsed from a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreUrl {
    /// A file path, `sqlite://PATH` (or `sqlite:PATH`), or `postgres://...` / `postgresql://...`.
    pub fn parse(url: &str) -> Result<StoreUrl> {
        let u = url.trim();
        if u.is_empty() {
            bail!("empty database URL");
        }
        if u.starts_with("postgres://") || u.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(u.to_string()));
        }
        if let Some(p) = u
            .strip_prefix("sqlite://")
            .or_else(|| u.strip_prefix("sqlite:"))
        {
            if p.is_empty() {
                bail!("sqlite URL {u:?} has no path");
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(p)));
        }
        if u.contains("://") {
            bail!(
                "unsupported database URL scheme in {}: use a file path, sqlite://PATH or postgres://...",
                redact_url(u)
            );
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(u)))
    }

    /// The URL with any password hidden, for output and logs.
    pub fn display(&self) -> String {
        match self {
            StoreUrl::Sqlite(p) => p.display().to_string(),
            StoreUrl::Postgres(u) => redact_url(u),
        }
    }
}

pub use crate::core::redact::url_password as redact_url;

/// How to open a store: SQLite's busy timeout; Postgres' connection settings (the `PG*`
/// values are the process environment's, the URL's own parameters win over them).
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub busy_timeout: std::time::Duration,
    /// Give up connecting after this long (zero: wait for the operating system).
    pub connect_timeout: std::time::Duration,
    /// Postgres `statement_timeout` for every statement (zero: the server's setting).
    pub statement_timeout: std::time::Duration,
    /// Postgres `application_name`, `fks/<job>` for a job (unless the URL names one).
    pub application_name: Option<String>,
    pub pgsslmode: Option<String>,
    pub pgsslrootcert: Option<String>,
    pub pgpassword: Option<String>,
    /// Internal: set on the extra connection that checks for a transaction-mode pooler.
    #[doc(hidden)]
    pub pooler_probe_depth: u8,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            busy_timeout: std::time::Duration::from_secs(30),
            connect_timeout: std::time::Duration::from_secs(10),
            statement_timeout: std::time::Duration::ZERO,
            application_name: None,
            pgsslmode: None,
            pgsslrootcert: None,
            pgpassword: None,
            pooler_probe_depth: 0,
        }
    }
}

pub(crate) enum Backend {
    Sqlite(std::sync::Mutex<rusqlite::Connection>),
    #[cfg(feature = "postgres")]
    Postgres(tokio_postgres::Client),
}

/// An open store. One connection; statements are serialised through `gate` so that a
/// transaction never interleaves with another task's statements.
pub struct Store {
    pub(crate) backend: Backend,
    gate: tokio::sync::Mutex<()>,
    url: StoreUrl,
    dirty: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.url.display())
    }
}

impl Store {
    /// Open (creating if needed) and migrate the store.
    pub async fn open(url: &StoreUrl, busy_timeout: std::time::Duration) -> Result<Store> {
        Self::open_with(
            url,
            &OpenOptions {
                busy_timeout,
                ..Default::default()
            },
        )
        .await
    }

    /// Open (creating if needed) and migrate the store, with connection settings.
    pub async fn open_with(url: &StoreUrl, opts: &OpenOptions) -> Result<Store> {
        let backend = match url {
            StoreUrl::Sqlite(path) => Backend::Sqlite(std::sync::Mutex::new(sqlite::open(
                path,
                opts.busy_timeout,
            )?)),
            #[cfg(feature = "postgres")]
            StoreUrl::Postgres(u) => Backend::Postgres(postgres::connect(u, opts).await?),
            #[cfg(not(feature = "postgres"))]
            StoreUrl::Postgres(_) => {
                bail!("this fks was built without Postgres support (feature \"postgres\")")
            }
        };
        let store = Store {
            backend,
            gate: tokio::sync::Mutex::new(()),
            url: url.clone(),
            dirty: std::sync::atomic::AtomicBool::new(false),
        };
        migrate::run(&store)
            .await
            .with_context(|| format!("migrate store {}", url.display()))?;
        Ok(store)
    }

    pub fn kind(&self) -> StoreKind {
        match self.backend {
            Backend::Sqlite(_) => StoreKind::Sqlite,
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => StoreKind::Postgres,
        }
    }

    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// The SQLite file, when the store is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.url {
            StoreUrl::Sqlite(p) => Some(p),
            StoreUrl::Postgres(_) => None,
        }
    }

    pub(crate) async fn enter(&self) -> Result<tokio::sync::MutexGuard<'_, ()>> {
        let g = self.gate.lock().await;
        if self.dirty.swap(false, std::sync::atomic::Ordering::SeqCst) {
            // A transaction was dropped without commit: roll it back before going on.
            self.raw_batch("ROLLBACK").await.ok();
        }
        Ok(g)
    }

    /// Run one statement; returns the number of rows changed.
    pub async fn exec(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let _g = self.enter().await?;
        self.raw_exec(sql, params).await
    }

    /// Run a query and collect its rows.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let _g = self.enter().await?;
        self.raw_query(sql, params).await
    }

    /// The first row, if any.
    pub async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Exactly one row.
    pub async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        self.query_opt(sql, params)
            .await?
            .context("query returned no row")
    }

    /// Start a transaction (SQLite: `BEGIN IMMEDIATE`, so writers queue behind the busy timeout).
    pub async fn begin(&self) -> Result<Tx<'_>> {
        let g = self.enter().await?;
        let begin = match self.kind() {
            StoreKind::Sqlite => "BEGIN IMMEDIATE",
            StoreKind::Postgres => "BEGIN",
        };
        self.raw_batch(begin).await.context("begin transaction")?;
        Ok(Tx {
            store: self,
            _guard: g,
            done: false,
        })
    }

    pub(crate) async fn raw_batch(&self, sql: &str) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let g = lock(c)?;
                sqlite::batch(&g, sql)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(c) => postgres::batch(c, sql).await,
        }
    }

    pub(crate) async fn raw_exec(&self, sql: &str, params: &[Value]) -> Result<u64> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let g = lock(c)?;
                sqlite::exec(&g, sql, params)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(c) => postgres::exec(c, sql, params).await,
        }
    }

    pub(crate) async fn raw_query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let g = lock(c)?;
                sqlite::query(&g, sql, params)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(c) => postgres::query(c, sql, params).await,
        }
    }

    /// A small key/value table for process-wide state (e.g. an exchange ban's end).
    pub async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        self.query_opt("SELECT value FROM kv WHERE key = ?", vals![key])
            .await?
            .map(|r| r.text(0))
            .transpose()
    }

    pub async fn kv_set(&self, key: &str, value: &str, now_ms: i64) -> Result<()> {
        self.exec(
            "INSERT INTO kv (key, value, updated_ms) VALUES (?, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
            vals![key, value, now_ms],
        )
        .await?;
        Ok(())
    }
}

/// The SQLite connection, for bulk paths that bind many rows through one statement.
pub(crate) fn lock_conn(
    c: &std::sync::Mutex<rusqlite::Connection>,
) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>> {
    lock(c)
}

fn lock(
    c: &std::sync::Mutex<rusqlite::Connection>,
) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>> {
    c.lock()
        .map_err(|_| anyhow::anyhow!("sqlite connection poisoned by an earlier panic"))
}

/// A transaction. Commit explicitly; dropping it rolls back.
pub struct Tx<'a> {
    store: &'a Store,
    _guard: tokio::sync::MutexGuard<'a, ()>,
    done: bool,
}

impl Tx<'_> {
    pub fn kind(&self) -> StoreKind {
        self.store.kind()
    }

    pub async fn exec(&self, sql: &str, params: &[Value]) -> Result<u64> {
        self.store.raw_exec(sql, params).await
    }

    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.store.raw_query(sql, params).await
    }

    pub async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    pub async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        self.query_opt(sql, params)
            .await?
            .context("query returned no row")
    }

    pub(crate) fn store(&self) -> &Store {
        self.store
    }

    pub async fn commit(mut self) -> Result<()> {
        self.done = true;
        self.store
            .raw_batch("COMMIT")
            .await
            .context("commit transaction")
    }

    pub async fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.store.raw_batch("ROLLBACK").await
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done {
            match &self.store.backend {
                Backend::Sqlite(c) => {
                    if let Ok(c) = c.lock() {
                        let _ = c.execute_batch("ROLLBACK");
                    }
                }
                #[cfg(feature = "postgres")]
                Backend::Postgres(_) => self
                    .store
                    .dirty
                    .store(true, std::sync::atomic::Ordering::SeqCst),
            }
        }
    }
}

/// Turn `?` placeholders into `$1, $2, ...` (outside quoted strings).
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut in_str = false;
    for ch in sql.chars() {
        match ch {
            '\'' => {
                in_str = !in_str;
                out.push(ch);
            }
            '?' if !in_str => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert_eq!(
            StoreUrl::parse("fks.db").unwrap(),
            StoreUrl::Sqlite("fks.db".into())
        );
        assert_eq!(
            StoreUrl::parse("sqlite:///tmp/a.db").unwrap(),
            StoreUrl::Sqlite("/tmp/a.db".into())
        );
        assert!(matches!(
            StoreUrl::parse("postgres://u:p@h/db").unwrap(),
            StoreUrl::Postgres(_)
        ));
        assert!(StoreUrl::parse("mysql://x").is_err());
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:****@h:5432/db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            numbered_placeholders("a = ? AND b = '?' AND c = ?"),
            "a = $1 AND b = '?' AND c = $2"
        );
    }
}
