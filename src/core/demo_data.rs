//! Deterministic generated market data for `fks demo` and tests: a seeded model with
//! trending and mean-reverting drift, volatility regimes and jumps. Not real prices.

use crate::core::market::{Candle, Timeframe};
use rust_decimal::Decimal;

/// SplitMix64: small, fast, reproducible across platforms.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Parameters of one generated market.
#[derive(Debug, Clone)]
pub struct Model {
    pub start_price: f64,
    /// Per-year volatility in the calm regime; the stormy regime has 3x.
    pub annual_vol: f64,
    /// Price decimals.
    pub decimals: u32,
    pub base_volume: f64,
}

/// Generate `n` closed candles starting at `start_ms` (aligned down to the timeframe).
pub fn generate(seed: u64, model: &Model, tf: Timeframe, start_ms: i64, n: usize) -> Vec<Candle> {
    let mut rng = Rng::new(seed);
    let step = tf.millis();
    let start = start_ms - start_ms.rem_euclid(step);
    let dt = step as f64 / (365.0 * 86_400_000.0);
    let mut price = model.start_price;
    let mut stormy = false;
    let mut drift = 0.0f64;
    let mut out = Vec::with_capacity(n);
    let scale = 10f64.powi(model.decimals as i32);
    let round = |x: f64| (x * scale).round() / scale;
    const SUB: usize = 8;
    for i in 0..n {
        // Regime switches: calm <-> stormy, and new trends now and then.
        if rng.uniform() < if stormy { 0.02 } else { 0.005 } {
            stormy = !stormy;
        }
        if rng.uniform() < 0.01 {
            drift = rng.normal() * 1.5;
        }
        let vol = model.annual_vol * if stormy { 3.0 } else { 1.0 };
        let open = round(price);
        let (mut hi, mut lo) = (open, open);
        let mut p = open;
        for _ in 0..SUB {
            let z = rng.normal();
            let sdt = dt / SUB as f64;
            p *= ((drift - 0.5 * vol * vol) * sdt + vol * sdt.sqrt() * z).exp();
            hi = hi.max(p);
            lo = lo.min(p);
        }
        // Rare jumps (news, liquidations).
        if rng.uniform() < 0.004 {
            let j = rng.normal() * 0.06;
            p *= j.exp();
            hi = hi.max(p);
            lo = lo.min(p);
        }
        let close = round(p).max(1.0 / scale);
        let high = round(hi).max(open).max(close);
        let low = round(lo).min(open).min(close).max(1.0 / scale);
        let vol_mult = 1.0 + (p / price - 1.0).abs() * 40.0 + if stormy { 1.0 } else { 0.0 };
        let volume = model.base_volume * vol_mult * (0.5 + rng.uniform());
        price = close;
        out.push(Candle {
            open_time: start + i as i64 * step,
            open: dec(open, model.decimals),
            high: dec(high, model.decimals),
            low: dec(low, model.decimals),
            close: dec(close, model.decimals),
            volume: dec(volume, 4),
        });
    }
    out
}

fn dec(x: f64, decimals: u32) -> Decimal {
    let mut d = Decimal::from_f64_retain(x)
        .unwrap_or_default()
        .round_dp(decimals);
    d.rescale(decimals);
    d
}

/// The demo's markets: (symbol, seed, model).
pub fn demo_markets() -> Vec<(&'static str, u64, Model)> {
    vec![
        (
            "BTCUSDT",
            0xB7C,
            Model {
                start_price: 42_000.0,
                annual_vol: 0.55,
                decimals: 2,
                base_volume: 800.0,
            },
        ),
        (
            "ETHUSDT",
            0xE7E,
            Model {
                start_price: 2_300.0,
                annual_vol: 0.70,
                decimals: 2,
                base_volume: 9_000.0,
            },
        ),
        (
            "SOLUSDT",
            0x501,
            Model {
                start_price: 95.0,
                annual_vol: 0.95,
                decimals: 3,
                base_volume: 60_000.0,
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn deterministic_and_consistent() {
        let m = &demo_markets()[0].2;
        let a = generate(1, m, Timeframe::H1, 1_700_000_123_456, 500);
        let b = generate(1, m, Timeframe::H1, 1_700_000_123_456, 500);
        assert_eq!(a, b);
        assert_ne!(a, generate(2, m, Timeframe::H1, 1_700_000_123_456, 500));
        for w in a.windows(2) {
            assert_eq!(w[1].open_time - w[0].open_time, 3_600_000);
        }
        for c in &a {
            assert!(c.low <= c.open && c.low <= c.close && c.high >= c.open && c.high >= c.close);
            assert!(c.low > Decimal::ZERO);
        }
    }
}
