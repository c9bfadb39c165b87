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
    #[cfg(not(feature = "postgres"))]
    let _ = all_new;
    if rows.is_empty() {
        return Ok(());
    }
    match &tx.store().backend {
        Backend::Sqlite(conn) => {
            let conn = super::lock(conn)?;
            let mut st = conn
                .prepare_cached(UPSERT_SQL)
                .map_err(super::sqlite::describe)?;
            let (s, t) = (symbol.as_str(), tf.as_str());
            for c in rows {
                st.execute(rusqlite::params![
                    s,
                    t,
                    c.open_time,
                    c.open.to_string(),
                    c.high.to_string(),
                    c.low.to_string(),
                    c.close.to_string(),
                    c.volume.to_string()
                ])
                .map_err(super::sqlite::describe)?;
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
