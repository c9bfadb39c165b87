//! The standard indicator set, computed one candle at a time with a savable state.

use super::kernels::{
    AtrKernel, BlockWindow, Ema, MacdKernel, RsiKernel, window_mean, window_stats,
};
use crate::core::market::Bar;
use anyhow::bail;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Version of the [`IndicatorState`] layout. A state read from the store with another
/// version must be discarded and the series recomputed from its first candle.
/// (2: blocked recurrences and block windows, the arithmetic of the fast batch path.)
pub const STATE_VERSION: u32 = 2;

/// The cached indicators of one candle: the standard set (RSI 14, MACD 12/26/9,
/// Bollinger 20/2, ATR 14, SMA 20/50/200, EMA 12/26).
///
/// A field is `None` during that indicator's warm-up (TA-Lib's NaN prefix, see
/// [`super::lookback`]) and also when the value is not a finite number (which only
/// happens after a non-finite price).
///
/// JSON (exports, job outputs): numbers, `null` for NaN, never `-0` (`json_num::number_opt`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IndicatorRow {
    /// Open time of the candle, ms since the epoch (UTC).
    pub open_time: i64,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub rsi14: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub macd: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub macd_signal: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub macd_hist: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub bb_upper: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub bb_middle: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub bb_lower: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub atr14: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub sma20: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub sma50: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub sma200: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub ema12: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::number_opt")]
    pub ema26: Option<f64>,
}

impl IndicatorRow {
    /// CSV header of the `fks indicators` export, in the order of [`Self::csv_line`].
    pub const CSV_HEADER: &'static str = "open_time,rsi14,macd,macd_signal,macd_hist,bb_upper,bb_middle,bb_lower,atr14,sma20,sma50,sma200,ema12,ema26";

    /// The values in [`Self::CSV_HEADER`] order (without `open_time`).
    pub fn values(&self) -> [Option<f64>; 13] {
        [
            self.rsi14,
            self.macd,
            self.macd_signal,
            self.macd_hist,
            self.bb_upper,
            self.bb_middle,
            self.bb_lower,
            self.atr14,
            self.sma20,
            self.sma50,
            self.sma200,
            self.ema12,
            self.ema26,
        ]
    }

    /// One CSV record (no newline): empty cells during warm-up, numbers in the
    /// shortest form that reads back to the same `f64`.
    pub fn csv_line(&self) -> String {
        let mut s = String::with_capacity(256);
        let _ = write!(s, "{}", self.open_time);
        for v in self.values() {
            s.push(',');
            if let Some(v) = v {
                let _ = write!(s, "{v}");
            }
        }
        s
    }
}

/// Everything needed to continue the standard set from the last candle seen: the
/// Wilder and EMA averages, and for the moving windows of 20/50/200 the closes of
/// the current block and the previous block's suffix sums (see `kernels::BlockWindow`).
///
/// Feed closed candles in strictly increasing `open_time` order with
/// [`update`](Self::update) (or the checking [`try_update`](Self::try_update)); save
/// the state with serde (JSON is a few kB) and load it on the next run to compute only
/// the new candles. The result is bit-identical to [`compute_all`] over the whole series.
///
/// To show a candle that is still open without committing it, update a clone:
/// `state.clone().update(&open_bar)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndicatorState {
    version: u32,
    /// Candles consumed so far.
    bars: u64,
    last_open_time: Option<i64>,
    rsi14: RsiKernel,
    macd: MacdKernel,
    /// Closes window of 20: SMA 20 and the Bollinger Bands (same mean, by construction).
    win20: BlockWindow,
    win50: BlockWindow,
    win200: BlockWindow,
    atr14: AtrKernel,
    ema12: Ema,
    ema26: Ema,
}

impl Default for IndicatorState {
    fn default() -> Self {
        Self::new()
    }
}

/// A finite value, or `None`.
#[inline]
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

impl IndicatorState {
    /// The Bollinger multiplier of the standard set.
    pub const BB_K: f64 = 2.0;

    /// A state that has seen no candle.
    pub fn new() -> Self {
        IndicatorState {
            version: STATE_VERSION,
            bars: 0,
            last_open_time: None,
            rsi14: RsiKernel::new(14),
            macd: MacdKernel::new(12, 26, 9),
            win20: BlockWindow::new(20, true),
            win50: BlockWindow::new(50, false),
            win200: BlockWindow::new(200, false),
            atr14: AtrKernel::new(14),
            ema12: Ema::new(12, 0),
            ema26: Ema::new(26, 0),
        }
    }

    /// Layout version this state was written with (compare with [`STATE_VERSION`]).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether this state can be continued by this build: same layout version and
    /// consistent windows (else discard it and recompute from the first candle).
    pub fn is_current(&self) -> bool {
        self.version == STATE_VERSION
            && self.win20.is_valid(20, true)
            && self.win50.is_valid(50, false)
            && self.win200.is_valid(200, false)
            && self.rsi14.is_valid()
            && self.macd.is_valid()
            && self.atr14.is_valid()
            && self.ema12.is_valid()
            && self.ema26.is_valid()
    }

    /// Number of candles consumed so far.
    pub fn bars_seen(&self) -> u64 {
        self.bars
    }

    /// Open time of the last candle consumed; only later candles should be fed.
    pub fn last_open_time(&self) -> Option<i64> {
        self.last_open_time
    }

    /// Consumes one candle and returns its indicators. Does not check the candle's
    /// order (feeding an old candle again corrupts the state) nor a state loaded from
    /// the store: use [`Self::try_update`] for those.
    pub fn update(&mut self, bar: &Bar) -> IndicatorRow {
        self.bars += 1;
        self.last_open_time = Some(bar.open_time);
        let c = bar.close;

        let rsi = self.rsi14.push(c);
        let macd = self.macd.push(c);
        let w20 = self
            .win20
            .push(c)
            .map(|(a, s1, s2)| window_stats(a, s1, s2, 1.0 / 20.0));
        let sma50 = self
            .win50
            .push(c)
            .map(|(a, s1, _)| window_mean(a, s1, 1.0 / 50.0));
        let sma200 = self
            .win200
            .push(c)
            .map(|(a, s1, _)| window_mean(a, s1, 1.0 / 200.0));
        let atr = self.atr14.push(bar.high, bar.low, c);
        let ema12 = self.ema12.push(c);
        let ema26 = self.ema26.push(c);

        let bands = w20.map(|(mean, var)| {
            let width = var.sqrt() * Self::BB_K;
            (mean + width, mean, mean - width)
        });
        IndicatorRow {
            open_time: bar.open_time,
            rsi14: finite(rsi),
            macd: finite(macd.map(|m| m.0)),
            macd_signal: finite(macd.map(|m| m.1)),
            macd_hist: finite(macd.map(|m| m.2)),
            bb_upper: finite(bands.map(|b| b.0)),
            bb_middle: finite(bands.map(|b| b.1)),
            bb_lower: finite(bands.map(|b| b.2)),
            atr14: finite(atr),
            sma20: finite(w20.map(|(m, _)| m)),
            sma50: finite(sma50),
            sma200: finite(sma200),
            ema12: finite(ema12),
            ema26: finite(ema26),
        }
    }

    /// Like [`Self::update`], but refuses a candle that is not newer than the last one
    /// consumed, and a state that is not [`current`](Self::is_current) (the state is
    /// left unchanged then).
    pub fn try_update(&mut self, bar: &Bar) -> anyhow::Result<IndicatorRow> {
        if !self.is_current() {
            bail!(
                "saved indicator state is from another version or damaged; recompute with --full"
            );
        }
        if let Some(last) = self.last_open_time
            && bar.open_time <= last
        {
            bail!(
                "candle at open time {} is not after the last one the indicator state has seen ({last}); recompute with --full",
                bar.open_time
            );
        }
        Ok(self.update(bar))
    }
}

/// A finite value, or `None` (for the columns of [`super::StandardSet`]).
#[inline]
fn finite_value(v: f64) -> Option<f64> {
    if v.is_finite() { Some(v) } else { None }
}

/// The standard set over a whole series: [`super::compute_standard_set`] as rows. The
/// batch kernels do the same arithmetic as feeding the bars one by one to
/// [`IndicatorState::update`], so the results are identical.
pub fn compute_all(bars: &[Bar]) -> Vec<IndicatorRow> {
    let s = super::compute_standard_set(bars);
    let f = finite_value;
    bars.iter()
        .enumerate()
        .map(|(i, b)| IndicatorRow {
            open_time: b.open_time,
            rsi14: f(s.rsi14[i]),
            macd: f(s.macd[i]),
            macd_signal: f(s.macd_signal[i]),
            macd_hist: f(s.macd_hist[i]),
            bb_upper: f(s.bb_upper[i]),
            bb_middle: f(s.bb_middle[i]),
            bb_lower: f(s.bb_lower[i]),
            atr14: f(s.atr14[i]),
            sma20: f(s.sma20[i]),
            sma50: f(s.sma50[i]),
            sma200: f(s.sma200[i]),
            ema12: f(s.ema12[i]),
            ema26: f(s.ema26[i]),
        })
        .collect()
}
