//! Indicator throughput: `cargo bench --bench indicators`.
//!
//! Compare with TA-Lib on the same candles: `python3 scripts/bench_talib.py` (the
//! `per_function` benches against its per-call figures, `standard_set` and
//! `standard_set_reused` against its whole set). Fresh output vectors are slow to
//! touch the first time (page faults; numpy asks for huge pages, glibc does not
//! unless run with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`), so the figures of the
//! benches that allocate depend on the allocator; `standard_set_reused` does not.

use divan::{Bencher, black_box};
use fks::core::indicators::{self, IndicatorState, StandardSet, compute_all, compute_standard_set};
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

/// The whole standard set as rows (`compute_all`), as `update-indicators --full` computes it.
#[divan::bench(args = [100_000, 1_000_000], sample_count = 20)]
fn compute_all_bars(bencher: Bencher, n: usize) {
    let data = bars(n);
    bencher.bench(|| compute_all(black_box(&data)));
}

/// The whole standard set as columns (`compute_standard_set`), fresh vectors each time.
#[divan::bench(args = [100_000, 1_000_000], sample_count = 20)]
fn standard_set(bencher: Bencher, n: usize) {
    let data = bars(n);
    bencher.bench(|| compute_standard_set(black_box(&data)));
}

/// The same into a reused `StandardSet` (no new memory: what a run over many symbols does).
#[divan::bench(args = [100_000, 1_000_000], sample_count = 20)]
fn standard_set_reused(bencher: Bencher, n: usize) {
    let data = bars(n);
    let mut set = StandardSet::default();
    bencher.bench_local(|| {
        set.compute_into(black_box(&data));
        black_box(set.len())
    });
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

/// Each batch function alone over 1M closes (compare with `scripts/bench_talib.py`).
mod per_function {
    use super::*;

    const N: usize = 1_000_000;

    fn columns() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let data = bars(N);
        (
            data.iter().map(|b| b.high).collect(),
            data.iter().map(|b| b.low).collect(),
            data.iter().map(|b| b.close).collect(),
        )
    }

    #[divan::bench(sample_count = 30)]
    fn rsi14(bencher: Bencher) {
        let (_, _, c) = columns();
        bencher.bench(|| indicators::rsi(black_box(&c), 14));
    }

    #[divan::bench(sample_count = 30)]
    fn macd(bencher: Bencher) {
        let (_, _, c) = columns();
        bencher.bench(|| indicators::macd(black_box(&c), 12, 26, 9));
    }

    #[divan::bench(sample_count = 30)]
    fn bbands20(bencher: Bencher) {
        let (_, _, c) = columns();
        bencher.bench(|| indicators::bbands(black_box(&c), 20, 2.0));
    }

    #[divan::bench(sample_count = 30)]
    fn atr14(bencher: Bencher) {
        let (h, l, c) = columns();
        bencher.bench(|| indicators::atr(black_box(&h), black_box(&l), black_box(&c), 14));
    }

    #[divan::bench(args = [20, 50, 200], sample_count = 30)]
    fn sma(bencher: Bencher, n: usize) {
        let (_, _, c) = columns();
        bencher.bench(|| indicators::sma(black_box(&c), n));
    }

    #[divan::bench(args = [12, 26], sample_count = 30)]
    fn ema(bencher: Bencher, n: usize) {
        let (_, _, c) = columns();
        bencher.bench(|| indicators::ema(black_box(&c), n));
    }
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
