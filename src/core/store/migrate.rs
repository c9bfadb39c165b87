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

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: include_str!("migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        sqlite: include_str!("migrations/sqlite/0002_accounts.sql"),
        postgres: include_str!("migrations/postgres/0002_accounts.sql"),
    },
    Migration {
        version: 3,
        sqlite: include_str!("migrations/sqlite/0003_outbox_news_archives.sql"),
        postgres: include_str!("migrations/postgres/0003_outbox_news_archives.sql"),
    },
    Migration {
        version: 4,
        sqlite: include_str!("migrations/sqlite/0004_indicators_strategies.sql"),
        postgres: include_str!("migrations/postgres/0004_indicators_strategies.sql"),
    },
    Migration {
        version: 5,
        sqlite: include_str!("migrations/sqlite/0005_metrics_orders.sql"),
        postgres: include_str!("migrations/postgres/0005_metrics_orders.sql"),
    },
    Migration {
        version: 6,
        sqlite: include_str!("migrations/sqlite/0006_knowledge.sql"),
        postgres: include_str!("migrations/postgres/0006_knowledge.sql"),
    },
    Migration {
        version: 7,
        sqlite: include_str!("migrations/sqlite/0007_documents.sql"),
        postgres: include_str!("migrations/postgres/0007_documents.sql"),
    },
    Migration {
        version: 8,
        sqlite: include_str!("migrations/sqlite/0008_sync_gaps.sql"),
        postgres: include_str!("migrations/postgres/0008_sync_gaps.sql"),
    },
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
            .raw_batch(
                "SELECT create_hypertable('candles', 'open_time', chunk_time_interval => 2592000000, if_not_exists => TRUE)",
            )
            .await
            .context("create candles hypertable")?;
    }
    Ok(())
}
