//! Pure backtesting: bars in, results out (no I/O, no clock, no store).
//!
//! # Semantics
//!
//! - **Bars** are processed in time order (strictly increasing open times; prices finite
//!   and positive, otherwise [`BacktestError::BadBar`]).
//! - **Signals** for bar t are computed from data up to and including bar t's close (see
//!   [`strategy`] for each strategy's rules). A signal at bar t fills at bar t+1's open;
//!   a signal on the last bar is never filled. A crossover at t means fast > slow at t and
//!   fast <= slow at t-1, all four values defined; undefined (warm-up) indicator values are
//!   `None` and never satisfy a comparison.
//! - **Order at each bar's open**: first an exit signal closes the position (a reversal
//!   signal in long/short mode closes, then opens the other side at the same open), then,
//!   if flat, an entry signal opens a position. No pyramiding: an entry signal while in a
//!   position of the same side is ignored. Shorts only with `direction = long_short`.
//! - **Sizing**: starting cash 10,000 (`initial_cash`); each entry commits
//!   `position_fraction` (default 1) of the equity (= cash when flat):
//!   `size = cash * fraction / (fill * (1 + fee_rate))`, fractional.
//! - **Costs**: commission `fee_rate` (default 0.001) × traded notional on entry and on
//!   exit; slippage `slippage_bps` moves every fill against the trader (buys at
//!   `price * (1 + bps/10^4)`, sells at `price * (1 - bps/10^4)`), including stop,
//!   take-profit and end-of-data fills. Trade prices are the slipped fill prices.
//! - **Stops and take-profits** (optional, per strategy, `x%` of the entry fill price or
//!   `x × ATR(atr_period)` of the signal bar): set at entry and checked in every bar the
//!   position is held, the entry bar included (the entry is at the open, so the bar's
//!   range comes after it). Long: if the open is already at/through the stop (a gap) the
//!   exit fills at the open, likewise a take-profit gapped through fills at the (better)
//!   open; otherwise low <= stop fills at the stop, then high >= take-profit fills at the
//!   take-profit. If both are touched within one bar the stop is assumed first
//!   (pessimistic). Shorts mirror this. After such an exit the earliest new entry is
//!   at the next bar's open, from a signal of the exit bar. With ATR rules, entry
//!   signals are ignored until the signal bar's ATR is defined.
//! - **Equity** is marked at every bar's close: `cash + size * close` (shorts: minus).
//! - **End of data**: a position still open after the last bar is closed at the last
//!   close (commission and slippage charged), counted as a trade with
//!   `exit_kind = end_of_data`, and `metrics.closed_at_end` is `true`. The last equity
//!   point is after that close.
//! - **Liquidation**: if equity is <= 0 at a close (only possible short), the position is
//!   closed there (`exit_kind = liquidation`) and nothing more is traded.
//!
//! # Metrics
//!
//! Per-bar returns `r_i = equity_i / equity_{i-1} - 1` over ALL evaluated bars (warm-up and
//! flat bars included), with `equity_{-1}` the starting cash (so bar 0's return is 0), as
//! vectorbt does. With `P = timeframe.bars_per_year()` (365-day year) and `rf = rate / P`:
//! Sharpe = `mean(r - rf) / sample_sd(r - rf) * sqrt(P)`, `null` with < 2 bars or zero
//! variance; Sortino = `mean(r - rf) / sqrt(mean(min(r - rf, 0)^2)) * sqrt(P)` (mean over
//! all bars), `null` without a negative return. Total return % = final / initial − 1.
//! CAGR % over the bars' calendar span `last open + timeframe − first open` (backtesting.py
//! uses `last open − first open`; we count the last bar, whose close is the final mark).
//! Max drawdown % is positive, of the close-marked curve. Trades: total (the end-of-data
//! trade included), win rate % = share with `pnl > 0` after both fees, profit factor =
//! gross profit / gross loss (`null` when no trade lost), average trade % = mean of
//! `pnl / (entry notional + entry fee)`. Exposure % = bars at whose close a position was
//! held / bars. Buy and hold % = last close / first close − 1 (no fees). Calmar = CAGR % /
//! max drawdown % (`null` without a drawdown).

pub mod engine;
pub mod metrics;
pub mod optimize;
pub mod strategy;

pub use engine::{
    BacktestConfig, BacktestResult, ExitKind, Side, Trade, run_backtest, run_backtest_window,
};
pub use metrics::Metrics;
pub use optimize::{
    BestRun, Combinations, Grid, GridLimits, GridRun, JointBest, JointReport, JointRun, Objective,
    OptimizeConfig, OptimizeReport, Split, SymbolRun, optimize, optimize_symbols, train_bars,
};
pub use strategy::{
    Direction, ExitRule, ParamDef, ParamRange, StrategyError, StrategyKind, StrategySpec,
};

/// Errors of the backtest core (all permanent: bad input).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BacktestError {
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    #[error("invalid backtest setting {name}: {reason}")]
    Config {
        name: &'static str,
        reason: &'static str,
    },
    #[error("not enough bars: need at least {needed}, got {got}")]
    NotEnoughBars { needed: usize, got: usize },
    #[error(
        "bad bar {index} (open time {open_time}): prices must be finite and positive, open times strictly increasing"
    )]
    BadBar { index: usize, open_time: i64 },
    #[error("train ratio must be between 0 and 1 (exclusive), got {0}")]
    TrainRatio(f64),
    #[error("the parameter grid has no valid combination")]
    EmptyGrid,
    #[error("the parameter grid has {size} combinations, more than the limit of {limit}")]
    GridTooLarge { size: u64, limit: u64 },
    #[error(
        "unknown metric {0:?}: expected sharpe, sortino, total_return (return), cagr, calmar, profit_factor, win_rate or max_drawdown"
    )]
    UnknownObjective(String),
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod golden_tests;

#[cfg(test)]
mod parse_props;
