//! Engine, strategy and optimisation tests on hand-checked series.

use std::collections::BTreeMap;

use super::engine::{Scratch, run_prepared};
use super::metrics::{max_drawdown_pct, sharpe_ratio, simple_returns, sortino_ratio};
use super::strategy::{ENTER_LONG, ENTER_SHORT, EXIT_LONG, EXIT_SHORT, IndicatorCache};
use super::*;
use crate::core::market::{Bar, Timeframe};

const H: i64 = 3_600_000;
const T0: i64 = 1_700_000_000_000 / H * H;

fn close_to(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

macro_rules! assert_close {
    ($a:expr, $b:expr) => {
        assert_close!($a, $b, 1e-12)
    };
    ($a:expr, $b:expr, $tol:expr) => {{
        let (a, b): (f64, f64) = ($a, $b);
        assert!(
            close_to(a, b, $tol),
            "{} = {a} but expected {b}",
            stringify!($a)
        );
    }};
}

fn bar(i: usize, o: f64, h: f64, l: f64, c: f64) -> Bar {
    Bar {
        open_time: T0 + i as i64 * H,
        open: o,
        high: h,
        low: l,
        close: c,
        volume: 1.0,
    }
}

/// Opens are the previous close + 0.5 (the first 10); high/low 0.1 beyond the body.
fn series(closes: &[f64]) -> Vec<Bar> {
    closes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let o = if i == 0 { c } else { closes[i - 1] + 0.5 };
            bar(i, o, o.max(c) + 0.1, o.min(c) - 0.1, c)
        })
        .collect()
}

/// sma2 / sma3 cross up at bar 4 (filled at bar 5's open 11.5), down at bar 7 (filled at
/// bar 8's open 9.5), up at bar 10 with equality at bar 9 (filled at bar 11's open 12.5),
/// still long at the last bar (close 13).
const CLOSES: [f64; 12] = [
    10.0, 9.0, 8.0, 9.0, 11.0, 12.0, 11.0, 9.0, 8.0, 10.0, 12.0, 13.0,
];

fn sma23() -> StrategySpec {
    StrategySpec::parse("sma_cross", "fast=2,slow=3").unwrap()
}

fn no_fees() -> BacktestConfig {
    BacktestConfig {
        fee_rate: 0.0,
        ..BacktestConfig::default()
    }
}

#[test]
fn sma_cross_trades_at_next_open_with_fees_on_both_sides() {
    let bars = series(&CLOSES);
    let r = run_backtest(&bars, Timeframe::H1, &sma23(), &BacktestConfig::default()).unwrap();
    assert_eq!(r.trades.len(), 2);
    let (t1, t2) = (&r.trades[0], &r.trades[1]);

    // trade 1: buy at bar 5's open with all cash, sell at bar 8's open
    let q1 = 10_000.0 / (11.5 * 1.001);
    assert_eq!(
        (t1.entry_bar, t1.exit_bar, t1.exit_kind),
        (5, 8, ExitKind::Signal)
    );
    assert_eq!((t1.entry_time, t1.exit_time), (T0 + 5 * H, T0 + 8 * H));
    assert_eq!((t1.entry_price, t1.exit_price), (11.5, 9.5));
    assert_close!(t1.size, 868.696520870434);
    assert_close!(t1.size, q1);
    assert_close!(t1.fees, q1 * 11.5 * 0.001 + q1 * 9.5 * 0.001);
    assert_close!(t1.pnl, -1755.635668679146, 1e-10);
    assert_close!(t1.return_pct, -17.55635668679146, 1e-10);
    let c1 = 8244.364331320854;

    // trade 2: buy at bar 11's open, still open at the end: sold at the last close
    assert_eq!(
        (t2.entry_bar, t2.exit_bar, t2.exit_kind),
        (11, 11, ExitKind::EndOfData)
    );
    assert_eq!((t2.entry_price, t2.exit_price), (12.5, 13.0));
    assert_close!(t2.size, c1 / (12.5 * 1.001));
    assert_close!(t2.pnl, 312.6434265903481, 1e-10);

    let m = &r.metrics;
    assert_close!(m.final_equity, 8557.007757911202, 1e-12);
    assert_close!(
        m.total_return_pct,
        (8557.007757911202 / 10_000.0 - 1.0) * 100.0,
        1e-10
    );
    assert_eq!(m.total_trades, 2);
    assert!(m.closed_at_end);
    assert_eq!(m.win_rate_pct, Some(50.0));
    assert_close!(
        m.profit_factor.unwrap(),
        312.6434265903481 / 1755.635668679146,
        1e-10
    );
    assert_close!(m.exposure_pct, 4.0 / 12.0 * 100.0);
    assert_close!(m.buy_and_hold_return_pct, 30.0);

    // equity marked at every close
    let mut expect = vec![10_000.0; 5];
    expect.extend([
        q1 * 12.0,
        q1 * 11.0,
        q1 * 9.0,
        c1,
        c1,
        c1,
        8557.007757911202,
    ]);
    assert_eq!(r.equity.len(), 12);
    for (i, (a, b)) in r.equity.iter().zip(&expect).enumerate() {
        assert!(close_to(*a, *b, 1e-12), "equity[{i}] = {a}, expected {b}");
    }
    let pts: Vec<_> = r.equity_points(&bars).collect();
    assert_eq!(pts[3], (T0 + 3 * H, 10_000.0));
}

#[test]
fn metrics_follow_the_documented_formulas() {
    let bars = series(&CLOSES);
    let r = run_backtest(&bars, Timeframe::H1, &sma23(), &BacktestConfig::default()).unwrap();
    let m = &r.metrics;
    // returns over all 12 bars, the first against the starting cash (0 here)
    let mut prev = 10_000.0;
    let rets: Vec<f64> = r
        .equity
        .iter()
        .map(|e| {
            let x = e / prev - 1.0;
            prev = *e;
            x
        })
        .collect();
    assert_eq!(rets.len(), 12);
    let n = 12.0;
    let mean = rets.iter().sum::<f64>() / n;
    let sd = (rets.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let down = (rets.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    assert_close!(m.sharpe.unwrap(), mean / sd * 8760f64.sqrt(), 1e-9);
    assert_close!(m.sortino.unwrap(), mean / down * 8760f64.sqrt(), 1e-9);
    // peak q1 * 12 at bar 5's close → trough q1 * 9 at bar 7's close (never recovered)
    assert_close!(m.max_drawdown_pct, 25.0, 1e-12);
    // 12 hourly bars = half a day
    let years = 12.0 / 8760.0;
    assert_close!(
        m.cagr_pct.unwrap(),
        ((m.final_equity / 10_000.0).powf(1.0 / years) - 1.0) * 100.0,
        1e-9
    );
    assert_eq!((m.bars, m.from_time, m.to_time), (12, T0, T0 + 11 * H));
}

#[test]
fn a_signal_on_the_last_bar_is_not_filled() {
    let bars = series(&CLOSES[..11]);
    let r = run_backtest(&bars, Timeframe::H1, &sma23(), &BacktestConfig::default()).unwrap();
    assert_eq!(r.trades.len(), 1);
    assert!(!r.metrics.closed_at_end);
    assert_close!(r.metrics.final_equity, 8244.364331320854, 1e-12);
}

#[test]
fn commission_and_slippage_move_fills_and_equity() {
    let bars = series(&CLOSES);
    let free = run_backtest(&bars, Timeframe::H1, &sma23(), &no_fees()).unwrap();
    assert_close!(
        free.metrics.final_equity,
        10_000.0 * 9.5 / 11.5 * 13.0 / 12.5
    );
    assert_eq!(free.trades[0].fees, 0.0);

    let cfg = BacktestConfig {
        fee_rate: 0.0,
        slippage_bps: 10.0,
        ..BacktestConfig::default()
    };
    let slipped = run_backtest(&bars, Timeframe::H1, &sma23(), &cfg).unwrap();
    let t = &slipped.trades;
    assert_close!(t[0].entry_price, 11.5 * 1.001);
    assert_close!(t[0].exit_price, 9.5 * 0.999);
    assert_close!(t[1].entry_price, 12.5 * 1.001);
    assert_close!(t[1].exit_price, 13.0 * 0.999);
    let expect = 10_000.0 * (9.5 * 0.999) / (11.5 * 1.001) * (13.0 * 0.999) / (12.5 * 1.001);
    assert_close!(slipped.metrics.final_equity, expect);

    // both: fee on the slipped notional, on entry and exit
    let cfg = BacktestConfig {
        fee_rate: 0.002,
        slippage_bps: 10.0,
        ..BacktestConfig::default()
    };
    let both = run_backtest(&bars, Timeframe::H1, &sma23(), &cfg).unwrap();
    let e1 = 11.5 * 1.001;
    let q = 10_000.0 / (e1 * 1.002);
    assert_close!(both.trades[0].size, q);
    assert_close!(
        both.trades[0].fees,
        q * e1 * 0.002 + q * 9.5 * 0.999 * 0.002
    );
    assert!(both.metrics.final_equity < slipped.metrics.final_equity);
}

#[test]
fn position_fraction_keeps_the_rest_in_cash() {
    let bars = series(&CLOSES);
    let cfg = BacktestConfig {
        position_fraction: 0.5,
        ..no_fees()
    };
    let r = run_backtest(&bars, Timeframe::H1, &sma23(), &cfg).unwrap();
    assert_close!(r.trades[0].size, 5_000.0 / 11.5);
    assert_close!(r.equity[5], 5_000.0 + 5_000.0 / 11.5 * 12.0);
}

#[test]
fn long_short_reverses_at_the_same_open() {
    let bars = series(&CLOSES);
    let spec = StrategySpec::parse("sma_cross", "fast=2,slow=3,direction=long_short").unwrap();
    let r = run_backtest(&bars, Timeframe::H1, &spec, &BacktestConfig::default()).unwrap();
    let sides: Vec<_> = r
        .trades
        .iter()
        .map(|t| (t.side, t.entry_bar, t.exit_bar, t.exit_kind))
        .collect();
    assert_eq!(
        sides,
        vec![
            (Side::Long, 5, 8, ExitKind::Signal),
            (Side::Short, 8, 11, ExitKind::Signal),
            (Side::Long, 11, 11, ExitKind::EndOfData)
        ]
    );
    let c1 = 8244.364331320854;
    let qs = c1 / (9.5 * 1.001);
    let short = &r.trades[1];
    assert_eq!((short.entry_price, short.exit_price), (9.5, 12.5));
    assert_close!(short.size, qs);
    assert_close!(short.pnl, -2619.9557294549268, 1e-10);
    // short marked at bar 9's close 10: cash after the sale minus the buy-back value
    assert_close!(r.equity[9], c1 + qs * 9.5 * 0.999 - qs * 10.0);
    assert_close!(r.metrics.final_equity, 5837.697863131493, 1e-12);
    assert_close!(r.metrics.exposure_pct, 7.0 / 12.0 * 100.0);
}

/// Run the engine on hand-made flags (bypassing the strategies).
fn run_flags(
    bars: &[Bar],
    flags: &[u8],
    atr: Option<&[f64]>,
    spec: &StrategySpec,
    cfg: &BacktestConfig,
) -> Vec<Trade> {
    let mut eq = Vec::new();
    let mut trades = Vec::new();
    super::engine::simulate(bars, 0, flags, atr, spec, cfg, &mut eq, &mut trades);
    trades
}

fn with_stops(sl: Option<&str>, tp: Option<&str>, dir: Direction) -> StrategySpec {
    let mut s = sma23();
    s.stop_loss = sl.map(|x| x.parse().unwrap());
    s.take_profit = tp.map(|x| x.parse().unwrap());
    s.direction = dir;
    s
}

#[test]
fn stop_loss_fills_at_the_stop_or_at_a_gapped_open() {
    // long at bar 1's open 100; stop 5% → 95
    let bars = vec![
        bar(0, 100.0, 101.0, 99.0, 100.0),
        bar(1, 100.0, 102.0, 96.0, 97.0), // low 96 > 95: holds
        bar(2, 97.0, 98.0, 94.0, 95.5),   // low 94 <= 95: stopped at 95
        bar(3, 95.5, 96.0, 95.0, 95.5),
    ];
    let flags = [ENTER_LONG, 0, 0, 0];
    let spec = with_stops(Some("5%"), None, Direction::LongOnly);
    let t = run_flags(&bars, &flags, None, &spec, &no_fees());
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].exit_bar, t[0].exit_price, t[0].exit_kind),
        (2, 95.0, ExitKind::Stop)
    );

    // the same with bar 2 gapping down to 90: filled at the open, not at the stop
    let mut gap = bars.clone();
    gap[2] = bar(2, 90.0, 91.0, 89.0, 90.0);
    let t = run_flags(&gap, &flags, None, &spec, &no_fees());
    assert_eq!(
        (t[0].exit_bar, t[0].exit_price, t[0].exit_kind),
        (2, 90.0, ExitKind::Stop)
    );
    assert_close!(t[0].pnl, 10_000.0 / 100.0 * (90.0 - 100.0));

    // the entry bar itself is checked: a 3% stop (97) is hit in bar 1 (low 96)
    let spec = with_stops(Some("3%"), None, Direction::LongOnly);
    let t = run_flags(&bars, &flags, None, &spec, &no_fees());
    assert_eq!((t[0].exit_bar, t[0].exit_price), (1, 97.0));

    // slippage applies to the stop fill
    let cfg = BacktestConfig {
        slippage_bps: 100.0,
        ..no_fees()
    };
    let spec = with_stops(Some("5%"), None, Direction::LongOnly);
    let t = run_flags(&bars, &flags, None, &spec, &cfg);
    assert_close!(t[0].entry_price, 101.0);
    assert_close!(t[0].exit_price, 101.0 * 0.95 * 0.99);
}

#[test]
fn take_profit_and_the_pessimistic_tie() {
    let bars = vec![
        bar(0, 100.0, 101.0, 99.0, 100.0),
        bar(1, 100.0, 103.0, 99.0, 102.0),
        bar(2, 102.0, 106.0, 101.0, 105.0), // high 106 >= 105
        bar(3, 105.0, 106.0, 104.0, 105.0),
    ];
    let flags = [ENTER_LONG, 0, 0, 0];
    let spec = with_stops(Some("2%"), Some("5%"), Direction::LongOnly);
    let t = run_flags(&bars, &flags, None, &spec, &no_fees());
    assert_eq!(
        (t[0].exit_bar, t[0].exit_price, t[0].exit_kind),
        (2, 105.0, ExitKind::TakeProfit)
    );

    // gap up through the take-profit: filled at the (better) open
    let mut gap = bars.clone();
    gap[2] = bar(2, 108.0, 109.0, 107.0, 108.0);
    let t = run_flags(&gap, &flags, None, &spec, &no_fees());
    assert_eq!(
        (t[0].exit_price, t[0].exit_kind),
        (108.0, ExitKind::TakeProfit)
    );

    // a bar touching both: the stop is assumed first
    let mut both = bars.clone();
    both[2] = bar(2, 102.0, 106.0, 97.0, 104.0);
    let t = run_flags(&both, &flags, None, &spec, &no_fees());
    assert_eq!((t[0].exit_price, t[0].exit_kind), (98.0, ExitKind::Stop));
}

#[test]
fn short_stops_mirror_long_ones() {
    let bars = vec![
        bar(0, 100.0, 101.0, 99.0, 100.0),
        bar(1, 100.0, 101.0, 97.0, 98.0),
        bar(2, 98.0, 104.5, 97.0, 103.0), // high 104.5 >= stop 104
        bar(3, 103.0, 104.0, 102.0, 103.0),
    ];
    let flags = [ENTER_SHORT, 0, 0, 0];
    let spec = with_stops(Some("4%"), Some("10%"), Direction::LongShort);
    let t = run_flags(&bars, &flags, None, &spec, &no_fees());
    assert_eq!(
        (t[0].side, t[0].exit_bar, t[0].exit_price, t[0].exit_kind),
        (Side::Short, 2, 104.0, ExitKind::Stop)
    );
    assert_close!(t[0].pnl, -100.0 * 4.0);
    let spec = with_stops(Some("4%"), Some("2%"), Direction::LongShort);
    let t = run_flags(&bars, &flags, None, &spec, &no_fees());
    assert_eq!(
        (t[0].exit_bar, t[0].exit_price, t[0].exit_kind),
        (1, 98.0, ExitKind::TakeProfit)
    );
    // long-only ignores short entries
    let spec = with_stops(None, None, Direction::LongOnly);
    assert!(run_flags(&bars, &flags, None, &spec, &no_fees()).is_empty());
}

#[test]
fn atr_stops_use_the_signal_bars_atr_and_wait_for_it() {
    let bars = vec![
        bar(0, 100.0, 101.0, 99.0, 100.0),
        bar(1, 100.0, 101.0, 99.0, 100.0),
        bar(2, 100.0, 101.0, 99.0, 100.0),
        bar(3, 100.0, 101.0, 93.5, 95.0), // low 93.5 <= 100 - 2*3
        bar(4, 95.0, 96.0, 94.0, 95.0),
    ];
    let atr = [f64::NAN, 2.0, 3.0, 4.0, 4.0];
    let spec = with_stops(Some("2atr"), None, Direction::LongOnly);
    // a signal at bar 0 (ATR undefined) is ignored; the one at bar 2 enters at bar 3
    let flags = [ENTER_LONG, 0, ENTER_LONG, 0, 0];
    let t = run_flags(&bars, &flags, Some(&atr), &spec, &no_fees());
    assert_eq!(t.len(), 1);
    assert_eq!(
        (
            t[0].entry_bar,
            t[0].exit_bar,
            t[0].exit_price,
            t[0].exit_kind
        ),
        (3, 3, 94.0, ExitKind::Stop)
    );
}

#[test]
fn exits_without_entries_and_repeated_entries_do_nothing() {
    let bars: Vec<Bar> = (0..6)
        .map(|i| bar(i, 100.0 + i as f64, 110.0, 90.0, 100.0 + i as f64))
        .collect();
    let flags = [EXIT_LONG, ENTER_LONG, ENTER_LONG, EXIT_SHORT, EXIT_LONG, 0];
    let spec = with_stops(None, None, Direction::LongOnly);
    let t = run_flags(&bars, &flags, None, &spec, &no_fees());
    assert_eq!(t.len(), 1);
    assert_eq!(
        (
            t[0].entry_bar,
            t[0].exit_bar,
            t[0].entry_price,
            t[0].exit_price
        ),
        (2, 5, 102.0, 105.0)
    );
}

#[test]
fn a_short_that_loses_everything_is_liquidated() {
    let bars = vec![
        bar(0, 100.0, 100.0, 100.0, 100.0),
        bar(1, 100.0, 150.0, 100.0, 150.0),
        bar(2, 150.0, 210.0, 150.0, 210.0), // equity < 0 at this close
        bar(3, 210.0, 210.0, 50.0, 50.0),
    ];
    let flags = [ENTER_SHORT, 0, 0, ENTER_LONG];
    let spec = with_stops(None, None, Direction::LongShort);
    let t = run_flags(&bars, &flags, None, &spec, &no_fees());
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].exit_bar, t[0].exit_price, t[0].exit_kind),
        (2, 210.0, ExitKind::Liquidation)
    );
}

#[test]
fn metrics_of_a_run_without_trades_are_null_where_undefined() {
    let bars = series(&CLOSES);
    let spec = StrategySpec::parse("sma_cross", "fast=20,slow=50").unwrap();
    let r = run_backtest(&bars, Timeframe::H1, &spec, &BacktestConfig::default()).unwrap();
    let m = &r.metrics;
    assert_eq!(
        (m.total_trades, m.final_equity, m.max_drawdown_pct),
        (0, 10_000.0, 0.0)
    );
    assert_eq!(
        (
            m.sharpe,
            m.sortino,
            m.profit_factor,
            m.win_rate_pct,
            m.avg_trade_pct
        ),
        (None, None, None, None, None)
    );
    let j = serde_json::to_value(m).unwrap();
    assert!(j["sharpe"].is_null() && j["profit_factor"].is_null() && j["calmar"].is_null());
    assert_eq!(j["total_trades"], 0);
}

#[test]
fn bad_inputs_are_errors() {
    let mut bars = series(&CLOSES);
    let cfg = BacktestConfig::default();
    assert!(matches!(
        run_backtest(&[], Timeframe::H1, &sma23(), &cfg),
        Err(BacktestError::NotEnoughBars { .. })
    ));
    let bad_cfg = BacktestConfig {
        position_fraction: 1.5,
        ..cfg
    };
    assert!(matches!(
        run_backtest(&bars, Timeframe::H1, &sma23(), &bad_cfg),
        Err(BacktestError::Config { .. })
    ));
    let mut spec = sma23();
    spec.params.insert("fast".into(), 5.0);
    assert!(matches!(
        run_backtest(&bars, Timeframe::H1, &spec, &cfg),
        Err(BacktestError::Strategy(_))
    ));
    bars[3].open_time = bars[2].open_time;
    assert!(matches!(
        run_backtest(&bars, Timeframe::H1, &sma23(), &cfg),
        Err(BacktestError::BadBar { index: 3, .. })
    ));
}

// ---------------------------------------------------------------- randomised checks

/// Deterministic random walk with plausible OHLC.
pub(crate) fn random_bars(n: usize, seed: u64) -> Vec<Bar> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let mut price = 100.0;
    (0..n)
        .map(|i| {
            let o = price;
            let c = (o * (1.0 + 0.02 * next())).max(1.0);
            let h = o.max(c) * (1.0 + 0.01 * (next() + 0.5));
            let l = o.min(c) * (1.0 - 0.01 * (next() + 0.5));
            price = c * (1.0 + 0.002 * next());
            bar(i, o, h, l, c)
        })
        .collect()
}

fn all_variants() -> Vec<StrategySpec> {
    let mut v = Vec::new();
    for kind in StrategyKind::ALL {
        for opts in [
            "",
            "direction=long_short",
            "stop_loss=1.5%,take_profit=3%",
            "stop_loss=2atr,take_profit=3atr,direction=long_short",
        ] {
            let small = match kind {
                StrategyKind::SmaCross | StrategyKind::EmaCross => "fast=5,slow=20",
                StrategyKind::RsiReversion => "period=10,lower=35,upper=65",
                StrategyKind::MacdCross => "",
                StrategyKind::BollingerReversion => "period=15,k=1.5",
            };
            let kv = [small, opts]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(",");
            v.push(StrategySpec::parse(kind.as_str(), &kv).unwrap());
        }
    }
    v
}

#[test]
fn no_look_ahead_changing_the_future_leaves_the_past_unchanged() {
    let bars = random_bars(800, 7);
    let cfg = BacktestConfig {
        slippage_bps: 5.0,
        ..BacktestConfig::default()
    };
    for spec in all_variants() {
        let a = run_backtest(&bars, Timeframe::H1, &spec, &cfg).unwrap();
        assert!(
            a.trades.len() >= 3,
            "{spec:?} trades too little to test: {}",
            a.trades.len()
        );
        for t in [100, 333, 600] {
            let mut changed = bars.clone();
            let other = random_bars(800, 99);
            for i in t + 1..changed.len() {
                let k = other[i].close / other[t].close * bars[t].close;
                changed[i] = bar(
                    i,
                    k * other[i].open / other[i].close,
                    k * other[i].high / other[i].close,
                    k * other[i].low / other[i].close,
                    k,
                );
            }
            let b = run_backtest(&changed, Timeframe::H1, &spec, &cfg).unwrap();
            assert_eq!(a.equity[..=t], b.equity[..=t], "{spec:?} equity before {t}");
            let done = |r: &BacktestResult| {
                r.trades
                    .iter()
                    .filter(|x| x.exit_bar <= t)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let started = |r: &BacktestResult| {
                r.trades
                    .iter()
                    .filter(|x| x.entry_bar <= t)
                    .map(|x| (x.side, x.entry_bar, x.entry_price, x.size))
                    .collect::<Vec<_>>()
            };
            let (da, db) = (done(&a), done(&b));
            // the trade open at t may have been closed at t by the end of data in neither run
            assert_eq!(da, db, "{spec:?} closed trades before {t}");
            assert_eq!(started(&a), started(&b), "{spec:?} entries before {t}");
            // and the future really changed something
            assert_ne!(a.equity[t + 1..], b.equity[t + 1..]);

            // stricter: also change bar t's high, low and close (only its open is known
            // when a fill happens at it): entries up to t and equity up to t-1 stay
            let mut c = changed.clone();
            c[t].close = bars[t].close * 1.07;
            c[t].high = c[t].close.max(bars[t].high) * 1.01;
            c[t].low = bars[t].low * 0.93;
            let d = run_backtest(&c, Timeframe::H1, &spec, &cfg).unwrap();
            assert_eq!(a.equity[..t], d.equity[..t], "{spec:?} equity before {t}");
            let entered = |r: &BacktestResult| {
                r.trades
                    .iter()
                    .filter(|x| x.entry_bar <= t)
                    .map(|x| (x.side, x.entry_bar, x.entry_price, x.size))
                    .collect::<Vec<_>>()
            };
            assert_eq!(entered(&a), entered(&d), "{spec:?} entries up to {t}");
        }
    }
}

#[test]
fn parallel_grid_equals_serial_runs_and_picks_the_first_best() {
    let bars = random_bars(3000, 11);
    let base = StrategySpec::default_for(StrategyKind::SmaCross);
    let grid = Grid::default_for(StrategyKind::SmaCross);
    let cfg = BacktestConfig::default();
    for objective in [
        Objective::Sharpe,
        Objective::TotalReturn,
        Objective::Sortino,
        Objective::ProfitFactor,
    ] {
        let opt = OptimizeConfig {
            objective,
            train_ratio: None,
        };
        let rep = optimize(&bars, Timeframe::H1, &base, &grid, &cfg, &opt).unwrap();
        assert_eq!(rep.runs.len(), 90); // 10 x 10 minus the fast >= slow pairs
        let mut scores = Vec::new();
        for run in &rep.runs {
            let spec = base.with_params(&run.params).unwrap();
            let serial = run_backtest(&bars, Timeframe::H1, &spec, &cfg).unwrap();
            assert_eq!(serial.metrics, run.metrics, "{:?}", run.params);
            scores.push(objective.score(&serial.metrics));
        }
        // the first index holding the maximum defined score
        let max = scores
            .iter()
            .flatten()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let first = scores.iter().position(|s| *s == Some(max)).unwrap();
        let b = rep.best.as_ref().unwrap();
        assert_eq!(b.index, first, "{objective}");
        assert_eq!(b.in_sample.metrics, rep.runs[b.index].metrics);
        assert!(rep.split.is_none() && b.out_of_sample.is_none());
    }
}

#[test]
fn grid_order_is_fixed_and_skips_invalid_pairs() {
    let g = Grid::parse(StrategyKind::SmaCross, "fast=10:30:10,slow=20:30:10").unwrap();
    let combos: Vec<_> = g
        .combinations(&sma23())
        .iter()
        .map(|s| (s.params["fast"] as i64, s.params["slow"] as i64))
        .collect();
    assert_eq!(combos, vec![(10, 20), (10, 30), (20, 30)]);
    assert!(Grid::parse(StrategyKind::SmaCross, "fats=1:2:1").is_err());
    assert!(Grid::parse(StrategyKind::SmaCross, "fast=5:1:1").is_err());
    let g = Grid::parse(StrategyKind::BollingerReversion, "k=2").unwrap();
    assert_eq!(
        g.combinations(&StrategySpec::default_for(StrategyKind::BollingerReversion))
            .len(),
        5
    );
    assert_eq!(
        "return".parse::<Objective>().unwrap(),
        Objective::TotalReturn
    );
    assert!("sharp".parse::<Objective>().is_err());
}

#[test]
fn optimisation_picks_the_known_best_and_breaks_ties_by_order() {
    // a falling market with bounces: every crossover long loses, so the best total return
    // is 0 from a combination that never trades (slow = 500 is never defined), and of the
    // two such combinations the first in grid order wins.
    let mut closes = Vec::new();
    let mut p = 200.0;
    for i in 0..120 {
        p *= if i % 6 < 2 { 1.01 } else { 0.985 };
        closes.push(p);
    }
    let bars = series(&closes);
    let grid = Grid::parse(StrategyKind::SmaCross, "fast=2:3:1,slow=4:500:496").unwrap();
    let opt = OptimizeConfig {
        objective: Objective::TotalReturn,
        train_ratio: None,
    };
    let rep = optimize(
        &bars,
        Timeframe::H1,
        &sma23(),
        &grid,
        &BacktestConfig::default(),
        &opt,
    )
    .unwrap();
    let by = |f: f64, s: f64| {
        rep.runs
            .iter()
            .find(|r| r.params["fast"] == f && r.params["slow"] == s)
            .unwrap()
    };
    assert!(by(2.0, 4.0).metrics.total_return_pct < 0.0 && by(2.0, 4.0).metrics.total_trades > 3);
    assert!(by(3.0, 4.0).metrics.total_return_pct < 0.0);
    let best = rep.best.unwrap();
    assert_eq!(
        best.spec.params,
        BTreeMap::from([("fast".to_string(), 2.0), ("slow".to_string(), 500.0)])
    );

    // by Sharpe the never-trading runs are undefined (flat) and cannot win
    let opt = OptimizeConfig {
        objective: Objective::Sharpe,
        train_ratio: None,
    };
    let rep = optimize(
        &bars,
        Timeframe::H1,
        &sma23(),
        &grid,
        &BacktestConfig::default(),
        &opt,
    )
    .unwrap();
    assert_eq!(rep.best.unwrap().spec.params["slow"], 4.0);

    // only undefined scores: no winner
    let grid = Grid::parse(StrategyKind::SmaCross, "fast=2,slow=500").unwrap();
    let rep = optimize(
        &bars,
        Timeframe::H1,
        &sma23(),
        &grid,
        &BacktestConfig::default(),
        &opt,
    )
    .unwrap();
    assert!(rep.best.is_none());
}

#[test]
fn walk_forward_out_of_sample_uses_only_data_after_the_split() {
    let bars = random_bars(2000, 5);
    let base = sma23();
    let grid = Grid::parse(StrategyKind::SmaCross, "fast=8,slow=30").unwrap();
    let cfg = BacktestConfig::default();
    let opt = OptimizeConfig {
        objective: Objective::Sharpe,
        train_ratio: Some(0.7),
    };
    let rep = optimize(&bars, Timeframe::H1, &base, &grid, &cfg, &opt).unwrap();
    let split = rep.split.unwrap();
    assert_eq!(
        (split.train_bars, split.test_bars, split.warmup_bars),
        (1400, 600, 30)
    );
    assert_eq!(split.split_time, bars[1400].open_time);
    let best = rep.best.unwrap();
    let oos = best.out_of_sample.as_ref().unwrap();
    assert_eq!(oos.equity.len(), 600);
    assert_eq!(oos.metrics.bars, 600);
    assert_eq!(oos.metrics.from_time, bars[1400].open_time);
    assert!(oos.trades.len() > 5);
    // nothing fills before the split, not even from a signal on the last warm-up bar
    assert!(oos.trades.iter().all(|t| t.entry_bar > split.warmup_bars));
    assert_eq!(oos.equity[0], cfg.initial_cash);
    assert_close!(
        oos.metrics.buy_and_hold_return_pct,
        (bars[1999].close / bars[1400].close - 1.0) * 100.0
    );
    assert_eq!(best.in_sample.equity.len(), 1400);

    // scrambling everything before the warm-up leaves the out-of-sample run unchanged, and
    // changing the out-of-sample bars leaves the in-sample search unchanged
    let mut early = bars.clone();
    let other = random_bars(2000, 77);
    early[..1400 - 30].copy_from_slice(&other[..1400 - 30]);
    for (i, b) in early.iter_mut().enumerate() {
        b.open_time = T0 + i as i64 * H;
    }
    let rep2 = optimize(&early, Timeframe::H1, &base, &grid, &cfg, &opt).unwrap();
    assert_eq!(rep2.best.unwrap().out_of_sample.as_ref(), Some(oos));
    assert_ne!(rep2.runs[0].metrics, rep.runs[0].metrics);
    let mut late = bars.clone();
    late[1400..].copy_from_slice(&other[1400..]);
    let rep3 = optimize(&late, Timeframe::H1, &base, &grid, &cfg, &opt).unwrap();
    assert_eq!(rep3.runs, rep.runs);
    assert_ne!(rep3.best.unwrap().out_of_sample.unwrap().equity, oos.equity);
}

#[test]
fn shared_indicator_cache_gives_the_same_signals_as_a_fresh_one() {
    let bars = random_bars(500, 3);
    let specs = all_variants();
    let keys: Vec<_> = specs
        .iter()
        .flat_map(|s| s.indicator_keys(&s.typed().unwrap()))
        .collect();
    let shared = IndicatorCache::build(&bars, keys);
    let cfg = BacktestConfig::default();
    let mut scratch = Scratch::default();
    for s in &specs {
        let m = run_prepared(
            &bars,
            0,
            Timeframe::H1,
            s,
            &s.typed().unwrap(),
            &cfg,
            &shared,
            &mut scratch,
        );
        assert_eq!(
            m,
            run_backtest(&bars, Timeframe::H1, s, &cfg).unwrap().metrics
        );
    }
}

#[test]
fn strategies_follow_their_documented_rules() {
    let bars = random_bars(1500, 21);
    let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let cfg = no_fees();
    // rsi_reversion long-only: every entry follows a bar with RSI < lower, every signal
    // exit a bar with RSI > upper
    let spec = StrategySpec::parse("rsi_reversion", "period=10,lower=35,upper=65").unwrap();
    let rsi = crate::core::indicators::rsi(&close, 10);
    let r = run_backtest(&bars, Timeframe::H1, &spec, &cfg).unwrap();
    assert!(r.trades.len() > 5);
    for t in &r.trades {
        assert!(rsi[t.entry_bar - 1] < 35.0);
        if t.exit_kind == ExitKind::Signal {
            assert!(rsi[t.exit_bar - 1] > 65.0);
        }
    }
    // bollinger_reversion: enter below the lower band, exit above the middle
    let spec = StrategySpec::parse("bollinger_reversion", "period=15,k=1.5").unwrap();
    let bb = crate::core::indicators::bbands(&close, 15, 1.5);
    let r = run_backtest(&bars, Timeframe::H1, &spec, &cfg).unwrap();
    assert!(r.trades.len() > 5);
    for t in &r.trades {
        assert!(close[t.entry_bar - 1] < bb.lower[t.entry_bar - 1]);
        if t.exit_kind == ExitKind::Signal {
            assert!(close[t.exit_bar - 1] > bb.middle[t.exit_bar - 1]);
        }
    }
    // macd_cross: entries follow a cross of the MACD line above its signal line
    let spec = StrategySpec::default_for(StrategyKind::MacdCross);
    let m = crate::core::indicators::macd(&close, 12, 26, 9);
    let r = run_backtest(&bars, Timeframe::H1, &spec, &cfg).unwrap();
    assert!(r.trades.len() > 5);
    for t in &r.trades {
        let s = t.entry_bar - 1;
        assert!(m.macd[s] > m.signal[s] && m.macd[s - 1] <= m.signal[s - 1]);
    }
    let _ = (EXIT_LONG, EXIT_SHORT);
}

#[test]
fn metric_functions_on_a_hand_made_curve() {
    // 100 → 110 → 99 → 99 → 108.9: returns 0.1, -0.1, 0, 0.1 (first vs a start of 100)
    let eq = [110.0, 99.0, 99.0, 108.9];
    let r = simple_returns(100.0, &eq);
    let mean = 0.1 / 4.0;
    let sd = ((0.075f64.powi(2) * 2.0 + 0.125f64.powi(2) + 0.025f64.powi(2)) / 3.0).sqrt();
    assert_close!(
        sharpe_ratio(&r, 365.0, 0.0).unwrap(),
        mean / sd * 365f64.sqrt(),
        1e-9
    );
    assert_close!(
        sortino_ratio(&r, 365.0, 0.0).unwrap(),
        mean / (0.01f64 / 4.0).sqrt() * 365f64.sqrt(),
        1e-9
    );
    assert_close!(max_drawdown_pct(&eq), 10.0, 1e-12);
}

#[test]
fn a_window_ignores_signals_from_its_warm_up_bars() {
    let bars = series(&CLOSES);
    let cfg = BacktestConfig::default();
    // the cross up at bar 4 is history when the window starts at bar 5
    let r = run_backtest_window(&bars, 5, Timeframe::H1, &sma23(), &cfg).unwrap();
    let entries: Vec<_> = r.trades.iter().map(|t| (t.entry_bar, t.exit_bar)).collect();
    assert_eq!(entries, vec![(11, 11)]);
    assert_eq!((r.equity.len(), r.start_index, r.metrics.bars), (7, 5, 7));
    assert_close!(
        r.metrics.final_equity,
        10_000.0 * 13.0 * 0.999 / (12.5 * 1.001)
    );
    assert_close!(
        r.metrics.buy_and_hold_return_pct,
        (13.0 / 12.0 - 1.0) * 100.0
    );
    // starting at bar 4 the signal is inside the window and fills at bar 5
    let r = run_backtest_window(&bars, 4, Timeframe::H1, &sma23(), &cfg).unwrap();
    assert_eq!(r.trades[0].entry_bar, 5);
    let full = run_backtest(&bars, Timeframe::H1, &sma23(), &cfg).unwrap();
    assert_eq!(r.trades, full.trades);
    assert_eq!(r.equity[..], full.equity[4..]);
}
