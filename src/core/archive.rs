//! Archiving: old rows move to gzip-compressed CSV files, one per table and month, with a
//! manifest (table, time range, rows, file, SHA-256). Each file is read back and checked
//! before its rows are deleted, in one transaction per file.
//!
//! Why gzip CSV: every analyst tool opens it without plugins (pandas, R, Excel after a
//! double-click unzip, DuckDB and ClickHouse read `.csv.gz` directly, `zcat | head` in a
//! shell), and it needs no extra crate; Parquet would add a large dependency for a few cold
//! files a month.
//!
//! Crash safety: a file is written under a temporary name, fsynced and renamed; the manifest
//! row and the delete commit together. A run killed before the commit leaves the rows in the
//! store (and at worst an orphan file, removed by the next run); killed after, the rows are
//! archived and gone. No month is ever half deleted.

use crate::core::store::{Store, Value};
use crate::vals;
use anyhow::{Context, Result, bail};
use chrono::{Datelike, TimeZone, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Int,
    Real,
    Text,
}

/// One archivable table: its time expression, columns and the rows eligible.
pub struct TableSpec {
    pub name: &'static str,
    pub time: &'static str,
    pub columns: &'static [(&'static str, Col)],
    /// Extra condition (e.g. only delivered notifications).
    pub filter: &'static str,
    /// Conflict target for an idempotent restore.
    pub key: &'static str,
}

pub use Col::*;

pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "candles",
        time: "open_time",
        columns: &[
            ("symbol", Text),
            ("timeframe", Text),
            ("open_time", Int),
            ("open", Text),
            ("high", Text),
            ("low", Text),
            ("close", Text),
            ("volume", Text),
        ],
        filter: "1 = 1",
        key: "symbol, timeframe, open_time",
    },
    TableSpec {
        name: "balance_history",
        time: "time_ms",
        columns: &[
            ("id", Int),
            ("account_id", Int),
            ("time_ms", Int),
            ("balance", Text),
            ("equity", Text),
            ("unrealized_pnl", Text),
            ("margin_used", Text),
            ("margin_available", Text),
            ("daily_pnl", Text),
            ("cumulative_pnl", Text),
        ],
        filter: "1 = 1",
        key: "id",
    },
    TableSpec {
        name: "task_runs",
        time: "started_ms",
        columns: &[
            ("id", Int),
            ("task", Text),
            ("args", Text),
            ("started_ms", Int),
            ("ended_ms", Int),
            ("status", Text),
            ("result", Text),
            ("error", Text),
            ("host", Text),
            ("pid", Int),
        ],
        filter: "status <> 'running'",
        key: "id",
    },
    // Deliveries go before their notifications (foreign key), on the notification's month.
    TableSpec {
        name: "notification_deliveries",
        time: "(SELECT n.created_ms FROM notifications n WHERE n.id = notification_id)",
        columns: &[
            ("notification_id", Int),
            ("channel", Text),
            ("status", Text),
            ("attempts", Int),
            ("parts_sent", Int),
            ("remote_id", Text),
            ("last_error", Text),
            ("updated_ms", Int),
        ],
        filter: "notification_id IN (SELECT id FROM notifications WHERE status <> 'pending')",
        key: "notification_id, channel",
    },
    TableSpec {
        name: "notifications",
        time: "created_ms",
        columns: &[
            ("id", Int),
            ("kind", Text),
            ("title", Text),
            ("body", Text),
            ("fields", Text),
            ("color", Int),
            ("urgent", Int),
            ("dedup_key", Text),
            ("attachment_path", Text),
            ("status", Text),
            ("created_ms", Int),
            ("updated_ms", Int),
        ],
        filter: "status <> 'pending'",
        key: "id",
    },
    TableSpec {
        name: "news",
        time: "COALESCE(published_ms, fetched_ms)",
        columns: &[
            ("id", Int),
            ("item_id", Text),
            ("source", Text),
            ("title", Text),
            ("link", Text),
            ("summary", Text),
            ("published_ms", Int),
            ("fetched_ms", Int),
            ("symbols", Text),
            ("categories", Text),
            ("sentiment", Real),
        ],
        filter: "1 = 1",
        key: "item_id",
    },
];

/// Extra tables added by later schema versions register here.
pub fn tables() -> Vec<&'static TableSpec> {
    TABLES
        .iter()
        .chain(crate::core::archive_extra::TABLES.iter())
        .collect()
}

pub fn spec(name: &str) -> Result<&'static TableSpec> {
    tables()
        .into_iter()
        .find(|t| t.name == name)
        .with_context(|| format!("{name:?} is not an archivable table"))
}

fn month_bounds(ms: i64) -> (i64, i64, String) {
    let d = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    let start = Utc
        .with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let (ny, nm) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(ny, nm, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    (
        start.timestamp_millis(),
        end.timestamp_millis(),
        format!("{:04}-{:02}", d.year(), d.month()),
    )
}

/// Per table: rows older than the cut-off, by month.
#[derive(Debug, Clone, Serialize)]
pub struct MonthCount {
    pub month: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub rows: i64,
}

pub async fn plan(store: &Store, t: &TableSpec, cutoff_ms: i64) -> Result<Vec<MonthCount>> {
    let rows = store
        .query(
            &format!(
                "SELECT MIN({0}), MAX({0}) FROM {1} WHERE {0} < ? AND {2}",
                t.time, t.name, t.filter
            ),
            vals![cutoff_ms],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok(vec![]);
    };
    let (Some(lo), Some(_hi)) = (r.opt_int(0)?, r.opt_int(1)?) else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    let mut m = lo;
    loop {
        let (a, b, name) = month_bounds(m);
        if a >= cutoff_ms {
            break;
        }
        // Never archive part of a month that is still inside the kept window.
        let to = b.min(cutoff_ms);
        let n = store
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM {1} WHERE {0} >= ? AND {0} < ? AND {2}",
                    t.time, t.name, t.filter
                ),
                vals![a, to],
            )
            .await?
            .int(0)?;
        if n > 0 {
            out.push(MonthCount {
                month: name,
                from_ms: a,
                to_ms: to,
                rows: n,
            });
        }
        m = b;
    }
    Ok(out)
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "\\N".into(),
        Value::Int(i) => i.to_string(),
        Value::Real(f) => format!("{f:?}"),
        Value::Text(s) => s.clone(),
    }
}

fn parse_cell(s: &str, c: Col) -> Result<Value> {
    if s == "\\N" {
        return Ok(Value::Null);
    }
    Ok(match c {
        Int => Value::Int(
            s.parse()
                .with_context(|| format!("{s:?} is not an integer"))?,
        ),
        Real => Value::Real(
            s.parse()
                .with_context(|| format!("{s:?} is not a number"))?,
        ),
        Text => Value::Text(s.to_string()),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchivedFile {
    pub table: String,
    pub month: String,
    pub rows: i64,
    pub path: String,
    pub sha256: String,
    pub deleted: u64,
}

/// Archive one table-month: write, verify, then delete in one transaction.
pub async fn archive_month(
    store: &Store,
    t: &TableSpec,
    m: &MonthCount,
    dir: &Path,
    now_ms: i64,
) -> Result<ArchivedFile> {
    let cols: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
    let cond = format!("{0} >= ? AND {0} < ? AND {1}", t.time, t.filter);
    let rows = store
        .query(
            &format!(
                "SELECT {} FROM {} WHERE {cond} ORDER BY {}",
                cols.join(", "),
                t.name,
                t.key
            ),
            vals![m.from_ms, m.to_ms],
        )
        .await?;
    let table_dir = dir.join(t.name);
    std::fs::create_dir_all(&table_dir)
        .with_context(|| format!("create {}", table_dir.display()))?;
    let final_path = table_dir.join(format!("fks-{}-{}-{}.csv.gz", t.name, m.month, now_ms));
    let tmp = final_path.with_extension("gz.partial");
    {
        let f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        let mut w = csv::Writer::from_writer(gz);
        w.write_record(&cols)?;
        for r in &rows {
            w.write_record(r.0.iter().map(cell))?;
        }
        let gz = w
            .into_inner()
            .map_err(|e| anyhow::anyhow!("write {}: {e}", tmp.display()))?;
        let f = gz.finish()?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &final_path)?;
    // Read back: the rows and their values must be exactly what is about to be deleted.
    let bytes = std::fs::read(&final_path)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let back = read_rows(&bytes, t)?;
    if back.len() != rows.len() || back.iter().zip(&rows).any(|(a, b)| a != &b.0) {
        bail!(
            "archive {} did not read back identically; nothing deleted",
            final_path.display()
        );
    }
    let tx = store.begin().await?;
    tx.exec(
        "INSERT INTO archives (table_name, month, from_ms, to_ms, rows, path, sha256, status, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 'verified', ?)",
        vals![t.name, m.month.as_str(), m.from_ms, m.to_ms, rows.len(), final_path.display().to_string(), sha.as_str(), now_ms],
    )
    .await?;
    let deleted = tx
        .exec(
            &format!("DELETE FROM {} WHERE {cond}", t.name),
            vals![m.from_ms, m.to_ms],
        )
        .await?;
    if deleted != rows.len() as u64 {
        tx.rollback().await?;
        bail!(
            "{} {}: rows changed while archiving ({} written, {deleted} to delete); nothing deleted, run again",
            t.name,
            m.month,
            rows.len()
        );
    }
    if t.name == "candles" {
        tx.exec("UPDATE sync_status SET gaps = NULL", &[]).await?;
    }
    tx.commit().await?;
    Ok(ArchivedFile {
        table: t.name.into(),
        month: m.month.clone(),
        rows: rows.len() as i64,
        path: final_path.display().to_string(),
        sha256: sha,
        deleted,
    })
}

fn read_rows(gz_bytes: &[u8], t: &TableSpec) -> Result<Vec<Vec<Value>>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz_bytes)
        .read_to_string(&mut text)
        .context("decompress archive")?;
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rdr.headers()?.iter().map(String::from).collect();
    let want: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
    if header != want {
        bail!(
            "archive columns {header:?} do not match table {} ({want:?})",
            t.name
        );
    }
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        out.push(
            rec.iter()
                .zip(t.columns)
                .map(|(s, (_, c))| parse_cell(s, *c))
                .collect::<Result<Vec<_>>>()?,
        );
    }
    Ok(out)
}

/// Remove files a killed run left behind (written but never recorded in the manifest).
pub async fn remove_orphans(store: &Store, dir: &Path) -> Result<Vec<String>> {
    let known: std::collections::HashSet<String> = store
        .query("SELECT path FROM archives", &[])
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_>>()?;
    let mut removed = Vec::new();
    for t in tables() {
        let Ok(rd) = std::fs::read_dir(dir.join(t.name)) else {
            continue;
        };
        for e in rd.flatten() {
            let p: PathBuf = e.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let ours = name.starts_with(&format!("fks-{}-", t.name))
                && (name.ends_with(".csv.gz") || name.ends_with(".gz.partial"));
            if ours && !known.contains(&p.display().to_string()) {
                std::fs::remove_file(&p).ok();
                removed.push(p.display().to_string());
            }
        }
    }
    Ok(removed)
}

/// Load an archive file back into its table (rows already present are left alone).
pub async fn restore(store: &Store, path: &Path) -> Result<(String, u64, u64)> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let table = tables()
        .into_iter()
        .find(|t| name.starts_with(&format!("fks-{}-", t.name)))
        .with_context(|| {
            format!("{name}: not an fks archive file (fks-<table>-<month>-<id>.csv.gz)")
        })?;
    if let Some(r) = store
        .query_opt(
            "SELECT sha256 FROM archives WHERE path = ? OR path LIKE ?",
            vals![path.display().to_string(), format!("%/{name}")],
        )
        .await?
        && r.text(0)? != sha
    {
        bail!(
            "{}: checksum differs from the manifest; the file was changed",
            path.display()
        );
    }
    let rows = read_rows(&bytes, table)?;
    let cols: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
    let marks = vec!["?"; cols.len()].join(", ");
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({marks}) ON CONFLICT ({}) DO NOTHING",
        table.name,
        cols.join(", "),
        table.key
    );
    let tx = store.begin().await?;
    let mut inserted = 0;
    for r in &rows {
        inserted += tx.exec(&sql, r).await?;
    }
    tx.commit().await?;
    Ok((table.name.to_string(), rows.len() as u64, inserted))
}
