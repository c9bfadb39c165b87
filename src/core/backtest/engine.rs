//! The bar-by-bar simulation. See the module docs of [`crate::core::backtest`] for the
//! exact semantics.

use serde::{Deserialize, Serialize};

use super::BacktestError;
use super::metrics::{Metrics, RunFacts, compute_metrics};
use super::strategy::{
    Direction, ENTER_LONG, ENTER_SHORT, EXIT_LONG, EXIT_SHORT, ExitRule, IndicatorCache,
    IndicatorKey, Params, StrategySpec, compute_signals,
};
use crate::core::market::{Bar, Timeframe};

/// Money and execution settings of a backtest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BacktestConfig {
    /// Starting cash (quote currency).
    pub initial_cash: f64,
    /// Fraction of equity committed per entry, in (0, 1].
    pub position_fraction: f64,
    /// Commission as a fraction of traded notional, charged on entry and on exit.
    pub fee_rate: f64,
    /// Slippage in basis points: buys fill this much above the price, sells below.
    pub slippage_bps: f64,
    /// Annual risk-free rate for Sharpe/Sortino (per bar: rate / bars per year).
    pub risk_free_rate: f64,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            initial_cash: 10_000.0,
            position_fraction: 1.0,
            fee_rate: 0.001,
            slippage_bps: 0.0,
            risk_free_rate: 0.0,
        }
    }
}

impl BacktestConfig {
    pub fn validate(&self) -> Result<(), BacktestError> {
        let bad =
            |name: &'static str, reason: &'static str| Err(BacktestError::Config { name, reason });
        if !(self.initial_cash.is_finite() && self.initial_cash > 0.0) {
            return bad("initial_cash", "must be a positive number");
        }
        if !(self.position_fraction > 0.0 && self.position_fraction <= 1.0) {
            return bad("position_fraction", "must be in (0, 1]");
        }
        if !(self.fee_rate >= 0.0 && self.fee_rate < 1.0) {
            return bad("fee_rate", "must be in [0, 1)");
        }
        if !(self.slippage_bps >= 0.0 && self.slippage_bps < 10_000.0) {
            return bad("slippage_bps", "must be in [0, 10000)");
        }
        if !self.risk_free_rate.is_finite() {
            return bad("risk_free_rate", "must be a number");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Long,
    Short,
}

/// Why a trade was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// The strategy's exit (or reversal) signal, filled at the next open.
    Signal,
    Stop,
    TakeProfit,
    /// Still open after the last bar: closed at its close.
    EndOfData,
    /// Equity reached zero at a close (a short that more than doubled): closed there and
    /// the backtest stops trading.
    Liquidation,
}

impl ExitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitKind::Signal => "signal",
            ExitKind::Stop => "stop",
            ExitKind::TakeProfit => "take_profit",
            ExitKind::EndOfData => "end_of_data",
            ExitKind::Liquidation => "liquidation",
        }
    }
}

/// One round trip. Times are the open times (ms) of the bars in which the fills happened;
/// bar indices are into the slice given to the backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    pub side: Side,
    pub entry_bar: usize,
    pub entry_time: i64,
    /// Fill price, slippage included.
    pub entry_price: f64,
    pub exit_bar: usize,
    pub exit_time: i64,
    pub exit_price: f64,
    /// Quantity in base units (fractional).
    pub size: f64,
    /// Profit after both fees.
    pub pnl: f64,
    /// `pnl / (entry notional + entry fee) * 100`: return on the capital committed.
    pub return_pct: f64,
    /// Entry plus exit commission.
    pub fees: f64,
    pub exit_kind: ExitKind,
}

/// Outcome of one backtest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestResult {
    pub spec: StrategySpec,
    pub metrics: Metrics,
    pub trades: Vec<Trade>,
    /// Index into the given bars of the first evaluated bar (0 unless warm-up history was
    /// given, as for an out-of-sample window).
    pub start_index: usize,
    /// Equity marked at each evaluated bar's close (`bars[start_index..]`); the last point
    /// is after closing an open position.
    pub equity: Vec<f64>,
}

impl BacktestResult {
    /// `(open_time, equity)` per evaluated bar; `bars` is the slice given to the backtest.
    pub fn equity_points<'a>(&'a self, bars: &'a [Bar]) -> impl Iterator<Item = (i64, f64)> + 'a {
        bars[self.start_index..]
            .iter()
            .zip(&self.equity)
            .map(|(b, e)| (b.open_time, *e))
    }
}

/// Buffers reused across the runs of a grid so a run allocates (almost) nothing.
#[derive(Default)]
pub(crate) struct Scratch {
    pub flags: Vec<u8>,
    pub equity: Vec<f64>,
    pub returns: Vec<f64>,
    pub trades: Vec<Trade>,
}

/// Check bars once: non-empty, strictly increasing open times, finite positive prices.
pub(crate) fn validate_bars(bars: &[Bar]) -> Result<(), BacktestError> {
    if bars.is_empty() {
        return Err(BacktestError::NotEnoughBars { needed: 1, got: 0 });
    }
    let good = |i: usize| {
        let b = &bars[i];
        // written to be negated NaN-safely: `p > 0.0` is false for NaN
        (b.open > 0.0)
            & (b.high > 0.0)
            & (b.low > 0.0)
            & (b.close > 0.0)
            & (b.open < f64::INFINITY)
            & (b.high < f64::INFINITY)
            & (b.low < f64::INFINITY)
            & (b.close < f64::INFINITY)
            & (i == 0 || b.open_time > bars[i - 1].open_time)
    };
    // one branch-free pass; look for the culprit only on failure
    if (0..bars.len()).fold(true, |ok, i| ok & good(i)) {
        return Ok(());
    }
    let index = (0..bars.len())
        .find(|&i| !good(i))
        .expect("a bar failed the check");
    Err(BacktestError::BadBar {
        index,
        open_time: bars[index].open_time,
    })
}

/// Run `spec` over `bars`; see [`run_backtest_window`].
pub fn run_backtest(
    bars: &[Bar],
    tf: Timeframe,
    spec: &StrategySpec,
    cfg: &BacktestConfig,
) -> Result<BacktestResult, BacktestError> {
    run_backtest_window(bars, 0, tf, spec, cfg)
}

/// Run `spec` over `bars[start..]`, with `bars[..start]` used only as indicator history:
/// no signal from those bars is acted on, and equity and metrics cover `bars[start..]`.
pub fn run_backtest_window(
    bars: &[Bar],
    start: usize,
    tf: Timeframe,
    spec: &StrategySpec,
    cfg: &BacktestConfig,
) -> Result<BacktestResult, BacktestError> {
    cfg.validate()?;
    let params = spec.typed()?;
    validate_bars(bars)?;
    if start >= bars.len() {
        return Err(BacktestError::NotEnoughBars {
            needed: start + 1,
            got: bars.len(),
        });
    }
    let cache = IndicatorCache::build(bars, spec.indicator_keys(&params));
    let mut scratch = Scratch::default();
    let metrics = run_prepared(bars, start, tf, spec, &params, cfg, &cache, &mut scratch);
    Ok(BacktestResult {
        spec: spec.clone(),
        metrics,
        trades: std::mem::take(&mut scratch.trades),
        start_index: start,
        equity: std::mem::take(&mut scratch.equity),
    })
}

/// One run on validated inputs with indicators already in `cache`; trades and equity are
/// left in `scratch`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_prepared(
    bars: &[Bar],
    start: usize,
    tf: Timeframe,
    spec: &StrategySpec,
    params: &Params,
    cfg: &BacktestConfig,
    cache: &IndicatorCache,
    scratch: &mut Scratch,
) -> Metrics {
    compute_signals(params, bars, cache, &mut scratch.flags);
    let atr = match (spec.stop_loss, spec.take_profit) {
        (Some(ExitRule::Atr { .. }), _) | (_, Some(ExitRule::Atr { .. })) => {
            Some(cache.line(IndicatorKey::Atr(spec.atr_period)))
        }
        _ => None,
    };
    let sim = simulate(
        bars,
        start,
        &scratch.flags,
        atr,
        spec,
        cfg,
        &mut scratch.equity,
        &mut scratch.trades,
    );
    let facts = RunFacts {
        bars: &bars[start..],
        tf,
        initial: cfg.initial_cash,
        risk_free_rate: cfg.risk_free_rate,
        trades: &scratch.trades,
        exposure_bars: sim.exposure_bars,
        closed_at_end: sim.closed_at_end,
    };
    compute_metrics(&facts, &scratch.equity, &mut scratch.returns)
}

pub(crate) struct SimSummary {
    exposure_bars: usize,
    closed_at_end: bool,
}

#[derive(Clone, Copy)]
struct Position {
    /// +1 long, -1 short.
    dir: f64,
    qty: f64,
    entry_price: f64,
    entry_fee: f64,
    entry_bar: usize,
    /// NaN when not set.
    stop: f64,
    take: f64,
}

/// Distance of a rule from the entry fill price; `atr` is the signal bar's ATR.
#[inline]
fn rule_distance(rule: Option<ExitRule>, fill: f64, atr: f64) -> f64 {
    match rule {
        None => f64::NAN,
        Some(ExitRule::Percent { pct }) => fill * pct / 100.0,
        Some(ExitRule::Atr { multiple }) => multiple * atr,
    }
}

/// A strategy's signal flags per bar and, when a stop or take profit is in ATRs, the ATR
/// line: computed exactly as a backtest over the same bars computes them.
pub struct Signals {
    pub flags: Vec<u8>,
    pub atr: Option<Vec<f64>>,
}

/// [`Signals`] of `spec` over `bars` (validated as a backtest validates them).
pub fn signals(bars: &[Bar], spec: &StrategySpec) -> Result<Signals, BacktestError> {
    let params = spec.typed()?;
    validate_bars(bars)?;
    let cache = IndicatorCache::build(bars, spec.indicator_keys(&params));
    let mut flags = Vec::new();
    compute_signals(&params, bars, &cache, &mut flags);
    let atr = match (spec.stop_loss, spec.take_profit) {
        (Some(ExitRule::Atr { .. }), _) | (_, Some(ExitRule::Atr { .. })) => {
            Some(cache.line(IndicatorKey::Atr(spec.atr_period)).to_vec())
        }
        _ => None,
    };
    Ok(Signals { flags, atr })
}

/// The stop and take-profit levels of a position entered at `fill` in direction `dir`
/// (+1/-1), `atr` being the signal bar's ATR (NaN when a level is not set).
pub fn exit_levels(spec: &StrategySpec, dir: f64, fill: f64, atr: f64) -> (f64, f64) {
    let sd = rule_distance(spec.stop_loss, fill, atr);
    let td = rule_distance(spec.take_profit, fill, atr);
    (fill - dir * sd, fill + dir * td)
}

/// What a strategy does at the open of the bar after a signal bar: the one decision the
/// backtest and `run-strategies` both act on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Close the position held (its exit or the opposite entry fired).
    pub exit: bool,
    /// Open a position after that (or from flat): +1 long, -1 short, 0 none. Only when no
    /// position is left open.
    pub enter: f64,
}

impl Decision {
    /// The position wanted after acting: +1 long, -1 short, 0 flat.
    pub fn target(&self, held: Option<f64>) -> f64 {
        match held {
            Some(d) if !self.exit => d,
            _ => self.enter,
        }
    }
}

/// Decide on the signal `flags` of a closed bar, holding `held` (+1 long, -1 short) or
/// nothing; `can_enter` is false while a needed indicator is still warming up (an ATR
/// stop). Whether there is cash to enter with is the caller's to judge.
pub fn decide(flags: u8, held: Option<f64>, allow_short: bool, can_enter: bool) -> Decision {
    let exit = match held {
        Some(d) => (d > 0.0 && flags & EXIT_LONG != 0) || (d < 0.0 && flags & EXIT_SHORT != 0),
        None => false,
    };
    let flat_after = held.is_none() || exit;
    let enter = if !flat_after || !can_enter {
        0.0
    } else if flags & ENTER_LONG != 0 {
        1.0
    } else if allow_short && flags & ENTER_SHORT != 0 {
        -1.0
    } else {
        0.0
    };
    Decision { exit, enter }
}

/// A stop loss or take profit hit inside `bar` by a position in direction `dir` (+1/-1):
/// at the open when the bar opens beyond the level, else at the level; the stop first when
/// both are inside the bar. `stop`/`take` are NaN when not set.
pub fn exit_in_bar(dir: f64, stop: f64, take: f64, bar: &Bar) -> Option<(f64, ExitKind)> {
    let (o, h, l) = (bar.open, bar.high, bar.low);
    if dir > 0.0 {
        if o <= stop {
            Some((o, ExitKind::Stop))
        } else if o >= take {
            Some((o, ExitKind::TakeProfit))
        } else if l <= stop {
            Some((stop, ExitKind::Stop))
        } else if h >= take {
            Some((take, ExitKind::TakeProfit))
        } else {
            None
        }
    } else if o >= stop {
        Some((o, ExitKind::Stop))
    } else if o <= take {
        Some((o, ExitKind::TakeProfit))
    } else if h >= stop {
        Some((stop, ExitKind::Stop))
    } else if l <= take {
        Some((take, ExitKind::TakeProfit))
    } else {
        None
    }
}

/// The bar loop. Allocation-free except for pushing a trade (capacity is reserved first).
#[allow(clippy::too_many_arguments)]
pub(crate) fn simulate(
    bars: &[Bar],
    start: usize,
    flags: &[u8],
    atr: Option<&[f64]>,
    spec: &StrategySpec,
    cfg: &BacktestConfig,
    equity: &mut Vec<f64>,
    trades: &mut Vec<Trade>,
) -> SimSummary {
    let n = bars.len();
    equity.clear();
    equity.reserve(n - start);
    trades.clear();
    let entries = flags[start..]
        .iter()
        .filter(|f| **f & (ENTER_LONG | ENTER_SHORT) != 0)
        .count();
    trades.reserve(entries.min(n) + 1);

    let slip = cfg.slippage_bps / 10_000.0;
    let fee_rate = cfg.fee_rate;
    let allow_short = spec.direction == Direction::LongShort;
    let mut cash = cfg.initial_cash;
    let mut pos: Option<Position> = None;
    let mut halted = false;
    let mut exposure_bars = 0usize;
    let mut closed_at_end = false;

    // Close `p` at raw price `px` (slippage applied here) in bar `i`.
    let close = |p: Position,
                 px: f64,
                 i: usize,
                 kind: ExitKind,
                 cash: &mut f64,
                 trades: &mut Vec<Trade>| {
        // a long exits by selling (fills lower), a short by buying (fills higher)
        let fill = px * (1.0 - p.dir * slip);
        let notional = p.qty * fill;
        let fee = notional * fee_rate;
        *cash += p.dir * notional - fee;
        let pnl = p.dir * p.qty * (fill - p.entry_price) - p.entry_fee - fee;
        let committed = p.qty * p.entry_price + p.entry_fee;
        trades.push(Trade {
            side: if p.dir > 0.0 { Side::Long } else { Side::Short },
            entry_bar: p.entry_bar,
            entry_time: bars[p.entry_bar].open_time,
            entry_price: p.entry_price,
            exit_bar: i,
            exit_time: bars[i].open_time,
            exit_price: fill,
            size: p.qty,
            pnl,
            return_pct: pnl / committed * 100.0,
            fees: p.entry_fee + fee,
            exit_kind: kind,
        });
    };

    for i in start..n {
        let bar = bars[i];
        // 1. act on the previous bar's signal at this bar's open
        if i > start && !halted {
            let atr_v = atr.map_or(0.0, |a| a[i - 1]);
            let d = decide(
                flags[i - 1],
                pos.map(|p| p.dir),
                allow_short,
                !atr_v.is_nan(),
            );
            {
                if let Some(p) = pos
                    && d.exit
                {
                    close(p, bar.open, i, ExitKind::Signal, &mut cash, trades);
                    pos = None;
                }
                if pos.is_none() {
                    let dir = d.enter;
                    if dir != 0.0 && cash > 0.0 {
                        let fill = bar.open * (1.0 + dir * slip);
                        let qty = cash * cfg.position_fraction / (fill * (1.0 + fee_rate));
                        let notional = qty * fill;
                        let fee = notional * fee_rate;
                        cash -= dir * notional + fee;
                        let (stop, take) = exit_levels(spec, dir, fill, atr_v);
                        pos = Some(Position {
                            dir,
                            qty,
                            entry_price: fill,
                            entry_fee: fee,
                            entry_bar: i,
                            stop,
                            take,
                        });
                    }
                }
            }
        }
        // 2. stop loss / take profit inside this bar (the entry bar included)
        if let Some(p) = pos
            && let Some((px, kind)) = exit_in_bar(p.dir, p.stop, p.take, &bar)
        {
            close(p, px, i, kind, &mut cash, trades);
            pos = None;
        }
        // 3. mark at the close
        let mut eq = match pos {
            Some(p) => {
                exposure_bars += 1;
                cash + p.dir * p.qty * bar.close
            }
            None => cash,
        };
        if let Some(p) = pos {
            if i == n - 1 {
                close(p, bar.close, i, ExitKind::EndOfData, &mut cash, trades);
                pos = None;
                closed_at_end = true;
                eq = cash;
            } else if eq <= 0.0 {
                close(p, bar.close, i, ExitKind::Liquidation, &mut cash, trades);
                pos = None;
                halted = true;
                eq = cash;
            }
        }
        equity.push(eq);
    }
    SimSummary {
        exposure_bars,
        closed_at_end,
    }
}

#[cfg(test)]
mod decision_tests {
    use super::*;

    #[test]
    fn the_decision_is_the_bar_loops() {
        // Flat: an entry signal opens; a short one only when shorts are allowed.
        assert_eq!(decide(ENTER_LONG, None, false, true).target(None), 1.0);
        assert_eq!(decide(ENTER_SHORT, None, false, true).target(None), 0.0);
        assert_eq!(decide(ENTER_SHORT, None, true, true).target(None), -1.0);
        // Warming up (an ATR stop without its ATR): no entry.
        assert_eq!(decide(ENTER_LONG, None, false, false).target(None), 0.0);
        // Held long: its exit closes; with the opposite entry it reverses; else it stays.
        let d = decide(EXIT_LONG | ENTER_SHORT, Some(1.0), true, true);
        assert!(d.exit);
        assert_eq!(d.target(Some(1.0)), -1.0);
        assert_eq!(
            decide(ENTER_LONG, Some(1.0), true, true).target(Some(1.0)),
            1.0
        );
        assert_eq!(
            decide(EXIT_SHORT, Some(1.0), true, true).target(Some(1.0)),
            1.0
        );
        assert_eq!(
            decide(EXIT_LONG, Some(1.0), false, true).target(Some(1.0)),
            0.0
        );
    }

    #[test]
    fn stops_fill_at_the_open_beyond_the_level_else_at_the_level_stop_first() {
        let bar = |o: f64, h: f64, l: f64| Bar {
            open_time: 0,
            open: o,
            high: h,
            low: l,
            close: o,
            volume: 1.0,
        };
        assert_eq!(
            exit_in_bar(1.0, 95.0, 110.0, &bar(94.0, 96.0, 90.0)),
            Some((94.0, ExitKind::Stop))
        );
        assert_eq!(
            exit_in_bar(1.0, 95.0, 110.0, &bar(100.0, 111.0, 94.0)),
            Some((95.0, ExitKind::Stop))
        );
        assert_eq!(
            exit_in_bar(1.0, 95.0, 110.0, &bar(100.0, 111.0, 96.0)),
            Some((110.0, ExitKind::TakeProfit))
        );
        assert_eq!(
            exit_in_bar(-1.0, 105.0, 90.0, &bar(100.0, 106.0, 95.0)),
            Some((105.0, ExitKind::Stop))
        );
        assert_eq!(
            exit_in_bar(1.0, f64::NAN, f64::NAN, &bar(100.0, 200.0, 1.0)),
            None
        );
        let (s, t) = exit_levels(
            &StrategySpec::parse("sma_cross", "stop_loss=2%,take_profit=3%").unwrap(),
            -1.0,
            100.0,
            f64::NAN,
        );
        assert_eq!((s, t), (102.0, 97.0));
    }
}
