//! One-value-at-a-time kernels shared by the batch functions and [`super::IndicatorState`].
//!
//! Every batch function in this module is a loop over one of these kernels, and the
//! incremental state is a bundle of the same kernels, so a streamed result is the
//! batch result bit for bit by construction. Each kernel mirrors TA-Lib's C code
//! (the order of operations included), except the rolling window, which is exact
//! where TA-Lib's running sums are not (see [`RollingWindow`]).

use super::float_serde;
use serde::{Deserialize, Serialize};

/// TA-Lib's `PER_TO_K`: the EMA smoothing factor `2 / (period + 1)`.
fn per_to_k(period: usize) -> f64 {
    2.0 / (period as f64 + 1.0)
}

/// Wilder's weight of the previous average, `(period - 1) / period`.
fn keep_factor(period: usize) -> f64 {
    (period as f64 - 1.0) / period as f64
}

/// Exponential moving average, TA-Lib style: seeded with the simple average of its
/// first `period` inputs (after `skip` ignored inputs), then
/// `ema = (x - ema) * k + ema` with `k = 2 / (period + 1)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ema {
    period: usize,
    #[serde(with = "float_serde")]
    k: f64,
    /// Inputs ignored before the seed window starts (MACD's fast EMA is seeded late).
    skip: usize,
    /// Inputs consumed so far, counted only up to `skip + period`.
    warm: usize,
    #[serde(with = "float_serde")]
    sum: f64,
    #[serde(with = "float_serde")]
    value: f64,
}

impl Ema {
    /// `period >= 1`.
    pub(crate) fn new(period: usize, skip: usize) -> Self {
        Ema {
            period,
            k: per_to_k(period),
            skip,
            warm: 0,
            sum: 0.0,
            value: f64::NAN,
        }
    }

    /// Feeds one input; `None` until the seed window is complete.
    #[inline]
    pub(crate) fn push(&mut self, x: f64) -> Option<f64> {
        let ready = self.skip + self.period;
        if self.warm < ready {
            self.warm += 1;
            if self.warm <= self.skip {
                return None;
            }
            self.sum += x;
            if self.warm < ready {
                return None;
            }
            self.value = self.sum / self.period as f64;
            return Some(self.value);
        }
        self.value = ((x - self.value) * self.k) + self.value;
        Some(self.value)
    }
}

/// TA-Lib's MACD: the fast and the slow EMA are both first output at input
/// `slow - 1`, the fast one seeded with the mean of inputs `slow - fast ..= slow - 1`
/// (not the standalone EMA); the signal is an EMA of the MACD line, seeded with the
/// mean of its first `signal` values. Periods are swapped if `fast > slow`, as TA-Lib does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MacdKernel {
    fast: Ema,
    slow: Ema,
    signal: Ema,
}

impl MacdKernel {
    /// All periods `>= 1`.
    pub(crate) fn new(fast: usize, slow: usize, signal: usize) -> Self {
        let (fast, slow) = if slow < fast {
            (slow, fast)
        } else {
            (fast, slow)
        };
        MacdKernel {
            fast: Ema::new(fast, slow - fast),
            slow: Ema::new(slow, 0),
            signal: Ema::new(signal, 0),
        }
    }

    /// Feeds one close; `Some((macd, signal, hist))` once past the lookback.
    #[inline]
    pub(crate) fn push(&mut self, x: f64) -> Option<(f64, f64, f64)> {
        let fast = self.fast.push(x);
        let slow = self.slow.push(x);
        let (Some(fast), Some(slow)) = (fast, slow) else {
            return None;
        };
        let macd = fast - slow;
        self.signal.push(macd).map(|sig| (macd, sig, macd - sig))
    }
}

/// Wilder's RSI as TA-Lib computes it: average gain and loss of the first `period`
/// differences, then `avg = (avg * (period - 1) + move) / period`; the RSI is
/// `100 * gain / (gain + loss)`, and 0 when there was no movement at all.
///
/// The smoothing step is written `avg * k_keep + move * k_new` with
/// `k_keep = (period - 1) / period` and `k_new = 1 / period`: the same value up to
/// rounding (about 1e-15 relative), without a division in the loop-carried chain,
/// which makes it about three times faster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RsiKernel {
    period: usize,
    #[serde(with = "float_serde")]
    k_keep: f64,
    #[serde(with = "float_serde")]
    k_new: f64,
    /// Inputs consumed, counted only up to `period + 1`.
    warm: usize,
    #[serde(with = "float_serde")]
    prev: f64,
    #[serde(with = "float_serde")]
    gain: f64,
    #[serde(with = "float_serde")]
    loss: f64,
}

impl RsiKernel {
    /// `period >= 1`.
    pub(crate) fn new(period: usize) -> Self {
        RsiKernel {
            period,
            k_keep: keep_factor(period),
            k_new: 1.0 / period as f64,
            warm: 0,
            prev: f64::NAN,
            gain: 0.0,
            loss: 0.0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, x: f64) -> Option<f64> {
        if self.warm == 0 {
            self.prev = x;
            self.warm = 1;
            return None;
        }
        let diff = x - self.prev;
        self.prev = x;
        let n = self.period as f64;
        if self.warm <= self.period {
            if diff < 0.0 {
                self.loss -= diff;
            } else {
                self.gain += diff;
            }
            self.warm += 1;
            if self.warm <= self.period {
                return None;
            }
            self.loss /= n;
            self.gain /= n;
        } else {
            let (up, down) = if diff < 0.0 {
                (0.0, -diff)
            } else {
                (diff, 0.0)
            };
            self.gain = self.gain * self.k_keep + up * self.k_new;
            self.loss = self.loss * self.k_keep + down * self.k_new;
        }
        let total = self.gain + self.loss;
        Some(if total == 0.0 {
            0.0
        } else {
            100.0 * (self.gain / total)
        })
    }
}

/// TA-Lib's true range of one bar given the previous close.
#[inline]
fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    let mut greatest = high - low;
    let up = (prev_close - high).abs();
    if up > greatest {
        greatest = up;
    }
    let down = (prev_close - low).abs();
    if down > greatest {
        greatest = down;
    }
    greatest
}

/// Wilder's ATR as TA-Lib computes it: the first value (at bar `period`) is the mean
/// of the true ranges of bars `1..=period`, then `atr = (atr * (period - 1) + tr) /
/// period`, written `atr * k_keep + tr * k_new` as in [`RsiKernel`]. Bar 0 has no
/// true range.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AtrKernel {
    period: usize,
    #[serde(with = "float_serde")]
    k_keep: f64,
    #[serde(with = "float_serde")]
    k_new: f64,
    /// Bars consumed, counted only up to `period + 1`.
    warm: usize,
    #[serde(with = "float_serde")]
    prev_close: f64,
    #[serde(with = "float_serde")]
    sum: f64,
    #[serde(with = "float_serde")]
    value: f64,
}

impl AtrKernel {
    /// `period >= 1`.
    pub(crate) fn new(period: usize) -> Self {
        AtrKernel {
            period,
            k_keep: keep_factor(period),
            k_new: 1.0 / period as f64,
            warm: 0,
            prev_close: f64::NAN,
            sum: 0.0,
            value: f64::NAN,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        if self.warm == 0 {
            self.prev_close = close;
            self.warm = 1;
            return None;
        }
        let tr = true_range(high, low, self.prev_close);
        self.prev_close = close;
        let n = self.period as f64;
        if self.warm <= self.period {
            self.sum += tr;
            self.warm += 1;
            if self.warm <= self.period {
                return None;
            }
            self.value = self.sum / n;
            return Some(self.value);
        }
        self.value = self.value * self.k_keep + tr * self.k_new;
        Some(self.value)
    }
}

/// Mean and population variance of the last `period` inputs, exact in practice.
///
/// TA-Lib keeps a running sum (and a running sum of squares for the variance), so
/// rounding accumulates over long series, and `E[x^2] - E[x]^2` cancels
/// catastrophically at high price levels with small moves. This window instead:
/// - keeps the inputs in a ring buffer and sums deviations from an *anchor*, a value
///   that is always inside the window, so the sums have the size of the window's
///   spread, not of the price (subtracting two nearby prices is exact);
/// - re-anchors and recomputes both sums from the buffer every `period` inputs
///   (amortised O(1)), and at once whenever a sum is not finite, so rounding never
///   accumulates beyond one window and a NaN input stops mattering when it leaves;
/// - returns exactly `(x, 0)` when the whole window holds one identical value;
/// - never returns a negative variance.
///
/// - also recomputes when the sum of squares falls below 1/64 of its largest value
///   since the last recomputation (an outlier leaving the window), so its relative
///   rounding error stays below about `64 * period * 2^-53`.
///
/// With the anchor inside the window, `(mean - anchor)^2 <= (period - 1) * var`, so
/// the one subtraction in `s2/n - (s1/n)^2` loses at most `log10(period)` digits.
/// See [`RollingWindow`]: how far the sum of squares may fall before it is recomputed.
const COLLAPSE: f64 = 64.0;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RollingWindow {
    period: usize,
    /// Ring buffer of the last `period` inputs; `head` is the oldest once full.
    #[serde(with = "float_serde::vec")]
    buf: Vec<f64>,
    head: usize,
    /// Inputs since the last re-anchoring (once full).
    since_anchor: usize,
    #[serde(with = "float_serde")]
    anchor: f64,
    /// Sum of `x - anchor` over the window.
    #[serde(with = "float_serde")]
    s1: f64,
    /// Sum of `(x - anchor)^2` over the window.
    #[serde(with = "float_serde")]
    s2: f64,
    /// Largest `s2` since the last recomputation: the scale of its rounding error.
    #[serde(with = "float_serde")]
    s2_peak: f64,
    /// Number of identical inputs ending at the newest one, capped at `period`.
    flat_run: usize,
    #[serde(with = "float_serde")]
    last: f64,
}

impl RollingWindow {
    /// `period >= 1`.
    pub(crate) fn new(period: usize) -> Self {
        RollingWindow {
            period,
            buf: Vec::with_capacity(period),
            head: 0,
            since_anchor: 0,
            anchor: 0.0,
            s1: 0.0,
            s2: 0.0,
            s2_peak: 0.0,
            flat_run: 0,
            last: f64::NAN,
        }
    }

    /// Feeds one input; `Some((mean, variance))` once the window is full. (The
    /// variance is always tracked, also for a plain SMA: it decides when the window is
    /// recomputed, and an SMA must round exactly like the Bollinger middle band.)
    #[inline]
    pub(crate) fn push(&mut self, x: f64) -> Option<(f64, f64)> {
        if self.flat_run > 0 && x == self.last {
            if self.flat_run < self.period {
                self.flat_run += 1;
            }
        } else {
            self.flat_run = 1;
        }
        self.last = x;

        if self.buf.len() < self.period {
            self.buf.push(x);
            if self.buf.len() < self.period {
                return None;
            }
            // Just filled: anchor on the newest value (it stays in the window for
            // the next `period - 1` inputs, and the window is re-anchored before
            // it leaves).
            self.recompute();
            return Some(self.stats());
        }

        let old = self.buf[self.head];
        self.buf[self.head] = x;
        self.head += 1;
        if self.head == self.period {
            self.head = 0;
        }
        self.since_anchor += 1;
        if self.since_anchor >= self.period {
            self.recompute();
        } else {
            let d_new = x - self.anchor;
            let d_old = old - self.anchor;
            self.s1 += d_new - d_old;
            self.s2 += d_new * d_new - d_old * d_old;
            if self.s2 > self.s2_peak {
                self.s2_peak = self.s2;
            }
            // The variance collapsed (an outlier left the window): what is left of
            // s2 is mostly the rounding of the large terms, so sum it again. Also
            // when a sum is NaN (a NaN or infinite input entered or left the window:
            // NaN or inf - inf reaches s2 whenever it reaches s1).
            if self.s2_peak > COLLAPSE * self.s2 || !(self.s1.is_finite() && self.s2.is_finite()) {
                self.recompute();
            }
        }
        Some(self.stats())
    }

    /// Whether the fields are consistent (a state read from the store could have been
    /// edited or cut): indexing the ring buffer cannot go out of bounds then.
    pub(crate) fn is_valid(&self, period: usize) -> bool {
        self.period == period
            && self.buf.len() <= period
            && (self.head < period.max(1))
            && (self.buf.len() == period || self.head == 0)
    }

    /// Re-anchors on the newest input and sums the window again, oldest first.
    /// (Once per `period` inputs at most, so kept out of line.)
    #[inline(never)]
    fn recompute(&mut self) {
        self.anchor = self.last;
        self.since_anchor = 0;
        let (older, newer) = self.buf.split_at(self.head);
        let mut s1 = 0.0;
        let mut s2 = 0.0;
        for &v in newer.iter().chain(older) {
            let d = v - self.anchor;
            s1 += d;
            s2 += d * d;
        }
        self.s1 = s1;
        self.s2 = s2;
        self.s2_peak = self.s2;
    }

    #[inline]
    fn stats(&self) -> (f64, f64) {
        if self.flat_run >= self.period {
            return (self.last, 0.0);
        }
        let n = self.period as f64;
        let m1 = self.s1 / n;
        let mean = self.anchor + m1;
        let var = self.s2 / n - m1 * m1;
        // Clamp rounding below zero; keep NaN as NaN.
        (mean, if var < 0.0 { 0.0 } else { var })
    }
}
