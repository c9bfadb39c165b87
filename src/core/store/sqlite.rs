//! SQLite backend (rusqlite, bundled): WAL, busy timeout, foreign keys.

use super::{Row, Value};
use anyhow::{Context, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Open the store at `path`, creating the file (mode 0600) when it does not exist. Its
/// folder must exist: a mistyped `DATABASE_URL` must not quietly start an empty store
/// somewhere (`fks init` creates the folder).
pub fn open(path: &Path, busy_timeout: Duration) -> Result<Connection> {
    let in_memory = path.as_os_str() == ":memory:";
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !in_memory
        && !dir.is_dir()
    {
        return Err(crate::core::config::ConfigError(format!(
            "the folder of the store {} does not exist: check DATABASE_URL, --db or [store] url, \
             or run `fks init` to create a new store there",
            path.display()
        ))
        .into());
    }
    if !in_memory && !path.exists() {
        create_private(path)?;
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("open sqlite store {}", path.display()))?;
    conn.busy_timeout(busy_timeout)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
    )
    .with_context(|| {
        format!(
            "configure sqlite store {} (is it a database file?)",
            path.display()
        )
    })?;
    Ok(conn)
}

/// Create an empty store file readable only by its owner. SQLite gives its `-wal` and
/// `-shm` files the database file's mode, so they are private too.
fn create_private(path: &Path) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        // another process created it first: fine, SQLite opens it
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("create sqlite store {}", path.display())),
    }
}

fn bind(params: &[Value]) -> Vec<rusqlite::types::Value> {
    params
        .iter()
        .map(|v| match v {
            Value::Null => rusqlite::types::Value::Null,
            Value::Int(i) => rusqlite::types::Value::Integer(*i),
            Value::Real(f) => rusqlite::types::Value::Real(*f),
            Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
        })
        .collect()
}

pub fn batch(c: &Connection, sql: &str) -> Result<()> {
    c.execute_batch(sql).map_err(describe)
}

pub fn exec(c: &Connection, sql: &str, params: &[Value]) -> Result<u64> {
    let mut st = c
        .prepare_cached(sql)
        .map_err(describe)
        .with_context(|| format!("prepare: {sql}"))?;
    let n = st
        .execute(rusqlite::params_from_iter(bind(params)))
        .map_err(describe)?;
    Ok(n as u64)
}

pub fn query(c: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let mut st = c
        .prepare_cached(sql)
        .map_err(describe)
        .with_context(|| format!("prepare: {sql}"))?;
    let ncol = st.column_count();
    let mut rows = st
        .query(rusqlite::params_from_iter(bind(params)))
        .map_err(describe)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(describe)? {
        let mut vals = Vec::with_capacity(ncol);
        for i in 0..ncol {
            vals.push(match r.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                ValueRef::Real(v) => Value::Real(v),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
            });
        }
        out.push(Row(vals));
    }
    Ok(out)
}

/// Turn SQLite's terse errors into ones that say what to do.
pub fn describe(e: rusqlite::Error) -> anyhow::Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                return anyhow::anyhow!(
                    "the sqlite store is locked by another process and the busy timeout ran out ({e}); \
                     try again when it finishes, or raise store.busy_timeout_ms"
                );
            }
            rusqlite::ErrorCode::NotADatabase => {
                return anyhow::anyhow!("the store file is not an SQLite database: {e}");
            }
            rusqlite::ErrorCode::ReadOnly => {
                return anyhow::anyhow!("the sqlite store is read-only: {e}");
            }
            _ => {}
        }
    }
    anyhow::Error::new(e)
}
