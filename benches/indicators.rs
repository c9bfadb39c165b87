//! Indicator throughput: `cargo bench --bench indicators`.

use divan::{Bencher, black_box};
use fks::core::indicators::{self, IndicatorState, compute_all};
use fks::core::market::Bar;

fn main() {
    divan::main();
}

/// A deterministic random walk of `n` 5-minute bars (xorshift noise, no RNG crate).
fn bars(n: usize) -> Vec<Bar> {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut close = 100.0_f64;
    (0..n)
        .map(|i| {
            let open = close;
            close *= 1.0 + 0.01 * next();
            let high = open.max(close) * (1.0 + 0.002 * next().abs());
            let low = open.min(close) * (1.0 - 0.002 * next().abs());
            Bar {
                open_time: i as i64 * 300_000,
                open,
                high,
                low,
                close,
                volume: 1.0,
            }
        })
        .collect()
}

/// The whole standard set over 100k bars, as `update-indicators --full` computes it.
#[divan::bench(args = [100_000, 1_000_000], sample_count = 20)]
fn compute_all_bars(bencher: Bencher, n: usize) {
    let data = bars(n);
    bencher.bench(|| compute_all(black_box(&data)));
}

/// The same set through the separate batch functions on column vectors (what TA-Lib does).
#[divan::bench(args = [100_000, 1_000_000], sample_count = 20)]
fn batch_functions(bencher: Bencher, n: usize) {
    let data = bars(n);
    let high: Vec<f64> = data.iter().map(|b| b.high).collect();
    let low: Vec<f64> = data.iter().map(|b| b.low).collect();
    let close: Vec<f64> = data.iter().map(|b| b.close).collect();
    bencher.bench(|| {
        let c = black_box(&close);
        (
            indicators::rsi(c, 14),
            indicators::macd(c, 12, 26, 9),
            indicators::bbands(c, 20, 2.0),
            indicators::atr(black_box(&high), black_box(&low), c, 14),
            indicators::sma(c, 20),
            indicators::sma(c, 50),
            indicators::sma(c, 200),
            indicators::ema(c, 12),
            indicators::ema(c, 26),
        )
    });
}

/// One new candle on a warm state (an incremental run after 1 new candle), JSON excluded.
#[divan::bench]
fn update_one_bar(bencher: Bencher) {
    let data = bars(1_000);
    let mut state = IndicatorState::new();
    for b in &data[..999] {
        state.update(b);
    }
    let last = data[999];
    bencher.bench(|| state.clone().update(black_box(&last)));
}
