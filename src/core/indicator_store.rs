//! The indicator cache: one row per symbol, timeframe and candle, plus the incremental state
//! that lets the next run compute only new candles with results identical to a full run.

use crate::core::indicators::{IndicatorRow, IndicatorState};
use crate::core::market::{Symbol, Timeframe};
use crate::core::store::{Backend, Row, Store, Tx, candles};
use crate::vals;
use anyhow::{Context, Result};
use serde::Serialize;

const INSERT: &str = "INSERT INTO indicators (symbol, timeframe, open_time, rsi14, macd, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, atr14, sma20, sma50, sma200, ema12, ema26) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
    ON CONFLICT (symbol, timeframe, open_time) DO UPDATE SET rsi14 = excluded.rsi14, macd = excluded.macd, macd_signal = excluded.macd_signal, \
    macd_hist = excluded.macd_hist, bb_upper = excluded.bb_upper, bb_middle = excluded.bb_middle, bb_lower = excluded.bb_lower, atr14 = excluded.atr14, \
    sma20 = excluded.sma20, sma50 = excluded.sma50, sma200 = excluded.sma200, ema12 = excluded.ema12, ema26 = excluded.ema26";

/// `INSERT ... VALUES (...), (...), ...` for `n` rows; with the same upsert as [`INSERT`]
/// unless `fresh` (the series' rows were just deleted in this transaction: nothing to
/// conflict with, and a plain insert skips the conflict handling).
fn multi_row_insert(n: usize, fresh: bool) -> String {
    let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let head = INSERT.split("VALUES").next().unwrap_or_default();
    let tail = INSERT
        .split_once(") ON CONFLICT")
        .map(|(_, t)| t)
        .unwrap_or_default();
    let rows = vec![row; n].join(", ");
    if fresh {
        format!("{head}VALUES {rows}")
    } else {
        format!("{head}VALUES {rows} ON CONFLICT{tail}")
    }
}

/// Rows per SQLite statement. Measured (benches/README.md, issue 18): 64 → 256 rows per
/// statement and binding in place instead of building a parameter vector took the
/// 10 × 100k first run's writes from ~1.2 s to ~0.5 s.
const SQLITE_CHUNK: usize = 256;

/// Write computed rows inside the caller's transaction. `fresh`: the series has no cached
/// rows (deleted by the caller in this transaction).
async fn write_rows(
    tx: &Tx<'_>,
    symbol: &Symbol,
    tf: Timeframe,
    rows: &[IndicatorRow],
    fresh: bool,
) -> Result<()> {
    match &tx.store().backend {
        Backend::Sqlite(conn) => {
            let conn = crate::core::store::lock_conn(conn)?;
            let multi = multi_row_insert(SQLITE_CHUNK, fresh);
            for chunk in rows.chunks(SQLITE_CHUNK) {
                let mut st = if chunk.len() == SQLITE_CHUNK {
                    conn.prepare_cached(&multi)?
                } else {
                    conn.prepare_cached(&multi_row_insert(chunk.len(), fresh))?
                };
                // Bound in place: no parameter vector, no copy of the symbol per row.
                let mut i = 1;
                for r in chunk {
                    st.raw_bind_parameter(i, symbol.as_str())?;
                    st.raw_bind_parameter(i + 1, tf.as_str())?;
                    st.raw_bind_parameter(i + 2, r.open_time)?;
                    i += 3;
                    for v in r.values() {
                        st.raw_bind_parameter(i, v.filter(|x| x.is_finite()))?;
                        i += 1;
                    }
                }
                st.raw_execute()?;
            }
            Ok(())
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres(client) => {
            if fresh && rows.len() >= 64 {
                // Nothing cached for the series (deleted in this transaction): COPY in.
                use std::fmt::Write;
                let mut buf = String::with_capacity(rows.len() * 200);
                for r in rows {
                    let _ = write!(buf, "{}\t{}\t{}", symbol, tf, r.open_time);
                    for v in r.values() {
                        match v.filter(|x| x.is_finite()) {
                            // Display of f64 is the shortest text that reads back to the same
                            // double, which Postgres parses exactly.
                            Some(x) => {
                                let _ = write!(buf, "\t{x}");
                            }
                            None => buf.push_str("\t\\N"),
                        }
                    }
                    buf.push('\n');
                }
                crate::core::store::copy_in_text(client, "indicators", COPY_COLS, buf.as_bytes())
                    .await?;
                return Ok(());
            }
            for r in rows {
                let v = r.values();
                tx.exec(
                    INSERT,
                    vals![
                        symbol,
                        tf,
                        r.open_time,
                        v[0],
                        v[1],
                        v[2],
                        v[3],
                        v[4],
                        v[5],
                        v[6],
                        v[7],
                        v[8],
                        v[9],
                        v[10],
                        v[11],
                        v[12]
                    ],
                )
                .await?;
            }
            Ok(())
        }
    }
}

#[cfg(feature = "postgres")]
const COPY_COLS: &str = "symbol, timeframe, open_time, rsi14, macd, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, atr14, sma20, sma50, sma200, ema12, ema26";

#[derive(Debug, Clone, Serialize)]
pub struct UpdateResult {
    pub status: crate::output::EntityStatus,
    pub timeframe: Timeframe,
    /// Candles computed in this run.
    pub computed: usize,
    /// `incremental`, `full` or `up_to_date`.
    pub mode: &'static str,
    pub latest: Option<IndicatorRow>,
}

/// Bring the cache up to date. Incremental from the saved state unless `full`, the state is
/// missing or stale (older version), or the stored candles before it changed.
pub async fn update(
    store: &Store,
    symbol: &Symbol,
    tf: Timeframe,
    full: bool,
    now_ms: i64,
) -> Result<UpdateResult> {
    let saved = store
        .query_opt("SELECT last_open_time, bars, state FROM indicator_state WHERE symbol = ? AND timeframe = ?", vals![symbol, tf])
        .await?;
    let mut mode = "full";
    let mut state_opt: Option<(IndicatorState, i64)> = None;
    if let (false, Some(r)) = (full, &saved) {
        let (last, bars) = (r.int(0)?, r.int(1)?);
        let st: Option<IndicatorState> = serde_json::from_str(&r.text(2)?)
            .ok()
            .filter(|s: &IndicatorState| s.is_current());
        let count = store
            .query_one("SELECT COUNT(*) FROM candles WHERE symbol = ? AND timeframe = ? AND open_time <= ?", vals![symbol, tf, last])
            .await?
            .int(0)?;
        if let Some(st) = st.filter(|_| count == bars) {
            state_opt = Some((st, last));
            mode = "incremental";
        }
    }
    let (mut state, after) = match state_opt {
        Some((s, last)) => (s, Some(last)),
        None => (IndicatorState::new(), None),
    };
    // Only candles closed by the run's clock; later ones are computed by a later run.
    let closed = crate::core::freshness::last_closed_open(tf, now_ms);
    let bars = candles::bars(store, symbol, tf, after, Some(closed)).await?;
    if bars.is_empty() {
        let latest = latest_at(store, symbol, tf, Some(closed)).await?;
        return Ok(UpdateResult {
            status: crate::output::EntityStatus::Success,
            timeframe: tf,
            computed: 0,
            mode: "up_to_date",
            latest,
        });
    }
    // Streaming gives exactly the batch values (bit-identical) and leaves the state ready
    // for the next run, so a full run needs no second pass.
    let rows: Vec<IndicatorRow> = bars.iter().map(|b| state.update(b)).collect();
    let tx = store.begin().await?;
    if after.is_none() {
        tx.exec(
            "DELETE FROM indicators WHERE symbol = ? AND timeframe = ?",
            vals![symbol, tf],
        )
        .await?;
    }
    for chunk in rows.chunks(20_000) {
        write_rows(&tx, symbol, tf, chunk, after.is_none()).await?;
    }
    let last = bars.last().map(|b| b.open_time).context("bars not empty")?;
    tx.exec(
        "INSERT INTO indicator_state (symbol, timeframe, last_open_time, bars, state, updated_ms) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (symbol, timeframe) DO UPDATE SET last_open_time = excluded.last_open_time, bars = excluded.bars, \
         state = excluded.state, updated_ms = excluded.updated_ms",
        vals![symbol, tf, last, state.bars_seen() as i64, serde_json::to_string(&state)?, now_ms],
    )
    .await?;
    tx.commit().await?;
    Ok(UpdateResult {
        status: crate::output::EntityStatus::Success,
        timeframe: tf,
        computed: rows.len(),
        mode,
        latest: rows.last().cloned(),
    })
}

fn from_row(r: &Row) -> Result<IndicatorRow> {
    Ok(IndicatorRow {
        open_time: r.int(0)?,
        rsi14: r.opt_real(1)?,
        macd: r.opt_real(2)?,
        macd_signal: r.opt_real(3)?,
        macd_hist: r.opt_real(4)?,
        bb_upper: r.opt_real(5)?,
        bb_middle: r.opt_real(6)?,
        bb_lower: r.opt_real(7)?,
        atr14: r.opt_real(8)?,
        sma20: r.opt_real(9)?,
        sma50: r.opt_real(10)?,
        sma200: r.opt_real(11)?,
        ema12: r.opt_real(12)?,
        ema26: r.opt_real(13)?,
    })
}

const COLS: &str = "open_time, rsi14, macd, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, atr14, sma20, sma50, sma200, ema12, ema26";

/// Cached rows with open time in `[from, to]`, oldest first.
pub async fn range(
    store: &Store,
    symbol: &Symbol,
    tf: Timeframe,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Vec<IndicatorRow>> {
    store
        .query(
            &format!("SELECT {COLS} FROM indicators WHERE symbol = ? AND timeframe = ? AND open_time >= ? AND open_time <= ? ORDER BY open_time"),
            vals![symbol, tf, from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// The newest cached row (at or before `to`).
pub async fn latest_at(
    store: &Store,
    symbol: &Symbol,
    tf: Timeframe,
    to: Option<i64>,
) -> Result<Option<IndicatorRow>> {
    store
        .query_opt(
            &format!("SELECT {COLS} FROM indicators WHERE symbol = ? AND timeframe = ? AND open_time <= ? ORDER BY open_time DESC LIMIT 1"),
            vals![symbol, tf, to.unwrap_or(i64::MAX)],
        )
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

pub async fn latest(store: &Store, symbol: &Symbol, tf: Timeframe) -> Result<Option<IndicatorRow>> {
    latest_at(store, symbol, tf, None).await
}
