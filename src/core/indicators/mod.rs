//! Technical indicators that reproduce TA-Lib's numbers.
//!
//! Batch functions take a series and return a vector of the same length, with
//! `f64::NAN` over TA-Lib's warm-up prefix ("lookback", see [`lookback`]) and TA-Lib's
//! values after it: SMA, EMA (seeded with the SMA of the first `n` values), RSI and
//! ATR (Wilder smoothing), MACD (TA-Lib's seeding, see [`macd`]) and Bollinger Bands
//! (population standard deviation). They agree with TA-Lib 0.8 to about 1e-13
//! relative (the MACD line, a difference of two EMAs, to about 1e-15 of the price;
//! the golden tests hold them to 1e-9); the differences are rounding: the recurrences
//! are evaluated in blocks so that the CPU can overlap them (see `kernels`).
//!
//! Moving windows (SMA, Bollinger) are computed more exactly than TA-Lib's running
//! sums: they do not drift over long series, a flat window has a width of exactly 0
//! and its mean is exactly the repeated value, and a price of 1e5 moving by 1e-4 gets
//! its true standard deviation (TA-Lib's `E[x^2] - E[x]^2` cannot resolve it).
//!
//! [`IndicatorState`] computes the standard set (RSI 14, MACD 12/26/9, Bollinger
//! 20/2, ATR 14, SMA 20/50/200, EMA 12/26) one candle at a time and can be saved
//! between runs; [`compute_standard_set`] computes it over a whole series as columns
//! (the fast path; [`StandardSet::compute_into`] reuses the memory of a previous
//! set), and [`compute_all`] as rows. The batch loops do exactly the arithmetic of the
//! one-value kernels, so streaming, batch and per-indicator results are bit-identical.
//!
//! Periods must be at least 1; a period of 0 gives an all-NaN result. A series
//! shorter than the lookback + 1 is all NaN. A NaN input makes the recursive
//! indicators (EMA, MACD, RSI, ATR) NaN from then on; a non-finite input makes the
//! windowed ones (SMA, Bollinger) NaN while it is inside the window, and after that
//! they are those of the series that starts after it. Nothing here panics on any input.

mod float_serde;
mod incremental;
mod kernels;

#[cfg(test)]
mod tests;

pub use incremental::{IndicatorRow, IndicatorState, STATE_VERSION, compute_all};

use crate::core::market::Bar;
use kernels::{push_nan, window_blocks, window_mean, window_stats};
use serde::{Deserialize, Serialize};

/// An empty output vector with room for `len` values (the kernels append every
/// value, warm-up NaN included, so nothing is written twice).
fn out_vec(len: usize) -> Vec<f64> {
    Vec::with_capacity(len)
}

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
    let mut out = out_vec(x.len());
    sma_append(x, n, &mut out);
    out
}

/// [`sma`] appended to `out`.
fn sma_append(x: &[f64], n: usize, out: &mut Vec<f64>) {
    out.reserve(x.len());
    let end = out.len() + x.len();
    if n > 0 {
        let inv_n = 1.0 / n as f64;
        let base = out.len();
        window_blocks::<false>(x, n, |i, anchor, q1, p1, _, _| {
            push_nan(out, base + i - out.len());
            let q1 = &q1[..p1.len()];
            out.extend(
                q1.iter()
                    .zip(p1)
                    .map(|(&q, &p)| window_mean(anchor, q + p, inv_n)),
            );
        });
    }
    push_nan(out, end - out.len());
}

/// Population standard deviation of the last `n` values (TA-Lib `STDDEV` with
/// `nbdev = 1`, but exact: see the module notes); lookback `n - 1`.
pub fn stddev(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; x.len()];
    if n == 0 {
        return out;
    }
    let inv_n = 1.0 / n as f64;
    window_blocks::<true>(x, n, |i, anchor, q1, p1, q2, p2| {
        for (t, o) in out[i..i + p1.len()].iter_mut().enumerate() {
            *o = window_stats(anchor, q1[t] + p1[t], q2[t] + p2[t], inv_n)
                .1
                .sqrt();
        }
    });
    out
}

/// Exponential moving average with `k = 2 / (n + 1)`, seeded (as TA-Lib does) with the
/// simple average of the first `n` values; lookback `n - 1`.
pub fn ema(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = out_vec(x.len());
    kernels::ema_append(x, n, 0, &mut out);
    out
}

/// Relative strength index with Wilder smoothing, TA-Lib semantics: the first value
/// (at index `n`) uses the plain averages of the first `n` moves; a window with no
/// movement at all gives 0. Lookback `n`.
pub fn rsi(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = out_vec(x.len());
    kernels::rsi_append(x, n, &mut out);
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
        macd: out_vec(len),
        signal: out_vec(len),
        hist: out_vec(len),
    };
    if fast == 0 || slow == 0 || signal == 0 {
        for v in [&mut out.macd, &mut out.signal, &mut out.hist] {
            push_nan(v, len);
        }
        return out;
    }
    let (fast, slow) = if slow < fast {
        (slow, fast)
    } else {
        (fast, slow)
    };
    // The slow EMA (the standalone one) is kept in `hist` until `hist` is written.
    let mut slow_ema = std::mem::take(&mut out.hist);
    kernels::ema_append(x, slow, 0, &mut slow_ema);
    macd_with_slow(
        x,
        fast,
        slow,
        signal,
        &slow_ema,
        &mut out.macd,
        &mut out.signal,
    );
    slow_ema.clear();
    out.hist = slow_ema;
    macd_hist(signal, slow, &out.macd, &out.signal, &mut out.hist);
    out
}

/// The MACD line and signal of [`macd`] (`fast <= slow`), given the slow EMA,
/// appended to the empty `line` and `sig`.
fn macd_with_slow(
    x: &[f64],
    fast: usize,
    slow: usize,
    signal: usize,
    slow_ema: &[f64],
    line: &mut Vec<f64>,
    sig: &mut Vec<f64>,
) {
    let line_at = slow - 1;
    let first = line_at + signal - 1;
    if x.len() <= first {
        push_nan(line, x.len());
        push_nan(sig, x.len());
        return;
    }
    // The fast EMA starts at `line_at` too; subtract the slow one as it is written.
    kernels::ema_map_append(x, fast, slow - fast, line, |i, v| v - slow_ema[i]);
    push_nan(sig, line_at);
    kernels::ema_append(&line[line_at..], signal, 0, sig);
    line[..first].fill(f64::NAN);
}

/// `hist = macd - signal` past the lookback, NaN before, appended to the empty `hist`.
fn macd_hist(signal: usize, slow: usize, line: &[f64], sig: &[f64], hist: &mut Vec<f64>) {
    let first = (slow - 1 + signal - 1).min(line.len());
    hist.reserve(line.len());
    push_nan(hist, first);
    hist.extend(
        line[first..]
            .iter()
            .zip(&sig[first..])
            .map(|(&m, &s)| m - s),
    );
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
        upper: out_vec(len),
        middle: out_vec(len),
        lower: out_vec(len),
    };
    bbands_append(x, n, k, &mut out);
    out
}

/// [`bbands`] appended to `out`'s vectors.
fn bbands_append(x: &[f64], n: usize, k: f64, out: &mut Bands) {
    let Bands {
        upper,
        middle,
        lower,
    } = out;
    let base = upper.len();
    let end = base + x.len();
    for v in [&mut *upper, &mut *middle, &mut *lower] {
        v.reserve(x.len());
    }
    if n > 0 {
        let inv_n = 1.0 / n as f64;
        let mut mean = vec![0.0; n];
        let mut width = vec![0.0; n];
        window_blocks::<true>(x, n, |i, anchor, q1, p1, q2, p2| {
            let gap = base + i - upper.len();
            for v in [&mut *upper, &mut *middle, &mut *lower] {
                push_nan(v, gap);
            }
            let m = p1.len();
            let (q1, q2, p2) = (&q1[..m], &q2[..m], &p2[..m]);
            let (mean, width) = (&mut mean[..m], &mut width[..m]);
            for t in 0..m {
                let (mu, var) = window_stats(anchor, q1[t] + p1[t], q2[t] + p2[t], inv_n);
                mean[t] = mu;
                width[t] = var.sqrt() * k;
            }
            upper.extend(mean.iter().zip(&*width).map(|(&mu, &w)| mu + w));
            middle.extend_from_slice(mean);
            lower.extend(mean.iter().zip(&*width).map(|(&mu, &w)| mu - w));
        });
    }
    for v in [upper, middle, lower] {
        push_nan(v, end - v.len());
    }
}

/// Average true range with Wilder smoothing, as TA-Lib: the first value (index `n`)
/// is the mean true range of bars `1..=n`. The output is as long as `close`; if the
/// three inputs differ in length, only the common prefix is computed (the rest is NaN).
pub fn atr(high: &[f64], low: &[f64], close: &[f64], n: usize) -> Vec<f64> {
    let mut out = out_vec(close.len());
    kernels::atr_append(
        kernels::AtrColumns { high, low, close },
        n,
        close.len(),
        &mut out,
    );
    out
}

/// The standard set (see [`IndicatorState`]) as columns, each as long as the series,
/// NaN during each indicator's warm-up: the fast path of [`compute_all`], and the
/// same values as the batch functions (and the streaming state) bit for bit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StandardSet {
    pub rsi14: Vec<f64>,
    pub macd: Vec<f64>,
    pub macd_signal: Vec<f64>,
    pub macd_hist: Vec<f64>,
    pub bb_upper: Vec<f64>,
    pub bb_middle: Vec<f64>,
    pub bb_lower: Vec<f64>,
    pub atr14: Vec<f64>,
    pub sma20: Vec<f64>,
    pub sma50: Vec<f64>,
    pub sma200: Vec<f64>,
    pub ema12: Vec<f64>,
    pub ema26: Vec<f64>,
}

impl StandardSet {
    /// Number of candles.
    pub fn len(&self) -> usize {
        self.rsi14.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rsi14.is_empty()
    }

    /// Recomputes the set for `bars` in place, reusing the vectors' memory: a run over
    /// many series need not allocate (fresh memory is slow to touch the first time).
    pub fn compute_into(&mut self, bars: &[Bar]) {
        let len = bars.len();
        // The closes go to `sma20` while the others are computed (it is the
        // Bollinger middle band, copied at the end).
        let mut close = std::mem::take(&mut self.sma20);
        close.clear();
        close.extend(bars.iter().map(|b| b.close));
        let c = &close[..];
        for v in [
            &mut self.rsi14,
            &mut self.macd,
            &mut self.macd_signal,
            &mut self.macd_hist,
            &mut self.bb_upper,
            &mut self.bb_middle,
            &mut self.bb_lower,
            &mut self.atr14,
            &mut self.sma50,
            &mut self.sma200,
            &mut self.ema12,
            &mut self.ema26,
        ] {
            v.clear();
        }
        kernels::rsi_append(c, 14, &mut self.rsi14);
        kernels::ema_append(c, 12, 0, &mut self.ema12);
        kernels::ema_append(c, 26, 0, &mut self.ema26);
        // MACD's slow EMA is the standalone EMA 26.
        macd_with_slow(
            c,
            12,
            26,
            9,
            &self.ema26,
            &mut self.macd,
            &mut self.macd_signal,
        );
        macd_hist(9, 26, &self.macd, &self.macd_signal, &mut self.macd_hist);
        sma_append(c, 50, &mut self.sma50);
        sma_append(c, 200, &mut self.sma200);
        let mut bands = Bands {
            upper: std::mem::take(&mut self.bb_upper),
            middle: std::mem::take(&mut self.bb_middle),
            lower: std::mem::take(&mut self.bb_lower),
        };
        bbands_append(c, 20, IndicatorState::BB_K, &mut bands);
        (self.bb_upper, self.bb_middle, self.bb_lower) = (bands.upper, bands.middle, bands.lower);
        kernels::atr_append(bars, 14, len, &mut self.atr14);
        close.clear();
        close.extend_from_slice(&self.bb_middle);
        self.sma20 = close;
    }
}

/// The standard set over a whole series as columns (see [`StandardSet`]).
pub fn compute_standard_set(bars: &[Bar]) -> StandardSet {
    let mut set = StandardSet::default();
    set.compute_into(bars);
    set
}
