//! Candle storage: bulk upsert that counts inserted / updated rows, range reads, gaps.

use super::{Backend, Row, Store, Tx};
use crate::core::candle_check;
use crate::core::market::{Candle, Gap, Symbol, Timeframe};
use crate::vals;
use anyhow::{Result, bail};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
    }
}

const UPSERT_SQL: &str = "INSERT INTO candles (symbol, timeframe, open_time, open, high, low, close, volume) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (symbol, timeframe, open_time) DO UPDATE SET open = excluded.open, high = excluded.high, \
     low = excluded.low, close = excluded.close, volume = excluded.volume";

/// Rows per SQLite upsert statement (8 parameters each).
const SQLITE_ROWS: usize = 128;

/// [`UPSERT_SQL`] for `n` rows; a plain insert when nothing is stored in the batch's range
/// (checked in the same transaction).
fn multi_row_upsert(n: usize, all_new: bool) -> String {
    let head = "INSERT INTO candles (symbol, timeframe, open_time, open, high, low, close, volume) VALUES ";
    let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; n].join(", ");
    if all_new {
        format!("{head}{rows}")
    } else {
        let tail = UPSERT_SQL
            .split_once(") ON CONFLICT")
            .map(|(_, t)| t)
            .unwrap_or_default();
        format!("{head}{rows} ON CONFLICT{tail}")
    }
}

fn same(stored: &[String; 5], c: &Candle) -> bool {
    let new = [&c.open, &c.high, &c.low, &c.close, &c.volume];
    stored
        .iter()
        .zip(new)
        .all(|(s, d)| s.parse::<Decimal>().map(|v| v == *d).unwrap_or(false))
}

/// Insert new candles and update changed ones, inside the caller's transaction.
/// Candles equal in value to the stored ones are left alone and counted as unchanged.
///
/// The last line of defence: a candle that breaks a rule of [`candle_check`] that needs no
/// clock (values, grid, 3-day phase) is refused and nothing of the batch is written, so an
/// invalid row can never replace a stored candle whatever path it came by. Callers check
/// every rule first, with the row's place, through [`candle_check::Grid`].
pub async fn upsert(
    tx: &Tx<'_>,
    symbol: &Symbol,
    tf: Timeframe,
    candles: &[Candle],
) -> Result<UpsertCounts> {
    let mut counts = UpsertCounts::default();
    if candles.is_empty() {
        return Ok(counts);
    }
    let anchor = if tf == Timeframe::D3 {
        first_open_time_tx(tx, symbol, tf).await?
    } else {
        None
    };
    let mut grid = candle_check::Grid::new(tf, i64::MAX - tf.millis(), anchor);
    for c in candles {
        if let Err(e) = grid.check(c, None) {
            bail!("refusing to store an invalid {symbol} {tf} candle: {e}");
        }
    }
    let (lo, hi) = candles.iter().fold((i64::MAX, i64::MIN), |(lo, hi), c| {
        (lo.min(c.open_time), hi.max(c.open_time))
    });
    let existing: HashMap<i64, [String; 5]> = tx
        .query(
            "SELECT open_time, open, high, low, close, volume FROM candles \
             WHERE symbol = ? AND timeframe = ? AND open_time BETWEEN ? AND ?",
            vals![symbol, tf, lo, hi],
        )
        .await?
        .into_iter()
        .map(|r| {
            Ok((
                r.int(0)?,
                [r.text(1)?, r.text(2)?, r.text(3)?, r.text(4)?, r.text(5)?],
            ))
        })
        .collect::<Result<_>>()?;
    // Deduplicate within the batch (last one wins) and keep only what must be written.
    let mut todo: Vec<&Candle> = Vec::with_capacity(candles.len());
    let mut seen: HashMap<i64, usize> = HashMap::with_capacity(candles.len());
    for c in candles {
        match seen.get(&c.open_time) {
            Some(&i) => todo[i] = c,
            None => {
                seen.insert(c.open_time, todo.len());
                todo.push(c);
            }
        }
    }
    let mut write: Vec<&Candle> = Vec::with_capacity(todo.len());
    for c in todo {
        match existing.get(&c.open_time) {
            None => {
                counts.inserted += 1;
                write.push(c);
            }
            Some(s) if same(s, c) => counts.unchanged += 1,
            Some(_) => {
                counts.updated += 1;
                write.push(c);
            }
        }
    }
    write_rows(tx, symbol, tf, &write, existing.is_empty()).await?;
    // Cached indicators that depend on a written candle are no longer valid from there on:
    // drop the incremental state so the next update-indicators recomputes in full.
    if let Some(min) = write.iter().map(|c| c.open_time).min() {
        tx.exec(
            "DELETE FROM indicator_state WHERE symbol = ? AND timeframe = ? AND last_open_time >= ?",
            vals![symbol, tf, min],
        )
        .await?;
        tx.exec(
            "UPDATE sync_status SET gaps = NULL WHERE symbol = ? AND timeframe = ?",
            vals![symbol, tf],
        )
        .await?;
        tx.exec(
            "DELETE FROM kv WHERE key = ?",
            vals![facts_key(symbol.as_str(), tf.as_str())],
        )
        .await?;
    }
    Ok(counts)
}

async fn write_rows(
    tx: &Tx<'_>,
    symbol: &Symbol,
    tf: Timeframe,
    rows: &[&Candle],
    all_new: bool,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    match &tx.store().backend {
        Backend::Sqlite(conn) => {
            let conn = super::lock(conn)?;
            // Many rows per statement, bound in place, each decimal printed into one reused
            // buffer (SQLite copies bound text): measured in benches/README.md (issue 18).
            let full = multi_row_upsert(SQLITE_ROWS, all_new);
            let mut text = String::with_capacity(32);
            let (s, t) = (symbol.as_str(), tf.as_str());
            for chunk in rows.chunks(SQLITE_ROWS) {
                let mut st = if chunk.len() == SQLITE_ROWS {
                    conn.prepare_cached(&full)
                } else {
                    conn.prepare_cached(&multi_row_upsert(chunk.len(), all_new))
                }
                .map_err(super::sqlite::describe)?;
                let mut i = 1;
                for c in chunk {
                    st.raw_bind_parameter(i, s)
                        .map_err(super::sqlite::describe)?;
                    st.raw_bind_parameter(i + 1, t)
                        .map_err(super::sqlite::describe)?;
                    st.raw_bind_parameter(i + 2, c.open_time)
                        .map_err(super::sqlite::describe)?;
                    i += 3;
                    for d in [&c.open, &c.high, &c.low, &c.close, &c.volume] {
                        use std::fmt::Write;
                        text.clear();
                        let _ = write!(text, "{d}");
                        st.raw_bind_parameter(i, text.as_str())
                            .map_err(super::sqlite::describe)?;
                        i += 1;
                    }
                }
                st.raw_execute().map_err(super::sqlite::describe)?;
            }
            Ok(())
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres(client) => {
            if rows.len() < 64 {
                for c in rows {
                    tx.exec(
                        UPSERT_SQL,
                        vals![
                            symbol,
                            tf,
                            c.open_time,
                            c.open,
                            c.high,
                            c.low,
                            c.close,
                            c.volume
                        ],
                    )
                    .await?;
                }
                return Ok(());
            }
            use std::fmt::Write;
            let mut buf = String::with_capacity(rows.len() * 96);
            for c in rows {
                let _ = writeln!(
                    buf,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    symbol, tf, c.open_time, c.open, c.high, c.low, c.close, c.volume
                );
            }
            let cols = "symbol, timeframe, open_time, open, high, low, close, volume";
            if all_new {
                // Nothing stored in this range (checked in this transaction): COPY straight in.
                super::postgres::copy_in_text(client, "candles", cols, buf.as_bytes()).await?;
                return Ok(());
            }
            // Bulk upsert: COPY into a temporary table, then one INSERT ... ON CONFLICT from it.
            tx.exec(
                "CREATE TEMP TABLE IF NOT EXISTS candles_load (LIKE candles INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
                &[],
            )
            .await?;
            super::postgres::copy_in_text(client, "candles_load", cols, buf.as_bytes()).await?;
            tx.exec(
                "INSERT INTO candles SELECT * FROM candles_load \
                 ON CONFLICT (symbol, timeframe, open_time) DO UPDATE SET open = excluded.open, high = excluded.high, \
                 low = excluded.low, close = excluded.close, volume = excluded.volume",
                &[],
            )
            .await?;
            tx.exec("DELETE FROM candles_load", &[]).await?;
            Ok(())
        }
    }
}

fn to_candle(r: &Row) -> Result<Candle> {
    Ok(Candle {
        open_time: r.int(0)?,
        open: r.dec(1)?,
        high: r.dec(2)?,
        low: r.dec(3)?,
        close: r.dec(4)?,
        volume: r.dec(5)?,
    })
}

/// Candles in `[from, to]` (inclusive, ms), oldest first.
pub async fn range(
    store: &Store,
    symbol: &Symbol,
    tf: Timeframe,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<Candle>> {
    store
        .query(
            "SELECT open_time, open, high, low, close, volume FROM candles \
             WHERE symbol = ? AND timeframe = ? AND open_time >= ? AND open_time <= ? ORDER BY open_time",
            vals![symbol, tf, from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)],
        )
        .await?
        .iter()
        .map(to_candle)
        .collect()
}

/// Candles as `f64` bars (parsed straight from the stored strings, correctly rounded) with
/// open time in `(after, to]`, oldest first.
#[allow(irrefutable_let_patterns)] // only one backend without the postgres feature
pub async fn bars(
    store: &Store,
    symbol: &Symbol,
    tf: Timeframe,
    after: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<crate::core::market::Bar>> {
    if let Backend::Sqlite(conn) = &store.backend {
        // Straight from the statement: no intermediate rows for what can be millions of candles.
        let _gate = store.enter().await?;
        let conn = super::lock(conn)?;
        let mut st = conn.prepare_cached(
            "SELECT open_time, open, high, low, close, volume FROM candles \
             WHERE symbol = ? AND timeframe = ? AND open_time > ? AND open_time <= ? ORDER BY open_time",
        )?;
        let num = |r: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<f64> {
            let t = r.get_ref(i)?.as_str()?;
            t.parse::<f64>().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    i,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })
        };
        let out = st
            .query_map(
                rusqlite::params![
                    symbol.as_str(),
                    tf.as_str(),
                    after.unwrap_or(i64::MIN),
                    to.unwrap_or(i64::MAX)
                ],
                |r| {
                    Ok(crate::core::market::Bar {
                        open_time: r.get(0)?,
                        open: num(r, 1)?,
                        high: num(r, 2)?,
                        low: num(r, 3)?,
                        close: num(r, 4)?,
                        volume: num(r, 5)?,
                    })
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(super::sqlite::describe)?;
        return Ok(out);
    }
    let rows = store
        .query(
            "SELECT open_time, open, high, low, close, volume FROM candles \
             WHERE symbol = ? AND timeframe = ? AND open_time > ? AND open_time <= ? ORDER BY open_time",
            vals![symbol, tf, after.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)],
        )
        .await?;
    let f = |r: &Row, i: usize| -> Result<f64> {
        let t = r.text(i)?;
        t.parse::<f64>()
            .map_err(|_| anyhow::anyhow!("stored price {t:?} is not a number"))
    };
    rows.iter()
        .map(|r| {
            Ok(crate::core::market::Bar {
                open_time: r.int(0)?,
                open: f(r, 1)?,
                high: f(r, 2)?,
                low: f(r, 3)?,
                close: f(r, 4)?,
                volume: f(r, 5)?,
            })
        })
        .collect()
}

/// Open time of the oldest stored candle (fixes the phase of a 3-day series).
pub async fn first_open_time(store: &Store, symbol: &Symbol, tf: Timeframe) -> Result<Option<i64>> {
    store
        .query_one(
            "SELECT MIN(open_time) FROM candles WHERE symbol = ? AND timeframe = ?",
            vals![symbol, tf],
        )
        .await?
        .opt_int(0)
}

async fn first_open_time_tx(tx: &Tx<'_>, symbol: &Symbol, tf: Timeframe) -> Result<Option<i64>> {
    tx.query_one(
        "SELECT MIN(open_time) FROM candles WHERE symbol = ? AND timeframe = ?",
        vals![symbol, tf],
    )
    .await?
    .opt_int(0)
}

/// Open time of the newest stored candle.
pub async fn last_open_time(store: &Store, symbol: &Symbol, tf: Timeframe) -> Result<Option<i64>> {
    store
        .query_one(
            "SELECT MAX(open_time) FROM candles WHERE symbol = ? AND timeframe = ?",
            vals![symbol, tf],
        )
        .await?
        .opt_int(0)
}

/// Open time of the newest stored candle that had closed by `as_of` (open time + interval
/// <= `as_of`): what a job running at `as_of` may know.
pub async fn last_closed_open_time(
    store: &Store,
    symbol: &Symbol,
    tf: Timeframe,
    as_of: i64,
) -> Result<Option<i64>> {
    store
        .query_one(
            "SELECT MAX(open_time) FROM candles WHERE symbol = ? AND timeframe = ? AND open_time <= ?",
            vals![symbol, tf, as_of - tf.millis()],
        )
        .await?
        .opt_int(0)
}

/// Missing intervals in the stored series.
pub async fn gaps(store: &Store, symbol: &Symbol, tf: Timeframe) -> Result<Vec<Gap>> {
    let step = tf.millis();
    // SQLite materialises a window function's rows in a temporary table (in memory here),
    // which for millions of candles costs tens of MB; probing the primary key for each
    // candle's successor keeps the process's memory flat. Postgres does the window on the
    // server.
    let sql = match store.kind() {
        super::StoreKind::Sqlite => {
            "SELECT open_time, next_time FROM (SELECT a.open_time, \
             (SELECT MIN(c.open_time) FROM candles c WHERE c.symbol = a.symbol AND c.timeframe = a.timeframe AND c.open_time > a.open_time) AS next_time \
             FROM candles a WHERE a.symbol = ? AND a.timeframe = ? AND NOT EXISTS \
             (SELECT 1 FROM candles b WHERE b.symbol = a.symbol AND b.timeframe = a.timeframe AND b.open_time = a.open_time + ?)) AS s \
             WHERE next_time IS NOT NULL ORDER BY open_time"
        }
        super::StoreKind::Postgres => {
            "SELECT open_time, next_time FROM (SELECT open_time, LEAD(open_time) OVER (ORDER BY open_time) AS next_time \
             FROM candles WHERE symbol = ? AND timeframe = ?) AS s WHERE next_time - open_time > ? ORDER BY open_time"
        }
    };
    store
        .query(sql, vals![symbol, tf, step])
        .await?
        .iter()
        .map(|r| {
            let (a, b) = (r.int(0)?, r.int(1)?);
            Ok(Gap {
                from: a + step,
                to: b - step,
                missing: ((b - a) / step - 1) as u64,
            })
        })
        .collect()
}

/// Per symbol and timeframe: count, first and last open time.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesSummary {
    pub symbol: String,
    pub timeframe: String,
    pub candles: i64,
    pub first_open_time: i64,
    pub last_open_time: i64,
}

pub async fn summaries(store: &Store) -> Result<Vec<SeriesSummary>> {
    store
        .query(
            "SELECT symbol, timeframe, COUNT(*), MIN(open_time), MAX(open_time) FROM candles \
             GROUP BY symbol, timeframe ORDER BY symbol, timeframe",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(SeriesSummary {
                symbol: r.text(0)?,
                timeframe: r.text(1)?,
                candles: r.int(2)?,
                first_open_time: r.int(3)?,
                last_open_time: r.int(4)?,
            })
        })
        .collect()
}

/// How [`export`] writes candles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportAs {
    /// Header `open_time,open,high,low,close,volume`, one candle a line.
    Csv,
    /// An array of candle objects, prices as strings (what `serde_json` makes of a [`Candle`]).
    Json,
}

/// Write the candles in `[from, to]` (inclusive, ms), oldest first, to `w`, straight from
/// the stored text: the exact decimals as they were stored (what the exchange sent), no
/// decimal round trip and no row held in memory. Returns the number of candles written.
///
/// The output is byte for byte what [`crate::core::klines_file::write_csv`] and
/// [`crate::core::klines_file::write_json`] make of [`range`]'s candles.
#[allow(irrefutable_let_patterns)] // only one backend without the postgres feature
pub async fn export(
    store: &Store,
    symbol: &Symbol,
    tf: Timeframe,
    from: Option<i64>,
    to: Option<i64>,
    how: ExportAs,
    w: &mut dyn std::io::Write,
) -> Result<u64> {
    const SQL: &str = "SELECT open_time, open, high, low, close, volume FROM candles \
         WHERE symbol = ? AND timeframe = ? AND open_time >= ? AND open_time <= ? ORDER BY open_time";
    let (lo, hi) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
    let mut out = ExportWriter::new(how, w)?;
    if let Backend::Sqlite(conn) = &store.backend {
        let _gate = store.enter().await?;
        let conn = super::lock(conn)?;
        let mut st = conn.prepare_cached(SQL).map_err(super::sqlite::describe)?;
        let mut rows = st
            .query(rusqlite::params![symbol.as_str(), tf.as_str(), lo, hi])
            .map_err(super::sqlite::describe)?;
        while let Some(r) = rows.next().map_err(super::sqlite::describe)? {
            let t = |i: usize| -> Result<&[u8]> {
                match r.get_ref(i).map_err(super::sqlite::describe)? {
                    rusqlite::types::ValueRef::Text(t) => Ok(t),
                    other => bail!(
                        "stored candle column {i} is {:?}, not text",
                        other.data_type()
                    ),
                }
            };
            let ot: i64 = r.get(0).map_err(super::sqlite::describe)?;
            out.row(ot, [t(1)?, t(2)?, t(3)?, t(4)?, t(5)?])?;
        }
        return out.finish();
    }
    for r in store.query(SQL, vals![symbol, tf, lo, hi]).await? {
        let v = [r.text(1)?, r.text(2)?, r.text(3)?, r.text(4)?, r.text(5)?];
        out.row(r.int(0)?, v.each_ref().map(|s| s.as_bytes()))?;
    }
    out.finish()
}

struct ExportWriter<'a> {
    how: ExportAs,
    w: std::io::BufWriter<&'a mut dyn std::io::Write>,
    n: u64,
}

impl<'a> ExportWriter<'a> {
    fn new(how: ExportAs, w: &'a mut dyn std::io::Write) -> Result<Self> {
        use std::io::Write;
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, w);
        match how {
            ExportAs::Csv => w.write_all(b"open_time,open,high,low,close,volume\n")?,
            ExportAs::Json => w.write_all(b"[")?,
        }
        Ok(Self { how, w, n: 0 })
    }

    fn row(&mut self, open_time: i64, v: [&[u8]; 5]) -> Result<()> {
        use std::io::Write;
        // Stored prices are decimal text (digits, one point, a sign): nothing to escape.
        // Anything else means the row was not written by fks: refuse rather than emit it.
        for s in v {
            if s.is_empty()
                || !s
                    .iter()
                    .all(|b| b.is_ascii_digit() || *b == b'.' || *b == b'-')
            {
                bail!(
                    "stored candle at {open_time} has a price that is not a decimal: {:?}",
                    String::from_utf8_lossy(s)
                );
            }
        }
        let w = &mut self.w;
        match self.how {
            ExportAs::Csv => {
                write!(w, "{open_time}")?;
                for s in v {
                    w.write_all(b",")?;
                    w.write_all(s)?;
                }
                w.write_all(b"\n")?;
            }
            ExportAs::Json => {
                if self.n > 0 {
                    w.write_all(b",")?;
                }
                write!(w, "{{\"open_time\":{open_time}")?;
                for (k, s) in ["open", "high", "low", "close", "volume"].iter().zip(v) {
                    w.write_all(b",\"")?;
                    w.write_all(k.as_bytes())?;
                    w.write_all(b"\":\"")?;
                    w.write_all(s)?;
                    w.write_all(b"\"")?;
                }
                w.write_all(b"}")?;
            }
        }
        self.n += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<u64> {
        use std::io::Write;
        if self.how == ExportAs::Json {
            self.w.write_all(b"]\n")?;
        }
        self.w.flush()?;
        Ok(self.n)
    }
}

/// The kv key under which a series' facts are cached.
fn facts_key(symbol: &str, tf: &str) -> String {
    format!("candles.facts.{symbol}.{tf}")
}

/// Every kv key of cached series facts starts with this (dropped by archive and restore).
pub const FACTS_KEY_PREFIX: &str = "candles.facts.";

/// Summary and gaps of one stored series, as `list-data` shows them.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SeriesFacts {
    pub symbol: String,
    pub timeframe: String,
    pub candles: i64,
    pub first_open_time: i64,
    pub last_open_time: i64,
    pub gaps: Vec<Gap>,
}

/// The first (symbol, timeframe) after `after` in key order: one index seek (a loose index
/// scan lists the series without reading their candles).
async fn next_series(
    store: &Store,
    after: Option<(&str, &str)>,
) -> Result<Option<(String, String)>> {
    let r = match after {
        None => {
            store
                .query_opt(
                    "SELECT symbol, timeframe FROM candles ORDER BY symbol, timeframe LIMIT 1",
                    &[],
                )
                .await?
        }
        Some((s, t)) => {
            // Two seeks, each a plain range of the primary key (an OR of both would make
            // SQLite read the rest of the table): the next timeframe of this symbol, else the
            // first series of the next symbol.
            if let Some(r) = store
                .query_opt(
                    "SELECT timeframe FROM candles WHERE symbol = ? AND timeframe > ? \
                     ORDER BY timeframe LIMIT 1",
                    vals![s, t],
                )
                .await?
            {
                return Ok(Some((s.to_string(), r.text(0)?)));
            }
            store
                .query_opt(
                    "SELECT symbol, timeframe FROM candles WHERE symbol > ? \
                     ORDER BY symbol, timeframe LIMIT 1",
                    vals![s],
                )
                .await?
        }
    };
    r.map(|r| Ok((r.text(0)?, r.text(1)?))).transpose()
}

/// Facts of every stored series, ordered by symbol and timeframe.
///
/// Counting and scanning for gaps reads every candle (0.06 s per million on SQLite), so the
/// facts are cached in `kv` when computed and dropped by every write of candles to the
/// series (upsert, archive, restore). A cached entry is used only while the series' first
/// and last open time (two index seeks) are still the ones it was computed for.
pub async fn series_facts(store: &Store, now_ms: i64) -> Result<Vec<SeriesFacts>> {
    let mut out = Vec::new();
    let mut cur = next_series(store, None).await?;
    while let Some((s, t)) = cur {
        out.push(facts_of(store, &s, &t, now_ms).await?);
        cur = next_series(store, Some((&s, &t))).await?;
    }
    Ok(out)
}

/// Facts of one series (cached as [`series_facts`] says); `None` when it has no candles.
pub async fn facts(
    store: &Store,
    symbol: &Symbol,
    tf: Timeframe,
    now_ms: i64,
) -> Result<Option<SeriesFacts>> {
    let f = facts_of(store, symbol.as_str(), tf.as_str(), now_ms).await?;
    Ok(Some(f).filter(|f| f.candles > 0))
}

async fn facts_of(store: &Store, symbol: &str, tf_s: &str, now_ms: i64) -> Result<SeriesFacts> {
    let r = store
        .query_one(
            "SELECT (SELECT MIN(open_time) FROM candles WHERE symbol = ? AND timeframe = ?), \
             (SELECT MAX(open_time) FROM candles WHERE symbol = ? AND timeframe = ?)",
            vals![symbol, tf_s, symbol, tf_s],
        )
        .await?;
    let (first, last) = match (r.opt_int(0)?, r.opt_int(1)?) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Ok(SeriesFacts {
                symbol: symbol.into(),
                timeframe: tf_s.into(),
                candles: 0,
                first_open_time: 0,
                last_open_time: 0,
                gaps: Vec::new(),
            });
        }
    };
    let key = facts_key(symbol, tf_s);
    if let Some(v) = store.kv_get(&key).await?
        && let Ok(f) = serde_json::from_str::<SeriesFacts>(&v)
        && f.first_open_time == first
        && f.last_open_time == last
    {
        return Ok(f);
    }
    let tf: Timeframe = tf_s.parse()?;
    let sym: Symbol = symbol.parse()?;
    let gaps = gaps(store, &sym, tf).await?;
    let count = store
        .query_one(
            "SELECT COUNT(*) FROM candles WHERE symbol = ? AND timeframe = ?",
            vals![symbol, tf_s],
        )
        .await?
        .int(0)?;
    let f = SeriesFacts {
        symbol: symbol.into(),
        timeframe: tf_s.into(),
        candles: count,
        first_open_time: first,
        last_open_time: last,
        gaps,
    };
    // A cache: a store that cannot be written (a read-only file) still answers.
    if let Err(e) = store
        .kv_set(&key, &serde_json::to_string(&f)?, now_ms)
        .await
    {
        tracing::debug!("series facts of {symbol} {tf_s} not cached: {e:#}");
    }
    Ok(f)
}
