//! What a valid candle is. One set of rules for every way a candle enters the store:
//! `import-klines`, `sync-market-data` (candles from the exchange) and `restore-archive`.
//!
//! - prices are finite and positive, volume is not negative;
//! - high ≥ max(open, close) and low ≤ min(open, close);
//! - the open time is on the timeframe's grid: fixed intervals up to 1d on multiples of the
//!   interval since the epoch (UTC), 1w on Mondays 00:00 UTC (Binance's weeks), 3d at 00:00
//!   UTC and on the 3-day phase of the series it joins (see [`Grid`]);
//! - a close time, when the source gives one, is `open + interval − 1 ms`;
//! - nothing before 2009 and nothing more than one interval after the run's clock.
//!
//! Calendar months (Binance's `1M`) have no fixed length; fks does not store them (the
//! timeframe is refused when it is parsed).

use crate::core::market::{Candle, Timeframe};
use rust_decimal::Decimal;
use std::fmt;

/// 2009-01-01T00:00:00Z: no crypto market has a candle before it.
pub const EARLIEST_MS: i64 = 1_230_768_000_000;
const DAY_MS: i64 = 86_400_000;
/// 1970-01-05T00:00:00Z, the first Monday after the epoch: Binance's weeks start on Mondays.
const FIRST_MONDAY_MS: i64 = 4 * DAY_MS;

/// Why a candle is not valid (one reason, the first rule it breaks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("{field} {value} is not a positive price")]
    NotPositive { field: &'static str, value: Decimal },
    #[error("volume {0} is negative")]
    NegativeVolume(Decimal),
    #[error("high {high} is below max(open, close) {max}")]
    HighBelow { high: Decimal, max: Decimal },
    #[error("low {low} is above min(open, close) {min}")]
    LowAbove { low: Decimal, min: Decimal },
    #[error("open time {} is off the {tf} grid ({rule})", fmt_exact(*.open_time))]
    OffGrid {
        open_time: i64,
        tf: Timeframe,
        rule: &'static str,
    },
    #[error(
        "open time {} is off the 3-day phase of the stored {tf} series (its candles open at {}, every 3 days)",
        fmt_exact(*.open_time),
        fmt_exact(*.anchor)
    )]
    OffPhase {
        open_time: i64,
        tf: Timeframe,
        anchor: i64,
    },
    #[error(
        "close time {close_time} does not match: a {tf} candle opened at {open_time} closes at {want}"
    )]
    CloseTime {
        open_time: i64,
        close_time: i64,
        want: i64,
        tf: Timeframe,
    },
    #[error("open time {} is before 2009", fmt_exact(*.0))]
    TooOld(i64),
    #[error(
        "open time {} is more than one {tf} interval in the future (the run's clock says {})",
        fmt_exact(*.open_time),
        fmt_exact(*.now_ms)
    )]
    InFuture {
        open_time: i64,
        now_ms: i64,
        tf: Timeframe,
    },
    #[error("{field} {text:?} is not a finite decimal number")]
    NotANumber { field: &'static str, text: String },
}

fn fmt_exact(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Parse a price or volume as the exchange prints it; NaN, infinities and numbers out of the
/// decimal range (`1e999`) are refused.
pub fn parse_number(field: &'static str, text: &str) -> Result<Decimal, Invalid> {
    let t = text.trim();
    let bad = || Invalid::NotANumber {
        field,
        text: text.chars().take(40).collect(),
    };
    if t.is_empty() || t.len() > 64 {
        return Err(bad());
    }
    t.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|_| bad())
}

/// The rules on prices and volume alone.
pub fn check_values(c: &Candle) -> Result<(), Invalid> {
    for (field, value) in [
        ("open", c.open),
        ("high", c.high),
        ("low", c.low),
        ("close", c.close),
    ] {
        if value <= Decimal::ZERO {
            return Err(Invalid::NotPositive { field, value });
        }
    }
    if c.volume < Decimal::ZERO {
        return Err(Invalid::NegativeVolume(c.volume));
    }
    let max = c.open.max(c.close);
    if c.high < max {
        return Err(Invalid::HighBelow { high: c.high, max });
    }
    let min = c.open.min(c.close);
    if c.low > min {
        return Err(Invalid::LowAbove { low: c.low, min });
    }
    Ok(())
}

/// The open time is on the timeframe's grid (the 3-day phase is checked by [`Grid`]).
pub fn check_grid(open_time: i64, tf: Timeframe) -> Result<(), Invalid> {
    let (ok, rule) = match tf {
        Timeframe::W1 => (
            (open_time - FIRST_MONDAY_MS).rem_euclid(tf.millis()) == 0,
            "weeks open on Monday 00:00 UTC",
        ),
        Timeframe::D3 => (
            open_time.rem_euclid(DAY_MS) == 0,
            "3-day candles open at 00:00 UTC",
        ),
        _ => (
            open_time.rem_euclid(tf.millis()) == 0,
            "a whole number of intervals since 1970-01-01 00:00 UTC",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(Invalid::OffGrid {
            open_time,
            tf,
            rule,
        })
    }
}

/// The offset of the timeframe's grid from the epoch, when it is known: 1w candles open on
/// Mondays, 3d candles on the phase of the series (`anchor`: any open time of it; `None` when
/// the series has no candle yet, so the phase is not known), every other interval on
/// multiples of itself.
pub fn grid_origin(tf: Timeframe, anchor: Option<i64>) -> Option<i64> {
    match tf {
        Timeframe::W1 => Some(FIRST_MONDAY_MS),
        Timeframe::D3 => anchor,
        _ => Some(0),
    }
}

/// The newest open time on the grid at or before `t` (`None` when the grid is not known).
pub fn grid_floor(t: i64, tf: Timeframe, anchor: Option<i64>) -> Option<i64> {
    let o = grid_origin(tf, anchor)?;
    Some(o + (t - o).div_euclid(tf.millis()) * tf.millis())
}

/// The oldest open time on the grid at or after `t` (`None` when the grid is not known).
pub fn grid_ceil(t: i64, tf: Timeframe, anchor: Option<i64>) -> Option<i64> {
    let f = grid_floor(t, tf, anchor)?;
    Some(if f == t { t } else { f + tf.millis() })
}

/// Rules that need no clock: values, grid, close time, not before 2009.
pub fn check_static(c: &Candle, close_time: Option<i64>, tf: Timeframe) -> Result<(), Invalid> {
    check_values(c)?;
    if c.open_time < EARLIEST_MS {
        return Err(Invalid::TooOld(c.open_time));
    }
    check_grid(c.open_time, tf)?;
    if let Some(close_time) = close_time {
        let want = c.open_time + tf.millis() - 1;
        if close_time != want {
            return Err(Invalid::CloseTime {
                open_time: c.open_time,
                close_time,
                want,
                tf,
            });
        }
    }
    Ok(())
}

/// The whole set of rules for one series (symbol and timeframe) in one run.
///
/// Binance documents the grid of every interval but 3d: its 3-day candles open at midnight
/// UTC, but the phase of the 3-day cycle is not the epoch's and differs between markets (the
/// public dumps hold USD-M candles opening on days ≡ 1 (mod 3) since the epoch and COIN-M
/// index candles on days ≡ 2). So for 3d the first candle of a series (the stored one, else
/// the first valid one seen) fixes the phase and every other must share it.
#[derive(Debug, Clone)]
pub struct Grid {
    pub tf: Timeframe,
    pub now_ms: i64,
    anchor: Option<i64>,
}

impl Grid {
    /// `stored_anchor`: the open time of any candle of this series already in the store.
    pub fn new(tf: Timeframe, now_ms: i64, stored_anchor: Option<i64>) -> Grid {
        Grid {
            tf,
            now_ms,
            anchor: stored_anchor,
        }
    }

    /// Check one candle; `close_time` when the source gives one.
    pub fn check(&mut self, c: &Candle, close_time: Option<i64>) -> Result<(), Invalid> {
        check_static(c, close_time, self.tf)?;
        if c.open_time > self.now_ms.saturating_add(self.tf.millis()) {
            return Err(Invalid::InFuture {
                open_time: c.open_time,
                now_ms: self.now_ms,
                tf: self.tf,
            });
        }
        if self.tf == Timeframe::D3 {
            match self.anchor {
                Some(a) if (c.open_time - a).rem_euclid(self.tf.millis()) != 0 => {
                    return Err(Invalid::OffPhase {
                        open_time: c.open_time,
                        tf: self.tf,
                        anchor: a,
                    });
                }
                Some(_) => {}
                None => self.anchor = Some(c.open_time),
            }
        }
        Ok(())
    }
}

/// A candle as a source hands it over, with the close time when the source has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedCandle {
    pub candle: Candle,
    pub close_time: Option<i64>,
}

impl fmt::Display for SourcedCandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "candle at {}", fmt_exact(self.candle.open_time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: i64 = 3_600_000;
    const T0: i64 = 1_704_067_200_000; // 2024-01-01, a Monday

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn candle(t: i64, o: &str, h: &str, l: &str, c: &str, v: &str) -> Candle {
        Candle {
            open_time: t,
            open: d(o),
            high: d(h),
            low: d(l),
            close: d(c),
            volume: d(v),
        }
    }

    #[test]
    fn each_rule() {
        let mut g = Grid::new(Timeframe::H1, T0 + 100 * H, None);
        let ok = candle(T0, "10", "12", "9", "11", "0");
        assert_eq!(g.check(&ok, Some(T0 + H - 1)), Ok(()));
        let cases = [
            (
                candle(T0, "-5", "12", "-6", "11", "1"),
                "open -5 is not a positive",
            ),
            (candle(T0, "0", "12", "0", "11", "1"), "open 0"),
            (
                candle(T0, "10", "12", "9", "11", "-1"),
                "volume -1 is negative",
            ),
            (
                candle(T0, "10", "12", "9", "13", "1"),
                "high 12 is below max(open, close) 13",
            ),
            (
                candle(T0, "10", "12", "10.5", "11", "1"),
                "low 10.5 is above min(open, close) 10",
            ),
            (
                candle(T0 + 123, "10", "12", "9", "11", "1"),
                "off the 1h grid",
            ),
            (
                candle(1_199_145_600_000, "10", "12", "9", "11", "1"),
                "before 2009",
            ),
            (
                candle(T0 + 102 * H, "10", "12", "9", "11", "1"),
                "in the future",
            ),
        ];
        for (c, want) in cases {
            let e = g.check(&c, None).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
        // One interval ahead is the still-open candle: allowed.
        assert!(
            g.check(&candle(T0 + 101 * H, "1", "1", "1", "1", "0"), None)
                .is_ok()
        );
        let e = g.check(&ok, Some(T0 + 5 * 60_000 - 1)).unwrap_err();
        assert!(matches!(e, Invalid::CloseTime { .. }), "{e}");
    }

    #[test]
    fn weeks_start_on_monday_and_three_days_keep_one_phase() {
        let w = 7 * DAY_MS;
        // Binance's documented example: 1499040000000 (2017-07-03, a Monday).
        assert!(check_grid(1_499_040_000_000, Timeframe::W1).is_ok());
        assert!(check_grid(T0, Timeframe::W1).is_ok());
        let e = check_grid(T0 - 4 * DAY_MS, Timeframe::W1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Monday"), "{e}");
        assert!(check_grid(T0 + w + 1, Timeframe::W1).is_err());
        // 3d: any midnight may start a series; then the phase is fixed.
        let mut g = Grid::new(Timeframe::D3, T0 + 400 * DAY_MS, None);
        let c = |t| candle(t, "1", "1", "1", "1", "1");
        assert!(g.check(&c(T0 + DAY_MS), Some(T0 + 4 * DAY_MS - 1)).is_ok());
        assert!(g.check(&c(T0 + 4 * DAY_MS), None).is_ok());
        assert!(matches!(
            g.check(&c(T0 + 5 * DAY_MS), None),
            Err(Invalid::OffPhase { .. })
        ));
        assert!(matches!(
            g.check(&c(T0 + 4 * DAY_MS + H), None),
            Err(Invalid::OffGrid { .. })
        ));
        let mut stored = Grid::new(Timeframe::D3, T0 + 400 * DAY_MS, Some(T0 + 2 * DAY_MS));
        assert!(stored.check(&c(T0 + DAY_MS), None).is_err());
        assert!(stored.check(&c(T0 - DAY_MS), None).is_ok());
    }

    #[test]
    fn numbers() {
        assert_eq!(
            parse_number("open", "42283.58000000").unwrap().to_string(),
            "42283.58000000"
        );
        assert_eq!(parse_number("open", "1e-8").unwrap(), d("0.00000001"));
        for bad in ["", "abc", "NaN", "inf", "-inf", "1e999", "1,5", "0x10"] {
            let e = parse_number("open", bad).unwrap_err().to_string();
            assert!(e.contains("not a finite decimal"), "{bad}: {e}");
        }
    }

    proptest! {
        /// A candle built to satisfy the rules passes; breaking one rule is always caught.
        #[test]
        fn rules_hold(
            i in 0i64..1_000_000,
            lo in 1u64..1_000_000_000,
            spread in 0u64..1_000_000,
            a in 0u64..=100,
            b in 0u64..=100,
            vol in 0u64..1_000_000_000,
            tfi in 0usize..Timeframe::ALL.len(),
        ) {
            let tf = Timeframe::ALL[tfi];
            let base = match tf {
                Timeframe::W1 => T0,
                _ => T0 - T0.rem_euclid(tf.millis()),
            };
            let t = base + (i % 500) * tf.millis();
            let low = Decimal::new(lo as i64, 4);
            let high = low + Decimal::new(spread as i64, 4);
            let at = |p: u64| low + (high - low) * Decimal::new(p as i64, 2);
            let c = Candle { open_time: t, open: at(a), high, low, close: at(b), volume: Decimal::new(vol as i64, 3) };
            let mut g = Grid::new(tf, t, None);
            prop_assert_eq!(g.check(&c, Some(t + tf.millis() - 1)), Ok(()));
            let mut bad = c.clone();
            bad.high = c.open.max(c.close) - Decimal::new(1, 6);
            let high_below = matches!(g.check(&bad, None), Err(Invalid::HighBelow { .. }));
            prop_assert!(high_below);
            let mut bad = c.clone();
            bad.open_time += 1;
            prop_assert!(g.check(&bad, None).is_err());
            prop_assert!(g.check(&c, Some(t + tf.millis())).is_err());
        }

        /// Any text: a number or a clear refusal, never a panic.
        #[test]
        fn any_text_is_a_number_or_refused(s in "\\PC{0,80}") {
            if let Err(e) = parse_number("close", &s) {
                prop_assert!(e.to_string().contains("not a finite decimal number"));
            }
        }
    }
}
