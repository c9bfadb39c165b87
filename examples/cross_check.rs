//! Writes bars and fks's sma_cross result for scripts/cross_check_backtesting_py.py.
//! `cargo run --release --example cross_check -- OUT_DIR`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use fks::core::backtest::{BacktestConfig, StrategySpec, run_backtest};
use fks::core::market::{Bar, Timeframe};
use std::io::Write;

fn main() {
    let dir = std::env::args().nth(1).expect("output dir");
    let mut s: u64 = 42;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let mut price = 30_000.0;
    let bars: Vec<Bar> = (0..5000)
        .map(|i| {
            let open = price;
            let close = open * (1.0 + 0.02 * next());
            let high = open.max(close) * (1.0 + 0.005 * (next() + 0.5));
            let low = open.min(close) * (1.0 - 0.005 * (next() + 0.5));
            price = close * (1.0 + 0.001 * next());
            Bar {
                open_time: 1_600_000_000_000 + i as i64 * 3_600_000,
                open,
                high,
                low,
                close,
                volume: 1.0,
            }
        })
        .collect();
    let mut f = std::fs::File::create(format!("{dir}/bars.csv")).unwrap();
    writeln!(f, "open_time,open,high,low,close,volume").unwrap();
    for b in &bars {
        writeln!(
            f,
            "{},{:?},{:?},{:?},{:?},{:?}",
            b.open_time, b.open, b.high, b.low, b.close, b.volume
        )
        .unwrap();
    }
    for (name, kv) in [
        ("sma", "fast=10,slow=30"),
        ("sma_stop", "fast=10,slow=30,stop_loss=2%,take_profit=4%"),
    ] {
        let spec = StrategySpec::parse("sma_cross", kv).unwrap();
        let r = run_backtest(&bars, Timeframe::H1, &spec, &BacktestConfig::default()).unwrap();
        std::fs::write(
            format!("{dir}/{name}.json"),
            serde_json::to_string(&r).unwrap(),
        )
        .unwrap();
        println!(
            "{name}: {} trades, final {}",
            r.trades.len(),
            r.metrics.final_equity
        );
    }
}
