//! Suggested position sizes (`f64`: these are suggestions; the order path re-derives
//! quantities in `Decimal` under the exchange's filters).
//!
//! - `fixed-fraction`: `position_size_usd = fraction × available_cash` (default 2%).
//! - `risk`: lose `fraction × equity` if the stop is hit:
//!   `quantity = equity × fraction / |entry − stop|`, `position_size_usd = quantity × entry`,
//!   capped at the available cash (then `capped = true` and the risk actually taken is
//!   smaller).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SizingMode {
    #[default]
    FixedFraction,
    Risk,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SizingConfig {
    pub mode: SizingMode,
    /// Fraction of cash (`fixed-fraction`) or of equity at risk (`risk`).
    pub fraction: f64,
}

impl Default for SizingConfig {
    fn default() -> Self {
        SizingConfig {
            mode: SizingMode::FixedFraction,
            fraction: 0.02,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PositionSize {
    pub position_size_usd: f64,
    pub quantity: f64,
    /// Loss at the stop, when a stop is known.
    pub risk_usd: Option<f64>,
    /// True when the available cash limited the size.
    pub capped: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SizingError {
    #[error("entry price must be positive and finite, got {0}")]
    BadEntry(f64),
    #[error("stop loss {stop} must differ from the entry {entry} for risk sizing")]
    StopAtEntry { entry: f64, stop: f64 },
    #[error("risk sizing needs a stop loss (HOLD has none)")]
    NoStop,
    #[error("sizing fraction must be in (0, 1], got {0}")]
    BadFraction(f64),
}

fn check(fraction: f64, entry: f64) -> Result<(), SizingError> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(SizingError::BadFraction(fraction));
    }
    if !(entry > 0.0 && entry.is_finite()) {
        return Err(SizingError::BadEntry(entry));
    }
    Ok(())
}

/// `fraction × available_cash` at `entry`. Negative cash counts as none.
pub fn fixed_fraction(
    available_cash: f64,
    fraction: f64,
    entry: f64,
    stop: Option<f64>,
) -> Result<PositionSize, SizingError> {
    check(fraction, entry)?;
    let usd = available_cash.max(0.0) * fraction;
    let quantity = usd / entry;
    Ok(PositionSize {
        position_size_usd: usd,
        quantity,
        risk_usd: stop.map(|s| quantity * (entry - s).abs()),
        capped: false,
    })
}

/// Risk `fraction × equity` between `entry` and `stop`, capped by `available_cash`.
pub fn risk_based(
    equity: f64,
    available_cash: f64,
    fraction: f64,
    entry: f64,
    stop: f64,
) -> Result<PositionSize, SizingError> {
    check(fraction, entry)?;
    let per_unit = (entry - stop).abs();
    if !(per_unit > 0.0 && per_unit.is_finite()) {
        return Err(SizingError::StopAtEntry { entry, stop });
    }
    let budget = equity.max(0.0) * fraction;
    let mut quantity = budget / per_unit;
    let cash = available_cash.max(0.0);
    let mut capped = false;
    if quantity * entry > cash {
        quantity = cash / entry;
        capped = true;
    }
    Ok(PositionSize {
        position_size_usd: quantity * entry,
        quantity,
        risk_usd: Some(quantity * per_unit),
        capped,
    })
}

/// Size by `cfg.mode`.
pub fn size(
    cfg: &SizingConfig,
    equity: f64,
    available_cash: f64,
    entry: f64,
    stop: Option<f64>,
) -> Result<PositionSize, SizingError> {
    match cfg.mode {
        SizingMode::FixedFraction => fixed_fraction(available_cash, cfg.fraction, entry, stop),
        SizingMode::Risk => risk_based(
            equity,
            available_cash,
            cfg.fraction,
            entry,
            stop.ok_or(SizingError::NoStop)?,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_fraction_is_two_percent_of_cash_by_default() {
        let p = size(
            &SizingConfig::default(),
            50_000.0,
            10_000.0,
            100.0,
            Some(98.0),
        )
        .unwrap();
        assert!((p.position_size_usd - 200.0).abs() < 1e-9);
        assert!((p.quantity - 2.0).abs() < 1e-12);
        assert!((p.risk_usd.unwrap() - 4.0).abs() < 1e-9);
        assert!(!p.capped);
        assert_eq!(
            fixed_fraction(-5.0, 0.02, 100.0, None)
                .unwrap()
                .position_size_usd,
            0.0
        );
    }

    #[test]
    fn risk_mode_risks_the_fraction_of_equity_between_entry_and_stop() {
        let cfg = SizingConfig {
            mode: SizingMode::Risk,
            fraction: 0.01,
        };
        // risk 100 USD, 2 USD per unit → 50 units = 5000 USD
        let p = size(&cfg, 10_000.0, 8_000.0, 100.0, Some(98.0)).unwrap();
        assert!((p.quantity - 50.0).abs() < 1e-9);
        assert!((p.position_size_usd - 5_000.0).abs() < 1e-9);
        assert!((p.risk_usd.unwrap() - 100.0).abs() < 1e-9);
        assert!(!p.capped);
        // a short's stop above the entry works the same
        let p = size(&cfg, 10_000.0, 8_000.0, 100.0, Some(102.0)).unwrap();
        assert!((p.quantity - 50.0).abs() < 1e-9);
    }

    #[test]
    fn risk_mode_is_capped_by_available_cash() {
        let cfg = SizingConfig {
            mode: SizingMode::Risk,
            fraction: 0.01,
        };
        // would be 5000 USD, only 3000 available
        let p = size(&cfg, 10_000.0, 3_000.0, 100.0, Some(98.0)).unwrap();
        assert!(p.capped);
        assert!((p.position_size_usd - 3_000.0).abs() < 1e-9);
        assert!((p.risk_usd.unwrap() - 60.0).abs() < 1e-9);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let cfg = SizingConfig {
            mode: SizingMode::Risk,
            fraction: 0.01,
        };
        assert_eq!(size(&cfg, 1e4, 1e4, 100.0, None), Err(SizingError::NoStop));
        assert!(matches!(
            size(&cfg, 1e4, 1e4, 100.0, Some(100.0)),
            Err(SizingError::StopAtEntry { .. })
        ));
        assert!(matches!(
            fixed_fraction(1e4, 0.02, 0.0, None),
            Err(SizingError::BadEntry(_))
        ));
        assert!(matches!(
            fixed_fraction(1e4, 1.5, 10.0, None),
            Err(SizingError::BadFraction(_))
        ));
        assert_eq!(
            serde_json::to_string(&SizingMode::FixedFraction).unwrap(),
            "\"fixed-fraction\""
        );
    }
}
