//! Archiving: old rows move to gzip-compressed CSV files, one per table and month (and run),
//! listed in a manifest (the `archives` table: table, month, time range, rows, file, SHA-256).
//!
//! Why gzip CSV: every analyst tool opens it without plugins (pandas, R, Excel after a
//! double-click unzip, DuckDB and ClickHouse read `.csv.gz` directly, `zcat | head` in a
//! shell), and it needs no extra crate; Parquet would add a large dependency for a few cold
//! files a month.
//!
//! Nothing is ever lost:
//! - before a file is written, a `pending` manifest row (store id, host, canonical path,
//!   table, month) is committed;
//! - the file gets a name no other run can produce (table, month, store id, random token),
//!   is written under a temporary name, fsynced, renamed, then read back: its rows must hash
//!   to exactly what was read from the store;
//! - one transaction reads the rows again, checks they still hash the same, marks the
//!   manifest row `done` (with the file's SHA-256) and deletes them;
//! - cleanup looks only at this store's `pending` rows (never at the folder): their rows are
//!   still in the store (the deleting transaction never committed), and a file is removed
//!   only after checking that every row in it is still in the store; otherwise it is kept and
//!   listed. So two spellings of one folder, a pinned clock, or a SQLite and a Postgres store
//!   archiving into one folder never touch each other's files.
//!
//! Rows are streamed page by page (keyset pagination on the table's key), so a month of
//! minute candles for many symbols never sits in memory at once.

use crate::core::candle_check::{self, Grid};
use crate::core::klines_file::limited;
use crate::core::market::{Candle, Symbol, Timeframe};
use crate::core::store::{Row, Store, StoreKind, Tx, Value};
use crate::vals;
use anyhow::{Context, Result, bail};
use chrono::{Datelike, TimeZone, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Int,
    Real,
    Text,
    /// A decimal kept as exact text (prices, money): validated as a number on restore.
    Dec,
}

/// One archivable table: its time expression, columns and the rows eligible.
#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub time: &'static str,
    pub columns: &'static [(&'static str, Col)],
    /// Extra condition (e.g. only delivered notifications).
    pub filter: &'static str,
    /// Conflict target for an idempotent restore; also the order of rows in a file.
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
            ("open", Dec),
            ("high", Dec),
            ("low", Dec),
            ("close", Dec),
            ("volume", Dec),
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
            ("balance", Dec),
            ("equity", Dec),
            ("unrealized_pnl", Dec),
            ("margin_used", Dec),
            ("margin_available", Dec),
            ("daily_pnl", Dec),
            ("cumulative_pnl", Dec),
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

/// Manifest states.
pub const PENDING: &str = "pending";
pub const DONE: &str = "done";
/// A pending file cleanup could not prove redundant: kept on disk and restorable.
pub const KEPT: &str = "kept";

/// Rows read from the store per page.
const PAGE: i64 = 5_000;
/// Longest record accepted in an archive file (news summaries can be long).
const MAX_RECORD: u64 = 16 << 20;

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

/// A value in the column's declared type (SQLite may hand back 0 for a REAL column).
fn normalize(v: Value, c: Col) -> Value {
    match (v, c) {
        (Value::Int(i), Real) => Value::Real(i as f64),
        (Value::Real(f), Int) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::Int(f as i64),
        (Value::Int(i), Text | Dec) => Value::Text(i.to_string()),
        (Value::Real(f), Text | Dec) => Value::Text(f.to_string()),
        (v, _) => v,
    }
}

/// A value as written in an archive: `\N` is NULL; text starting with a backslash gets one
/// more, so a text `\N` stays text.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "\\N".into(),
        Value::Int(i) => i.to_string(),
        Value::Real(f) => format!("{f:?}"),
        Value::Text(s) if s.starts_with('\\') => format!("\\{s}"),
        Value::Text(s) => s.clone(),
    }
}

fn parse_cell(s: &str, name: &str, c: Col) -> std::result::Result<Value, String> {
    if s == "\\N" {
        return Ok(Value::Null);
    }
    let text = s.strip_prefix('\\').unwrap_or(s);
    Ok(match c {
        Int => Value::Int(
            s.parse()
                .map_err(|_| format!("{name} {:?} is not an integer", short(s)))?,
        ),
        Real => {
            let f: f64 = s
                .parse()
                .map_err(|_| format!("{name} {:?} is not a number", short(s)))?;
            if !f.is_finite() {
                return Err(format!("{name} {:?} is not a finite number", short(s)));
            }
            Value::Real(f)
        }
        Text => Value::Text(text.to_string()),
        Dec => {
            candle_check::parse_number("value", text)
                .map_err(|_| format!("{name} {:?} is not a finite decimal number", short(s)))?;
            Value::Text(text.to_string())
        }
    })
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// SHA-256 over the rows' cells as written (field and record separators between them).
#[derive(Default)]
struct RowDigest {
    h: Sha256,
    rows: u64,
}

impl RowDigest {
    fn add(&mut self, cells: &[String]) {
        for c in cells {
            self.h.update(c.as_bytes());
            self.h.update([0x1f]);
        }
        self.h.update([0x1e]);
        self.rows += 1;
    }
    fn finish(self) -> (u64, String) {
        (self.rows, hex::encode(self.h.finalize()))
    }
}

/// Either the store or an open transaction.
enum Q<'a> {
    Store(&'a Store),
    Tx(&'a Tx<'a>),
}

impl Q<'_> {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match self {
            Q::Store(s) => s.query(sql, params).await,
            Q::Tx(t) => t.query(sql, params).await,
        }
    }
}

fn key_positions(t: &TableSpec) -> Vec<usize> {
    t.key
        .split(',')
        .map(str::trim)
        .filter_map(|k| t.columns.iter().position(|c| c.0 == k))
        .collect()
}

/// Every row of a table-month in key order, page by page, each handed to `f` as cells.
async fn for_each_row(
    q: Q<'_>,
    t: &TableSpec,
    m: &MonthCount,
    f: &mut dyn FnMut(Vec<String>) -> Result<()>,
) -> Result<()> {
    let cols: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
    let keys = key_positions(t);
    let marks = vec!["?"; keys.len()].join(", ");
    let cond = format!("{0} >= ? AND {0} < ? AND {1}", t.time, t.filter);
    let first = format!(
        "SELECT {} FROM {} WHERE {cond} ORDER BY {} LIMIT {PAGE}",
        cols.join(", "),
        t.name,
        t.key
    );
    let next = format!(
        "SELECT {} FROM {} WHERE {cond} AND ({}) > ({marks}) ORDER BY {} LIMIT {PAGE}",
        cols.join(", "),
        t.name,
        t.key,
        t.key
    );
    let mut after: Option<Vec<Value>> = None;
    loop {
        let mut params = vec![Value::Int(m.from_ms), Value::Int(m.to_ms)];
        let sql = match &after {
            None => &first,
            Some(k) => {
                params.extend(k.iter().cloned());
                &next
            }
        };
        let rows = q.query(sql, &params).await?;
        let n = rows.len();
        let mut last = None;
        for r in rows {
            let vals: Vec<Value> =
                r.0.into_iter()
                    .zip(t.columns)
                    .map(|(v, (_, c))| normalize(v, *c))
                    .collect();
            last = Some(keys.iter().map(|&i| vals[i].clone()).collect::<Vec<_>>());
            f(vals.iter().map(cell).collect())?;
        }
        if (n as i64) < PAGE {
            return Ok(());
        }
        after = last;
    }
}

/// One archived file.
#[derive(Debug, Clone, Serialize)]
pub struct ArchivedFile {
    pub table: String,
    pub month: String,
    pub rows: i64,
    pub path: String,
    pub sha256: String,
    pub deleted: u64,
}

/// Where a run archives, resolved once: the folder (created, canonical), this store's id
/// and host.
#[derive(Debug, Clone)]
pub struct Target {
    pub dir: PathBuf,
    pub store_id: String,
    pub host: String,
}

impl Target {
    pub fn new(dir: &Path, store_id: String) -> Result<Target> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("resolve {}", dir.display()))?;
        Ok(Target {
            dir,
            store_id,
            host: crate::core::runs::hostname(),
        })
    }
}

fn fsync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn partial_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Archive one table-month: a pending manifest row, the file written and read back, then
/// one transaction that checks the rows again, marks the row done and deletes them.
pub async fn archive_month(
    store: &Store,
    t: &'static TableSpec,
    m: &MonthCount,
    target: &Target,
    now_ms: i64,
) -> Result<ArchivedFile> {
    let table_dir = target.dir.join(t.name);
    std::fs::create_dir_all(&table_dir)
        .with_context(|| format!("create {}", table_dir.display()))?;
    let sid: String = target.store_id.chars().take(8).collect();
    let name = format!(
        "fks-{}-{}-{sid}-{}.csv.gz",
        t.name,
        m.month,
        crate::core::store::identity::random_hex(16)?
    );
    let path = table_dir.join(&name);
    if path.exists() || partial_path(&path).exists() {
        bail!("{} already exists; nothing written", path.display());
    }
    let path_s = path.display().to_string();
    let id = store
        .query_one(
            "INSERT INTO archives (table_name, month, from_ms, to_ms, rows, path, sha256, status, created_ms, store_id, file_name, host) \
             VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?) RETURNING id",
            vals![t.name, m.month.as_str(), m.from_ms, m.to_ms, m.rows, path_s.as_str(), PENDING, now_ms, target.store_id.as_str(), name.as_str(), target.host.as_str()],
        )
        .await?
        .int(0)?;
    match write_verify_delete(store, t, m, &path, id).await {
        Ok(f) => Ok(f),
        Err(e) => {
            // The rows are still in the store unless the deleting transaction committed; the
            // checked cleanup removes the file only if every row of it is still there.
            let _ = cleanup_one(store, id, &path, &target.host, &target.host).await;
            Err(e)
        }
    }
}

async fn write_verify_delete(
    store: &Store,
    t: &'static TableSpec,
    m: &MonthCount,
    path: &Path,
    id: i64,
) -> Result<ArchivedFile> {
    let tmp = partial_path(path);
    let (rows, digest) = write_file(store, t, m, &tmp).await?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename {}", tmp.display()))?;
    if let Some(d) = path.parent() {
        fsync_dir(d);
    }
    // Read back: the file must hold exactly the rows read from the store.
    let mut back = RowDigest::default();
    let info = read_file(path, Some(t), &mut |_, vals| {
        back.add(&vals.iter().map(cell).collect::<Vec<_>>());
        Ok(())
    })?;
    if back.finish() != (rows, digest.clone()) {
        bail!(
            "archive {} did not read back identically; nothing deleted",
            path.display()
        );
    }
    let tx = store.begin().await?;
    if tx.kind() == StoreKind::Postgres {
        // One snapshot for the check and the delete; a concurrent change fails the commit.
        tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", &[])
            .await?;
    }
    let mut again = RowDigest::default();
    for_each_row(Q::Tx(&tx), t, m, &mut |cells| {
        again.add(&cells);
        Ok(())
    })
    .await?;
    if again.finish() != (rows, digest) {
        bail!(
            "{} {}: rows changed while archiving; nothing deleted, run again",
            t.name,
            m.month
        );
    }
    let marked = tx
        .exec(
            "UPDATE archives SET status = ?, sha256 = ?, rows = ? WHERE id = ? AND status = ?",
            vals![DONE, info.sha256.as_str(), rows, id, PENDING],
        )
        .await?;
    if marked != 1 {
        bail!(
            "manifest row {id} of {} is no longer pending; nothing deleted",
            path.display()
        );
    }
    let deleted = tx
        .exec(
            &format!(
                "DELETE FROM {} WHERE {1} >= ? AND {1} < ? AND {2}",
                t.name, t.time, t.filter
            ),
            vals![m.from_ms, m.to_ms],
        )
        .await?;
    if deleted != rows {
        tx.rollback().await?;
        bail!(
            "{} {}: rows changed while archiving ({rows} written, {deleted} to delete); nothing deleted, run again",
            t.name,
            m.month
        );
    }
    if t.name == "candles" {
        tx.exec("UPDATE sync_status SET gaps = NULL", &[]).await?;
        drop_series_facts(&tx).await?;
    }
    tx.commit().await?;
    Ok(ArchivedFile {
        table: t.name.into(),
        month: m.month.clone(),
        rows: rows as i64,
        path: path.display().to_string(),
        sha256: info.sha256,
        deleted,
    })
}

/// Write a table-month to a new file; returns its rows and their digest.
async fn write_file(
    store: &Store,
    t: &TableSpec,
    m: &MonthCount,
    tmp: &Path,
) -> Result<(u64, String)> {
    let f = std::fs::File::create_new(tmp).with_context(|| format!("create {}", tmp.display()))?;
    let gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::with_capacity(256 * 1024, f),
        flate2::Compression::default(),
    );
    let mut w = csv::Writer::from_writer(gz);
    w.write_record(t.columns.iter().map(|c| c.0))?;
    let mut digest = RowDigest::default();
    for_each_row(Q::Store(store), t, m, &mut |cells| {
        w.write_record(&cells)
            .with_context(|| format!("write {}", tmp.display()))?;
        digest.add(&cells);
        Ok(())
    })
    .await?;
    let gz = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("write {}: {e}", tmp.display()))?;
    let buf = gz.finish()?;
    let f = buf
        .into_inner()
        .map_err(|e| anyhow::anyhow!("write {}: {e}", tmp.display()))?;
    f.sync_all()
        .with_context(|| format!("sync {}", tmp.display()))?;
    Ok(digest.finish())
}

/// Hashes every byte read through it.
struct Hashing<R> {
    inner: R,
    h: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.h.update(&buf[..n]);
        Ok(n)
    }
}

/// What [`read_file`] found.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub table: &'static TableSpec,
    pub rows: u64,
    pub sha256: String,
}

/// SHA-256 of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<String> {
    let f = std::fs::File::open(path).with_context(|| format!("read {}", path.display()))?;
    let mut h = Hashing {
        inner: std::io::BufReader::with_capacity(256 * 1024, f),
        h: Sha256::new(),
    };
    std::io::copy(&mut h, &mut std::io::sink())
        .with_context(|| format!("read {}", path.display()))?;
    Ok(hex::encode(h.h.finalize()))
}

fn table_of_header(header: &[String], name: &str) -> Result<&'static TableSpec> {
    let by_header = tables().into_iter().find(|t| {
        t.columns.len() == header.len() && t.columns.iter().zip(header).all(|(c, h)| c.0 == h)
    });
    by_header.with_context(|| {
        format!(
            "{name}: its columns {:?} are not those of an archivable table",
            header.iter().map(|h| short(h)).collect::<Vec<_>>()
        )
    })
}

type Decoder = flate2::read::GzDecoder<Hashing<std::io::BufReader<std::fs::File>>>;

/// Reads an archive file row by row (bounded memory), hashing every byte of it.
pub struct ArchiveReader {
    rdr: csv::Reader<crate::core::klines_file::Limit<Decoder>>,
    handle: crate::core::klines_file::LimitHandle,
    rec: csv::StringRecord,
    name: String,
    pub table: &'static TableSpec,
    rows: u64,
}

impl ArchiveReader {
    /// Open a file; its table is `t`, else the one whose columns the header names.
    pub fn open(path: &Path, t: Option<&'static TableSpec>) -> Result<ArchiveReader> {
        let f = std::fs::File::open(path).with_context(|| format!("read {}", path.display()))?;
        let hashing = Hashing {
            inner: std::io::BufReader::with_capacity(256 * 1024, f),
            h: Sha256::new(),
        };
        let (lim, handle) = limited(flate2::read::GzDecoder::new(hashing), MAX_RECORD);
        let rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(lim);
        let mut r = ArchiveReader {
            rdr,
            handle,
            rec: csv::StringRecord::new(),
            name: path.display().to_string(),
            table: &TABLES[0],
            rows: 0,
        };
        if !r.read()? {
            bail!("{}: empty archive (no header)", r.name);
        }
        let header: Vec<String> = r.rec.iter().map(String::from).collect();
        r.table = match t {
            Some(t) => {
                let want: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
                if header != want {
                    bail!(
                        "{}: archive columns {header:?} do not match table {} ({want:?})",
                        r.name,
                        t.name
                    );
                }
                t
            }
            None => table_of_header(&header, &r.name)?,
        };
        Ok(r)
    }

    fn read(&mut self) -> Result<bool> {
        let res = self.rdr.read_record(&mut self.rec);
        self.handle.reset();
        match res {
            Ok(b) => Ok(b),
            Err(_) if self.handle.tripped() => bail!(
                "{}: a record longer than {} MiB; not an fks archive",
                self.name,
                MAX_RECORD >> 20
            ),
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "{}: not a gzip CSV archive (fks-<table>-<month>-....csv.gz)",
                self.name
            ))),
        }
    }

    /// The next row: the line it starts on and its typed values.
    pub fn next_row(&mut self) -> Result<Option<(u64, Vec<Value>)>> {
        if !self.read()? {
            return Ok(None);
        }
        let line = self.rec.position().map_or(self.rows + 2, |p| p.line());
        let t = self.table;
        if self.rec.len() != t.columns.len() {
            bail!(
                "{} line {line}: {} fields, the table has {}",
                self.name,
                self.rec.len(),
                t.columns.len()
            );
        }
        let vals = self
            .rec
            .iter()
            .zip(t.columns)
            .map(|(s, (n, c))| parse_cell(s, n, *c))
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(|e| anyhow::anyhow!("{} line {line}: {e}", self.name))?;
        self.rows += 1;
        Ok(Some((line, vals)))
    }

    /// After the last row: the rows read and the SHA-256 of the whole file.
    pub fn finish(self) -> Result<FileInfo> {
        let mut hashing = self.rdr.into_inner().into_inner().into_inner();
        // Hash whatever follows the gzip stream too: the checksum covers the whole file.
        std::io::copy(&mut hashing, &mut std::io::sink())?;
        Ok(FileInfo {
            table: self.table,
            rows: self.rows,
            sha256: hex::encode(hashing.h.finalize()),
        })
    }
}

/// Stream an archive file: each row (1-based line of the record, typed values) to `on_row`.
/// The table is `t`, else the one whose columns the header names.
pub fn read_file(
    path: &Path,
    t: Option<&'static TableSpec>,
    on_row: &mut dyn FnMut(u64, Vec<Value>) -> Result<()>,
) -> Result<FileInfo> {
    let mut r = ArchiveReader::open(path, t)?;
    while let Some((line, vals)) = r.next_row()? {
        on_row(line, vals)?;
    }
    r.finish()
}

/// What cleanup did with this store's pending archive rows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleanup {
    /// Files removed: written by a run of this store that never committed, every row of
    /// them still in the store.
    pub removed: Vec<String>,
    /// Files kept (and marked `kept` in the manifest): rows of them are no longer in the
    /// store, or the file could not be checked. Restorable with `restore-archive`.
    pub kept: Vec<CleanupKept>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CleanupKept {
    pub path: String,
    pub reason: String,
}

/// Clean up after runs of this store that never committed: only `pending` manifest rows of
/// this store id, by their canonical path; never a file whose rows are not all in the store.
pub async fn cleanup_pending(store: &Store, store_id: &str) -> Result<Cleanup> {
    let host = crate::core::runs::hostname();
    let rows = store
        .query(
            "SELECT id, path, COALESCE(host, '') FROM archives WHERE status = ? AND store_id = ? ORDER BY id",
            vals![PENDING, store_id],
        )
        .await?;
    let mut out = Cleanup::default();
    for r in rows {
        let (id, path, row_host) = (r.int(0)?, PathBuf::from(r.text(1)?), r.text(2)?);
        match cleanup_one(store, id, &path, &row_host, &host).await? {
            Some(Ok(p)) => out.removed.push(p),
            Some(Err(k)) => out.kept.push(k),
            None => {}
        }
    }
    Ok(out)
}

/// One pending row: `Some(Ok(path))` removed, `Some(Err(kept))` kept, `None` nothing on disk.
async fn cleanup_one(
    store: &Store,
    id: i64,
    path: &Path,
    row_host: &str,
    host: &str,
) -> Result<Option<std::result::Result<String, CleanupKept>>> {
    let tmp = partial_path(path);
    let (final_exists, tmp_exists) = (path.exists(), tmp.exists());
    if !final_exists && !tmp_exists {
        if row_host.is_empty() || row_host == host {
            store
                .exec(
                    "DELETE FROM archives WHERE id = ? AND status = ?",
                    vals![id, PENDING],
                )
                .await?;
        }
        // Another host's file may be on that host's disk: its own runs clean it up.
        return Ok(None);
    }
    let spec_row = store
        .query_one(
            "SELECT table_name, from_ms, to_ms, rows FROM archives WHERE id = ?",
            vals![id],
        )
        .await?;
    let t = spec(&spec_row.text(0)?)?;
    let keep = |reason: String| CleanupKept {
        path: path.display().to_string(),
        reason,
    };
    // The written file (complete, or what a killed run left): every row must be in the store.
    let check = if final_exists {
        path.to_path_buf()
    } else {
        tmp
    };
    let verdict = match all_rows_stored(store, t, &check).await {
        Ok(true) => Ok(()),
        Ok(false) => Err("rows of this file are no longer in the store".to_string()),
        Err(e) => {
            // Unreadable (cut short by a kill): the store must still hold the whole month.
            let n = store
                .query_one(
                    &format!(
                        "SELECT COUNT(*) FROM {} WHERE {1} >= ? AND {1} < ? AND {2}",
                        t.name, t.time, t.filter
                    ),
                    vals![spec_row.int(1)?, spec_row.int(2)?],
                )
                .await?
                .int(0)?;
            if n >= spec_row.int(3)? {
                Ok(())
            } else {
                Err(format!(
                    "unreadable ({e:#}) and its month is no longer whole in the store"
                ))
            }
        }
    };
    match verdict {
        Ok(()) => {
            for p in [path.to_path_buf(), partial_path(path)] {
                if p.exists() {
                    std::fs::remove_file(&p).with_context(|| format!("remove {}", p.display()))?;
                }
            }
            store
                .exec(
                    "DELETE FROM archives WHERE id = ? AND status = ?",
                    vals![id, PENDING],
                )
                .await?;
            Ok(Some(Ok(path.display().to_string())))
        }
        Err(reason) => {
            let sha = if final_exists {
                sha256_file(path).unwrap_or_default()
            } else {
                String::new()
            };
            store
                .exec(
                    "UPDATE archives SET status = ?, sha256 = ? WHERE id = ? AND status = ?",
                    vals![KEPT, sha, id, PENDING],
                )
                .await?;
            Ok(Some(Err(keep(reason))))
        }
    }
}

/// Whether every row of an archive file is in the store (by key).
async fn all_rows_stored(store: &Store, t: &'static TableSpec, path: &Path) -> Result<bool> {
    let keys = key_positions(t);
    let key_cols: Vec<&str> = keys.iter().map(|&i| t.columns[i].0).collect();
    let one = format!(
        "({})",
        key_cols
            .iter()
            .map(|c| format!("{c} = ?"))
            .collect::<Vec<_>>()
            .join(" AND ")
    );
    let mut batch: Vec<Vec<Value>> = Vec::new();
    let mut batches: Vec<Vec<Vec<Value>>> = Vec::new();
    // Keys are small; read them all, then check 200 at a time.
    read_file(path, Some(t), &mut |_, vals| {
        batch.push(keys.iter().map(|&i| vals[i].clone()).collect());
        if batch.len() == 200 {
            batches.push(std::mem::take(&mut batch));
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        batches.push(batch);
    }
    for b in batches {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {}",
            t.name,
            vec![one.as_str(); b.len()].join(" OR ")
        );
        let params: Vec<Value> = b.iter().flatten().cloned().collect();
        let n = store.query_one(&sql, &params).await?.int(0)?;
        if n != b.len() as i64 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// How a file was recognised when restored.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub table: String,
    pub rows: u64,
    pub inserted: u64,
    /// Known to the manifest by its checksum (false only with `--unverified`).
    pub verified: bool,
    pub sha256: String,
}

/// Options of a restore.
#[derive(Debug, Clone, Copy)]
pub struct RestoreOptions {
    /// Load files the manifest does not know (every row is still validated).
    pub unverified: bool,
    /// The run's clock (candles may not be more than one interval in the future).
    pub now_ms: i64,
}

/// Rows inserted per statement.
const INSERT_ROWS: usize = 400;

/// Load an archive file back into its table, in one transaction: rows already present are
/// left alone; every row is validated first (candles by the same rules as import and sync).
pub async fn restore(store: &Store, path: &Path, opts: RestoreOptions) -> Result<Restored> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let sha = sha256_file(path)?;
    let known = store
        .query_opt(
            "SELECT table_name FROM archives WHERE sha256 = ? AND status IN (?, ?) ORDER BY id LIMIT 1",
            vals![sha.as_str(), DONE, KEPT],
        )
        .await?;
    let table = match known {
        Some(r) => Some(spec(&r.text(0)?)?),
        None => {
            let canon = path
                .canonicalize()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let same_name = store
                .query_opt(
                    "SELECT id FROM archives WHERE status IN (?, ?) AND (file_name = ? OR path = ?) LIMIT 1",
                    vals![DONE, KEPT, name.as_str(), canon.as_str()],
                )
                .await?;
            if !opts.unverified {
                if same_name.is_some() {
                    bail!(
                        "{}: checksum differs from the manifest; the file was changed (use --unverified to load it anyway; every row is still validated)",
                        path.display()
                    );
                }
                bail!(
                    "{}: not in this store's archive manifest (hand-made, renamed and changed, or another store's); use --unverified to load it anyway (every row is still validated)",
                    path.display()
                );
            }
            None
        }
    };
    let verified = table.is_some();
    let mut reader = ArchiveReader::open(path, table)?;
    let t = reader.table;
    let mut loader = Loader::new(store, opts.now_ms).await?;
    let mut chunk: Vec<(u64, Vec<Value>)> = Vec::with_capacity(INSERT_ROWS);
    loop {
        let next = reader.next_row()?;
        let end = next.is_none();
        if let Some(r) = next {
            chunk.push(r);
        }
        if chunk.len() >= INSERT_ROWS || (end && !chunk.is_empty()) {
            loader.add(t, path, &chunk).await?;
            chunk.clear();
        }
        if end {
            break;
        }
    }
    let info = reader.finish()?;
    if verified && info.sha256 != sha {
        bail!(
            "{}: the file changed while it was restored; nothing restored",
            path.display()
        );
    }
    let inserted = loader.finish(t).await?;
    Ok(Restored {
        table: t.name.to_string(),
        rows: info.rows,
        inserted,
        verified,
        sha256: info.sha256,
    })
}

/// Validates and inserts rows of one file inside one transaction.
struct Loader<'a> {
    tx: Tx<'a>,
    now_ms: i64,
    grids: HashMap<(String, Timeframe), Grid>,
    inserted: u64,
}

impl<'a> Loader<'a> {
    async fn new(store: &'a Store, now_ms: i64) -> Result<Loader<'a>> {
        Ok(Loader {
            tx: store.begin().await?,
            now_ms,
            grids: HashMap::new(),
            inserted: 0,
        })
    }

    /// A candle row: symbol and timeframe as fks writes them, values by the candle rules.
    async fn check_candle(&mut self, vals: &[Value]) -> std::result::Result<(), String> {
        let text = |i: usize| match &vals[i] {
            Value::Text(s) => Ok(s.clone()),
            _ => Err(format!("{} is empty", TABLES[0].columns[i].0)),
        };
        let sym = text(0)?;
        let parsed: Symbol = sym.parse().map_err(|e| format!("{e:#}"))?;
        if parsed.0 != sym {
            return Err(format!("symbol {sym:?} is not as fks stores it ({parsed})"));
        }
        let tf: Timeframe = text(1)?.parse().map_err(|e| format!("{e:#}"))?;
        let Value::Int(open_time) = vals[2] else {
            return Err("open_time is empty".into());
        };
        let num = |i: usize| -> std::result::Result<rust_decimal::Decimal, String> {
            let s = text(i)?;
            candle_check::parse_number(TABLES[0].columns[i].0, &s).map_err(|e| e.to_string())
        };
        let c = Candle {
            open_time,
            open: num(3)?,
            high: num(4)?,
            low: num(5)?,
            close: num(6)?,
            volume: num(7)?,
        };
        let key = (sym.clone(), tf);
        if !self.grids.contains_key(&key) {
            let anchor = self
                .tx
                .query_one(
                    "SELECT MIN(open_time) FROM candles WHERE symbol = ? AND timeframe = ?",
                    vals![sym.as_str(), tf],
                )
                .await
                .map_err(|e| format!("{e:#}"))?
                .opt_int(0)
                .map_err(|e| format!("{e:#}"))?;
            self.grids
                .insert(key.clone(), Grid::new(tf, self.now_ms, anchor));
        }
        let grid = self.grids.get_mut(&key).expect("inserted above");
        grid.check(&c, None).map_err(|e| e.to_string())
    }

    async fn add(&mut self, t: &TableSpec, path: &Path, rows: &[(u64, Vec<Value>)]) -> Result<()> {
        if t.name == "candles" {
            for (line, vals) in rows {
                if let Err(e) = self.check_candle(vals).await {
                    bail!(
                        "{} line {line}: {e}; nothing of the file was restored",
                        path.display()
                    );
                }
            }
        }
        let cols: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
        let one = format!("({})", vec!["?"; cols.len()].join(", "));
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {} ON CONFLICT ({}) DO NOTHING",
            t.name,
            cols.join(", "),
            vec![one.as_str(); rows.len()].join(", "),
            t.key
        );
        let params: Vec<Value> = rows.iter().flat_map(|(_, v)| v.iter().cloned()).collect();
        if !rows.is_empty() {
            self.inserted += self
                .tx
                .exec(&sql, &params)
                .await
                .with_context(|| format!("restore {}", path.display()))?;
        }
        Ok(())
    }

    async fn finish(self, t: &TableSpec) -> Result<u64> {
        if self.inserted > 0 {
            if t.name == "candles" {
                // Older candles back in the store: cached indicator states and gaps are stale.
                for (sym, tf) in self.grids.keys() {
                    self.tx
                        .exec(
                            "DELETE FROM indicator_state WHERE symbol = ? AND timeframe = ?",
                            vals![sym.as_str(), *tf],
                        )
                        .await?;
                }
                self.tx
                    .exec("UPDATE sync_status SET gaps = NULL", &[])
                    .await?;
                drop_series_facts(&self.tx).await?;
            }
            if self.tx.kind() == StoreKind::Postgres && t.columns.iter().any(|c| c.0 == "id") {
                // Explicit ids do not move the sequence: move it past them.
                self.tx
                    .exec(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{0}', 'id'), GREATEST((SELECT COALESCE(MAX(id), 1) FROM {0}), nextval(pg_get_serial_sequence('{0}', 'id'))))",
                            t.name
                        ),
                        &[],
                    )
                    .await?;
            }
        }
        self.tx.commit().await?;
        Ok(self.inserted)
    }
}

/// Cached series facts (`list-data`) are stale once candles were archived or restored.
async fn drop_series_facts(tx: &Tx<'_>) -> Result<()> {
    tx.exec(
        "DELETE FROM kv WHERE key LIKE ?",
        vals![format!(
            "{}%",
            crate::core::store::candles::FACTS_KEY_PREFIX
        )],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_value(c: Col) -> BoxedStrategy<Value> {
        match c {
            Int => prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::Int)].boxed(),
            Real => prop_oneof![
                Just(Value::Null),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::Real)
            ]
            .boxed(),
            Text => prop_oneof![
                Just(Value::Null),
                Just(Value::Text("\\N".into())),
                "\\PC{0,30}".prop_map(Value::Text),
                "[a-z,\"\n\\\\ ]{0,20}".prop_map(Value::Text),
            ]
            .boxed(),
            Dec => prop_oneof![
                Just(Value::Null),
                (any::<i64>(), 0u32..=18)
                    .prop_map(|(m, s)| Value::Text(rust_decimal::Decimal::new(m, s).to_string()))
            ]
            .boxed(),
        }
    }

    fn rows_for(t: &'static TableSpec) -> impl Strategy<Value = Vec<Vec<Value>>> {
        let row: Vec<BoxedStrategy<Value>> = t.columns.iter().map(|c| any_value(c.1)).collect();
        proptest::collection::vec(row, 0..20)
    }

    fn write_gz(t: &TableSpec, rows: &[Vec<Value>]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut w = csv::Writer::from_writer(gz);
        w.write_record(t.columns.iter().map(|c| c.0)).unwrap();
        for r in rows {
            w.write_record(r.iter().map(cell)).unwrap();
        }
        w.into_inner().unwrap().finish().unwrap()
    }

    fn read_back(
        bytes: &[u8],
        t: Option<&'static TableSpec>,
    ) -> Result<(FileInfo, Vec<Vec<Value>>)> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv.gz");
        std::fs::write(&p, bytes).unwrap();
        let mut out = Vec::new();
        let info = read_file(&p, t, &mut |_, v| {
            out.push(v);
            Ok(())
        })?;
        Ok((info, out))
    }

    #[test]
    fn cells_keep_null_and_backslashes_apart() {
        for v in [
            Value::Null,
            Value::Text("\\N".into()),
            Value::Text("\\\\x".into()),
            Value::Text(String::new()),
        ] {
            assert_eq!(parse_cell(&cell(&v), "c", Text).unwrap(), v);
        }
        assert!(parse_cell("NaN", "sentiment", Real).is_err());
        assert!(parse_cell("abc", "open", Dec).is_err());
        assert!(parse_cell("1e999", "open", Dec).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Archive → restore round trip of every table's cells, and the header names the table.
        #[test]
        fn archive_files_round_trip(
            (t, rows) in (0..tables().len()).prop_flat_map(|i| {
                let t = tables()[i];
                rows_for(t).prop_map(move |rows| (t, rows))
            })
        ) {
            let bytes = write_gz(t, &rows);
            let (info, back) = read_back(&bytes, None).unwrap();
            prop_assert_eq!(info.table.name, t.name);
            prop_assert_eq!(info.rows as usize, rows.len());
            prop_assert_eq!(back, rows);
        }

        /// Arbitrary or damaged files: a clear error, never a panic.
        #[test]
        fn damaged_archives_are_errors(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..5),
        ) {
            let _ = read_back(&bytes, None);
            let mut good = write_gz(&TABLES[0], &[vec![
                Value::Text("BTCUSDT".into()), Value::Text("1h".into()), Value::Int(1_704_067_200_000),
                Value::Text("1".into()), Value::Text("2".into()), Value::Text("0.5".into()),
                Value::Text("1.5".into()), Value::Text("3".into()),
            ]]);
            for (i, b) in flips {
                let k = i.index(good.len());
                good[k] ^= b;
            }
            if let Err(e) = read_back(&good, Some(&TABLES[0])) {
                let msg = format!("{e:#}");
                prop_assert!(!msg.is_empty());
            }
        }
    }
}
