//! kNN retrieval over 1,000,000 snapshots of D = 10 features (the target: < 50 ms),
//! and the calibrated walk-forward of evaluate-signals over 45,000 1h candles (issue 17's
//! target: < 5 s). `CARGO_TARGET_DIR=... cargo bench --bench knn`

use fks::core::intelligence::evaluate::{WalkForwardConfig, walk_forward};
use fks::core::intelligence::features::{D, Outcome};
use fks::core::intelligence::knn::{KnnIndex, SnapshotMeta};
use fks::core::market::{Bar, Symbol};
use std::sync::OnceLock;

fn main() {
    divan::main();
}

const ROWS: usize = 1_000_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn index() -> &'static KnnIndex {
    static IDX: OnceLock<KnnIndex> = OnceLock::new();
    IDX.get_or_init(|| {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut idx = KnnIndex::with_capacity(D, ROWS);
        for r in 0..ROWS {
            let v: [f32; D] = std::array::from_fn(|_| rng.next() * 2.0);
            idx.push(
                &v,
                SnapshotMeta {
                    symbol: (r % 50) as u32,
                    open_time: r as i64 * 3_600_000,
                    known_at: (r as i64 + 5) * 3_600_000,
                    outcome: Outcome {
                        ret: rng.next() as f64 * 0.02,
                        max_adverse: 0.01,
                        max_favorable: 0.01,
                    },
                },
            );
        }
        idx
    })
}

fn query() -> [f32; D] {
    let mut rng = Rng(12345);
    std::array::from_fn(|_| rng.next())
}

/// k = 50, same symbol first, "as of" filter excluding the last 10% of rows.
#[divan::bench(sample_count = 30)]
fn query_1m_k50_as_of(b: divan::Bencher) {
    let idx = index();
    let q = query();
    let as_of = (ROWS as i64 * 9 / 10) * 3_600_000;
    b.bench(|| idx.query(divan::black_box(&q), 50, |m| m.known_at <= as_of, Some(7)));
}

/// k = 50, no symbol preference, no filter.
#[divan::bench(sample_count = 30)]
fn query_1m_k50_any(b: divan::Bencher) {
    let idx = index();
    let q = query();
    b.bench(|| idx.query(divan::black_box(&q), 50, |_| true, None));
}

/// 45,000 hourly bars of a random walk with slowly changing volatility (5 years of 1h).
fn hourly_bars() -> &'static (Vec<Bar>, Vec<fks::core::indicators::IndicatorRow>) {
    static BARS: OnceLock<(Vec<Bar>, Vec<fks::core::indicators::IndicatorRow>)> = OnceLock::new();
    BARS.get_or_init(|| {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        let mut price = 100.0f64;
        let mut vol = 0.01f64;
        let bars: Vec<Bar> = (0..45_000)
            .map(|i| {
                vol = (vol * (1.0 + 0.05 * rng.next() as f64)).clamp(0.003, 0.04);
                let open = price;
                price *= (vol * rng.next() as f64 * 1.7).exp();
                let wick = vol * 0.5 * (1.0 + rng.next() as f64);
                Bar {
                    open_time: 1_500_000_000_000 + i as i64 * 3_600_000,
                    open,
                    high: open.max(price) * (1.0 + wick),
                    low: open.min(price) * (1.0 - wick),
                    close: price,
                    volume: 1000.0 * (1.0 + 0.5 * rng.next() as f64),
                }
            })
            .collect();
        let ind = fks::core::indicators::compute_all(&bars);
        (bars, ind)
    })
}

/// evaluate-signals' walk-forward with calibration and the bootstrap, defaults (horizon 24,
/// one decision every 24 bars after 500 known snapshots, k = 50).
#[divan::bench(sample_count = 3)]
fn walk_forward_45k_hourly_candles(b: divan::Bencher) {
    let (bars, ind) = hourly_bars();
    let sym = Symbol("BTCUSDT".into());
    let cfg = WalkForwardConfig::default();
    b.bench(|| walk_forward(bars, ind, &sym, 24, 24, 500, &cfg));
}
