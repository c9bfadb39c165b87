//! Account metrics for `calculate-metrics`: returns, risk ratios and trade statistics of one
//! account over a period, from its balance-history snapshots and closed trades.
//!
//! Pure: data in, [`AccountMetrics`] out. The statistics themselves are the backtest's
//! ([`crate::core::backtest::metrics`]), applied to DAILY equity returns.
//!
//! # Definitions
//!
//! - **Period**: `[from_ms, to_ms]`, both ends included, UTC. Snapshots and trades outside it
//!   are ignored, except the last snapshot before `from_ms` (the *baseline*): the account's
//!   equity when the period opened.
//! - **Start equity**: the baseline's equity if there is one, else the first snapshot in the
//!   period. **End equity**: the last snapshot in the period.
//! - **Day close**: the equity of the LAST snapshot of a UTC day (several per day are normal;
//!   with equal timestamps the one given last wins).
//! - **Daily series**: one point per UTC day from the first day of the period (with a
//!   baseline) or the first day with a snapshot (without), to the day of the last snapshot.
//!   A day without a snapshot in between takes the previous day's close (*carried forward*):
//!   it is flagged `carried_forward` and listed in `missing_days`, so a gap is visible and
//!   never silently passes for a real flat day. Days after the last snapshot are not added.
//! - **Daily return** of day d: `close(d) / close(d-1) - 1` ([`simple_returns`]); the first
//!   day's reference is the baseline, and without a baseline the first day has no return (so
//!   an account observed once a day does not get an invented 0% first day). A carried day's
//!   return is 0 and the day after the gap carries the whole move; a return after a
//!   non-positive close is 0.
//! - **Total return %**: `(end / start - 1) * 100`; `null` when start <= 0.
//! - **Average daily return %**: arithmetic mean of the daily returns, in percent.
//! - **Sharpe**: [`sharpe_ratio`] of the daily returns, risk-free 0, annualised with
//!   `sqrt(365)` (crypto trades every day); sample standard deviation.
//! - **Sortino**: [`sortino_ratio`] of the daily returns, target 0, `sqrt(365)`; downside
//!   deviation over all days.
//! - **Volatility %**: sample standard deviation of the daily returns `* sqrt(365) * 100`.
//! - **Max drawdown %**: [`max_drawdown_pct`] of the day closes with the start equity
//!   prepended (close-marked, as in backtests). **Max intraday drawdown %**: the same over
//!   every snapshot, so dips that recovered before a day's close still show.
//! - **Trades**: closed trades whose close time is in the period. Winning: `pnl > 0` (after
//!   fees). Win rate % and profit factor are [`win_rate_pct`] and [`profit_factor`]
//!   (`null` without trades; profit factor `null` without a losing trade).
//! - **Best / worst day**: highest and lowest daily return among days WITH a snapshot
//!   (a carried day's 0% is not an observation).
//! - **Status**, first that applies: `no_history` (no snapshot in the period: every equity
//!   figure is `null`, trade figures are still given), `insufficient_history` (fewer than two
//!   daily returns: Sharpe, Sortino and volatility are `null`), `no_trades` (no closed trade
//!   in the period: trade ratios `null`, counts 0, return figures computed), `success`.
//!   `notes` says the same in words, plus any gap.

use chrono::{DateTime, Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::core::backtest::metrics::{
    average_pct, drawdown_pct_series, max_drawdown_pct, profit_factor, sharpe_ratio,
    simple_returns, sortino_ratio, win_rate_pct,
};

/// Days per year used to annualise daily figures.
pub const DAYS_PER_YEAR: f64 = 365.0;

/// Most points kept in [`AccountMetrics::equity_curve`] (a month of 15-minute snapshots
/// is ~2900; a chart 900 px wide shows no more than this, and the JSON stays small).
pub const MAX_CURVE_POINTS: usize = 600;

/// One balance-history snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EquitySnapshot {
    pub time_ms: i64,
    /// Balance + unrealized PnL, in the account's quote asset.
    pub equity: f64,
}

/// One closed trade (a position reduced or closed), with its realized PnL after fees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedTrade {
    /// When it was closed (ms, UTC).
    pub time_ms: i64,
    pub symbol: String,
    /// Realized PnL in the quote asset, after fees.
    pub pnl: f64,
    /// Realized PnL as a percentage of the entry notional, when known.
    pub pnl_pct: Option<f64>,
}

/// The window the metrics cover: `from_ms..=to_ms`, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Period {
    /// Whole UTC days `first..=last`.
    pub fn days(first: NaiveDate, last: NaiveDate) -> Self {
        let start = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp_millis()
        };
        let next = last.checked_add_days(Days::new(1)).unwrap_or(last);
        Period {
            from_ms: start(first),
            to_ms: start(next) - 1,
        }
    }

    /// The `n` whole UTC days ending with the day of `now_ms` (`n = 0` is treated as 1).
    pub fn last_days(now_ms: i64, n: u32) -> Self {
        let last = utc_date(now_ms);
        let first = last
            .checked_sub_days(Days::new(u64::from(n.max(1) - 1)))
            .unwrap_or(last);
        Period::days(first, last)
    }

    /// The same window, ending at `now_ms` when that is earlier: a run reads nothing that
    /// happened after its clock (`FKS_NOW`), even later the same day.
    pub fn until(self, now_ms: i64) -> Self {
        Period {
            from_ms: self.from_ms,
            to_ms: self.to_ms.min(now_ms).max(self.from_ms),
        }
    }

    fn contains(&self, t: i64) -> bool {
        self.from_ms <= t && t <= self.to_ms
    }
}

/// What could be computed; see the module docs for which fields each status leaves `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsStatus {
    Success,
    NoHistory,
    NoTrades,
    InsufficientHistory,
}

impl MetricsStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsStatus::Success => "success",
            MetricsStatus::NoHistory => "no_history",
            MetricsStatus::NoTrades => "no_trades",
            MetricsStatus::InsufficientHistory => "insufficient_history",
        }
    }
}

/// A day and its return.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DayReturn {
    pub date: NaiveDate,
    pub return_pct: f64,
}

/// One UTC day of the daily series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DailyPoint {
    pub date: NaiveDate,
    /// Day close (last snapshot of the day), or the previous close when carried forward.
    #[serde(serialize_with = "crate::core::json_num::money_f64_in")]
    pub equity: f64,
    /// `null` for the first day when there is no baseline.
    pub return_pct: Option<f64>,
    /// Below the running peak of the day closes (start equity included), positive %.
    pub drawdown_pct: f64,
    /// No snapshot that day: `equity` is the previous day's.
    pub carried_forward: bool,
    /// Snapshots seen that day.
    pub snapshots: usize,
}

/// One point of the snapshot-level equity curve (for charts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EquityPoint {
    pub time_ms: i64,
    #[serde(serialize_with = "crate::core::json_num::money_f64_in")]
    pub equity: f64,
    /// Below the running peak of this curve, positive %.
    pub drawdown_pct: f64,
}

/// Metrics of one account over one period. Percentages are in percent (`12.5` = 12.5%);
/// `null` where undefined. Every key is always present. Amounts are money in the account's
/// quote: serialize inside `json_num::InCurrency(quote, ..)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountMetrics {
    pub status: MetricsStatus,
    /// Plain-language explanation of the status and of any gap.
    pub notes: Vec<String>,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    /// Time of the first and last snapshot in the period (ms).
    pub first_snapshot_ms: Option<i64>,
    pub last_snapshot_ms: Option<i64>,
    /// The baseline (last snapshot before the period) was used as start equity.
    pub has_baseline: bool,
    #[serde(serialize_with = "crate::core::json_num::money_f64_in_opt")]
    pub start_equity: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::money_f64_in_opt")]
    pub end_equity: Option<f64>,
    /// `end_equity - start_equity`: the period's PnL including unrealized changes.
    #[serde(serialize_with = "crate::core::json_num::money_f64_in_opt")]
    pub equity_change: Option<f64>,
    pub total_return_pct: Option<f64>,
    pub average_daily_return_pct: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    /// Annualised standard deviation of daily returns, %.
    pub volatility_pct: Option<f64>,
    /// On day closes; positive (`25.0` = 25% below the peak).
    pub max_drawdown_pct: Option<f64>,
    /// On every snapshot.
    pub max_intraday_drawdown_pct: Option<f64>,
    pub total_trades: usize,
    pub winning_trades: usize,
    pub losing_trades: usize,
    pub win_rate_pct: Option<f64>,
    pub profit_factor: Option<f64>,
    /// Sum of the trades' realized PnL.
    #[serde(serialize_with = "crate::core::json_num::money_f64_in")]
    pub realized_pnl: f64,
    /// Mean `pnl_pct` of the trades that have one.
    pub average_trade_pct: Option<f64>,
    /// The account's fills (executions) in the period, as given.
    pub fills: usize,
    pub best_day: Option<DayReturn>,
    pub worst_day: Option<DayReturn>,
    /// Days with at least one snapshot.
    pub days: usize,
    /// Daily returns used for the ratios (carried days included).
    pub daily_returns: usize,
    /// Days with no snapshot whose equity was carried forward.
    pub missing_days: Vec<NaiveDate>,
    /// One point per UTC day (see the module docs).
    pub daily: Vec<DailyPoint>,
    /// Every snapshot in the period (the baseline first, placed at the period start), for
    /// charts; above [`MAX_CURVE_POINTS`] thinned to each bucket's low and high, with
    /// drawdowns computed before thinning.
    pub equity_curve: Vec<EquityPoint>,
}

/// The UTC date of a time in ms (times out of chrono's range clamp to its limits).
pub fn utc_date(ms: i64) -> NaiveDate {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.date_naive(),
        None if ms < 0 => NaiveDate::MIN,
        None => NaiveDate::MAX,
    }
}

/// Compute [`AccountMetrics`] (definitions in the module docs). `snapshots` and `trades`
/// may be unsorted and may extend beyond the period.
pub fn compute_account_metrics(
    snapshots: &[EquitySnapshot],
    trades: &[ClosedTrade],
    fills: usize,
    period: Period,
) -> AccountMetrics {
    let mut notes = Vec::new();

    // -- snapshots: stable sort so equal times keep input order (the later one wins)
    let mut snaps: Vec<EquitySnapshot> = snapshots
        .iter()
        .copied()
        .filter(|s| s.equity.is_finite())
        .collect();
    snaps.sort_by_key(|s| s.time_ms);
    let baseline = snaps
        .iter()
        .rev()
        .find(|s| s.time_ms < period.from_ms)
        .copied();
    let inside: Vec<EquitySnapshot> = snaps
        .into_iter()
        .filter(|s| period.contains(s.time_ms))
        .collect();

    // -- trades
    let pnls: Vec<f64> = trades
        .iter()
        .filter(|t| period.contains(t.time_ms))
        .map(|t| t.pnl)
        .collect();
    let trade_pcts: Vec<f64> = trades
        .iter()
        .filter(|t| period.contains(t.time_ms))
        .filter_map(|t| t.pnl_pct)
        .collect();

    let mut m = AccountMetrics {
        status: MetricsStatus::Success,
        notes: Vec::new(),
        period_from: utc_date(period.from_ms),
        period_to: utc_date(period.to_ms),
        first_snapshot_ms: inside.first().map(|s| s.time_ms),
        last_snapshot_ms: inside.last().map(|s| s.time_ms),
        has_baseline: false,
        start_equity: None,
        end_equity: None,
        equity_change: None,
        total_return_pct: None,
        average_daily_return_pct: None,
        sharpe: None,
        sortino: None,
        volatility_pct: None,
        max_drawdown_pct: None,
        max_intraday_drawdown_pct: None,
        total_trades: pnls.len(),
        winning_trades: pnls.iter().filter(|p| **p > 0.0).count(),
        losing_trades: pnls.iter().filter(|p| **p < 0.0).count(),
        win_rate_pct: win_rate_pct(&pnls),
        profit_factor: profit_factor(&pnls),
        realized_pnl: pnls.iter().sum(),
        average_trade_pct: average_pct(&trade_pcts),
        fills,
        best_day: None,
        worst_day: None,
        days: 0,
        daily_returns: 0,
        missing_days: Vec::new(),
        daily: Vec::new(),
        equity_curve: Vec::new(),
    };

    let (Some(first), Some(last)) = (inside.first().copied(), inside.last().copied()) else {
        m.status = MetricsStatus::NoHistory;
        notes.push(format!(
            "no balance snapshot between {} and {}: return and risk metrics are null",
            m.period_from, m.period_to
        ));
        if pnls.is_empty() {
            notes.push("no closed trades in the period".to_string());
        }
        m.notes = notes;
        return m;
    };

    m.has_baseline = baseline.is_some();
    let start = baseline.map_or(first.equity, |b| b.equity);
    m.start_equity = Some(start);
    m.end_equity = Some(last.equity);
    m.equity_change = Some(last.equity - start);
    m.total_return_pct = (start > 0.0).then(|| (last.equity / start - 1.0) * 100.0);

    // -- snapshot-level curve (baseline shown at the period start)
    let mut curve: Vec<(i64, f64)> = Vec::with_capacity(inside.len() + 1);
    if let Some(b) = baseline {
        curve.push((period.from_ms, b.equity));
    }
    curve.extend(inside.iter().map(|s| (s.time_ms, s.equity)));
    let curve_eq: Vec<f64> = curve.iter().map(|p| p.1).collect();
    m.max_intraday_drawdown_pct = Some(max_drawdown_pct(&curve_eq));
    let curve_dd = drawdown_pct_series(&curve_eq);
    m.equity_curve = thin_indices(&curve_eq, MAX_CURVE_POINTS)
        .into_iter()
        .map(|i| EquityPoint {
            time_ms: curve[i].0,
            equity: curve[i].1,
            drawdown_pct: curve_dd[i],
        })
        .collect();

    // -- day closes, then the calendar series with gaps carried forward
    let mut closes: Vec<(NaiveDate, f64, usize)> = Vec::new(); // (day, close, snapshots)
    for s in &inside {
        let d = utc_date(s.time_ms);
        match closes.last_mut() {
            Some((day, close, n)) if *day == d => {
                *close = s.equity;
                *n += 1;
            }
            _ => closes.push((d, s.equity, 1)),
        }
    }
    m.days = closes.len();
    let first_day = if baseline.is_some() {
        m.period_from
    } else {
        closes[0].0
    };
    let last_day = closes[closes.len() - 1].0;
    let mut series: Vec<(NaiveDate, f64, bool, usize)> = Vec::new();
    let mut prev = baseline.map(|b| b.equity);
    let mut next_close = closes.iter().peekable();
    let mut day = first_day;
    while day <= last_day {
        match next_close.peek() {
            Some((d, close, n)) if *d == day => {
                series.push((day, *close, false, *n));
                prev = Some(*close);
                next_close.next();
            }
            _ => {
                let carried = prev.expect("the first day has a close or a baseline");
                series.push((day, carried, true, 0));
                m.missing_days.push(day);
            }
        }
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }

    let day_eq: Vec<f64> = series.iter().map(|p| p.1).collect();
    let (returns, first_has_return) = match baseline {
        Some(b) => (simple_returns(b.equity, &day_eq), true),
        None => (simple_returns(day_eq[0], &day_eq[1..]), false),
    };
    let mut dd_input = Vec::with_capacity(day_eq.len() + 1);
    dd_input.push(start);
    dd_input.extend_from_slice(&day_eq);
    m.max_drawdown_pct = Some(max_drawdown_pct(&dd_input));
    let dd = drawdown_pct_series(&dd_input);
    let offset = usize::from(!first_has_return);
    m.daily = series
        .iter()
        .enumerate()
        .map(
            |(i, &(date, equity, carried_forward, snapshots))| DailyPoint {
                date,
                equity,
                return_pct: if i >= offset {
                    Some(returns[i - offset] * 100.0)
                } else {
                    None
                },
                drawdown_pct: dd[i + 1],
                carried_forward,
                snapshots,
            },
        )
        .collect();
    m.daily_returns = returns.len();

    if !returns.is_empty() {
        m.average_daily_return_pct =
            Some(returns.iter().sum::<f64>() / returns.len() as f64 * 100.0);
    }
    let observed = m
        .daily
        .iter()
        .filter(|p| !p.carried_forward)
        .filter_map(|p| {
            p.return_pct.map(|r| DayReturn {
                date: p.date,
                return_pct: r,
            })
        });
    for d in observed {
        if m.best_day.is_none_or(|b| d.return_pct > b.return_pct) {
            m.best_day = Some(d);
        }
        if m.worst_day.is_none_or(|w| d.return_pct < w.return_pct) {
            m.worst_day = Some(d);
        }
    }

    if returns.len() >= 2 {
        m.sharpe = sharpe_ratio(&returns, DAYS_PER_YEAR, 0.0);
        m.sortino = sortino_ratio(&returns, DAYS_PER_YEAR, 0.0);
        m.volatility_pct = sample_sd(&returns).map(|sd| sd * DAYS_PER_YEAR.sqrt() * 100.0);
        m.status = if pnls.is_empty() {
            MetricsStatus::NoTrades
        } else {
            MetricsStatus::Success
        };
    } else {
        m.status = MetricsStatus::InsufficientHistory;
        notes.push(format!(
            "{} daily return(s) from {} day(s) of history: Sharpe, Sortino and volatility need at least 2",
            returns.len(),
            m.days
        ));
    }
    if pnls.is_empty() {
        notes.push(
            "no closed trades in the period: win rate and profit factor are null".to_string(),
        );
    }
    if !m.missing_days.is_empty() {
        notes.push(format!(
            "{} day(s) without a balance snapshot, equity carried forward from the previous day: {}",
            m.missing_days.len(),
            m.missing_days
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if start <= 0.0 {
        notes.push("start equity is not positive: total return is undefined".to_string());
    }
    m.notes = notes;
    m
}

/// Indices of at most ~`max` points of a series to draw: all of them when there are few;
/// otherwise, for each of `max / 2` equal buckets, its lowest and highest point in time
/// order (so peaks and troughs survive, and with them the drawdowns), plus the last point.
pub(crate) fn thin_indices(values: &[f64], max: usize) -> Vec<usize> {
    let n = values.len();
    if n <= max.max(2) {
        return (0..n).collect();
    }
    let bucket = n.div_ceil((max / 2).max(1));
    let mut out = Vec::with_capacity(max + 2);
    for start in (0..n).step_by(bucket) {
        let end = (start + bucket).min(n);
        let (mut lo, mut hi) = (start, start);
        for i in start..end {
            if values[i] < values[lo] {
                lo = i;
            }
            if values[i] > values[hi] {
                hi = i;
            }
        }
        let (a, b) = (lo.min(hi), lo.max(hi));
        out.push(a);
        if b != a {
            out.push(b);
        }
    }
    if out.last() != Some(&(n - 1)) {
        out.push(n - 1);
    }
    if out.first() != Some(&0) {
        out.insert(0, 0);
    }
    out
}

/// Sample standard deviation (n - 1); `None` with fewer than two values.
fn sample_sd(xs: &[f64]) -> Option<f64> {
    let n = xs.len();
    if n < 2 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    Some(var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 5, d).unwrap()
    }
    fn at(d: u32, h: u32) -> i64 {
        date(d)
            .and_hms_opt(h, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }
    fn snap(d: u32, h: u32, equity: f64) -> EquitySnapshot {
        EquitySnapshot {
            time_ms: at(d, h),
            equity,
        }
    }
    /// One snapshot per day at 23:00, days 1, 2, 3 …
    fn daily(closes: &[f64]) -> Vec<EquitySnapshot> {
        closes
            .iter()
            .enumerate()
            .map(|(i, &e)| snap(i as u32 + 1, 23, e))
            .collect()
    }
    fn trade(d: u32, pnl: f64) -> ClosedTrade {
        ClosedTrade {
            time_ms: at(d, 12),
            symbol: "BTCUSDT".into(),
            pnl,
            pnl_pct: Some(pnl / 10.0),
        }
    }
    fn may(first: u32, last: u32) -> Period {
        Period::days(date(first), date(last))
    }
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn drawdown_that_recovers_is_peak_to_trough() {
        // peak 120 → trough 90 = 25%, recovers to a new high 130, then a 10% dip
        let m = compute_account_metrics(
            &daily(&[100.0, 120.0, 90.0, 130.0, 117.0]),
            &[trade(2, 20.0), trade(3, -30.0), trade(4, 40.0)],
            6,
            may(1, 31),
        );
        assert_eq!(m.status, MetricsStatus::Success);
        assert_eq!(m.max_drawdown_pct, Some(25.0));
        let dd: Vec<f64> = m.daily.iter().map(|p| p.drawdown_pct).collect();
        assert!(
            close(dd[2], 25.0) && dd[3] == 0.0 && close(dd[4], 10.0),
            "{dd:?}"
        );
        assert!(close(m.total_return_pct.unwrap(), 17.0));
        assert_eq!(m.equity_change, Some(17.0));
        assert_eq!(
            (m.total_trades, m.winning_trades, m.losing_trades),
            (3, 2, 1)
        );
        assert!(close(m.win_rate_pct.unwrap(), 200.0 / 3.0));
        assert!(close(m.profit_factor.unwrap(), 2.0));
        assert_eq!(m.realized_pnl, 30.0);
        assert_eq!(m.fills, 6);
        assert_eq!(
            m.best_day.unwrap(),
            DayReturn {
                date: date(4),
                return_pct: (130.0 / 90.0 - 1.0) * 100.0
            }
        );
        assert_eq!(m.worst_day.unwrap().date, date(3));
        assert!(close(m.worst_day.unwrap().return_pct, -25.0));
        assert!(m.missing_days.is_empty());
        assert_eq!((m.days, m.daily_returns), (5, 4));
    }

    #[test]
    fn drawdown_that_does_not_recover_counts_from_the_peak() {
        let m = compute_account_metrics(
            &daily(&[100.0, 110.0, 100.0, 80.0, 88.0]),
            &[],
            0,
            may(1, 31),
        );
        // (110 - 80) / 110
        assert!(close(m.max_drawdown_pct.unwrap(), 300.0 / 11.0));
        assert!(
            close(m.daily[4].drawdown_pct, 20.0),
            "still 20% under the peak at the end"
        );
        assert!(close(m.total_return_pct.unwrap(), -12.0));
    }

    #[test]
    fn missing_days_are_carried_forward_and_reported() {
        // days 3 and 4 have no snapshot
        let snaps = [snap(1, 23, 100.0), snap(2, 23, 110.0), snap(5, 23, 99.0)];
        let m = compute_account_metrics(&snaps, &[trade(5, -11.0)], 1, may(1, 31));
        assert_eq!(m.missing_days, vec![date(3), date(4)]);
        assert_eq!(m.days, 3);
        assert_eq!(m.daily.len(), 5);
        let carried: Vec<bool> = m.daily.iter().map(|p| p.carried_forward).collect();
        assert_eq!(carried, [false, false, true, true, false]);
        assert_eq!(m.daily[3].equity, 110.0);
        let rets: Vec<Option<f64>> = m.daily.iter().map(|p| p.return_pct).collect();
        assert_eq!(rets[0], None);
        assert!(close(rets[1].unwrap(), 10.0));
        assert_eq!((rets[2], rets[3]), (Some(0.0), Some(0.0)));
        assert!(close(rets[4].unwrap(), -10.0));
        assert_eq!(m.daily_returns, 4);
        // carried days are not observations: worst is day 5, not a 0% day
        assert_eq!(m.worst_day.unwrap().date, date(5));
        assert_eq!(m.best_day.unwrap().date, date(2));
        assert!(
            m.notes
                .iter()
                .any(|n| n.contains("carried forward") && n.contains("2024-05-03, 2024-05-04"))
        );
        // returns [0.1, 0, 0, -0.1]: numpy gives sharpe 6.5e-15 and sortino 1.06e-14, i.e. 0
        assert!(m.sharpe.unwrap().abs() < 1e-9 && m.sortino.unwrap().abs() < 1e-9);
        assert!(m.average_daily_return_pct.unwrap().abs() < 1e-12);
    }

    #[test]
    fn a_gap_after_the_baseline_is_carried_from_the_baseline() {
        let snaps = [snap(1, 22, 200.0), snap(4, 23, 210.0), snap(5, 23, 220.0)];
        let m = compute_account_metrics(&snaps, &[], 0, may(2, 31));
        assert!(m.has_baseline);
        assert_eq!(m.start_equity, Some(200.0));
        assert_eq!(m.missing_days, vec![date(2), date(3)]);
        assert_eq!(m.daily.len(), 4);
        assert!(close(m.daily[2].return_pct.unwrap(), 5.0));
        assert_eq!(
            m.equity_curve[0],
            EquityPoint {
                time_ms: at(2, 0),
                equity: 200.0,
                drawdown_pct: 0.0
            }
        );
    }

    #[test]
    fn last_snapshot_of_each_day_wins() {
        // unsorted; day 1 spikes to 300 at noon and closes at 105; two snapshots share
        // 23:00 on day 2 and the later one given (110) wins
        let snaps = [
            snap(1, 23, 105.0),
            snap(2, 10, 90.0),
            snap(1, 1, 100.0),
            snap(2, 23, 95.0),
            snap(1, 12, 300.0),
            snap(2, 23, 110.0),
        ];
        let m = compute_account_metrics(&snaps, &[], 0, may(1, 31));
        let closes: Vec<f64> = m.daily.iter().map(|p| p.equity).collect();
        assert_eq!(closes, [105.0, 110.0]);
        assert_eq!(m.daily[0].snapshots, 3);
        assert_eq!(m.daily[1].snapshots, 3);
        assert!(close(
            m.daily[1].return_pct.unwrap(),
            (110.0 / 105.0 - 1.0) * 100.0
        ));
        // start = first snapshot (100), end = last (110)
        assert!(close(m.total_return_pct.unwrap(), 10.0));
        // closes never fall; the intraday curve fell from 300 to 90
        assert_eq!(m.max_drawdown_pct, Some(0.0));
        assert!(close(m.max_intraday_drawdown_pct.unwrap(), 70.0));
        assert_eq!(m.equity_curve.len(), 6);
        assert_eq!(
            m.status,
            MetricsStatus::InsufficientHistory,
            "1 daily return"
        );
    }

    #[test]
    fn sharpe_and_sortino_match_numpy() {
        // baseline 1000 on Apr 30, then closes May 1..5. Expected values from numpy 2.4:
        //   e = np.array([1000,1010,1005,1030,1020,1040.]); r = e[1:]/e[:-1]-1
        //   r.mean()/r.std(ddof=1)*np.sqrt(365)                          -> 10.11739290985009
        //   r.mean()/np.sqrt(np.mean(np.minimum(r,0)**2))*np.sqrt(365)    -> 31.222017419420187
        //   r.std(ddof=1)*np.sqrt(365)*100                               -> 28.73436833225742
        //   r.mean()*100                                                 -> 0.7964846422843896
        let mut snaps = vec![EquitySnapshot {
            time_ms: NaiveDate::from_ymd_opt(2024, 4, 30)
                .unwrap()
                .and_hms_opt(23, 59, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis(),
            equity: 1000.0,
        }];
        snaps.extend(daily(&[1010.0, 1005.0, 1030.0, 1020.0, 1040.0]));
        let m = compute_account_metrics(&snaps, &[trade(3, 5.0)], 2, may(1, 5));
        assert_eq!(m.status, MetricsStatus::Success);
        assert_eq!(m.daily_returns, 5);
        assert!(
            close(m.sharpe.unwrap(), 10.11739290985009),
            "{:?}",
            m.sharpe
        );
        assert!(
            close(m.sortino.unwrap(), 31.222017419420187),
            "{:?}",
            m.sortino
        );
        assert!(close(m.volatility_pct.unwrap(), 28.73436833225742));
        assert!(close(
            m.average_daily_return_pct.unwrap(),
            0.7964846422843896
        ));
        assert!(close(m.total_return_pct.unwrap(), 4.0));
        assert!(
            close(m.daily[0].return_pct.unwrap(), 1.0),
            "first day against the baseline"
        );
        assert_eq!(m.period_from, date(1));
        assert_eq!(m.period_to, date(5));
    }

    #[test]
    fn no_trades_keeps_return_metrics() {
        let m = compute_account_metrics(
            &daily(&[100.0, 101.0, 99.0, 102.0]),
            &[trade(20, 1.0)],
            0,
            may(1, 10),
        );
        assert_eq!(m.status, MetricsStatus::NoTrades);
        assert_eq!((m.total_trades, m.winning_trades), (0, 0));
        assert_eq!(
            (m.win_rate_pct, m.profit_factor, m.average_trade_pct),
            (None, None, None)
        );
        assert!(m.sharpe.is_some() && m.sortino.is_some() && m.volatility_pct.is_some());
        assert!(close(m.total_return_pct.unwrap(), 2.0));
        assert!(m.notes.iter().any(|n| n.contains("no closed trades")));
    }

    #[test]
    fn no_history_says_so_and_keeps_trade_metrics() {
        // a snapshot AFTER the period is ignored; one before is only a baseline
        let snaps = [snap(20, 1, 50.0), snap(1, 1, 40.0)];
        let m = compute_account_metrics(&snaps, &[trade(5, 3.0), trade(6, -1.0)], 2, may(2, 10));
        assert_eq!(m.status, MetricsStatus::NoHistory);
        assert_eq!(
            (
                m.start_equity,
                m.end_equity,
                m.total_return_pct,
                m.max_drawdown_pct
            ),
            (None, None, None, None)
        );
        assert_eq!((m.sharpe, m.sortino, m.best_day), (None, None, None));
        assert!(m.daily.is_empty() && m.equity_curve.is_empty() && m.days == 0);
        assert_eq!(m.total_trades, 2);
        assert_eq!(m.profit_factor, Some(3.0));
        assert!(m.notes[0].starts_with("no balance snapshot"));
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["status"], "no_history");
        assert!(json["sharpe"].is_null() && json["total_return_pct"].is_null());
        assert_eq!(json["missing_days"], serde_json::json!([]));
    }

    #[test]
    fn one_day_period_is_insufficient_history() {
        let snaps = [
            snap(7, 0, 1000.0),
            snap(7, 12, 950.0),
            snap(7, 23, 1020.0),
            snap(8, 1, 5.0),
        ];
        let m = compute_account_metrics(&snaps, &[trade(7, 20.0)], 1, may(7, 7));
        assert_eq!(m.status, MetricsStatus::InsufficientHistory);
        assert_eq!((m.days, m.daily_returns), (1, 0));
        assert!(close(m.total_return_pct.unwrap(), 2.0));
        assert!(close(m.max_intraday_drawdown_pct.unwrap(), 5.0));
        assert_eq!((m.sharpe, m.sortino, m.volatility_pct), (None, None, None));
        assert_eq!((m.best_day, m.average_daily_return_pct), (None, None));
        assert_eq!(m.win_rate_pct, Some(100.0));
        assert_eq!(m.last_snapshot_ms, Some(at(7, 23)));
    }

    #[test]
    fn flat_and_negative_equity_stay_finite() {
        let flat = compute_account_metrics(&daily(&[500.0; 5]), &[], 0, may(1, 31));
        assert_eq!(flat.sharpe, None, "zero variance: undefined");
        assert_eq!(flat.sortino, None);
        assert_eq!(flat.volatility_pct, Some(0.0));
        assert_eq!(flat.max_drawdown_pct, Some(0.0));

        let neg = compute_account_metrics(&daily(&[100.0, -50.0, -20.0]), &[], 0, may(1, 31));
        assert!(close(neg.total_return_pct.unwrap(), -120.0));
        assert!(close(neg.max_drawdown_pct.unwrap(), 150.0));
        let s = serde_json::to_string(&neg).unwrap();
        assert!(!s.contains("NaN") && !s.contains("inf"));

        let from_zero = compute_account_metrics(&daily(&[0.0, 10.0, 20.0]), &[], 0, may(1, 31));
        assert_eq!(from_zero.total_return_pct, None);
        assert!(from_zero.notes.iter().any(|n| n.contains("not positive")));
    }

    #[test]
    fn long_curves_are_thinned_but_keep_extremes() {
        // 40 days of 15-minute snapshots with one deep spike down
        let base = at(1, 0);
        let snaps: Vec<EquitySnapshot> = (0..40 * 96)
            .map(|i| EquitySnapshot {
                time_ms: base + i * 900_000,
                equity: if i == 1234 {
                    50.0
                } else {
                    100.0 + (i % 7) as f64
                },
            })
            .collect();
        let m = compute_account_metrics(&snaps, &[], 0, may(1, 31));
        assert!(
            m.equity_curve.len() <= MAX_CURVE_POINTS + 2,
            "{}",
            m.equity_curve.len()
        );
        assert!(m.equity_curve.iter().any(|p| p.equity == 50.0));
        assert_eq!(m.equity_curve[0].time_ms, base);
        assert_eq!(
            m.equity_curve.last().unwrap().time_ms,
            at(31, 23) + 45 * 60_000
        );
        let deepest = m
            .equity_curve
            .iter()
            .map(|p| p.drawdown_pct)
            .fold(0.0, f64::max);
        assert!(close(deepest, m.max_intraday_drawdown_pct.unwrap()));
        assert!(
            m.equity_curve
                .windows(2)
                .all(|w| w[0].time_ms < w[1].time_ms)
        );
    }

    #[test]
    fn periods_cover_whole_utc_days() {
        let p = Period::days(date(1), date(3));
        assert_eq!(p.from_ms, at(1, 0));
        assert_eq!(p.to_ms, at(4, 0) - 1);
        assert_eq!(
            Period::last_days(at(10, 15), 7),
            Period::days(date(4), date(10))
        );
        assert_eq!(
            Period::last_days(at(10, 15), 0),
            Period::days(date(10), date(10))
        );
    }
}
