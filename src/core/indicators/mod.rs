//! Technical indicators that reproduce TA-Lib's numbers.
//!
//! Batch functions take a series and return a vector of the same length, with
//! `f64::NAN` over TA-Lib's warm-up prefix ("lookback", see [`lookback`]) and TA-Lib's
//! values after it: SMA, EMA (seeded with the SMA of the first `n` values), RSI and
//! ATR (Wilder smoothing), MACD (TA-Lib's seeding, see [`macd`]) and Bollinger Bands
//! (population standard deviation). They agree with TA-Lib 0.8 to about 1e-13
//! relative (the golden tests hold them to 1e-9); the remaining differences are
//! rounding, e.g. TA-Lib's wheel is compiled with fused multiply-adds.
//!
//! Moving windows (SMA, Bollinger) are computed more exactly than TA-Lib's running
//! sums: they do not drift over long series, a flat window has a width of exactly 0
//! and its mean is exactly the repeated value, and a price of 1e5 moving by 1e-4 gets
//! its true standard deviation (TA-Lib's `E[x^2] - E[x]^2` cannot resolve it).
//!
//! [`IndicatorState`] computes the standard set (RSI 14, MACD 12/26/9, Bollinger
//! 20/2, ATR 14, SMA 20/50/200, EMA 12/26) one candle at a time and can be saved
//! between runs; [`compute_all`] is the same over a whole series. Both use the same
//! per-value kernels as the batch functions, so streaming, batch and per-indicator
//! results are bit-identical.
//!
//! Periods must be at least 1; a period of 0 gives an all-NaN result. A series
//! shorter than the lookback + 1 is all NaN. A NaN input makes the recursive
//! indicators (EMA, MACD, RSI, ATR) NaN from then on, and the windowed ones (SMA,
//! Bollinger) NaN while it is inside the window. Nothing here panics on any input.

mod float_serde;
mod incremental;
mod kernels;

#[cfg(test)]
mod tests;

pub use incremental::{IndicatorRow, IndicatorState, STATE_VERSION, compute_all};

use kernels::{AtrKernel, Ema, MacdKernel, RollingWindow, RsiKernel};
use serde::{Deserialize, Serialize};

/// An indicator and its parameters, for asking its warm-up length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    Sma(usize),
    Ema(usize),
    Rsi(usize),
    Macd {
        fast: usize,
        slow: usize,
        signal: usize,
    },
    Bbands(usize),
    Atr(usize),
}

impl IndicatorKind {
    /// The standard set computed by [`IndicatorState`].
    pub const STANDARD: [IndicatorKind; 9] = [
        IndicatorKind::Rsi(14),
        IndicatorKind::Macd {
            fast: 12,
            slow: 26,
            signal: 9,
        },
        IndicatorKind::Bbands(20),
        IndicatorKind::Atr(14),
        IndicatorKind::Sma(20),
        IndicatorKind::Sma(50),
        IndicatorKind::Sma(200),
        IndicatorKind::Ema(12),
        IndicatorKind::Ema(26),
    ];
}

/// TA-Lib's lookback: the number of leading NaN values (the first value is at this
/// index). SMA/EMA/Bollinger `n - 1`; RSI and ATR `n`; MACD
/// `max(fast, slow) - 1 + signal - 1`. (For a period of 0, which yields all NaN,
/// this returns 0.)
pub fn lookback(kind: IndicatorKind) -> usize {
    match kind {
        IndicatorKind::Sma(n) | IndicatorKind::Ema(n) | IndicatorKind::Bbands(n) => {
            n.saturating_sub(1)
        }
        IndicatorKind::Rsi(n) | IndicatorKind::Atr(n) => n,
        IndicatorKind::Macd { fast, slow, signal } => {
            fast.max(slow).saturating_sub(1) + signal.saturating_sub(1)
        }
    }
}

/// Simple moving average of the last `n` values; lookback `n - 1`.
pub fn sma(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    if n == 0 {
        return out;
    }
    let mut w = RollingWindow::new(n);
    for (o, &v) in out.iter_mut().zip(x) {
        if let Some((mean, _)) = w.push(v) {
            *o = mean;
        }
    }
    out
}

/// Population standard deviation of the last `n` values (TA-Lib `STDDEV` with
/// `nbdev = 1`, but exact: see the module notes); lookback `n - 1`.
pub fn stddev(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    if n == 0 {
        return out;
    }
    let mut w = RollingWindow::new(n);
    for (o, &v) in out.iter_mut().zip(x) {
        if let Some((_, var)) = w.push(v) {
            *o = var.sqrt();
        }
    }
    out
}

/// Exponential moving average with `k = 2 / (n + 1)`, seeded (as TA-Lib does) with the
/// simple average of the first `n` values; lookback `n - 1`.
pub fn ema(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    if n == 0 {
        return out;
    }
    let mut e = Ema::new(n, 0);
    for (o, &v) in out.iter_mut().zip(x) {
        if let Some(val) = e.push(v) {
            *o = val;
        }
    }
    out
}

/// Relative strength index with Wilder smoothing, TA-Lib semantics: the first value
/// (at index `n`) uses the plain averages of the first `n` moves; a window with no
/// movement at all gives 0. Lookback `n`.
pub fn rsi(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    if n == 0 {
        return out;
    }
    let mut r = RsiKernel::new(n);
    for (o, &v) in out.iter_mut().zip(x) {
        if let Some(val) = r.push(v) {
            *o = val;
        }
    }
    out
}

/// The three MACD outputs, each as long as the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Macd {
    pub macd: Vec<f64>,
    pub signal: Vec<f64>,
    pub hist: Vec<f64>,
}

/// TA-Lib's MACD. Not `EMA(fast) - EMA(slow)` of the standalone EMAs: both EMAs start
/// at index `slow - 1`, the fast one seeded with the mean of values
/// `slow - fast ..= slow - 1`; the signal is an EMA of the MACD line seeded with the
/// mean of its first `signal` values; `hist = macd - signal`. All three start at
/// index `slow - 1 + signal - 1` (33 for 12/26/9). `fast > slow` are swapped.
pub fn macd(x: &[f64], fast: usize, slow: usize, signal: usize) -> Macd {
    let len = x.len();
    let mut out = Macd {
        macd: vec![f64::NAN; len],
        signal: vec![f64::NAN; len],
        hist: vec![f64::NAN; len],
    };
    if fast == 0 || slow == 0 || signal == 0 {
        return out;
    }
    let mut k = MacdKernel::new(fast, slow, signal);
    for (i, &v) in x.iter().enumerate() {
        if let Some((m, s, h)) = k.push(v) {
            out.macd[i] = m;
            out.signal[i] = s;
            out.hist[i] = h;
        }
    }
    out
}

/// Upper, middle and lower band, each as long as the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Bands {
    pub upper: Vec<f64>,
    pub middle: Vec<f64>,
    pub lower: Vec<f64>,
}

/// Bollinger Bands: the SMA of `n` values ± `k` population standard deviations
/// (TA-Lib `BBANDS(n, k, k, SMA)`); lookback `n - 1`. The middle band is exactly
/// [`sma`]; a flat window gives three equal bands.
pub fn bbands(x: &[f64], n: usize, k: f64) -> Bands {
    let len = x.len();
    let mut out = Bands {
        upper: vec![f64::NAN; len],
        middle: vec![f64::NAN; len],
        lower: vec![f64::NAN; len],
    };
    if n == 0 {
        return out;
    }
    let mut w = RollingWindow::new(n);
    for (i, &v) in x.iter().enumerate() {
        if let Some((mean, var)) = w.push(v) {
            let width = var.sqrt() * k;
            out.upper[i] = mean + width;
            out.middle[i] = mean;
            out.lower[i] = mean - width;
        }
    }
    out
}

/// Average true range with Wilder smoothing, as TA-Lib: the first value (index `n`)
/// is the mean true range of bars `1..=n`. The output is as long as `close`; if the
/// three inputs differ in length, only the common prefix is computed (the rest is NaN).
pub fn atr(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; close.len()];
    if n == 0 {
        return out;
    }
    let mut a = AtrKernel::new(n);
    for (o, ((&h, &l), &c)) in out.iter_mut().zip(high.iter().zip(low).zip(close)) {
        if let Some(val) = a.push(h, l, c) {
            *o = val;
        }
    }
    out
}
