//! Backtest metrics. Each statistic is a small pure function over `&[f64]` (returns or
//! equity) so account reports can reuse them on daily equity series.

mod cagr;
mod max_drawdown;
mod returns;
mod sharpe;
mod sortino;
mod sum;
mod trades;

pub use cagr::{YEAR_MS, cagr_pct};
pub use max_drawdown::{drawdown_pct_series, max_drawdown_pct};
pub use returns::{simple_returns, simple_returns_into};
pub use sharpe::sharpe_ratio;
pub use sortino::sortino_ratio;
pub use trades::{average_pct, profit_factor, win_rate_pct};

use serde::{Deserialize, Serialize};

use super::engine::Trade;
use crate::core::market::{Bar, Timeframe};

/// Summary of one backtest. Percentages are in percent (`12.5` = 12.5%); `None` (JSON
/// `null`) where the figure is undefined. Every key is always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Bars evaluated (warm-up history before an out-of-sample window excluded).
    pub bars: usize,
    /// Open time of the first and last evaluated bar (ms).
    pub from_time: i64,
    pub to_time: i64,
    pub initial_equity: f64,
    /// Equity after the last bar, after closing any open position there.
    pub final_equity: f64,
    pub total_return_pct: f64,
    /// Over the calendar span of the bars: last open + one timeframe − first open.
    pub cagr_pct: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    /// CAGR % / max drawdown %; `None` without a drawdown or a CAGR.
    pub calmar: Option<f64>,
    /// Positive: `25.0` means the curve fell 25% below its peak.
    pub max_drawdown_pct: f64,
    /// Trades, including one closed at the end of data.
    pub total_trades: usize,
    pub win_rate_pct: Option<f64>,
    pub profit_factor: Option<f64>,
    pub avg_trade_pct: Option<f64>,
    /// Share of bars at whose close a position was held.
    pub exposure_pct: f64,
    /// Last close / first close − 1, no fees.
    pub buy_and_hold_return_pct: f64,
    /// A position was still open at the last bar and was closed at its close.
    pub closed_at_end: bool,
}

/// Inputs of [`compute_metrics`] beyond the equity curve.
pub(crate) struct RunFacts<'a> {
    pub bars: &'a [Bar],
    pub tf: Timeframe,
    pub initial: f64,
    pub risk_free_rate: f64,
    pub trades: &'a [Trade],
    pub exposure_bars: usize,
    pub closed_at_end: bool,
}

/// Metrics of a run whose close-marked equity is `equity` (one point per bar of
/// `facts.bars`). `scratch` is reused for the returns so grids do not allocate per run.
pub(crate) fn compute_metrics(
    facts: &RunFacts<'_>,
    equity: &[f64],
    scratch: &mut Vec<f64>,
) -> Metrics {
    let bars = facts.bars;
    let n = bars.len();
    let initial = facts.initial;
    let final_equity = equity.last().copied().unwrap_or(initial);
    let ppy = facts.tf.bars_per_year();
    simple_returns_into(initial, equity, scratch);
    let rf = facts.risk_free_rate / ppy;
    let sharpe = sharpe_ratio(scratch, ppy, rf);
    let sortino = sortino_ratio(scratch, ppy, rf);
    let (from_time, to_time) = match (bars.first(), bars.last()) {
        (Some(a), Some(b)) => (a.open_time, b.open_time),
        _ => (0, 0),
    };
    let span_ms = if n > 0 {
        (to_time + facts.tf.millis() - from_time) as f64
    } else {
        0.0
    };
    let cagr = cagr_pct(initial, final_equity, span_ms / YEAR_MS);
    let mdd = max_drawdown_pct(equity);
    // pnl and returns of the trades; few, so small allocations are fine here
    let pnls: Vec<f64> = facts.trades.iter().map(|t| t.pnl).collect();
    let rets: Vec<f64> = facts.trades.iter().map(|t| t.return_pct).collect();
    Metrics {
        bars: n,
        from_time,
        to_time,
        initial_equity: initial,
        final_equity,
        total_return_pct: (final_equity / initial - 1.0) * 100.0,
        cagr_pct: cagr,
        sharpe,
        sortino,
        calmar: match cagr {
            Some(c) if mdd > 0.0 => Some(c / mdd),
            _ => None,
        },
        max_drawdown_pct: mdd,
        total_trades: facts.trades.len(),
        win_rate_pct: win_rate_pct(&pnls),
        profit_factor: profit_factor(&pnls),
        avg_trade_pct: average_pct(&rets),
        exposure_pct: if n > 0 {
            facts.exposure_bars as f64 / n as f64 * 100.0
        } else {
            0.0
        },
        buy_and_hold_return_pct: match (bars.first(), bars.last()) {
            (Some(a), Some(b)) if a.close > 0.0 => (b.close / a.close - 1.0) * 100.0,
            _ => 0.0,
        },
        closed_at_end: facts.closed_at_end,
    }
}
