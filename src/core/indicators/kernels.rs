//! Kernels shared by the batch functions and [`super::IndicatorState`].
//!
//! Every indicator is defined by one sequence of floating-point operations, written
//! twice: a one-value-at-a-time kernel (the streaming state) and a batch loop that
//! does the same operations in the same order, only arranged so that the CPU can
//! overlap them. So a streamed result is the batch result bit for bit; the tests
//! check it on every golden series, on long series and on NaN inputs.
//!
//! Two arrangements make the batch loops fast without changing a single rounding
//! between batch and stream:
//!
//! - **Blocked recurrences** ([`Scan`]). EMA, Wilder's RSI and ATR are first-order
//!   recurrences `y = a * y_prev + u`, whose loop-carried chain (a multiply and an add,
//!   plus a subtraction in TA-Lib's `(x - ema) * k + ema`) bounds a plain loop at one
//!   value per 6 to 9 cycles. Here the values come in blocks of [`BLOCK`]: within a
//!   block, `y_i = a^i * base + l_i` with the local sums `l_i = a * l_{i-1} + u_i`
//!   (which do not depend on `base`), and only `base = a^B * base + l_{B-1}` carries
//!   over. The stream keeps `base`, `l` and the position in the block. The results
//!   differ from TA-Lib's order of operations by rounding only (about 1e-15 relative;
//!   the recurrences are contracting, so it does not accumulate).
//! - **Chunks**: the inputs of a recurrence (true ranges, gains and losses, `x -
//!   anchor`) are prepared for [`CHUNK`] values at a time in a loop that vectorises,
//!   and each output is appended once to its vector (no fill pass before).
//! - **Exact windows** ([`BlockWindow`]): see there. No running sum is ever
//!   decremented, so nothing drifts, and a flat window is exactly flat. The batch
//!   form sums two blocks at a time (eight independent chains for the variance).
//!
//! The EMA is kept as `anchor + w`, where `w` is the EMA of `x - anchor`, re-anchored
//! every [`SEGMENT`] values: with no price movement `w` stays exactly 0, so a flat
//! series has an EMA exactly equal to its price and a MACD of exactly 0, as in TA-Lib.

use super::float_serde;
use serde::{Deserialize, Serialize};

/// TA-Lib's `PER_TO_K`: the EMA smoothing factor `2 / (period + 1)`.
pub(crate) fn per_to_k(period: usize) -> f64 {
    2.0 / (period as f64 + 1.0)
}

/// Wilder's weight of the previous average, `(period - 1) / period`.
pub(crate) fn keep_factor(period: usize) -> f64 {
    (period as f64 - 1.0) / period as f64
}

/// Values per block of a blocked recurrence (see [`Scan`]).
pub(crate) const BLOCK: usize = 8;

/// Values between two re-anchorings of an EMA (a multiple of [`BLOCK`]).
pub(crate) const SEGMENT: usize = 256;

/// `a^i` as the stream computes it: `1.0` multiplied by `a`, `i` times.
#[inline]
fn power(a: f64, i: usize) -> f64 {
    let mut p = 1.0;
    for _ in 0..i {
        p *= a;
    }
    p
}

/// `a^0 ..= a^BLOCK`, computed like [`power`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Powers([f64; BLOCK + 1]);

impl Powers {
    pub(crate) fn new(a: f64) -> Self {
        let mut p = [1.0; BLOCK + 1];
        for i in 1..=BLOCK {
            p[i] = p[i - 1] * a;
        }
        Powers(p)
    }

    /// Four steps of [`Scan::step`] from the start of a block: the outputs; the
    /// last one is the next block's base.
    #[inline(always)]
    pub(crate) fn block(&self, base: f64, u: [f64; BLOCK]) -> [f64; BLOCK] {
        let a = self.0[1];
        let mut l = u;
        for i in 1..BLOCK {
            l[i] = a * l[i - 1] + u[i];
        }
        let mut y = [0.0; BLOCK];
        for i in 0..BLOCK {
            y[i] = self.0[i + 1] * base + l[i];
        }
        y
    }
}

/// Appends `count` NaN to `out`.
#[inline]
pub(crate) fn push_nan(out: &mut Vec<f64>, count: usize) {
    out.resize(out.len() + count, f64::NAN);
}

/// Values per chunk of the batch loops that first prepare the recurrence inputs of a
/// chunk (vectorised), then run the recurrence (a multiple of [`BLOCK`]).
pub(crate) const CHUNK: usize = 256;

/// The blocked recurrence over `u` from `base` into `y` (same length): whole blocks
/// with [`Powers::block`], the rest (fewer than [`BLOCK`]) with [`Scan::step`].
/// Returns the scan state after the last value.
#[inline(always)]
fn scan_into(p: &Powers, base: f64, u: &[f64], y: &mut [f64]) -> Scan {
    let mut base = base;
    let mut ub = u.chunks_exact(BLOCK);
    let mut yb = y.chunks_exact_mut(BLOCK);
    for (uc, yc) in (&mut ub).zip(&mut yb) {
        let r = p.block(base, uc.try_into().unwrap_or([0.0; BLOCK]));
        base = r[BLOCK - 1];
        yc.copy_from_slice(&r);
    }
    let mut scan = Scan::new(base);
    for (&uv, yv) in ub.remainder().iter().zip(yb.into_remainder()) {
        *yv = scan.step(p.0[1], uv);
    }
    scan
}

/// Two independent blocked recurrences with the same coefficient (RSI's gains and
/// losses) in one loop; see [`scan_into`]. Returns the two bases (only whole blocks).
#[inline(always)]
fn scan2_blocks(
    p: &Powers,
    base: (f64, f64),
    u: (&[f64], &[f64]),
    y: (&mut [f64], &mut [f64]),
) -> (f64, f64) {
    let (mut b0, mut b1) = base;
    for (((u0, u1), y0), y1) in
        u.0.chunks_exact(BLOCK)
            .zip(u.1.chunks_exact(BLOCK))
            .zip(y.0.chunks_exact_mut(BLOCK))
            .zip(y.1.chunks_exact_mut(BLOCK))
    {
        let r0 = p.block(b0, u0.try_into().unwrap_or([0.0; BLOCK]));
        let r1 = p.block(b1, u1.try_into().unwrap_or([0.0; BLOCK]));
        b0 = r0[BLOCK - 1];
        b1 = r1[BLOCK - 1];
        y0.copy_from_slice(&r0);
        y1.copy_from_slice(&r1);
    }
    (b0, b1)
}

/// The recurrence `y = a * y_prev + u` in blocks of [`BLOCK`] (the coefficient `a` is
/// kept by the owner): `y = a^pos * base + local`, with `local` the recurrence started
/// from 0 at the block's start. [`Powers::block`] is four of these steps at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Scan {
    /// `y` at the end of the previous block.
    #[serde(with = "float_serde")]
    base: f64,
    #[serde(with = "float_serde")]
    local: f64,
    /// Values of the current block consumed, `0..BLOCK`.
    pos: usize,
}

impl Scan {
    pub(crate) fn new(base: f64) -> Self {
        Scan {
            base,
            local: 0.0,
            pos: 0,
        }
    }

    #[inline]
    pub(crate) fn step(&mut self, a: f64, u: f64) -> f64 {
        self.local = if self.pos == 0 { u } else { a * self.local + u };
        self.pos += 1;
        let y = power(a, self.pos) * self.base + self.local;
        if self.pos >= BLOCK {
            self.base = y;
            self.local = 0.0;
            self.pos = 0;
        }
        y
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.pos < BLOCK
    }
}

/// One value of an EMA after its seed: `w` is the EMA of `x - anchor` (blocked), the
/// EMA is `anchor + w`.
#[inline(always)]
fn ema_u(x: f64, anchor: f64, k: f64) -> f64 {
    (x - anchor) * k
}

/// Exponential moving average, TA-Lib style: seeded with the simple average of its
/// first `period` inputs (after `skip` ignored inputs), then the recurrence
/// `ema = (1 - k) * ema + k * x` with `k = 2 / (period + 1)`, computed as
/// `anchor + w` (see the module notes) in blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ema {
    period: usize,
    #[serde(with = "float_serde")]
    k: f64,
    /// `1 - k`.
    #[serde(with = "float_serde")]
    a: f64,
    /// Inputs ignored before the seed window starts (MACD's fast EMA is seeded late).
    skip: usize,
    /// Inputs consumed so far, counted only up to `skip + period`.
    warm: usize,
    #[serde(with = "float_serde")]
    sum: f64,
    #[serde(with = "float_serde")]
    anchor: f64,
    w: Scan,
    /// Values since the last re-anchoring, `0..SEGMENT`.
    seg: usize,
}

impl Ema {
    /// `period >= 1`.
    pub(crate) fn new(period: usize, skip: usize) -> Self {
        let k = per_to_k(period);
        Ema {
            period,
            k,
            a: 1.0 - k,
            skip,
            warm: 0,
            sum: 0.0,
            anchor: f64::NAN,
            w: Scan::new(0.0),
            seg: 0,
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
            self.anchor = self.sum / self.period as f64;
            return Some(self.anchor);
        }
        let value = self.anchor + self.w.step(self.a, ema_u(x, self.anchor, self.k));
        self.seg += 1;
        if self.seg >= SEGMENT {
            self.anchor = value;
            self.w = Scan::new(0.0);
            self.seg = 0;
        }
        Some(value)
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.w.is_valid() && self.seg < SEGMENT
    }
}

/// Batch EMA over `x`, appended to `out` (as many values as `x`): NaN before
/// `skip + period - 1`, the seed there, then the EMA. The same arithmetic as [`Ema`].
pub(crate) fn ema_append(x: &[f64], period: usize, skip: usize, out: &mut Vec<f64>) {
    ema_map_append(x, period, skip, out, |_, v| v);
}

/// [`ema_append`] appending `map(i, ema[i])` instead of `ema[i]` past the warm-up
/// (`map` must be cheap: it is inlined into the loop).
#[inline(always)]
pub(crate) fn ema_map_append(
    x: &[f64],
    period: usize,
    skip: usize,
    out: &mut Vec<f64>,
    map: impl Fn(usize, f64) -> f64,
) {
    out.reserve(x.len());
    if period == 0 || x.len() < skip + period {
        push_nan(out, x.len());
        return;
    }
    let seed_at = skip + period - 1;
    push_nan(out, seed_at);
    let mut sum = 0.0;
    for &v in &x[skip..=seed_at] {
        sum += v;
    }
    let seed = sum / period as f64;
    out.push(map(seed_at, seed));
    let k = per_to_k(period);
    let p = Powers::new(1.0 - k);
    let mut anchor = seed;
    let mut u = [0.0; SEGMENT];
    let mut w = [0.0; SEGMENT];
    for (g, xg) in x[seed_at + 1..].chunks(SEGMENT).enumerate() {
        let (m, i0) = (xg.len(), seed_at + 1 + g * SEGMENT);
        for (uj, &xj) in u[..m].iter_mut().zip(xg) {
            *uj = ema_u(xj, anchor, k);
        }
        scan_into(&p, 0.0, &u[..m], &mut w[..m]);
        out.extend(
            w[..m]
                .iter()
                .enumerate()
                .map(|(j, &wj)| map(i0 + j, anchor + wj)),
        );
        // As the stream: the last value becomes the anchor.
        anchor += w[m - 1];
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

    pub(crate) fn is_valid(&self) -> bool {
        self.fast.is_valid() && self.slow.is_valid() && self.signal.is_valid()
    }
}

/// The gain and the loss of one move (a NaN move counts as a gain, so it reaches
/// the RSI).
#[inline(always)]
fn gain_loss(diff: f64) -> (f64, f64) {
    let up = if diff < 0.0 { 0.0 } else { diff };
    let down = if diff < 0.0 { -diff } else { 0.0 };
    (up, down)
}

/// `100 * gain / (gain + loss)`, 0 when there was no movement at all.
#[inline(always)]
pub(crate) fn rsi_value(gain: f64, loss: f64) -> f64 {
    let total = gain + loss;
    if total == 0.0 {
        0.0
    } else {
        100.0 * (gain / total)
    }
}

/// Wilder's RSI as TA-Lib computes it: average gain and loss of the first `period`
/// differences, then `avg = (avg * (period - 1) + move) / period`; the RSI is
/// `100 * gain / (gain + loss)`, and 0 when there was no movement at all.
///
/// The smoothing step is `avg = k_keep * avg + k_new * move` with
/// `k_keep = (period - 1) / period` and `k_new = 1 / period` (the same value up to
/// rounding, about 1e-15 relative), blocked as in [`Scan`].
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
    /// Sums of the gains and losses during the warm-up.
    #[serde(with = "float_serde")]
    gain_sum: f64,
    #[serde(with = "float_serde")]
    loss_sum: f64,
    gain: Scan,
    loss: Scan,
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
            gain_sum: 0.0,
            loss_sum: 0.0,
            gain: Scan::new(0.0),
            loss: Scan::new(0.0),
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
        if self.warm <= self.period {
            if diff < 0.0 {
                self.loss_sum -= diff;
            } else {
                self.gain_sum += diff;
            }
            self.warm += 1;
            if self.warm <= self.period {
                return None;
            }
            let n = self.period as f64;
            let (gain, loss) = (self.gain_sum / n, self.loss_sum / n);
            self.gain = Scan::new(gain);
            self.loss = Scan::new(loss);
            return Some(rsi_value(gain, loss));
        }
        let (up, down) = gain_loss(diff);
        let gain = self.gain.step(self.k_keep, up * self.k_new);
        let loss = self.loss.step(self.k_keep, down * self.k_new);
        Some(rsi_value(gain, loss))
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.gain.is_valid() && self.loss.is_valid()
    }
}

/// Batch RSI appended to `out` (as many values as `x`, NaN before index `period`).
pub(crate) fn rsi_append(x: &[f64], period: usize, out: &mut Vec<f64>) {
    out.reserve(x.len());
    if period == 0 || x.len() <= period {
        push_nan(out, x.len());
        return;
    }
    push_nan(out, period);
    let (mut gain_sum, mut loss_sum) = (0.0, 0.0);
    for w in x[..=period].windows(2) {
        let diff = w[1] - w[0];
        if diff < 0.0 {
            loss_sum -= diff;
        } else {
            gain_sum += diff;
        }
    }
    let n = period as f64;
    let (gain, loss) = (gain_sum / n, loss_sum / n);
    out.push(rsi_value(gain, loss));
    let k_keep = keep_factor(period);
    let k_new = 1.0 / n;
    let p = Powers::new(k_keep);
    let mut ug = [0.0; CHUNK];
    let mut ul = [0.0; CHUNK];
    let mut g = [0.0; CHUNK];
    let mut l = [0.0; CHUNK];
    let mut base = (gain, loss);
    // Value `i > period` uses x[i - 1] and x[i]: chunks of moves, overlapping by one.
    let moves = x.len() - 1 - period;
    for c in (0..moves).step_by(CHUNK) {
        let m = CHUNK.min(moves - c);
        let xc = &x[period + c..period + c + m + 1];
        for j in 0..m {
            let (up, down) = gain_loss(xc[j + 1] - xc[j]);
            ug[j] = up * k_new;
            ul[j] = down * k_new;
        }
        let whole = m - m % BLOCK;
        base = scan2_blocks(
            &p,
            base,
            (&ug[..whole], &ul[..whole]),
            (&mut g[..whole], &mut l[..whole]),
        );
        if whole < m {
            // The last chunk ends with single steps.
            let (mut sg, mut sl) = (Scan::new(base.0), Scan::new(base.1));
            for j in whole..m {
                g[j] = sg.step(k_keep, ug[j]);
                l[j] = sl.step(k_keep, ul[j]);
            }
        }
        out.extend(
            g[..m]
                .iter()
                .zip(&l[..m])
                .map(|(&gv, &lv)| rsi_value(gv, lv)),
        );
    }
}

/// TA-Lib's true range of one bar given the previous close.
#[inline(always)]
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
/// period`, written `k_keep * atr + k_new * tr` and blocked as in [`RsiKernel`]. Bar 0
/// has no true range.
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
    atr: Scan,
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
            atr: Scan::new(0.0),
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
        if self.warm <= self.period {
            self.sum += tr;
            self.warm += 1;
            if self.warm <= self.period {
                return None;
            }
            let value = self.sum / self.period as f64;
            self.atr = Scan::new(value);
            return Some(value);
        }
        Some(self.atr.step(self.k_keep, tr * self.k_new))
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.atr.is_valid()
    }
}

/// The inputs of [`atr_into`]: columns, or candles.
pub(crate) trait AtrInput {
    /// Number of bars.
    fn len(&self) -> usize;
    /// True range of bar `i >= 1`.
    fn true_range(&self, i: usize) -> f64;
    /// `u[j] = true_range(i0 + j) * k` for the whole of `u` (`i0 >= 1`).
    fn scaled_true_ranges(&self, i0: usize, k: f64, u: &mut [f64]);
}

/// High, low and close columns (their common prefix).
pub(crate) struct AtrColumns<'a> {
    pub(crate) high: &'a [f64],
    pub(crate) low: &'a [f64],
    pub(crate) close: &'a [f64],
}

impl AtrInput for AtrColumns<'_> {
    fn len(&self) -> usize {
        self.high.len().min(self.low.len()).min(self.close.len())
    }

    #[inline(always)]
    fn true_range(&self, i: usize) -> f64 {
        true_range(self.high[i], self.low[i], self.close[i - 1])
    }

    #[inline(always)]
    fn scaled_true_ranges(&self, i0: usize, k: f64, u: &mut [f64]) {
        let m = u.len();
        let (h, l, c) = (
            &self.high[i0..i0 + m],
            &self.low[i0..i0 + m],
            &self.close[i0 - 1..i0 - 1 + m],
        );
        for j in 0..m {
            u[j] = true_range(h[j], l[j], c[j]) * k;
        }
    }
}

impl AtrInput for &[crate::core::market::Bar] {
    fn len(&self) -> usize {
        <[_]>::len(self)
    }

    #[inline(always)]
    fn true_range(&self, i: usize) -> f64 {
        true_range(self[i].high, self[i].low, self[i - 1].close)
    }

    #[inline(always)]
    fn scaled_true_ranges(&self, i0: usize, k: f64, u: &mut [f64]) {
        let m = u.len();
        let bars = &self[i0 - 1..i0 + m];
        for (o, w) in u.iter_mut().zip(bars.windows(2)) {
            *o = true_range(w[1].high, w[1].low, w[0].close) * k;
        }
    }
}

/// Batch ATR appended to `out`: `out_len` values, NaN before index `period`, then
/// the ATR as long as the input, NaN after.
#[inline(always)]
pub(crate) fn atr_append(input: impl AtrInput, period: usize, out_len: usize, out: &mut Vec<f64>) {
    out.reserve(out_len);
    let len = input.len().min(out_len);
    if period == 0 || len <= period {
        push_nan(out, out_len);
        return;
    }
    push_nan(out, period);
    let mut sum = 0.0;
    for i in 1..=period {
        sum += input.true_range(i);
    }
    let atr = sum / period as f64;
    out.push(atr);
    let k_new = 1.0 / period as f64;
    let p = Powers::new(keep_factor(period));
    let mut u = [0.0; CHUNK];
    let mut y = [0.0; CHUNK];
    let mut base = atr;
    for i0 in (period + 1..len).step_by(CHUNK) {
        let m = CHUNK.min(len - i0);
        input.scaled_true_ranges(i0, k_new, &mut u[..m]);
        base = scan_into(&p, base, &u[..m], &mut y[..m]).base;
        out.extend_from_slice(&y[..m]);
    }
    push_nan(out, out_len - len);
}

/// Mean and population variance of a window from its anchor and sums (shared by the
/// stream and the batch). The mean alone is `anchor + s1 * inv_n`, also for the SMA.
#[inline(always)]
pub(crate) fn window_mean(anchor: f64, s1: f64, inv_n: f64) -> f64 {
    anchor + s1 * inv_n
}

/// See [`window_mean`]; the variance is clamped at 0 (NaN stays NaN).
#[inline(always)]
pub(crate) fn window_stats(anchor: f64, s1: f64, s2: f64, inv_n: f64) -> (f64, f64) {
    let m1 = s1 * inv_n;
    let var = s2 * inv_n - m1 * m1;
    (anchor + m1, if var < 0.0 { 0.0 } else { var })
}

/// Mean and population variance of the last `period` inputs, exact in practice and
/// without drift.
///
/// TA-Lib keeps running sums, adding each new value and subtracting the one that
/// leaves, so rounding accumulates over long series, and `E[x^2] - E[x]^2` cancels
/// catastrophically at high price levels with small moves. This window never
/// subtracts from a sum:
/// - the inputs are cut in blocks of `period` (counted from the first input, or from
///   the input after the last non-finite one); every window ending in block `B`
///   consists of a suffix of block `B - 1` and a prefix of block `B`, and contains
///   the first input of block `B`, its *anchor* `a`;
/// - the window's sums of `d = x - a` and `d^2` are a suffix sum over block `B - 1`
///   (summed backwards once per block) plus a prefix sum over block `B` (summed
///   forwards), so the sums of squares only add non-negative terms, each accurate to
///   `period * 2^-53` relative; with the anchor inside the window,
///   `(mean - a)^2 <= period * var`, so `s2/n - (s1/n)^2` loses at most
///   `log10(period + 1)` digits;
/// - a flat window has every `d` exactly 0: mean exactly the value, variance exactly 0;
/// - a non-finite input restarts the window: the outputs are NaN while it is inside,
///   then exactly those of the series that starts after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BlockWindow {
    period: usize,
    /// Also sum the squares (Bollinger Bands), or only the values (SMA).
    var: bool,
    /// Inputs of the current block so far (the previous block's suffix sums are
    /// computed from them when the next block starts).
    #[serde(with = "float_serde::vec")]
    buf: Vec<f64>,
    /// Position in the current block: `buf.len()`, `0..period`.
    head: usize,
    /// Whether a whole block has been seen since the start (or the last restart).
    full: bool,
    #[serde(with = "float_serde")]
    anchor: f64,
    #[serde(with = "float_serde")]
    p1: f64,
    #[serde(with = "float_serde")]
    p2: f64,
    /// Suffix sums of the previous block against the current anchor; index `j` sums
    /// the previous block's values `j..period`, index `period` is 0. Set when a block
    /// starts after a whole one.
    #[serde(with = "float_serde::vec")]
    q1: Vec<f64>,
    #[serde(with = "float_serde::vec")]
    q2: Vec<f64>,
}

impl BlockWindow {
    /// `period >= 1`; `var`: also track the variance.
    pub(crate) fn new(period: usize, var: bool) -> Self {
        BlockWindow {
            period,
            var,
            buf: Vec::with_capacity(period),
            head: 0,
            full: false,
            anchor: f64::NAN,
            p1: 0.0,
            p2: 0.0,
            q1: Vec::new(),
            q2: Vec::new(),
        }
    }

    /// Feeds one input; once the window is full, `Some((anchor, s1, s2))`: the
    /// window's sums of `x - anchor` and of its square (0 without `var`), for
    /// [`window_stats`] / [`window_mean`].
    #[inline]
    pub(crate) fn push(&mut self, x: f64) -> Option<(f64, f64, f64)> {
        let n = self.period;
        if !x.is_finite() {
            self.buf.clear();
            self.head = 0;
            self.full = false;
            return None;
        }
        if self.head == 0 {
            self.anchor = x;
            if self.full {
                self.suffix_sums();
            }
            self.buf.clear();
            self.p1 = 0.0;
            self.p2 = 0.0;
        }
        let d = x - self.anchor;
        self.p1 += d;
        if self.var {
            self.p2 += d * d;
        }
        self.buf.push(x);
        let t = self.head;
        self.head += 1;
        let out = if self.full {
            let s1 = self.q1[t + 1] + self.p1;
            let s2 = if self.var {
                self.q2[t + 1] + self.p2
            } else {
                0.0
            };
            Some((self.anchor, s1, s2))
        } else if self.head == n {
            let s2 = if self.var { 0.0 + self.p2 } else { 0.0 };
            Some((self.anchor, 0.0 + self.p1, s2))
        } else {
            None
        };
        if self.head == n {
            self.head = 0;
            self.full = true;
        }
        out
    }

    /// Suffix sums of the block in `buf` against the new anchor, summed backwards.
    #[inline(never)]
    fn suffix_sums(&mut self) {
        let n = self.period;
        self.q1.clear();
        self.q1.resize(n + 1, 0.0);
        self.q2.clear();
        if self.var {
            self.q2.resize(n + 1, 0.0);
        }
        let (mut r1, mut r2) = (0.0, 0.0);
        for j in (1..n).rev() {
            let d = self.buf[j] - self.anchor;
            r1 += d;
            self.q1[j] = r1;
            if self.var {
                r2 += d * d;
                self.q2[j] = r2;
            }
        }
    }

    /// Whether the fields are consistent (a state read from the store could have been
    /// edited or cut): indexing cannot go out of bounds then.
    pub(crate) fn is_valid(&self, period: usize, var: bool) -> bool {
        self.period == period
            && self.var == var
            && self.head < period.max(1)
            // At a block boundary after a whole block, `buf` holds that block.
            && self.buf.len()
                == if self.full && self.head == 0 {
                    period
                } else {
                    self.head
                }
            && (!self.full
                || self.head == 0
                || (self.q1.len() == period + 1
                    && self.q2.len() == if var { period + 1 } else { 0 }))
    }
}

/// Forward (prefix) sums of `x - a` (and squares) over `cur` into `p1`, `p2`.
#[inline(always)]
fn prefix_sums<const VAR: bool>(cur: &[f64], a: f64, p1: &mut [f64], p2: &mut [f64]) {
    let (mut s1, mut s2) = (0.0, 0.0);
    for t in 0..cur.len() {
        let d = cur[t] - a;
        s1 += d;
        p1[t] = s1;
        if VAR {
            s2 += d * d;
            p2[t] = s2;
        }
    }
}

/// The sums of one whole block: its prefix sums against its anchor `a` (into `p`),
/// and its suffix sums against the next block's anchor `an` (into `q`, index `j` for
/// `j..n`), both chains in one loop.
#[inline(always)]
fn block_sums<const VAR: bool>(
    cur: &[f64],
    a: f64,
    an: f64,
    p: (&mut [f64], &mut [f64]),
    q: (&mut [f64], &mut [f64]),
) {
    let n = cur.len();
    let (p1, p2) = p;
    let (q1, q2) = q;
    let (mut s1, mut s2, mut r1, mut r2) = (0.0, 0.0, 0.0, 0.0);
    for t in 0..n {
        let d = cur[t] - a;
        s1 += d;
        p1[t] = s1;
        let j = n - 1 - t;
        let e = cur[j] - an;
        r1 += e;
        q1[j] = r1;
        if VAR {
            s2 += d * d;
            p2[t] = s2;
            r2 += e * e;
            q2[j] = r2;
        }
    }
}

/// [`block_sums`] of two consecutive whole blocks in one loop (twice the independent
/// chains; each chain's arithmetic is unchanged).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pair_sums<const VAR: bool>(
    cur0: &[f64],
    cur1: &[f64],
    anchors: [f64; 3],
    p0: (&mut [f64], &mut [f64]),
    p1: (&mut [f64], &mut [f64]),
    q1: (&mut [f64], &mut [f64]),
    q2: (&mut [f64], &mut [f64]),
) {
    let n = cur0.len();
    let cur1 = &cur1[..n];
    let [a0, a1, a2] = anchors;
    let (pa1, pa2) = p0;
    let (pb1, pb2) = p1;
    let (qb1, qb2) = q1;
    let (qc1, qc2) = q2;
    let (pa1, pb1, qb1, qc1) = (&mut pa1[..n], &mut pb1[..n], &mut qb1[..n], &mut qc1[..n]);
    let (mut sa1, mut sa2, mut sb1, mut sb2) = (0.0, 0.0, 0.0, 0.0);
    let (mut ra1, mut ra2, mut rb1, mut rb2) = (0.0, 0.0, 0.0, 0.0);
    for t in 0..n {
        let d0 = cur0[t] - a0;
        sa1 += d0;
        pa1[t] = sa1;
        let d1 = cur1[t] - a1;
        sb1 += d1;
        pb1[t] = sb1;
        let j = n - 1 - t;
        let e0 = cur0[j] - a1;
        ra1 += e0;
        qb1[j] = ra1;
        let e1 = cur1[j] - a2;
        rb1 += e1;
        qc1[j] = rb1;
        if VAR {
            sa2 += d0 * d0;
            pa2[t] = sa2;
            sb2 += d1 * d1;
            pb2[t] = sb2;
            ra2 += e0 * e0;
            qb2[j] = ra2;
            rb2 += e1 * e1;
            qc2[j] = rb2;
        }
    }
}

/// The first index of a non-finite value in `cur`, if its sum `total` of deviations
/// is not finite (else the block is clean; an overflow without a non-finite input is
/// left as computed, as the stream does).
#[inline(always)]
fn first_bad(cur: &[f64], total: f64) -> Option<usize> {
    if total.is_finite() {
        None
    } else {
        cur.iter().position(|v| !v.is_finite())
    }
}

/// Buffers of [`window_blocks`]: `n + 1` suffix sums (the last one 0, never written)
/// or `n` prefix sums, for the values and (with `VAR`) the squares.
struct SumBuf {
    v: Vec<f64>,
    sq: Vec<f64>,
}

impl SumBuf {
    fn new(len: usize, var: bool) -> Self {
        SumBuf {
            v: vec![0.0; len],
            sq: vec![0.0; if var { len } else { 0 }],
        }
    }

    fn parts(&mut self) -> (&mut [f64], &mut [f64]) {
        (&mut self.v, &mut self.sq)
    }
}

/// The batch form of [`BlockWindow`]: calls `emit(i, anchor, q1, p1, q2, p2)` for runs
/// of consecutive outputs starting at index `i`, whose window sums are
/// `s1[t] = q1[t] + p1[t]` and `s2[t] = q2[t] + p2[t]` (the slices are as long as the
/// run; `q2`, `p2` empty without `VAR`). Outputs never emitted are the warm-up ones and
/// those of windows holding a non-finite input.
pub(crate) fn window_blocks<const VAR: bool>(
    x: &[f64],
    n: usize,
    mut emit: impl FnMut(usize, f64, &[f64], &[f64], &[f64], &[f64]),
) {
    let len = x.len();
    if n == 0 {
        return;
    }
    // Suffix sums for the current block (`qa`) and the next two; prefix sums of the
    // current block and the next.
    let mut qa = SumBuf::new(n + 1, VAR);
    let mut qb = SumBuf::new(n + 1, VAR);
    let mut qc = SumBuf::new(n + 1, VAR);
    let mut pa = SumBuf::new(n, VAR);
    let mut pb = SumBuf::new(n, VAR);
    // Emits outputs `from..to` of the block starting at `s`, with suffix sums `q`
    // (offset by one: `q[t + 1]` goes with `p[t]`).
    macro_rules! emit_block {
        ($s:expr, $q:expr, $p:expr, $from:expr, $to:expr) => {{
            let (s, from, to) = ($s, $from, $to);
            if from < to {
                let (q, p) = (&$q, &$p);
                let (q2, p2) = if VAR {
                    (&q.sq[from + 1..to + 1], &p.sq[from..to])
                } else {
                    (&[][..], &[][..])
                };
                emit(
                    s + from,
                    x[s],
                    &q.v[from + 1..to + 1],
                    &p.v[from..to],
                    q2,
                    p2,
                );
            }
        }};
    }
    let mut start = 0;
    'epoch: while start + n <= len {
        // Block 0 of the epoch: only its last value has a whole window (q[n] == 0).
        let mut s = start;
        let cur = &x[s..s + n];
        if s + n < len {
            block_sums::<VAR>(cur, x[s], x[s + n], pa.parts(), qb.parts());
        } else {
            let (p1, p2) = pa.parts();
            prefix_sums::<VAR>(cur, x[s], p1, p2);
        }
        if let Some(j) = first_bad(cur, pa.v[n - 1]) {
            start = s + j + 1;
            continue 'epoch;
        }
        emit_block!(s, qa, pa, n - 1, n);
        std::mem::swap(&mut qa, &mut qb);
        s += n;
        while s < len {
            if s + 2 * n < len {
                // Two whole blocks, and the anchor of the one after them.
                let (cur0, cur1) = (&x[s..s + n], &x[s + n..s + 2 * n]);
                pair_sums::<VAR>(
                    cur0,
                    cur1,
                    [x[s], x[s + n], x[s + 2 * n]],
                    pa.parts(),
                    pb.parts(),
                    qb.parts(),
                    qc.parts(),
                );
                if let Some(j) = first_bad(cur0, pa.v[n - 1]) {
                    emit_block!(s, qa, pa, 0, j);
                    start = s + j + 1;
                    continue 'epoch;
                }
                emit_block!(s, qa, pa, 0, n);
                if let Some(j) = first_bad(cur1, pb.v[n - 1]) {
                    emit_block!(s + n, qb, pb, 0, j);
                    start = s + n + j + 1;
                    continue 'epoch;
                }
                emit_block!(s + n, qb, pb, 0, n);
                std::mem::swap(&mut qa, &mut qc);
                s += 2 * n;
            } else {
                let bl = n.min(len - s);
                let cur = &x[s..s + bl];
                if bl == n && s + n < len {
                    block_sums::<VAR>(cur, x[s], x[s + n], pa.parts(), qb.parts());
                } else {
                    let (p1, p2) = pa.parts();
                    prefix_sums::<VAR>(cur, x[s], p1, p2);
                }
                if let Some(j) = first_bad(cur, pa.v[bl - 1]) {
                    emit_block!(s, qa, pa, 0, j);
                    start = s + j + 1;
                    continue 'epoch;
                }
                emit_block!(s, qa, pa, 0, bl);
                std::mem::swap(&mut qa, &mut qb);
                s += n;
            }
        }
        break;
    }
}
