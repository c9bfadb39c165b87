//! Test data: deterministic random bars and simple causal indicators.
//!
//! The indicators here are textbook (Wilder RSI/ATR, EMA-based MACD, population-σ
//! Bollinger) with TA-Lib's warm-up lengths; they are not TA-Lib exact and need not be:
//! the tests only need causal, plausible values.

use crate::core::indicators::IndicatorRow;
use crate::core::market::Bar;

/// SplitMix64: a tiny deterministic generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

pub const HOUR: i64 = 3_600_000;

/// `n` hourly bars of a geometric random walk with 1% hourly volatility.
pub fn random_walk(n: usize, seed: u64, start: f64) -> Vec<Bar> {
    let mut rng = Rng(seed);
    let mut close = start;
    (0..n)
        .map(|i| {
            let open = close;
            close = open * (0.01 * rng.normal()).exp();
            let hi = open.max(close) * (1.0 + 0.004 * rng.uniform());
            let lo = open.min(close) * (1.0 - 0.004 * rng.uniform());
            Bar {
                open_time: 1_700_000_000_000 + i as i64 * HOUR,
                open,
                high: hi,
                low: lo,
                close,
                volume: 100.0 + 50.0 * rng.uniform(),
            }
        })
        .collect()
}

fn sma_at(x: &[f64], i: usize, n: usize) -> Option<f64> {
    (i + 1 >= n).then(|| x[i + 1 - n..=i].iter().sum::<f64>() / n as f64)
}

/// EMA seeded with the SMA of the first `n` values (TA-Lib style); `None` before `n − 1`.
fn ema_series(x: &[Option<f64>], n: usize) -> Vec<Option<f64>> {
    let k = 2.0 / (n as f64 + 1.0);
    let mut out = vec![None; x.len()];
    let first = match x.iter().position(|v| v.is_some()) {
        Some(f) => f,
        None => return out,
    };
    let mut prev: Option<f64> = None;
    for i in first..x.len() {
        let Some(v) = x[i] else { continue };
        if i + 1 < first + n {
            continue;
        }
        prev = Some(match prev {
            None => {
                x[i + 1 - n..=i]
                    .iter()
                    .map(|v| v.unwrap_or(0.0))
                    .sum::<f64>()
                    / n as f64
            }
            Some(p) => p + k * (v - p),
        });
        out[i] = prev;
    }
    out
}

/// Causal indicator rows for `bars` (row i depends on bars 0..=i only).
pub fn indicators(bars: &[Bar]) -> Vec<IndicatorRow> {
    let n = bars.len();
    let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let closes: Vec<Option<f64>> = close.iter().map(|c| Some(*c)).collect();
    let ema12 = ema_series(&closes, 12);
    let ema26 = ema_series(&closes, 26);
    let macd: Vec<Option<f64>> = (0..n).map(|i| Some(ema12[i]? - ema26[i]?)).collect();
    let signal = ema_series(&macd, 9);

    // Wilder RSI and ATR, lookback 14.
    let mut rsi = vec![None; n];
    let mut atr = vec![None; n];
    let (mut ag, mut al, mut tr_avg) = (0.0, 0.0, 0.0);
    for i in 1..n {
        let d = close[i] - close[i - 1];
        let (g, l) = (d.max(0.0), (-d).max(0.0));
        let tr = (bars[i].high - bars[i].low)
            .max((bars[i].high - close[i - 1]).abs())
            .max((bars[i].low - close[i - 1]).abs());
        if i <= 14 {
            ag += g / 14.0;
            al += l / 14.0;
            tr_avg += tr / 14.0;
        } else {
            ag = (ag * 13.0 + g) / 14.0;
            al = (al * 13.0 + l) / 14.0;
            tr_avg = (tr_avg * 13.0 + tr) / 14.0;
        }
        if i >= 14 {
            rsi[i] = Some(if al == 0.0 {
                100.0
            } else {
                100.0 - 100.0 / (1.0 + ag / al)
            });
            atr[i] = Some(tr_avg);
        }
    }

    (0..n)
        .map(|i| {
            let mid = sma_at(&close, i, 20);
            let sd = mid.map(|m| {
                (close[i + 1 - 20..=i]
                    .iter()
                    .map(|c| (c - m).powi(2))
                    .sum::<f64>()
                    / 20.0)
                    .sqrt()
            });
            IndicatorRow {
                open_time: bars[i].open_time,
                rsi14: rsi[i],
                macd: signal[i].and(macd[i]),
                macd_signal: signal[i],
                macd_hist: signal[i].and_then(|s| Some(macd[i]? - s)),
                bb_upper: mid.zip(sd).map(|(m, s)| m + 2.0 * s),
                bb_middle: mid,
                bb_lower: mid.zip(sd).map(|(m, s)| m - 2.0 * s),
                atr14: atr[i],
                sma20: mid,
                sma50: sma_at(&close, i, 50),
                sma200: sma_at(&close, i, 200),
                ema12: ema12[i],
                ema26: ema26[i],
            }
        })
        .collect()
}
