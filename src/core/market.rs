//! Market data types: symbols, timeframes, candles.

use anyhow::{Context, bail};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An exchange symbol in Binance spelling, e.g. `BTCUSDT`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Symbol(pub String);

impl Symbol {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Symbol {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        let t = s.trim().to_ascii_uppercase();
        if t.is_empty() || t.len() > 20 || !t.chars().all(|c| c.is_ascii_alphanumeric()) {
            bail!("invalid symbol {s:?}: expected letters and digits such as BTCUSDT");
        }
        Ok(Symbol(t))
    }
}

/// Candle interval, printed in Binance's wire form (`1m`, `1h`, `1d` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timeframe {
    M1,
    M3,
    M5,
    M15,
    M30,
    H1,
    H2,
    H4,
    H6,
    H8,
    H12,
    D1,
    D3,
    W1,
}

impl Timeframe {
    pub const ALL: [Timeframe; 14] = [
        Timeframe::M1,
        Timeframe::M3,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::M30,
        Timeframe::H1,
        Timeframe::H2,
        Timeframe::H4,
        Timeframe::H6,
        Timeframe::H8,
        Timeframe::H12,
        Timeframe::D1,
        Timeframe::D3,
        Timeframe::W1,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::M1 => "1m",
            Timeframe::M3 => "3m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::M30 => "30m",
            Timeframe::H1 => "1h",
            Timeframe::H2 => "2h",
            Timeframe::H4 => "4h",
            Timeframe::H6 => "6h",
            Timeframe::H8 => "8h",
            Timeframe::H12 => "12h",
            Timeframe::D1 => "1d",
            Timeframe::D3 => "3d",
            Timeframe::W1 => "1w",
        }
    }

    /// Length of one candle in milliseconds.
    pub fn millis(self) -> i64 {
        const MIN: i64 = 60_000;
        match self {
            Timeframe::M1 => MIN,
            Timeframe::M3 => 3 * MIN,
            Timeframe::M5 => 5 * MIN,
            Timeframe::M15 => 15 * MIN,
            Timeframe::M30 => 30 * MIN,
            Timeframe::H1 => 60 * MIN,
            Timeframe::H2 => 120 * MIN,
            Timeframe::H4 => 240 * MIN,
            Timeframe::H6 => 360 * MIN,
            Timeframe::H8 => 480 * MIN,
            Timeframe::H12 => 720 * MIN,
            Timeframe::D1 => 1440 * MIN,
            Timeframe::D3 => 3 * 1440 * MIN,
            Timeframe::W1 => 7 * 1440 * MIN,
        }
    }

    /// Number of candles in a 365-day year (for annualising statistics).
    pub fn bars_per_year(self) -> f64 {
        365.0 * 86_400_000.0 / self.millis() as f64
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        let t = s.trim();
        if t == "1M" || t == "1mo" {
            bail!(
                "timeframe {t:?} (calendar months) is not supported: months differ in length, and fks stores fixed intervals from 1m to 1w"
            );
        }
        Timeframe::ALL
            .into_iter()
            .find(|tf| tf.as_str() == t)
            .with_context(|| {
                format!(
                    "invalid timeframe {s:?}: expected one of {}",
                    Timeframe::ALL.map(|t| t.as_str()).join(", ")
                )
            })
    }
}

impl Serialize for Timeframe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One OHLCV candle. Prices and volume are kept exactly as the exchange printed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candle {
    /// Open time, ms since the epoch (UTC).
    pub open_time: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
}

/// A candle as `f64`, for indicators, backtests and statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub open_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl From<&Candle> for Bar {
    fn from(c: &Candle) -> Self {
        use rust_decimal::prelude::ToPrimitive;
        Bar {
            open_time: c.open_time,
            open: c.open.to_f64().unwrap_or(f64::NAN),
            high: c.high.to_f64().unwrap_or(f64::NAN),
            low: c.low.to_f64().unwrap_or(f64::NAN),
            close: c.close.to_f64().unwrap_or(f64::NAN),
            volume: c.volume.to_f64().unwrap_or(f64::NAN),
        }
    }
}

/// Missing intervals in a sorted series of open times: `(first_missing, last_missing, count)`.
pub fn find_gaps(open_times: &[i64], tf: Timeframe) -> Vec<Gap> {
    let step = tf.millis();
    open_times
        .windows(2)
        .filter(|w| w[1] - w[0] > step)
        .map(|w| Gap {
            from: w[0] + step,
            to: w[1] - step,
            missing: ((w[1] - w[0]) / step - 1) as u64,
        })
        .collect()
}

/// A run of missing candles: open times `from..=to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub from: i64,
    pub to: i64,
    pub missing: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframe_round_trip() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>().unwrap(), tf);
        }
        assert!("7m".parse::<Timeframe>().is_err());
        assert_eq!(Timeframe::H1.millis(), 3_600_000);
    }

    #[test]
    fn gaps_are_found() {
        let h = 3_600_000;
        let times = [0, h, 2 * h, 5 * h, 6 * h, 8 * h];
        let g = find_gaps(&times, Timeframe::H1);
        assert_eq!(
            g,
            vec![
                Gap {
                    from: 3 * h,
                    to: 4 * h,
                    missing: 2
                },
                Gap {
                    from: 7 * h,
                    to: 7 * h,
                    missing: 1
                }
            ]
        );
    }

    #[test]
    fn symbol_is_validated() {
        assert_eq!("btcusdt".parse::<Symbol>().unwrap().as_str(), "BTCUSDT");
        assert!("BTC/USDT".parse::<Symbol>().is_err());
    }
}
