//! Built-in strategies: their parameters (defaults, bounds, optimisation ranges), the
//! options every strategy takes (stops, direction), parsing/validation, and the pure
//! signal computation.
//!
//! A strategy turns bars into one set of flags per bar ([`ENTER_LONG`], [`EXIT_LONG`],
//! [`ENTER_SHORT`], [`EXIT_SHORT`]) computed from data up to and including that bar's
//! close; the engine acts on bar t's flags at bar t+1's open. Undefined (warm-up)
//! indicator values are treated as `None`: no comparison involving them is ever true.
//!
//! Entry and exit rules (all comparisons strict):
//! - `sma_cross(fast, slow)` / `ema_cross(fast, slow)`: fast crosses above slow at t
//!   (fast > slow at t, fast <= slow at t-1, all four values defined) → enter long / exit
//!   short; fast crosses below slow (fast < slow at t, fast >= slow at t-1) → exit long /
//!   enter short.
//! - `macd_cross(fast, slow, signal)`: the same crossover rule, MACD line against its
//!   signal line.
//! - `rsi_reversion(period, lower, upper)`: RSI < lower → enter long / exit short;
//!   RSI > upper → exit long / enter short. Level-based: the condition holds on every bar
//!   it is true, so after a stop-out a long is re-entered at the next open while RSI is
//!   still below `lower`.
//! - `bollinger_reversion(period, k)`: close < lower band → enter long; close > middle
//!   band → exit long; close > upper band → enter short; close < middle → exit short.
//!   Level-based, like `rsi_reversion`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize, Serializer};

use crate::core::indicators::{self, Bands, Macd};
use crate::core::market::Bar;

/// Flag bits of a bar's signal.
pub const ENTER_LONG: u8 = 1;
pub const EXIT_LONG: u8 = 2;
pub const ENTER_SHORT: u8 = 4;
pub const EXIT_SHORT: u8 = 8;

/// A bullish crossover or level: enter long and cover a short.
const BULL: u8 = ENTER_LONG | EXIT_SHORT;
/// A bearish crossover or level: exit a long and go short (when shorts are allowed).
const BEAR: u8 = EXIT_LONG | ENTER_SHORT;

/// Default ATR period for ATR-multiple stops and take-profits.
pub const DEFAULT_ATR_PERIOD: usize = 14;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StrategyError {
    #[error(
        "unknown strategy {0:?}: expected one of sma_cross, ema_cross, rsi_reversion, macd_cross, bollinger_reversion"
    )]
    UnknownKind(String),
    #[error("{kind} has no parameter {name:?}: expected one of {expected}")]
    UnknownParam {
        kind: StrategyKind,
        name: String,
        expected: String,
    },
    #[error("invalid value {value:?} for {name}: {reason}")]
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
    #[error("{kind}: {reason}")]
    Invalid { kind: StrategyKind, reason: String },
    #[error("expected key=value, got {0:?}")]
    Syntax(String),
}

/// The built-in strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    SmaCross,
    EmaCross,
    RsiReversion,
    MacdCross,
    BollingerReversion,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 5] = [
        StrategyKind::SmaCross,
        StrategyKind::EmaCross,
        StrategyKind::RsiReversion,
        StrategyKind::MacdCross,
        StrategyKind::BollingerReversion,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::SmaCross => "sma_cross",
            StrategyKind::EmaCross => "ema_cross",
            StrategyKind::RsiReversion => "rsi_reversion",
            StrategyKind::MacdCross => "macd_cross",
            StrategyKind::BollingerReversion => "bollinger_reversion",
        }
    }

    /// Declared parameters, in the fixed order used for grids (first = outermost loop).
    pub fn params(self) -> &'static [ParamDef] {
        const fn int(
            name: &'static str,
            default: f64,
            min: f64,
            grid: (f64, f64, f64),
        ) -> ParamDef {
            ParamDef {
                name,
                default,
                min,
                max: 100_000.0,
                integer: true,
                grid: ParamRange {
                    start: grid.0,
                    end: grid.1,
                    step: grid.2,
                },
            }
        }
        const SMA: [ParamDef; 2] = [
            int("fast", 10.0, 2.0, (5.0, 50.0, 5.0)),
            int("slow", 30.0, 2.0, (20.0, 200.0, 20.0)),
        ];
        const EMA: [ParamDef; 2] = [
            int("fast", 12.0, 2.0, (5.0, 50.0, 5.0)),
            int("slow", 26.0, 2.0, (20.0, 200.0, 20.0)),
        ];
        const RSI: [ParamDef; 3] = [
            int("period", 14.0, 2.0, (7.0, 21.0, 7.0)),
            ParamDef {
                name: "lower",
                default: 30.0,
                min: 0.0,
                max: 100.0,
                integer: false,
                grid: ParamRange {
                    start: 20.0,
                    end: 35.0,
                    step: 5.0,
                },
            },
            ParamDef {
                name: "upper",
                default: 70.0,
                min: 0.0,
                max: 100.0,
                integer: false,
                grid: ParamRange {
                    start: 65.0,
                    end: 80.0,
                    step: 5.0,
                },
            },
        ];
        const MACD: [ParamDef; 3] = [
            int("fast", 12.0, 2.0, (8.0, 16.0, 4.0)),
            int("slow", 26.0, 2.0, (20.0, 32.0, 6.0)),
            int("signal", 9.0, 1.0, (5.0, 13.0, 4.0)),
        ];
        const BB: [ParamDef; 2] = [
            int("period", 20.0, 2.0, (10.0, 50.0, 10.0)),
            ParamDef {
                name: "k",
                default: 2.0,
                min: 0.0,
                max: 100.0,
                integer: false,
                grid: ParamRange {
                    start: 1.5,
                    end: 3.0,
                    step: 0.5,
                },
            },
        ];
        match self {
            StrategyKind::SmaCross => &SMA,
            StrategyKind::EmaCross => &EMA,
            StrategyKind::RsiReversion => &RSI,
            StrategyKind::MacdCross => &MACD,
            StrategyKind::BollingerReversion => &BB,
        }
    }

    /// Default parameter values.
    pub fn default_params(self) -> BTreeMap<String, f64> {
        self.params()
            .iter()
            .map(|p| (p.name.to_string(), p.default))
            .collect()
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StrategyKind {
    type Err = StrategyError;
    fn from_str(s: &str) -> Result<Self, StrategyError> {
        let t = s.trim().replace('-', "_").to_ascii_lowercase();
        StrategyKind::ALL
            .into_iter()
            .find(|k| k.as_str() == t)
            .ok_or_else(|| StrategyError::UnknownKind(s.to_string()))
    }
}

/// An inclusive range `start..=end` by `step` (a single value when `start == end`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParamRange {
    pub start: f64,
    pub end: f64,
    pub step: f64,
}

impl ParamRange {
    pub fn fixed(v: f64) -> Self {
        ParamRange {
            start: v,
            end: v,
            step: 1.0,
        }
    }

    /// How many values the range has, computed without listing them (saturating: a range
    /// of more than `usize::MAX` values counts as `usize::MAX`).
    pub fn len(&self) -> usize {
        if !(self.start.is_finite() && self.end.is_finite() && self.step.is_finite())
            || self.step <= 0.0
            || self.end < self.start
        {
            return 0;
        }
        let n = ((self.end - self.start) / self.step + 1e-9).floor();
        if !n.is_finite() || n >= usize::MAX as f64 {
            usize::MAX
        } else {
            n as usize + 1
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values, ascending. Computed as `start + i * step` (no accumulated error) and
    /// rounded to 1e-9 so `0.1` steps give the values a person typed.
    pub fn values(&self) -> Vec<f64> {
        if !(self.start.is_finite() && self.end.is_finite() && self.step.is_finite())
            || self.step <= 0.0
            || self.end < self.start
        {
            return Vec::new();
        }
        let count = ((self.end - self.start) / self.step + 1e-9).floor() as usize + 1;
        (0..count)
            .map(|i| ((self.start + i as f64 * self.step) * 1e9).round() / 1e9)
            .collect()
    }
}

impl FromStr for ParamRange {
    type Err = StrategyError;
    /// `start:end:step`, `start:end` (step 1) or a single value.
    fn from_str(s: &str) -> Result<Self, StrategyError> {
        let bad = |reason: &str| StrategyError::InvalidValue {
            name: "range".into(),
            value: s.to_string(),
            reason: reason.into(),
        };
        let parts: Vec<f64> = s
            .split(':')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("expected start:end:step with numbers"))?;
        let r = match parts[..] {
            [v] => ParamRange::fixed(v),
            [a, b] => ParamRange {
                start: a,
                end: b,
                step: 1.0,
            },
            [a, b, c] => ParamRange {
                start: a,
                end: b,
                step: c,
            },
            _ => return Err(bad("expected start:end:step")),
        };
        // Counted, not listed: `1:1e15` must be refused by the grid's checks, not allocated.
        if r.is_empty() {
            return Err(bad("empty range: need start <= end and step > 0"));
        }
        Ok(r)
    }
}

/// One declared parameter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParamDef {
    pub name: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    /// Must be a whole number (a period).
    pub integer: bool,
    /// Default optimisation range.
    pub grid: ParamRange,
}

/// Long only (default) or long and short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    LongOnly,
    LongShort,
}

impl FromStr for Direction {
    type Err = StrategyError;
    fn from_str(s: &str) -> Result<Self, StrategyError> {
        match s.trim().replace('-', "_").to_ascii_lowercase().as_str() {
            "long_only" | "long" => Ok(Direction::LongOnly),
            "long_short" | "both" => Ok(Direction::LongShort),
            _ => Err(StrategyError::InvalidValue {
                name: "direction".into(),
                value: s.into(),
                reason: "expected long_only or long_short".into(),
            }),
        }
    }
}

/// Distance of a stop loss or take profit from the entry fill price.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExitRule {
    /// `pct` percent of the entry fill price (2.0 = 2%).
    Percent { pct: f64 },
    /// `multiple` × ATR(`atr_period`) of the signal bar (the bar before the entry).
    Atr { multiple: f64 },
}

impl ExitRule {
    fn validate(&self, name: &str) -> Result<(), StrategyError> {
        let (v, ok) = match *self {
            ExitRule::Percent { pct } => (pct, pct.is_finite() && pct > 0.0),
            ExitRule::Atr { multiple } => (multiple, multiple.is_finite() && multiple > 0.0),
        };
        if ok {
            Ok(())
        } else {
            Err(StrategyError::InvalidValue {
                name: name.into(),
                value: v.to_string(),
                reason: "must be a positive number".into(),
            })
        }
    }
}

impl fmt::Display for ExitRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitRule::Percent { pct } => write!(f, "{pct}%"),
            ExitRule::Atr { multiple } => write!(f, "{multiple}atr"),
        }
    }
}

impl FromStr for ExitRule {
    type Err = StrategyError;
    /// `2%` or `2pct` (percent) and `1.5atr` (ATR multiple).
    fn from_str(s: &str) -> Result<Self, StrategyError> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || StrategyError::InvalidValue {
            name: "stop".into(),
            value: s.into(),
            reason: "expected a percentage like 2% or an ATR multiple like 1.5atr".into(),
        };
        let num = |x: &str| x.trim().parse::<f64>().map_err(|_| bad());
        let rule = if let Some(x) = t.strip_suffix('%').or_else(|| t.strip_suffix("pct")) {
            ExitRule::Percent { pct: num(x)? }
        } else if let Some(x) = t.strip_suffix("atr") {
            ExitRule::Atr {
                multiple: num(x.trim_end_matches(['x', '*']))?,
            }
        } else {
            return Err(bad());
        };
        rule.validate("stop")?;
        Ok(rule)
    }
}

/// A strategy with its parameters and options. Serialised as
/// `{"kind":"sma_cross","params":{"fast":10,"slow":30},"direction":"long_only",
/// "stop_loss":null,"take_profit":null,"atr_period":14}`; deserialising validates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSpec")]
pub struct StrategySpec {
    pub kind: StrategyKind,
    /// Every declared parameter (defaults filled in).
    #[serde(serialize_with = "serialize_params")]
    pub params: BTreeMap<String, f64>,
    pub direction: Direction,
    pub stop_loss: Option<ExitRule>,
    pub take_profit: Option<ExitRule>,
    /// ATR period used by ATR-multiple stops and take-profits.
    pub atr_period: usize,
}

#[derive(Deserialize)]
struct RawSpec {
    kind: StrategyKind,
    #[serde(default)]
    params: BTreeMap<String, f64>,
    #[serde(default)]
    direction: Direction,
    #[serde(default)]
    stop_loss: Option<ExitRule>,
    #[serde(default)]
    take_profit: Option<ExitRule>,
    #[serde(default = "default_atr_period")]
    atr_period: usize,
}

fn default_atr_period() -> usize {
    DEFAULT_ATR_PERIOD
}

impl TryFrom<RawSpec> for StrategySpec {
    type Error = StrategyError;
    fn try_from(r: RawSpec) -> Result<Self, StrategyError> {
        let mut spec = StrategySpec::new(r.kind, &r.params)?;
        spec.direction = r.direction;
        spec.stop_loss = r.stop_loss;
        spec.take_profit = r.take_profit;
        spec.atr_period = r.atr_period;
        spec.validate()?;
        Ok(spec)
    }
}

/// Whole numbers are written as integers (`"fast":10`, not `10.0`).
fn serialize_params<S: Serializer>(p: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(p.len()))?;
    for (k, v) in p {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            m.serialize_entry(k, &(*v as i64))?;
        } else {
            m.serialize_entry(k, v)?;
        }
    }
    m.end()
}

/// Validated, typed parameters of a spec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Params {
    SmaCross {
        fast: usize,
        slow: usize,
    },
    EmaCross {
        fast: usize,
        slow: usize,
    },
    RsiReversion {
        period: usize,
        lower: f64,
        upper: f64,
    },
    MacdCross {
        fast: usize,
        slow: usize,
        signal: usize,
    },
    BollingerReversion {
        period: usize,
        k: f64,
    },
}

impl StrategySpec {
    /// A spec with the given parameters over the defaults (long only, no stops).
    pub fn new(kind: StrategyKind, params: &BTreeMap<String, f64>) -> Result<Self, StrategyError> {
        let mut all = kind.default_params();
        for (name, v) in params {
            match all.get_mut(name.as_str()) {
                Some(slot) => *slot = *v,
                None => return Err(unknown_param(kind, name)),
            }
        }
        let spec = StrategySpec {
            kind,
            params: all,
            direction: Direction::LongOnly,
            stop_loss: None,
            take_profit: None,
            atr_period: DEFAULT_ATR_PERIOD,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// The default parameters of `kind`.
    pub fn default_for(kind: StrategyKind) -> Self {
        StrategySpec::new(kind, &BTreeMap::new()).expect("declared defaults are valid")
    }

    /// Parse a name and a `key=value` list, e.g. `("sma_cross", "fast=10,slow=30")`.
    /// Besides the strategy's parameters the list may hold `stop_loss=2%`,
    /// `take_profit=1.5atr`, `atr_period=14` and `direction=long_short`.
    pub fn parse(name: &str, kv: &str) -> Result<Self, StrategyError> {
        let kind: StrategyKind = name.parse()?;
        let mut params = BTreeMap::new();
        let mut opts: Vec<(&str, &str)> = Vec::new();
        for item in kv.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| StrategyError::Syntax(item.into()))?;
            let (k, v) = (k.trim(), v.trim());
            match k {
                "stop_loss" | "take_profit" | "atr_period" | "direction" => opts.push((k, v)),
                _ => {
                    let x = v.parse::<f64>().map_err(|_| StrategyError::InvalidValue {
                        name: k.into(),
                        value: v.into(),
                        reason: "not a number".into(),
                    })?;
                    if kind.params().iter().all(|p| p.name != k) {
                        return Err(unknown_param(kind, k));
                    }
                    params.insert(k.to_string(), x);
                }
            }
        }
        let mut spec = StrategySpec::new(kind, &params)?;
        for (k, v) in opts {
            match k {
                "stop_loss" => spec.stop_loss = Some(v.parse()?),
                "take_profit" => spec.take_profit = Some(v.parse()?),
                "direction" => spec.direction = v.parse()?,
                _ => {
                    spec.atr_period = v.parse().map_err(|_| StrategyError::InvalidValue {
                        name: k.into(),
                        value: v.into(),
                        reason: "expected a whole number >= 1".into(),
                    })?
                }
            }
        }
        spec.validate()?;
        Ok(spec)
    }

    /// The same options with other parameter values (validated).
    pub fn with_params(&self, params: &BTreeMap<String, f64>) -> Result<Self, StrategyError> {
        let mut s = StrategySpec::new(self.kind, params)?;
        s.direction = self.direction;
        s.stop_loss = self.stop_loss;
        s.take_profit = self.take_profit;
        s.atr_period = self.atr_period;
        s.validate()?;
        Ok(s)
    }

    /// Check every parameter and option.
    pub fn validate(&self) -> Result<(), StrategyError> {
        self.typed().map(|_| ())
    }

    fn uses_atr(&self) -> bool {
        matches!(self.stop_loss, Some(ExitRule::Atr { .. }))
            || matches!(self.take_profit, Some(ExitRule::Atr { .. }))
    }

    /// Bars before the first bar whose signal can be defined: an out-of-sample window
    /// needs this many bars of history so its first bar can already trade.
    pub fn warmup_bars(&self) -> usize {
        let Ok(p) = self.typed() else { return 0 };
        let base = match p {
            // a crossover at t needs both averages defined at t-1: first at index slow
            Params::SmaCross { slow, .. } | Params::EmaCross { slow, .. } => slow,
            Params::RsiReversion { period, .. } => period,
            Params::MacdCross { slow, signal, .. } => slow + signal - 1,
            Params::BollingerReversion { period, .. } => period - 1,
        };
        if self.uses_atr() {
            base.max(self.atr_period)
        } else {
            base
        }
    }

    pub(crate) fn typed(&self) -> Result<Params, StrategyError> {
        let kind = self.kind;
        let mut vals = [0.0f64; 3];
        for (i, def) in kind.params().iter().enumerate() {
            let v = *self
                .params
                .get(def.name)
                .ok_or_else(|| StrategyError::Invalid {
                    kind,
                    reason: format!("missing parameter {}", def.name),
                })?;
            let bad = |reason: String| StrategyError::InvalidValue {
                name: def.name.into(),
                value: v.to_string(),
                reason,
            };
            if !v.is_finite() {
                return Err(bad("not a finite number".into()));
            }
            if def.integer && v.fract() != 0.0 {
                return Err(bad("must be a whole number".into()));
            }
            if v < def.min || v > def.max {
                return Err(bad(format!("must be between {} and {}", def.min, def.max)));
            }
            vals[i] = v;
        }
        if let Some(extra) = self
            .params
            .keys()
            .find(|k| kind.params().iter().all(|p| p.name != *k))
        {
            return Err(unknown_param(kind, extra));
        }
        let invalid = |reason: &str| StrategyError::Invalid {
            kind,
            reason: reason.into(),
        };
        let p = match kind {
            StrategyKind::SmaCross | StrategyKind::EmaCross => {
                let (fast, slow) = (vals[0] as usize, vals[1] as usize);
                if fast >= slow {
                    return Err(invalid(&format!(
                        "fast ({fast}) must be less than slow ({slow})"
                    )));
                }
                if kind == StrategyKind::SmaCross {
                    Params::SmaCross { fast, slow }
                } else {
                    Params::EmaCross { fast, slow }
                }
            }
            StrategyKind::RsiReversion => {
                let (lower, upper) = (vals[1], vals[2]);
                if lower >= upper {
                    return Err(invalid(&format!(
                        "lower ({lower}) must be less than upper ({upper})"
                    )));
                }
                Params::RsiReversion {
                    period: vals[0] as usize,
                    lower,
                    upper,
                }
            }
            StrategyKind::MacdCross => {
                let (fast, slow) = (vals[0] as usize, vals[1] as usize);
                if fast >= slow {
                    return Err(invalid(&format!(
                        "fast ({fast}) must be less than slow ({slow})"
                    )));
                }
                Params::MacdCross {
                    fast,
                    slow,
                    signal: vals[2] as usize,
                }
            }
            StrategyKind::BollingerReversion => {
                if vals[1] <= 0.0 {
                    return Err(invalid("k must be greater than 0"));
                }
                Params::BollingerReversion {
                    period: vals[0] as usize,
                    k: vals[1],
                }
            }
        };
        for (name, rule) in [
            ("stop_loss", &self.stop_loss),
            ("take_profit", &self.take_profit),
        ] {
            if let Some(r) = rule {
                r.validate(name)?;
            }
        }
        if self.atr_period == 0 || self.atr_period > 100_000 {
            return Err(StrategyError::InvalidValue {
                name: "atr_period".into(),
                value: self.atr_period.to_string(),
                reason: "must be between 1 and 100000".into(),
            });
        }
        Ok(p)
    }

    /// Indicator series the spec needs.
    pub(crate) fn indicator_keys(&self, p: &Params) -> Vec<IndicatorKey> {
        let mut keys = match *p {
            Params::SmaCross { fast, slow } => {
                vec![IndicatorKey::Sma(fast), IndicatorKey::Sma(slow)]
            }
            Params::EmaCross { fast, slow } => {
                vec![IndicatorKey::Ema(fast), IndicatorKey::Ema(slow)]
            }
            Params::RsiReversion { period, .. } => vec![IndicatorKey::Rsi(period)],
            Params::MacdCross { fast, slow, signal } => {
                vec![IndicatorKey::Macd(fast, slow, signal)]
            }
            Params::BollingerReversion { period, k } => {
                vec![IndicatorKey::Bbands(period, k.to_bits())]
            }
        };
        if self.uses_atr() {
            keys.push(IndicatorKey::Atr(self.atr_period));
        }
        keys
    }
}

fn unknown_param(kind: StrategyKind, name: &str) -> StrategyError {
    StrategyError::UnknownParam {
        kind,
        name: name.to_string(),
        expected: kind
            .params()
            .iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// One indicator series, identified so that grid combinations share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IndicatorKey {
    Sma(usize),
    Ema(usize),
    Rsi(usize),
    Macd(usize, usize, usize),
    /// period, `k.to_bits()`
    Bbands(usize, u64),
    Atr(usize),
}

pub(crate) enum Series {
    Line(Vec<f64>),
    Macd(Macd),
    Bands(Bands),
}

/// Indicator series computed once per key (in parallel) and shared by every backtest that
/// needs them.
pub(crate) struct IndicatorCache {
    map: HashMap<IndicatorKey, Series>,
}

impl IndicatorCache {
    pub(crate) fn build(bars: &[Bar], keys: impl IntoIterator<Item = IndicatorKey>) -> Self {
        let mut keys: Vec<IndicatorKey> = keys.into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        keys.retain(|k| seen.insert(*k));
        let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
        let needs_hl = keys.iter().any(|k| matches!(k, IndicatorKey::Atr(_)));
        let (high, low): (Vec<f64>, Vec<f64>) = if needs_hl {
            bars.iter().map(|b| (b.high, b.low)).unzip()
        } else {
            (Vec::new(), Vec::new())
        };
        let compute = |k: &IndicatorKey| {
            let s = match *k {
                IndicatorKey::Sma(n) => Series::Line(indicators::sma(&close, n)),
                IndicatorKey::Ema(n) => Series::Line(indicators::ema(&close, n)),
                IndicatorKey::Rsi(n) => Series::Line(indicators::rsi(&close, n)),
                IndicatorKey::Macd(f, s, g) => Series::Macd(indicators::macd(&close, f, s, g)),
                IndicatorKey::Bbands(n, k) => {
                    Series::Bands(indicators::bbands(&close, n, f64::from_bits(k)))
                }
                IndicatorKey::Atr(n) => Series::Line(indicators::atr(&high, &low, &close, n)),
            };
            (*k, s)
        };
        let map = if keys.len() > 1 {
            keys.par_iter().map(compute).collect()
        } else {
            keys.iter().map(compute).collect()
        };
        IndicatorCache { map }
    }

    fn get(&self, k: IndicatorKey) -> &Series {
        self.map
            .get(&k)
            .expect("indicator cache built from the spec's keys")
    }

    pub(crate) fn line(&self, k: IndicatorKey) -> &[f64] {
        match self.get(k) {
            Series::Line(v) => v,
            _ => unreachable!("line indicator key"),
        }
    }

    fn macd(&self, k: IndicatorKey) -> &Macd {
        match self.get(k) {
            Series::Macd(m) => m,
            _ => unreachable!("macd indicator key"),
        }
    }

    fn bands(&self, k: IndicatorKey) -> &Bands {
        match self.get(k) {
            Series::Bands(b) => b,
            _ => unreachable!("bbands indicator key"),
        }
    }
}

/// A defined indicator value: NaN (warm-up) is `None`.
#[inline(always)]
fn val(x: f64) -> Option<f64> {
    if x.is_nan() { None } else { Some(x) }
}

/// Fill `out[t]` with bar t's flags (see the module docs for the rules).
pub(crate) fn compute_signals(p: &Params, bars: &[Bar], cache: &IndicatorCache, out: &mut Vec<u8>) {
    out.clear();
    out.resize(bars.len(), 0);
    match *p {
        Params::SmaCross { fast, slow } => crossings(
            cache.line(IndicatorKey::Sma(fast)),
            cache.line(IndicatorKey::Sma(slow)),
            out,
        ),
        Params::EmaCross { fast, slow } => crossings(
            cache.line(IndicatorKey::Ema(fast)),
            cache.line(IndicatorKey::Ema(slow)),
            out,
        ),
        Params::MacdCross { fast, slow, signal } => {
            let m = cache.macd(IndicatorKey::Macd(fast, slow, signal));
            crossings(&m.macd, &m.signal, out)
        }
        Params::RsiReversion {
            period,
            lower,
            upper,
        } => {
            let r = cache.line(IndicatorKey::Rsi(period));
            for (o, &x) in out.iter_mut().zip(r) {
                *o = match val(x) {
                    Some(v) if v < lower => BULL,
                    Some(v) if v > upper => BEAR,
                    _ => 0,
                };
            }
        }
        Params::BollingerReversion { period, k } => {
            let b = cache.bands(IndicatorKey::Bbands(period, k.to_bits()));
            for (t, o) in out.iter_mut().enumerate() {
                let (Some(u), Some(m), Some(l)) =
                    (val(b.upper[t]), val(b.middle[t]), val(b.lower[t]))
                else {
                    continue;
                };
                let c = bars[t].close;
                let mut f = 0;
                if c < l {
                    f |= ENTER_LONG;
                }
                if c > m {
                    f |= EXIT_LONG;
                }
                if c > u {
                    f |= ENTER_SHORT;
                }
                if c < m {
                    f |= EXIT_SHORT;
                }
                *o = f;
            }
        }
    }
}

/// Crossover flags of `a` against `b`: up at t when a > b at t and a <= b at t-1, down
/// when a < b at t and a >= b at t-1, all four values defined.
fn crossings(a: &[f64], b: &[f64], out: &mut [u8]) {
    let n = out.len().min(a.len()).min(b.len());
    for t in 1..n {
        let (Some(a1), Some(b1), Some(a0), Some(b0)) =
            (val(a[t]), val(b[t]), val(a[t - 1]), val(b[t - 1]))
        else {
            continue;
        };
        if a1 > b1 && a0 <= b0 {
            out[t] = BULL;
        } else if a1 < b1 && a0 >= b0 {
            out[t] = BEAR;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_fills_defaults_and_options() {
        let s = StrategySpec::parse(
            "sma_cross",
            "fast=5, slow=20,stop_loss=2%,take_profit=1.5atr,direction=long_short",
        )
        .unwrap();
        assert_eq!(s.params["fast"], 5.0);
        assert_eq!(s.params["slow"], 20.0);
        assert_eq!(s.stop_loss, Some(ExitRule::Percent { pct: 2.0 }));
        assert_eq!(s.take_profit, Some(ExitRule::Atr { multiple: 1.5 }));
        assert_eq!(s.direction, Direction::LongShort);
        let d = StrategySpec::parse("rsi-reversion", "").unwrap();
        assert_eq!(d.params, StrategyKind::RsiReversion.default_params());
    }

    #[test]
    fn invalid_specs_are_rejected_with_a_reason() {
        let e = StrategySpec::parse("sma_cross", "fast=30,slow=30").unwrap_err();
        assert_eq!(
            e.to_string(),
            "sma_cross: fast (30) must be less than slow (30)"
        );
        assert!(matches!(
            StrategySpec::parse("sma_cross", "fats=3"),
            Err(StrategyError::UnknownParam { .. })
        ));
        assert!(matches!(
            StrategySpec::parse("nope", ""),
            Err(StrategyError::UnknownKind(_))
        ));
        assert!(StrategySpec::parse("sma_cross", "fast=2.5").is_err());
        assert!(StrategySpec::parse("sma_cross", "fast").is_err());
        assert!(StrategySpec::parse("sma_cross", "fast=1").is_err());
        assert!(StrategySpec::parse("rsi_reversion", "lower=70,upper=30").is_err());
        assert!(StrategySpec::parse("bollinger_reversion", "k=0").is_err());
        assert!(StrategySpec::parse("macd_cross", "fast=30,slow=26").is_err());
        assert!(StrategySpec::parse("sma_cross", "stop_loss=-1%").is_err());
        assert!(StrategySpec::parse("sma_cross", "stop_loss=2").is_err());
    }

    #[test]
    fn spec_round_trips_through_json_and_validates() {
        let s = StrategySpec::parse("bollinger_reversion", "period=20,k=2.5,stop_loss=3%").unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(
            j,
            r#"{"kind":"bollinger_reversion","params":{"k":2.5,"period":20},"direction":"long_only","stop_loss":{"type":"percent","pct":3.0},"take_profit":null,"atr_period":14}"#
        );
        assert_eq!(serde_json::from_str::<StrategySpec>(&j).unwrap(), s);
        let bad = r#"{"kind":"sma_cross","params":{"fast":50,"slow":20}}"#;
        assert!(serde_json::from_str::<StrategySpec>(bad).is_err());
        let short = r#"{"kind":"sma_cross","params":{"fast":5}}"#;
        assert_eq!(
            serde_json::from_str::<StrategySpec>(short).unwrap().params["slow"],
            30.0
        );
    }

    #[test]
    fn ranges_enumerate_exactly() {
        assert_eq!("5:50:5".parse::<ParamRange>().unwrap().values().len(), 10);
        assert_eq!(
            "1.5:3:0.5".parse::<ParamRange>().unwrap().values(),
            vec![1.5, 2.0, 2.5, 3.0]
        );
        assert_eq!(
            "0.1:0.3:0.1".parse::<ParamRange>().unwrap().values(),
            vec![0.1, 0.2, 0.3]
        );
        assert_eq!("7".parse::<ParamRange>().unwrap().values(), vec![7.0]);
        assert!("5:1:1".parse::<ParamRange>().is_err());
        assert!("1:5:0".parse::<ParamRange>().is_err());
    }

    #[test]
    fn undefined_values_never_cross() {
        let nan = f64::NAN;
        // fast undefined at t-1 while "fast <= slow" would be true by negation: no cross
        let a = [nan, nan, 3.0, 4.0, 1.0];
        let b = [nan, 2.0, 2.0, 2.0, 2.0];
        let mut out = [0u8; 5];
        crossings(&a, &b, &mut out);
        assert_eq!(out, [0, 0, 0, 0, BEAR]);
        let a = [1.0, 1.0, 3.0, 3.0];
        let b = [2.0, 2.0, 2.0, 2.0];
        let mut out = [0u8; 4];
        crossings(&a, &b, &mut out);
        assert_eq!(out, [0, 0, BULL, 0]);
        // touching (equal) then above counts as a cross up
        let a = [1.0, 2.0, 3.0];
        let mut out = [0u8; 3];
        crossings(&a, &[2.0, 2.0, 2.0], &mut out);
        assert_eq!(out, [0, 0, BULL]);
    }

    #[test]
    fn warmup_matches_first_defined_signal() {
        let s = StrategySpec::parse("sma_cross", "fast=2,slow=3").unwrap();
        assert_eq!(s.warmup_bars(), 3);
        let s = StrategySpec::parse("macd_cross", "fast=3,slow=5,signal=2").unwrap();
        assert_eq!(s.warmup_bars(), 6);
        let s =
            StrategySpec::parse("sma_cross", "fast=2,slow=3,stop_loss=2atr,atr_period=10").unwrap();
        assert_eq!(s.warmup_bars(), 10);
    }
}
