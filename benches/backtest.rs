//! `cargo bench --bench backtest`: one sma_cross backtest and parameter grids.

use divan::{Bencher, black_box};
use fks::core::backtest::{
    BacktestConfig, Grid, Objective, OptimizeConfig, StrategyKind, StrategySpec, optimize,
    run_backtest,
};
use fks::core::market::{Bar, Timeframe};

fn main() {
    divan::main();
}

/// Deterministic random walk of hourly bars.
fn bars(n: usize) -> Vec<Bar> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let mut price = 30_000.0;
    (0..n)
        .map(|i| {
            let open = price;
            let close = open * (1.0 + 0.01 * next());
            let high = open.max(close) * (1.0 + 0.005 * (next() + 0.5));
            let low = open.min(close) * (1.0 - 0.005 * (next() + 0.5));
            price = close;
            Bar {
                open_time: i as i64 * 3_600_000,
                open,
                high,
                low,
                close,
                volume: 1.0,
            }
        })
        .collect()
}

#[divan::bench(args = [8_760, 100_000, 1_000_000])]
fn sma_cross_single(b: Bencher, n: usize) {
    let data = bars(n);
    let spec = StrategySpec::parse("sma_cross", "fast=10,slow=30").expect("valid");
    let cfg = BacktestConfig::default();
    b.bench(|| run_backtest(black_box(&data), Timeframe::H1, &spec, &cfg).expect("runs"));
}

#[divan::bench(args = [100_000])]
fn sma_cross_single_with_stops_long_short(b: Bencher, n: usize) {
    let data = bars(n);
    let spec = StrategySpec::parse(
        "sma_cross",
        "fast=10,slow=30,stop_loss=2atr,take_profit=3%,direction=long_short",
    )
    .expect("valid");
    let cfg = BacktestConfig::default();
    b.bench(|| run_backtest(black_box(&data), Timeframe::H1, &spec, &cfg).expect("runs"));
}

/// The default sma_cross grid (fast 5..50/5 x slow 20..200/20, 90 valid pairs), all bars.
#[divan::bench(args = [8_760, 100_000])]
fn sma_cross_default_grid(b: Bencher, n: usize) {
    let data = bars(n);
    let base = StrategySpec::default_for(StrategyKind::SmaCross);
    let grid = Grid::default_for(StrategyKind::SmaCross);
    let opt = OptimizeConfig {
        objective: Objective::Sharpe,
        train_ratio: None,
    };
    let cfg = BacktestConfig::default();
    b.bench(|| optimize(black_box(&data), Timeframe::H1, &base, &grid, &cfg, &opt).expect("runs"));
}

/// A full 10 x 10 = 100-combination grid (fast 5..50/5 x slow 60..240/20: all valid) with
/// the 70/30 walk-forward split.
#[divan::bench(args = [8_760, 100_000])]
fn sma_cross_100_grid_walk_forward(b: Bencher, n: usize) {
    let data = bars(n);
    let base = StrategySpec::default_for(StrategyKind::SmaCross);
    let grid = Grid::parse(StrategyKind::SmaCross, "fast=5:50:5,slow=60:240:20").expect("valid");
    let opt = OptimizeConfig::default();
    let cfg = BacktestConfig::default();
    b.bench(|| optimize(black_box(&data), Timeframe::H1, &base, &grid, &cfg, &opt).expect("runs"));
}

#[divan::bench(args = [StrategyKind::EmaCross, StrategyKind::RsiReversion, StrategyKind::MacdCross, StrategyKind::BollingerReversion])]
fn default_grid_100k(b: Bencher, kind: StrategyKind) {
    let data = bars(100_000);
    let base = StrategySpec::default_for(kind);
    let grid = Grid::default_for(kind);
    let opt = OptimizeConfig {
        objective: Objective::Sharpe,
        train_ratio: None,
    };
    let cfg = BacktestConfig::default();
    b.bench(|| optimize(black_box(&data), Timeframe::H1, &base, &grid, &cfg, &opt).expect("runs"));
}
