//! Kline files: Binance's public dumps (data.binance.vision: monthly or daily CSV, zipped or
//! not, 12 columns, with or without a header row; newer spot files give times in
//! microseconds) and fks's own exports (`fks candles`: CSV `open_time,open,high,low,close,volume`
//! or a JSON array of objects).
//!
//! Files and zip entries are streamed: memory stays bounded whatever their size, and a record
//! may be at most [`MAX_RECORD_BYTES`] long (a zip entry of zero bytes expanding to gigabytes
//! is one huge "line", refused as soon as it is seen). Rows that cannot be read, and candles
//! that break the rules of [`crate::core::candle_check`], are reported with their place;
//! [`import_file`] refuses a file with any of them unless told to skip them.

use crate::core::candle_check::{self, Grid};
use crate::core::market::{Candle, Symbol, Timeframe};
use crate::core::store::Store;
use crate::core::store::candles::{self, UpsertCounts};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Longest record (CSV line or JSON element) accepted. A Binance kline row is about 150 bytes.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;

/// Where a row is: its zip entry (if any) and line (CSV) or element (JSON) number, from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    pub line: u64,
    #[serde(skip)]
    pub unit: &'static str,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = &self.entry {
            write!(f, "{e} ")?;
        }
        write!(f, "{} {}", self.unit, self.line)
    }
}

/// A row read from a file: a candle (not yet checked against the rules) or why it is not one.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Row {
        at: Location,
        candle: Candle,
        close_time: Option<i64>,
    },
    Bad {
        at: Location,
        reason: String,
    },
}

/// A row that did not make it into the store, with its place and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRow {
    #[serde(flatten)]
    pub at: Location,
    pub reason: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

/// Counts the bytes read since the last completed record and fails the read past the limit.
pub(crate) struct Limit<R> {
    inner: R,
    since: Arc<AtomicU64>,
    tripped: Arc<AtomicBool>,
    max: u64,
}

/// The handles of a [`Limit`]: reset after each record; tripped when the limit was hit.
#[derive(Clone)]
pub(crate) struct LimitHandle {
    since: Arc<AtomicU64>,
    tripped: Arc<AtomicBool>,
}

impl<R> Limit<R> {
    pub(crate) fn into_inner(self) -> R {
        self.inner
    }
}

impl LimitHandle {
    pub(crate) fn reset(&self) {
        self.since.store(0, Ordering::Relaxed);
    }
    pub(crate) fn tripped(&self) -> bool {
        self.tripped.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct TooLong;
impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("record too long")
    }
}
impl std::error::Error for TooLong {}

impl<R: Read> Read for Limit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.since.load(Ordering::Relaxed) > self.max {
            self.tripped.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other(TooLong));
        }
        let n = self.inner.read(buf)?;
        self.since.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Wrap a reader so that no record (bytes between two resets) exceeds `max` bytes.
pub(crate) fn limited<R: Read>(inner: R, max: u64) -> (Limit<R>, LimitHandle) {
    let h = LimitHandle {
        since: Arc::new(AtomicU64::new(0)),
        tripped: Arc::new(AtomicBool::new(false)),
    };
    (
        Limit {
            inner,
            since: h.since.clone(),
            tripped: h.tripped.clone(),
            max,
        },
        h,
    )
}

fn too_long(at: &Location) -> anyhow::Error {
    anyhow::anyhow!(
        "{at}: a record longer than {} KiB (a kline row is about 150 bytes); is this a kline file?",
        MAX_RECORD_BYTES / 1024
    )
}

/// What [`read`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// CSV files or zip entries read.
    pub parts: usize,
    /// Rows handed to the sink (candles and bad rows).
    pub records: u64,
}

/// Stream every row of a kline file into `sink` (which returns false to stop early).
/// File-level problems (unreadable, not a zip, a record too long) are errors.
pub fn read(path: &Path, sink: &mut dyn FnMut(Item) -> bool) -> Result<ReadSummary> {
    let f = std::fs::File::open(path).with_context(|| format!("read {}", path.display()))?;
    let mut r = BufReader::with_capacity(64 * 1024, f);
    let head = r
        .fill_buf()
        .with_context(|| format!("read {}", path.display()))?;
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return read_zip(r, sink);
    }
    let json = head
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[');
    let mut summary = ReadSummary {
        parts: 1,
        records: 0,
    };
    if json {
        summary.records = read_json(r, sink)?;
    } else {
        summary.records = read_csv(r, None, sink)?;
    }
    Ok(summary)
}

fn read_zip<R: Read + std::io::Seek>(
    r: R,
    sink: &mut dyn FnMut(Item) -> bool,
) -> Result<ReadSummary> {
    let mut zip = zip::ZipArchive::new(r).context("not a readable zip archive")?;
    let mut summary = ReadSummary::default();
    for i in 0..zip.len() {
        let f = zip.by_index(i).with_context(|| format!("zip entry {i}"))?;
        let name = f
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| format!("entry {i}"));
        if f.is_dir() || !name.to_ascii_lowercase().ends_with(".csv") {
            continue;
        }
        summary.parts += 1;
        let mut keep_going = true;
        let n = read_csv(f, Some(&name), &mut |item| {
            keep_going = sink(item);
            keep_going
        })?;
        summary.records += n;
        if !keep_going {
            break;
        }
    }
    if summary.parts == 0 {
        bail!("the zip archive holds no .csv file");
    }
    Ok(summary)
}

/// Times in microseconds (16 digits) become milliseconds; `None` when not a whole millisecond.
fn to_ms(t: i64) -> Option<i64> {
    if t >= 100_000_000_000_000 {
        (t % 1000 == 0).then_some(t / 1000)
    } else {
        Some(t)
    }
}

fn close_to_ms(t: i64) -> i64 {
    if t >= 100_000_000_000_000 {
        t.div_euclid(1000)
    } else {
        t
    }
}

const COLUMNS: &str = "open_time, open, high, low, close, volume[, close_time, ...]";

/// One CSV row's fields into a candle, or the reason it is not one.
pub fn parse_fields(fields: &[&str]) -> std::result::Result<(Candle, Option<i64>), String> {
    if fields.len() < 6 {
        return Err(format!(
            "expected at least 6 columns ({COLUMNS}), found {}",
            fields.len()
        ));
    }
    let int = |what: &str, s: &str| -> std::result::Result<i64, String> {
        s.parse::<i64>()
            .map_err(|_| format!("{what} {:?} is not an integer", trunc(s)))
    };
    let raw = int("open time", fields[0])?;
    let open_time = to_ms(raw)
        .ok_or_else(|| format!("open time {raw} (microseconds) is not a whole millisecond"))?;
    let close_time = match fields.get(6) {
        Some(s) if !s.is_empty() => Some(close_to_ms(int("close time", s)?)),
        _ => None,
    };
    let num = |i: usize, what: &'static str| {
        candle_check::parse_number(what, fields[i]).map_err(|e| e.to_string())
    };
    Ok((
        Candle {
            open_time,
            open: num(1, "open")?,
            high: num(2, "high")?,
            low: num(3, "low")?,
            close: num(4, "close")?,
            volume: num(5, "volume")?,
        },
        close_time,
    ))
}

fn trunc(s: &str) -> String {
    s.chars().take(40).collect()
}

fn clean(f: &[u8]) -> std::result::Result<&str, String> {
    let s = std::str::from_utf8(f).map_err(|_| "not UTF-8 text".to_string())?;
    Ok(s.trim()
        .trim_start_matches('\u{feff}')
        .trim_matches('"')
        .trim())
}

fn check_header(fields: &[&str], at: &Location) -> Result<()> {
    let names: Vec<String> = fields.iter().map(|f| f.to_ascii_lowercase()).collect();
    let want = ["open", "high", "low", "close", "volume"];
    if names.len() < 6 || names[1..6] != want {
        bail!(
            "{at}: unexpected header {:?}; expected columns {COLUMNS}",
            trunc(&fields.join(","))
        );
    }
    Ok(())
}

fn read_csv<R: Read>(r: R, entry: Option<&str>, sink: &mut dyn FnMut(Item) -> bool) -> Result<u64> {
    let mut r = BufReader::with_capacity(64 * 1024, r);
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut first = true;
    let (mut line, mut n) = (0u64, 0u64);
    loop {
        buf.clear();
        line += 1;
        let at = Location {
            entry: entry.map(String::from),
            line,
            unit: "line",
        };
        let got = (&mut r)
            .take(MAX_RECORD_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("{at}: read"))?;
        if got == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') && buf.len() as u64 > MAX_RECORD_BYTES {
            return Err(too_long(&at));
        }
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let fields: std::result::Result<Vec<&str>, String> =
            text.split(|b| *b == b',').map(clean).collect();
        let item = match fields {
            Err(reason) => Item::Bad { at, reason },
            Ok(f) if f.iter().all(|x| x.is_empty()) => continue,
            Ok(f) => {
                let header = first && f[0].parse::<i64>().is_err();
                first = false;
                if header {
                    check_header(&f, &at)?;
                    continue;
                }
                match parse_fields(&f) {
                    Ok((candle, close_time)) => Item::Row {
                        at,
                        candle,
                        close_time,
                    },
                    Err(reason) => Item::Bad { at, reason },
                }
            }
        };
        n += 1;
        if !sink(item) {
            break;
        }
    }
    Ok(n)
}

/// A JSON element (an object of `fks candles --as json`) into a candle.
fn json_candle(v: &serde_json::Value) -> std::result::Result<(Candle, Option<i64>), String> {
    let obj = v.as_object().ok_or_else(|| {
        "expected an object with open_time, open, high, low, close, volume".to_string()
    })?;
    let text = |k: &str| -> std::result::Result<String, String> {
        match obj.get(k) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            Some(_) => Err(format!("{k} is neither a number nor a string")),
            None => Err(format!("missing {k}")),
        }
    };
    let mut fields = vec![
        text("open_time")?,
        text("open")?,
        text("high")?,
        text("low")?,
        text("close")?,
        text("volume")?,
    ];
    if obj.contains_key("close_time") {
        fields.push(text("close_time")?);
    }
    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
    parse_fields(&refs)
}

struct JsonSeq<'a> {
    sink: &'a mut dyn FnMut(Item) -> bool,
    limit: LimitHandle,
    count: &'a mut u64,
    stopped: &'a mut bool,
}

impl<'de> serde::de::Visitor<'de> for JsonSeq<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of candle objects")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<serde_json::Value>()? {
            self.limit.reset();
            *self.count += 1;
            let at = Location {
                entry: None,
                line: *self.count,
                unit: "record",
            };
            let item = match json_candle(&v) {
                Ok((candle, close_time)) => Item::Row {
                    at,
                    candle,
                    close_time,
                },
                Err(reason) => Item::Bad { at, reason },
            };
            if !(self.sink)(item) {
                *self.stopped = true;
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

fn read_json<R: Read>(r: R, sink: &mut dyn FnMut(Item) -> bool) -> Result<u64> {
    use serde::Deserializer as _;
    let (r, limit) = limited(r, MAX_RECORD_BYTES);
    let mut de = serde_json::Deserializer::from_reader(r);
    let (mut count, mut stopped) = (0u64, false);
    let res = (&mut de).deserialize_seq(JsonSeq {
        sink,
        limit: limit.clone(),
        count: &mut count,
        stopped: &mut stopped,
    });
    let at = Location {
        entry: None,
        line: count + 1,
        unit: "record",
    };
    match res {
        Ok(()) => {}
        Err(_) if stopped => return Ok(count),
        Err(_) if limit.tripped() => return Err(too_long(&at)),
        Err(e) => bail!("{at}: not a JSON array of candles: {e}"),
    }
    de.end()
        .map_err(|e| anyhow::anyhow!("after the JSON array: {e}"))?;
    Ok(count)
}

/// The CSV `fks candles` writes: a header, then one row per candle with prices as stored.
pub fn write_csv(rows: &[Candle], w: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(w, "open_time,open,high,low,close,volume")?;
    for c in rows {
        writeln!(
            w,
            "{},{},{},{},{},{}",
            c.open_time, c.open, c.high, c.low, c.close, c.volume
        )?;
    }
    Ok(())
}

/// The JSON `fks candles --as json` writes: an array of candle objects, prices as strings.
pub fn write_json(rows: &[Candle], w: &mut dyn std::io::Write) -> Result<()> {
    serde_json::to_writer(&mut *w, rows)?;
    w.write_all(b"\n")?;
    Ok(())
}

/// Read a whole file into memory (small files and tests): candles and bad rows.
pub fn read_all(path: &Path) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    read(path, &mut |i| {
        out.push(i);
        true
    })?;
    Ok(out)
}

/// How one file's import went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileImport {
    /// Valid candles read.
    pub rows: u64,
    #[serde(flatten)]
    pub counts: UpsertCounts,
    /// Rows refused (unreadable or breaking a rule).
    pub invalid: u64,
    /// The first of them.
    pub invalid_rows: Vec<BadRow>,
    /// Whether the file was refused because of them (nothing of it was stored).
    pub refused: bool,
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportSpec {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    /// The run's clock, for the "not in the future" rule.
    pub now_ms: i64,
    /// Store the valid rows and skip the others (default: refuse a file with any invalid row).
    pub skip_invalid: bool,
}

/// Bad rows listed in full when a file is refused (the count covers the rest).
pub const LIST_REFUSED: usize = 10;
/// Bad rows listed when they are skipped.
pub const LIST_SKIPPED: usize = 1000;
const BATCH: usize = 4096;
const UPSERT_CHUNK: usize = 20_000;

/// Import one file in one transaction: streamed, every row checked; by default a file with
/// an invalid row is refused whole (and nothing of it is stored).
pub async fn import_file(store: &Store, path: &Path, spec: &ImportSpec) -> Result<FileImport> {
    let tf = spec.timeframe;
    let anchor = candles::first_open_time(store, &spec.symbol, tf).await?;
    let mut grid = Grid::new(tf, spec.now_ms, anchor);
    let (tx_items, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(4);
    let owned: PathBuf = path.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH);
        let summary = read(&owned, &mut |item| {
            batch.push(item);
            if batch.len() < BATCH {
                return true;
            }
            tx_items
                .blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .is_ok()
        })?;
        if !batch.is_empty() {
            let _ = tx_items.blocking_send(batch);
        }
        Ok::<_, anyhow::Error>(summary)
    });
    let cap = if spec.skip_invalid {
        LIST_SKIPPED
    } else {
        LIST_REFUSED
    };
    let mut out = FileImport::default();
    let tx = store.begin().await?;
    let mut pending: Vec<Candle> = Vec::with_capacity(UPSERT_CHUNK);
    while let Some(items) = rx.recv().await {
        for item in items {
            let bad = match item {
                Item::Row {
                    at,
                    candle,
                    close_time,
                } => match grid.check(&candle, close_time) {
                    Ok(()) => {
                        out.rows += 1;
                        if !out.refused {
                            pending.push(candle);
                        }
                        continue;
                    }
                    Err(e) => BadRow {
                        at,
                        reason: e.to_string(),
                    },
                },
                Item::Bad { at, reason } => BadRow { at, reason },
            };
            out.invalid += 1;
            if out.invalid_rows.len() < cap {
                out.invalid_rows.push(bad);
            }
            if !spec.skip_invalid {
                out.refused = true;
                pending = Vec::new();
            }
        }
        if pending.len() >= UPSERT_CHUNK {
            out.counts += candles::upsert(&tx, &spec.symbol, tf, &pending).await?;
            pending.clear();
        }
    }
    reader
        .await
        .context("the file reader stopped")?
        .with_context(|| path.display().to_string())?;
    if out.refused {
        tx.rollback().await?;
        return Ok(out);
    }
    out.counts += candles::upsert(&tx, &spec.symbol, tf, &pending).await?;
    if out.rows == 0 {
        tx.rollback().await?;
        let skipped: Vec<String> = out
            .invalid_rows
            .iter()
            .take(3)
            .map(|b| b.to_string())
            .collect();
        if skipped.is_empty() {
            bail!("{}: no candle in the file", path.display());
        }
        bail!(
            "{}: no valid candle in the file ({} invalid: {}{})",
            path.display(),
            out.invalid,
            skipped.join("; "),
            if out.invalid > 3 { "; ..." } else { "" }
        );
    }
    tx.commit().await.context("commit import")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ROW_MS: &str = "1704067200000,42283.58000000,42554.57000000,42261.02000000,42475.23000000,1271.68108000,1704070799999,53957248.97378980,47134,682.57581000,28957416.81963520,0\n";
    const ROW_US: &str = "1735689600000000,93576.00000000,94509.42000000,93489.03000000,94401.14000000,755.99010000,1735693199999999,71177578.47758150,110235,420.79970000,39620358.15524600,0\n";

    fn items_of(bytes: &[u8]) -> Result<Vec<Item>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, bytes).unwrap();
        read_all(&p)
    }

    fn rows(items: &[Item]) -> Vec<(Candle, Option<i64>)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Row {
                    candle, close_time, ..
                } => Some((candle.clone(), *close_time)),
                Item::Bad { .. } => None,
            })
            .collect()
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            for (name, data) in entries {
                z.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut z, data).unwrap();
            }
            z.finish().unwrap();
        }
        buf.into_inner()
    }

    #[test]
    fn ms_and_us_with_and_without_header() {
        let c = rows(&items_of(ROW_MS.as_bytes()).unwrap());
        assert_eq!(c[0].0.open_time, 1_704_067_200_000);
        assert_eq!(c[0].0.close.to_string(), "42475.23000000");
        assert_eq!(c[0].1, Some(1_704_070_799_999));
        let hdr = format!(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n{ROW_US}"
        );
        let c = rows(&items_of(hdr.as_bytes()).unwrap());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0.open_time, 1_735_689_600_000);
        assert_eq!(c[0].1, Some(1_735_693_199_999));
    }

    #[test]
    fn fks_exports_read_back() {
        let csv = "open_time,open,high,low,close,volume\n1704067200000,1.5,2,1,1.75,0\n";
        let c = rows(&items_of(csv.as_bytes()).unwrap());
        assert_eq!(c[0].0.open.to_string(), "1.5");
        assert_eq!(c[0].1, None);
        let json = r#"[{"open_time":1704067200000,"open":"1.50","high":"2","low":"1","close":"1.75","volume":"0"},
                       {"open_time":1704070800000,"open":1.5,"high":2,"low":1,"close":1.75,"volume":3}]"#;
        let c = rows(&items_of(json.as_bytes()).unwrap());
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].0.open.to_string(), "1.50");
        assert_eq!(c[1].0.volume.to_string(), "3");
    }

    #[test]
    fn bad_rows_are_reported_with_their_line() {
        let text = format!("{ROW_MS}1704067200000,abc,1,1,1,1,1704070799999\n\n1,2,3\n");
        let items = items_of(text.as_bytes()).unwrap();
        assert_eq!(items.len(), 3);
        let Item::Bad { at, reason } = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!(at.line, 2);
        assert!(
            reason.contains("open") && reason.contains("abc"),
            "{reason}"
        );
        let Item::Bad { at, reason } = &items[2] else {
            panic!("{items:?}")
        };
        assert_eq!(at.line, 4);
        assert!(reason.contains("6 columns"), "{reason}");
    }

    #[test]
    fn zips_stream_every_csv_entry() {
        let z = zip_of(&[
            ("a.csv", ROW_MS.as_bytes()),
            ("notes.txt", b"hello"),
            ("b.CSV", ROW_US.as_bytes()),
        ]);
        let items = items_of(&z).unwrap();
        assert_eq!(rows(&items).len(), 2);
        let z = zip_of(&[("notes.txt", b"hello")]);
        let e = items_of(&z).unwrap_err().to_string();
        assert!(e.contains("no .csv"), "{e}");
    }

    #[test]
    fn a_huge_record_is_refused() {
        let mut big = vec![b'1'; (MAX_RECORD_BYTES * 3) as usize];
        big.push(b'\n');
        let e = format!("{:#}", items_of(&big).unwrap_err());
        assert!(e.contains("line 1") && e.contains("longer than"), "{e}");
        let z = zip_of(&[("x.csv", &vec![0u8; 1 << 20])]);
        let e = format!("{:#}", items_of(&z).unwrap_err());
        assert!(
            e.contains("x.csv line 1") && e.contains("longer than"),
            "{e}"
        );
        let json = format!("[\"{}\"]", "a".repeat((MAX_RECORD_BYTES * 2) as usize));
        let e = format!("{:#}", items_of(json.as_bytes()).unwrap_err());
        assert!(e.contains("record 1") && e.contains("longer than"), "{e}");
    }

    #[test]
    fn a_wrong_header_is_refused() {
        let e = items_of(b"time,o,h,l,c,v\n1,2,3,4,5,6\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unexpected header"), "{e}");
    }

    fn row_strategy() -> impl Strategy<Value = String> {
        let num = prop_oneof![
            "[0-9]{1,9}(\\.[0-9]{1,8})?",
            Just("NaN".to_string()),
            Just("-1".to_string()),
            Just("1e999".to_string()),
            "\\PC{0,12}",
        ];
        (
            prop_oneof![
                (1_230_768_000_000i64..1_900_000_000_000).prop_map(|t| t.to_string()),
                "[0-9]{0,20}",
                "\\PC{0,10}"
            ],
            proptest::collection::vec(num, 0..12),
        )
            .prop_map(|(t, rest)| {
                let mut f = vec![t];
                f.extend(rest);
                f.join(",")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Arbitrary bytes as a file: rows, bad rows or a clear error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(items) = items_of(&bytes) {
                for i in items {
                    if let Item::Bad { reason, .. } = i {
                        prop_assert!(!reason.is_empty());
                    }
                }
            }
        }

        /// Dump-like rows, some broken: each is a candle or a bad row on its own line.
        #[test]
        fn dump_rows_are_candles_or_reasons(lines in proptest::collection::vec(row_strategy(), 1..20)) {
            let text = lines.join("\n");
            match items_of(text.as_bytes()) {
                Ok(items) => {
                    for i in &items {
                        match i {
                            Item::Row { at, .. } | Item::Bad { at, .. } => {
                                prop_assert!(at.line >= 1 && at.line as usize <= lines.len());
                            }
                        }
                    }
                }
                // A text whose first character is `[` is read as a JSON export (the first
                // row's time can be any text here): refused as not a JSON array of candles.
                Err(e) => {
                    let m = format!("{e:#}");
                    let json = text.trim_start().starts_with('[');
                    prop_assert!(m.contains("header") || (json && m.contains("JSON")), "{}", m);
                }
            }
        }

        /// A zip entry of arbitrary or mutated content: never a panic.
        #[test]
        fn mutated_zips_never_panic(
            content in proptest::collection::vec(any::<u8>(), 0..512),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        ) {
            let mut z = zip_of(&[("k.csv", &content)]);
            for (i, b) in flips {
                let k = i.index(z.len());
                z[k] ^= b;
            }
            let _ = items_of(&z);
        }

        /// `fks candles` exports (CSV and JSON) read back as the same candles.
        #[test]
        fn export_round_trip(
            cs in proptest::collection::vec(
                (0i64..100_000, proptest::collection::vec((0u64..10_000_000_000_000, 0u32..=12), 5)),
                1..30,
            ),
            json in any::<bool>(),
        ) {
            let candles: Vec<Candle> = cs
                .iter()
                .map(|(t, p)| {
                    let d = |i: usize| rust_decimal::Decimal::new(p[i].0 as i64, p[i].1);
                    Candle { open_time: 1_230_768_000_000 + t * 60_000, open: d(0), high: d(1), low: d(2), close: d(3), volume: d(4) }
                })
                .collect();
            let mut buf = Vec::new();
            if json {
                write_json(&candles, &mut buf).unwrap();
            } else {
                write_csv(&candles, &mut buf).unwrap();
            }
            let back: Vec<Candle> = rows(&items_of(&buf).unwrap()).into_iter().map(|r| r.0).collect();
            prop_assert_eq!(back.len(), candles.len());
            for (a, b) in back.iter().zip(&candles) {
                prop_assert_eq!(a.open_time, b.open_time);
                for (x, y) in [(a.open, b.open), (a.high, b.high), (a.low, b.low), (a.close, b.close), (a.volume, b.volume)] {
                    prop_assert_eq!(x.to_string(), y.to_string(), "stored strings equal");
                }
            }
        }

        /// Rows written as Binance does read back exactly, in ms or µs.
        #[test]
        fn dump_round_trip(
            t in 1_230_768_000i64..1_900_000_000,
            p in proptest::collection::vec((1u64..1_000_000_000_000, 0u32..=8), 5),
            us in any::<bool>(),
        ) {
            let open = t * 1000;
            let d: Vec<rust_decimal::Decimal> = p.iter().map(|(m, s)| rust_decimal::Decimal::new(*m as i64, *s)).collect();
            let scale = if us { 1000 } else { 1 };
            let line = format!(
                "{},{},{},{},{},{},{},0,1,0,0,0\n",
                open * scale, d[0], d[1], d[2], d[3], d[4], (open + 3_599_999) * scale + if us { 999 } else { 0 }
            );
            let got = rows(&items_of(line.as_bytes()).unwrap());
            prop_assert_eq!(got.len(), 1);
            let (c, close) = &got[0];
            prop_assert_eq!(c.open_time, open);
            prop_assert_eq!(*close, Some(open + 3_599_999));
            prop_assert_eq!(c.open.to_string(), d[0].to_string());
            prop_assert_eq!(c.volume.to_string(), d[4].to_string());
        }
    }
}
