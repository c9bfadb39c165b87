//! Market data sync: fetch closed candles page by page into the store, gap-free and
//! without duplicates. Each page is committed on its own, so a killed run keeps what it
//! fetched and the next run continues from the last stored candle.

use crate::core::candle_check::{self, Grid, SourcedCandle};
use crate::core::market::{Candle, Gap, Symbol, Timeframe};
use crate::core::store::Store;
use crate::core::store::candles::{self, UpsertCounts};
use crate::vals;
use anyhow::{Context, Result};
use serde::Serialize;

/// Anything that serves klines one page at a time (Binance spot or futures, or a test double).
pub trait KlineSource {
    /// Most candles one request may ask for.
    fn max_limit(&self) -> usize;
    /// Candles with `start <= open_time <= end`, oldest first, at most `limit`, with their
    /// close times when the source sends them (checked before anything is stored).
    fn page(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> impl std::future::Future<Output = Result<Vec<SourcedCandle>>>;
}

#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    /// Candles to fetch on the first sync when `since` is not given.
    pub limit: usize,
    /// Fetch everything from this time (also backfills before the stored series).
    pub since: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncResult {
    pub status: &'static str,
    pub timeframe: Timeframe,
    pub fetched: u64,
    pub inserted: u64,
    pub updated: u64,
    pub first_open_time: Option<i64>,
    pub last_open_time: Option<i64>,
    pub gaps: Vec<Gap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Open time of the newest candle that has closed by `now`, on the timeframe's grid (1w on
/// Mondays, 3d on the phase of the stored series, see [`candle_check::grid_origin`]). When the
/// grid is not known (3d with nothing stored), the latest time a closed candle may open at.
pub fn last_closed_open(now_ms: i64, tf: Timeframe, anchor: Option<i64>) -> i64 {
    let latest = now_ms - tf.millis();
    candle_check::grid_floor(latest, tf, anchor).unwrap_or(latest)
}

/// Where the next fetch starts, and the last open time it may store. `anchor` is the open time
/// of any stored candle of the series (it fixes the 3-day phase). Binance answers a `startTime`
/// inside a candle from the next candle, so a start off a grid that is not known still fetches
/// exactly the candles opened in `start..=end`.
pub fn plan(
    req: &SyncRequest,
    stored_last: Option<i64>,
    anchor: Option<i64>,
    now_ms: i64,
) -> (i64, i64) {
    let tf = req.timeframe;
    let step = tf.millis();
    let end = last_closed_open(now_ms, tf, anchor);
    let start = match (req.since, stored_last) {
        (Some(s), _) => candle_check::grid_ceil(s, tf, anchor).unwrap_or(s),
        (None, Some(l)) => l + step,
        // The last `limit` candles: `limit` grid points lie in `end - limit·step + 1 ..= end`
        // whatever the phase.
        (None, None) => match candle_check::grid_origin(tf, anchor) {
            Some(_) => end - (req.limit.max(1) as i64 - 1) * step,
            None => end - req.limit.max(1) as i64 * step + 1,
        },
    };
    (start, end)
}

/// Sync one symbol. `on_progress(done_candles)` is called after each committed page.
pub async fn sync_symbol<S: KlineSource>(
    store: &Store,
    src: &S,
    req: &SyncRequest,
    now_ms: i64,
    mut on_progress: impl FnMut(u64),
) -> Result<SyncResult> {
    let tf = req.timeframe;
    let step = tf.millis();
    let stored_last = candles::last_open_time(store, &req.symbol, tf).await?;
    let anchor = candles::first_open_time(store, &req.symbol, tf).await?;
    let mut grid = Grid::new(tf, now_ms, anchor);
    let (mut start, end) = plan(req, stored_last, anchor, now_ms);
    let mut counts = UpsertCounts::default();
    let (mut fetched, mut first, mut last) = (0u64, None::<i64>, None::<i64>);
    let max = src.max_limit();
    while start <= end {
        let page = src
            .page(&req.symbol, tf, start, end, max)
            .await
            .with_context(|| {
                format!(
                    "fetch {} {tf} klines from {}",
                    req.symbol,
                    crate::core::time::fmt_ms(start)
                )
            })?;
        let n_raw = page.len();
        // Only closed candles inside the window, in order; every one valid, or nothing of the
        // page is stored and the symbol fails.
        let page: Vec<SourcedCandle> = page
            .into_iter()
            .filter(|c| c.candle.open_time >= start && c.candle.open_time <= end)
            .collect();
        for c in &page {
            grid.check(&c.candle, c.close_time).map_err(|e| {
                anyhow::anyhow!(
                    "the exchange sent an invalid candle for {} {tf} at {}: {e}; nothing of its page was stored",
                    req.symbol,
                    crate::core::time::fmt_ms(c.candle.open_time)
                )
            })?;
        }
        let page: Vec<Candle> = page.into_iter().map(|c| c.candle).collect();
        if page.is_empty() {
            break;
        }
        fetched += page.len() as u64;
        first = first.or(page.first().map(|c| c.open_time));
        let page_last = page.last().map(|c| c.open_time).unwrap_or(start);
        last = Some(page_last);
        let tx = store.begin().await?;
        counts += candles::upsert(&tx, &req.symbol, tf, &page).await?;
        write_status(&tx, &req.symbol, tf, now_ms, "running", None).await?;
        tx.commit().await?;
        on_progress(fetched);
        if n_raw < max {
            break;
        }
        start = page_last + step;
    }
    // Gaps only change when candles were written: otherwise reuse what the last sync found
    // (scanning a long series costs more than a sync with nothing new should).
    let cached: Option<Vec<Gap>> = if counts.inserted == 0 && counts.updated == 0 {
        store
            .query_opt(
                "SELECT gaps FROM sync_status WHERE symbol = ? AND timeframe = ?",
                vals![&req.symbol, tf],
            )
            .await?
            .and_then(|r| r.opt_text(0).ok().flatten())
            .and_then(|g| serde_json::from_str(&g).ok())
    } else {
        None
    };
    let gaps = match cached {
        Some(g) => g,
        None => candles::gaps(store, &req.symbol, tf).await?,
    };
    let tx = store.begin().await?;
    write_status(&tx, &req.symbol, tf, now_ms, "success", None).await?;
    tx.exec(
        "UPDATE sync_status SET gaps = ? WHERE symbol = ? AND timeframe = ?",
        vals![serde_json::to_string(&gaps)?, &req.symbol, tf],
    )
    .await?;
    tx.commit().await?;
    Ok(SyncResult {
        status: "success",
        timeframe: tf,
        fetched,
        inserted: counts.inserted,
        updated: counts.updated,
        first_open_time: first,
        last_open_time: last,
        gaps,
        error: None,
    })
}

async fn write_status(
    tx: &crate::core::store::Tx<'_>,
    symbol: &Symbol,
    tf: Timeframe,
    now_ms: i64,
    status: &str,
    error: Option<&str>,
) -> Result<()> {
    tx.exec(
        "INSERT INTO sync_status (symbol, timeframe, last_sync_ms, last_open_time, status, error) \
         VALUES (?, ?, ?, (SELECT MAX(open_time) FROM candles WHERE symbol = ? AND timeframe = ?), ?, ?) \
         ON CONFLICT (symbol, timeframe) DO UPDATE SET last_sync_ms = excluded.last_sync_ms, \
         last_open_time = excluded.last_open_time, status = excluded.status, error = excluded.error",
        vals![symbol, tf, now_ms, symbol, tf, status, error],
    )
    .await?;
    Ok(())
}

/// Record a failed sync of a symbol.
pub async fn record_failure(
    store: &Store,
    symbol: &Symbol,
    tf: Timeframe,
    now_ms: i64,
    error: &str,
) -> Result<()> {
    let tx = store.begin().await?;
    write_status(&tx, symbol, tf, now_ms, "error", Some(error)).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn planning() {
        let h = 3_600_000;
        let now = 100 * h + 1234; // candle 99 is the last closed one
        let req = SyncRequest {
            symbol: Symbol("X".into()),
            timeframe: Timeframe::H1,
            limit: 10,
            since: None,
        };
        assert_eq!(plan(&req, None, None, now), (90 * h, 99 * h));
        assert_eq!(plan(&req, Some(95 * h), Some(0), now), (96 * h, 99 * h));
        let req = SyncRequest {
            since: Some(50 * h + 1),
            ..req
        };
        assert_eq!(plan(&req, Some(95 * h), Some(0), now), (51 * h, 99 * h));
    }

    const DAY: i64 = 86_400_000;
    const MON: i64 = 1_704_067_200_000; // 2024-01-01, a Monday

    #[test]
    fn weeks_are_planned_on_mondays() {
        let w = 7 * DAY;
        let req = SyncRequest {
            symbol: Symbol("X".into()),
            timeframe: Timeframe::W1,
            limit: 3,
            since: None,
        };
        // Every day of a week: the last closed week is the one before this Monday's.
        for d in 0..7 {
            let now = MON + 10 * w + d * DAY + 1;
            let (start, end) = plan(&req, None, None, now);
            assert_eq!(end, MON + 9 * w, "day {d}");
            assert_eq!(start, MON + 7 * w, "day {d}");
            assert_eq!(
                plan(&req, Some(MON + 8 * w), Some(MON), now),
                (MON + 9 * w, MON + 9 * w)
            );
        }
        // Just after a week closes, it is the last closed one.
        assert_eq!(plan(&req, None, None, MON + 10 * w).1, MON + 9 * w);
        assert_eq!(plan(&req, None, None, MON + 10 * w - 1).1, MON + 8 * w);
        // --since a Monday starts on that Monday; since a Wednesday, on the next Monday.
        let since = |s| SyncRequest {
            since: Some(s),
            ..req.clone()
        };
        assert_eq!(plan(&since(MON), None, None, MON + 10 * w).0, MON);
        assert_eq!(
            plan(&since(MON + 2 * DAY), None, None, MON + 10 * w).0,
            MON + w
        );
    }

    #[test]
    fn three_days_are_planned_on_the_series_phase() {
        let step = 3 * DAY;
        // Binance's USD-M 3d candles open on days ≡ 1 (mod 3) since the epoch.
        let a = (MON / DAY).div_euclid(3) * 3 * DAY + DAY;
        let req = SyncRequest {
            symbol: Symbol("X".into()),
            timeframe: Timeframe::D3,
            limit: 4,
            since: None,
        };
        for h in 0..72 {
            let now = a + 20 * step + h * 3_600_000;
            // Known phase: the last closed candle on it, and exactly `limit` of them.
            let (start, end) = plan(&req, None, Some(a), now);
            assert_eq!(end, a + 19 * step);
            assert_eq!(start, a + 16 * step);
            // Unknown phase (fresh store): the window holds exactly `limit` candle opens of
            // any phase, the last closed one included.
            let (start, end) = plan(&req, None, None, now);
            for phase in [a, a + DAY, a + 2 * DAY] {
                let opens = (0..40)
                    .map(|i| phase + i * step)
                    .filter(|&t| t >= start && t <= end)
                    .collect::<Vec<_>>();
                assert_eq!(opens.len(), 4, "h {h} phase {phase}");
                let last = *opens.last().unwrap();
                assert!(last + step <= now && last + 2 * step > now, "h {h}");
            }
        }
    }
}
