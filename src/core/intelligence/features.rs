//! The market-state vector of one candle, its normaliser, and its realised forward outcome.
//!
//! Features of bar `i` (all from bars `<= i` and the indicator row of bar `i`, so a
//! snapshot never sees the future):
//!
//! | # | feature | formula |
//! |---|---|---|
//! | 0 | `rsi` | RSI14 / 100 − 0.5 |
//! | 1 | `macd_hist_atr` | MACD histogram / ATR14 |
//! | 2 | `bb_pct_b` | (close − lower) / (upper − lower) − 0.5 |
//! | 3 | `atr_pct` | ATR14 / close |
//! | 4 | `dist_sma50` | close / SMA50 − 1 |
//! | 5 | `dist_sma200` | close / SMA200 − 1 |
//! | 6 | `ret_1` | ln(close[i] / close[i−1]) |
//! | 7 | `ret_5` | ln(close[i] / close[i−5]) |
//! | 8 | `ret_20` | ln(close[i] / close[i−20]) |
//! | 9 | `volume_z` | (volume[i] − mean20) / std20 over bars i−19..=i, clamped to ±[`VOLUME_Z_CLAMP`]; 0 when std20 = 0 |

use crate::core::indicators::IndicatorRow;
use crate::core::market::Bar;
use serde::{Deserialize, Serialize};

/// Number of features in a snapshot.
pub const D: usize = 10;

/// Feature names in vector order (for stats output and documentation).
pub const FEATURE_NAMES: [&str; D] = [
    "rsi",
    "macd_hist_atr",
    "bb_pct_b",
    "atr_pct",
    "dist_sma50",
    "dist_sma200",
    "ret_1",
    "ret_5",
    "ret_20",
    "volume_z",
];

/// The volume z-score is clamped to ±this, so one freak candle does not dominate distances.
pub const VOLUME_Z_CLAMP: f64 = 5.0;

/// Bars of history a snapshot needs besides the indicators (the 20-bar return and z-score).
pub const HISTORY: usize = 20;

/// The feature vector of bar `i`, or `None` when any input is undefined: indicator warm-up
/// (`None` fields), fewer than [`HISTORY`] earlier bars, a zero-width Bollinger band, a
/// non-positive price or ATR, a non-finite result, or `ind[i]` not belonging to `bars[i]`
/// (its `open_time` differs).
pub fn features(bars: &[Bar], ind: &[IndicatorRow], i: usize) -> Option<[f32; D]> {
    let bar = bars.get(i)?;
    let row = ind.get(i)?;
    if row.open_time != bar.open_time || i < HISTORY {
        return None;
    }
    let close = bar.close;
    let (rsi, hist, upper, lower, atr, sma50, sma200) = (
        row.rsi14?,
        row.macd_hist?,
        row.bb_upper?,
        row.bb_lower?,
        row.atr14?,
        row.sma50?,
        row.sma200?,
    );
    if close <= 0.0 || atr <= 0.0 || sma50 <= 0.0 || sma200 <= 0.0 || upper <= lower {
        return None;
    }
    let past = |n: usize| bars[i - n].close;
    let log_ret = |n: usize| {
        let p = past(n);
        if p > 0.0 { (close / p).ln() } else { f64::NAN }
    };

    let window = &bars[i + 1 - HISTORY..=i];
    let n = window.len() as f64;
    let mean = window.iter().map(|b| b.volume).sum::<f64>() / n;
    let var = window
        .iter()
        .map(|b| (b.volume - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = var.sqrt();
    let volume_z = if std > 0.0 {
        ((bar.volume - mean) / std).clamp(-VOLUME_Z_CLAMP, VOLUME_Z_CLAMP)
    } else {
        0.0
    };

    let v = [
        rsi / 100.0 - 0.5,
        hist / atr,
        (close - lower) / (upper - lower) - 0.5,
        atr / close,
        close / sma50 - 1.0,
        close / sma200 - 1.0,
        log_ret(1),
        log_ret(5),
        log_ret(20),
        volume_z,
    ];
    if v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    Some(v.map(|x| x as f32))
}

/// Per-feature robust centring and scaling, fitted once on a training set and stored with
/// the knowledge base so that query and history are scaled the same way.
///
/// Choice: **median / MAD**. `center` = median, `scale` = 1.4826 × median absolute
/// deviation (equal to the standard deviation for normal data, but a handful of crash
/// candles cannot inflate it). When the MAD is 0 (a feature that is mostly constant, such
/// as a clamped z-score) the standard deviation is used instead, and when that is 0 too
/// the scale is 1. Normalised value: `(x − center) / scale`, so every feature counts
/// about equally in the Euclidean distance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Format version; a stored normaliser with another version must be refitted.
    pub version: u32,
    /// Number of vectors it was fitted on.
    pub fitted_on: usize,
    pub center: [f32; D],
    pub scale: [f32; D],
}

impl Normalizer {
    pub const VERSION: u32 = 1;

    /// The identity (center 0, scale 1): what an empty training set gives.
    pub fn identity() -> Self {
        Normalizer {
            version: Self::VERSION,
            fitted_on: 0,
            center: [0.0; D],
            scale: [1.0; D],
        }
    }

    /// Fit median / MAD per feature on `train`. Deterministic; empty → identity.
    pub fn fit(train: &[[f32; D]]) -> Self {
        if train.is_empty() {
            return Self::identity();
        }
        let mut center = [0.0f32; D];
        let mut scale = [1.0f32; D];
        let mut col: Vec<f64> = Vec::with_capacity(train.len());
        for f in 0..D {
            col.clear();
            col.extend(train.iter().map(|v| v[f] as f64));
            let med = median(&mut col);
            let mut dev: Vec<f64> = col.iter().map(|x| (x - med).abs()).collect();
            let mad = median(&mut dev) * 1.4826;
            let s = if mad > 1e-12 {
                mad
            } else {
                let mean = col.iter().sum::<f64>() / col.len() as f64;
                let sd =
                    (col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
                if sd > 1e-12 { sd } else { 1.0 }
            };
            center[f] = med as f32;
            scale[f] = s as f32;
        }
        Normalizer {
            version: Self::VERSION,
            fitted_on: train.len(),
            center,
            scale,
        }
    }

    /// `(x − center) / scale` per feature.
    pub fn apply(&self, x: &[f32; D]) -> [f32; D] {
        std::array::from_fn(|f| (x[f] - self.center[f]) / self.scale[f])
    }

    /// The inverse of [`Self::apply`] (for showing a neighbour in raw units).
    pub fn invert(&self, z: &[f32; D]) -> [f32; D] {
        std::array::from_fn(|f| z[f] * self.scale[f] + self.center[f])
    }
}

/// Median of `v` (reordered in place, total order); mean of the middle two for even
/// lengths. A selection, not a sort: the walk-forward refits the normaliser often.
fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let (below, mid, _) = v.select_nth_unstable_by(n / 2, |a, b| a.total_cmp(b));
    let hi = *mid;
    if n % 2 == 1 {
        hi
    } else {
        let lo = below
            .iter()
            .copied()
            .max_by(|a, b| a.total_cmp(b))
            .unwrap_or(hi);
        (lo + hi) / 2.0
    }
}

/// The realised outcome of holding from the close of bar `i` for `horizon` bars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Simple return `close[i + h] / close[i] − 1`.
    pub ret: f64,
    /// Worst excursion against a long, as a positive fraction of `close[i]`:
    /// `max(0, 1 − min(low[i+1..=i+h]) / close[i])`.
    pub max_adverse: f64,
    /// Best excursion for a long, i.e. the worst against a short, as a positive fraction:
    /// `max(0, max(high[i+1..=i+h]) / close[i] − 1)`.
    pub max_favorable: f64,
}

/// The outcome of bar `i` over `horizon` bars, or `None` while bar `i + horizon` does not
/// exist yet (or `horizon` is 0, or a price is not positive). Callers store it only once
/// it is known; it becomes known at the close of bar `i + horizon`
/// (see [`outcome_known_at`]).
pub fn forward_outcome(bars: &[Bar], i: usize, horizon: usize) -> Option<Outcome> {
    if horizon == 0 {
        return None;
    }
    let end = i.checked_add(horizon)?;
    let entry = bars.get(i)?.close;
    let last = bars.get(end)?.close;
    if entry <= 0.0 || last <= 0.0 {
        return None;
    }
    let path = &bars[i + 1..=end];
    let low = path.iter().map(|b| b.low).fold(f64::INFINITY, f64::min);
    let high = path
        .iter()
        .map(|b| b.high)
        .fold(f64::NEG_INFINITY, f64::max);
    Some(Outcome {
        ret: last / entry - 1.0,
        max_adverse: (1.0 - low / entry).max(0.0),
        max_favorable: (high / entry - 1.0).max(0.0),
    })
}

/// When the outcome of bar `i` becomes known: the close time of bar `i + horizon`
/// (`open_time + timeframe_ms`), or `None` while that bar does not exist.
pub fn outcome_known_at(bars: &[Bar], i: usize, horizon: usize, timeframe_ms: i64) -> Option<i64> {
    bars.get(i.checked_add(horizon)?)
        .map(|b| b.open_time + timeframe_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::intelligence::testkit;

    #[test]
    fn features_are_undefined_during_warm_up() {
        let bars = testkit::random_walk(400, 1, 100.0);
        let ind = testkit::indicators(&bars);
        // SMA200 needs 200 bars: index 198 has none, 199 is the first possible.
        for i in 0..199 {
            assert!(
                features(&bars, &ind, i).is_none(),
                "bar {i} should be undefined"
            );
        }
        assert!(features(&bars, &ind, 199).is_some());
        assert!(features(&bars, &ind, 399).is_some());
        assert!(features(&bars, &ind, 400).is_none());
    }

    #[test]
    fn one_missing_indicator_makes_the_snapshot_undefined() {
        let bars = testkit::random_walk(300, 2, 100.0);
        let mut ind = testkit::indicators(&bars);
        assert!(features(&bars, &ind, 250).is_some());
        ind[250].atr14 = None;
        assert!(features(&bars, &ind, 250).is_none());
        // a row that belongs to another candle is refused
        ind[251].open_time += 1;
        assert!(features(&bars, &ind, 251).is_none());
    }

    #[test]
    fn feature_values_follow_the_formulas() {
        let bars = testkit::random_walk(300, 3, 100.0);
        let ind = testkit::indicators(&bars);
        let i = 260;
        let v = features(&bars, &ind, i).unwrap();
        let r = ind[i];
        let c = bars[i].close;
        let close_to = |a: f32, b: f64| assert!((a as f64 - b).abs() < 1e-5, "{a} vs {b}");
        close_to(v[0], r.rsi14.unwrap() / 100.0 - 0.5);
        close_to(v[1], r.macd_hist.unwrap() / r.atr14.unwrap());
        close_to(v[3], r.atr14.unwrap() / c);
        close_to(v[5], c / r.sma200.unwrap() - 1.0);
        close_to(v[7], (c / bars[i - 5].close).ln());
        assert!(v[9].abs() <= VOLUME_Z_CLAMP as f32);
    }

    #[test]
    fn normaliser_round_trips_through_json() {
        let train: Vec<[f32; D]> = (0..101)
            .map(|i| std::array::from_fn(|f| (i as f32 * 0.37 + f as f32).sin() * (f as f32 + 1.0)))
            .collect();
        let n = Normalizer::fit(&train);
        let json = serde_json::to_string(&n).unwrap();
        let back: Normalizer = serde_json::from_str(&json).unwrap();
        assert_eq!(back, n);
        let x = train[17];
        assert_eq!(back.apply(&x), n.apply(&x));
        let z = n.apply(&x);
        for (a, b) in n.invert(&z).iter().zip(x) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    #[test]
    fn normaliser_centres_on_the_median_and_survives_constant_features() {
        let mut train: Vec<[f32; D]> = (0..5).map(|i| [i as f32; D]).collect();
        for v in &mut train {
            v[9] = 0.0; // constant
        }
        train[4][0] = 1000.0; // outlier does not move the median or the MAD
        let n = Normalizer::fit(&train);
        assert_eq!(n.center[0], 2.0);
        assert!((n.scale[0] - 1.4826).abs() < 1e-5);
        assert_eq!(n.scale[9], 1.0);
        assert_eq!(Normalizer::fit(&[]), Normalizer::identity());
    }

    #[test]
    fn forward_outcome_needs_the_horizon_bar() {
        let mk = |c: f64, l: f64, h: f64| Bar {
            open_time: 0,
            open: c,
            high: h,
            low: l,
            close: c,
            volume: 1.0,
        };
        let bars = vec![
            mk(100.0, 99.0, 101.0),
            mk(98.0, 90.0, 99.0),
            mk(110.0, 97.0, 120.0),
        ];
        let o = forward_outcome(&bars, 0, 2).unwrap();
        assert!((o.ret - 0.10).abs() < 1e-12);
        assert!((o.max_adverse - 0.10).abs() < 1e-12);
        assert!((o.max_favorable - 0.20).abs() < 1e-12);
        assert!(forward_outcome(&bars, 1, 2).is_none());
        assert!(forward_outcome(&bars, 0, 0).is_none());
        assert_eq!(outcome_known_at(&bars, 0, 2, 60_000), Some(60_000));
        assert_eq!(outcome_known_at(&bars, 1, 2, 60_000), None);
    }
}
