//! Versioned schema migrations, applied automatically when the store opens.
//!
//! SQLite keeps the version in `PRAGMA user_version`; Postgres in `fks_schema_version`.
//! A store written by a newer fks (higher version than this binary knows) is refused.

use super::{Store, StoreKind};
use anyhow::{Context, Result, bail};

struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

/// One migration per file pair `migrations/{sqlite,postgres}/NNNN_name.sql`.
macro_rules! migration {
    ($version:literal, $file:literal) => {
        Migration {
            version: $version,
            sqlite: include_str!(concat!("migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("migrations/postgres/", $file, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_foundation"),
    migration!(2, "0002_accounts"),
    migration!(3, "0003_outbox_news_archives"),
    migration!(4, "0004_indicators_strategies"),
    migration!(5, "0005_metrics_orders"),
    migration!(6, "0006_knowledge"),
    migration!(7, "0007_documents"),
    migration!(8, "0008_sync_gaps"),
    migration!(9, "0009_archive_manifest"),
    migration!(10, "0010_order_identity"),
    migration!(11, "0011_account_valuations"),
    migration!(12, "0012_optimizations"),
    migration!(13, "0013_order_position"),
    migration!(14, "0014_runs_hosts_shards"),
    migration!(15, "0015_signal_evaluations"),
    migration!(16, "0016_strategy_execution"),
];

/// The schema version this binary writes.
pub fn latest() -> i64 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}

pub(super) async fn run(store: &Store) -> Result<()> {
    let _g = store.gate.lock().await;
    match store.kind() {
        StoreKind::Sqlite => {
            store.raw_batch("BEGIN IMMEDIATE").await?;
            let r = apply(store, true).await;
            finish(store, r).await
        }
        StoreKind::Postgres => {
            store.raw_batch("BEGIN").await?;
            // Serialise concurrent migrations from several hosts.
            store
                .raw_batch("SELECT pg_advisory_xact_lock(7345210001)")
                .await?;
            store
                .raw_batch(
                    "CREATE TABLE IF NOT EXISTS fks_schema_version (version BIGINT NOT NULL)",
                )
                .await?;
            let r = apply(store, false).await;
            finish(store, r).await
        }
    }
}

async fn finish(store: &Store, r: Result<()>) -> Result<()> {
    match r {
        Ok(()) => store.raw_batch("COMMIT").await,
        Err(e) => {
            store.raw_batch("ROLLBACK").await.ok();
            Err(e)
        }
    }
}

async fn apply(store: &Store, sqlite: bool) -> Result<()> {
    let current = if sqlite {
        store.raw_query("PRAGMA user_version", &[]).await?[0].int(0)?
    } else {
        store
            .raw_query(
                "SELECT COALESCE(MAX(version), 0) FROM fks_schema_version",
                &[],
            )
            .await?[0]
            .int(0)?
    };
    if current > latest() {
        bail!(
            "the store has schema version {current}, newer than this fks understands ({}); upgrade fks",
            latest()
        );
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let sql = if sqlite { m.sqlite } else { m.postgres };
        store
            .raw_batch(sql)
            .await
            .with_context(|| format!("apply migration {}", m.version))?;
        if sqlite {
            store
                .raw_batch(&format!("PRAGMA user_version = {}", m.version))
                .await?;
        } else {
            store
                .raw_exec(
                    "INSERT INTO fks_schema_version (version) VALUES (?)",
                    &[m.version.into()],
                )
                .await?;
            if m.version == 1 {
                make_hypertable(store).await?;
            }
        }
    }
    Ok(())
}

/// What turns `candles` into a TimescaleDB hypertable: chunks of 30 days of its integer
/// `open_time` (milliseconds). The extension cannot be installed on the test machines, so
/// tests run this against a stand-in `create_hypertable` with TimescaleDB's signature.
pub const HYPERTABLE_SQL: &str = "SELECT create_hypertable('candles', 'open_time', chunk_time_interval => 2592000000, if_not_exists => TRUE)";

/// Turn `candles` into a TimescaleDB hypertable when the extension is installed in the database.
async fn make_hypertable(store: &Store) -> Result<()> {
    let has = store
        .raw_query(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'",
            &[],
        )
        .await?;
    if !has.is_empty() {
        store
            .raw_batch(HYPERTABLE_SQL)
            .await
            .context("create candles hypertable")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runner applies only versions above the store's own, so a gap or a duplicate would
    /// skip a migration on some stores: versions run 1, 2, … `latest()` with no hole, and each
    /// file says which version it is.
    #[test]
    fn versions_are_contiguous_and_match_their_files() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            let v = i as i64 + 1;
            assert_eq!(
                m.version, v,
                "migration {} is listed at position {v}",
                m.version
            );
            let header = format!("-- fks store, version {v}:");
            assert!(m.sqlite.starts_with(&header), "sqlite migration {v}");
            assert!(m.postgres.starts_with(&header), "postgres migration {v}");
        }
        assert_eq!(latest(), MIGRATIONS.len() as i64);
    }
}
