//! Risk analysis: exposure, unrealized PnL, concentration, a LOW / MEDIUM / HIGH level, and
//! 1-day 95% value-at-risk per position and for the portfolio. Pure: data in, report out.

use crate::core::config::RiskConfig;
use crate::core::positions::PositionSide;
use crate::core::valuation::{MarkedPosition, Valuation};
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct RiskPosition {
    pub symbol: String,
    pub side: PositionSide,
    pub quantity: f64,
    pub entry_price: f64,
    /// None when no price is known.
    pub price: Option<f64>,
    /// 1-day returns of the asset keyed by time (for historical VaR).
    pub daily_returns: BTreeMap<i64, f64>,
    /// ATR of the asset scaled to one day, in price units (fallback VaR).
    pub daily_atr: Option<f64>,
    /// Unrealized PnL as the account's valuation has it; `None`: (price − entry) × quantity.
    pub unrealized_pnl: Option<f64>,
}

impl RiskPosition {
    /// A position as the one valuation marked it ([`crate::core::valuation`]); `fresh` says
    /// whether its price may be used (a stale price leaves it unpriced). History is empty for
    /// the caller to fill.
    pub fn from_marked(p: &MarkedPosition, fresh: bool) -> Self {
        let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(0.0);
        let price = p.price.filter(|_| fresh).map(f);
        RiskPosition {
            symbol: p.symbol.0.clone(),
            side: p.side,
            quantity: f(p.quantity),
            // Spot balances have no entry: no unrealized PnL either.
            entry_price: p.entry_price.or(p.price).map(f).unwrap_or(0.0),
            price,
            daily_returns: BTreeMap::new(),
            daily_atr: None,
            unrealized_pnl: p.unrealized_pnl.map(f),
        }
    }
}

/// The account figures risk is measured against, from its valuation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccountFigures {
    /// Wallet balance (before unrealized PnL): the base of the unrealized PnL %.
    pub balance: f64,
    /// Equity: the base of exposure and concentration.
    pub equity: f64,
}

impl AccountFigures {
    pub fn of(v: &Valuation) -> Self {
        AccountFigures {
            balance: v.balance.to_f64().unwrap_or(0.0),
            equity: v.equity.to_f64().unwrap_or(0.0),
        }
    }
}

/// Amounts are money in the account's quote: serialize inside `json_num::InCurrency`.
#[derive(Debug, Clone, Serialize)]
pub struct PositionRisk {
    pub symbol: String,
    pub side: PositionSide,
    #[serde(serialize_with = "crate::core::json_num::money_f64_in_opt")]
    pub value: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::money_f64_in_opt")]
    pub unrealized_pnl: Option<f64>,
    pub concentration_pct: Option<f64>,
    pub concentration_warning: bool,
    #[serde(serialize_with = "crate::core::json_num::money_f64_in_opt")]
    pub var_95_1d: Option<f64>,
    pub var_method: &'static str,
}

/// Amounts are money in the account's quote: serialize inside `json_num::InCurrency`.
#[derive(Debug, Clone, Serialize)]
pub struct RiskReport {
    /// `success`, `zero_balance`, `no_positions`, `unpriced`.
    pub status: &'static str,
    /// `LOW`, `MEDIUM`, `HIGH`, or `UNKNOWN` when a position could not be priced: a
    /// portfolio that was not fully priced is never rated.
    pub risk_level: &'static str,
    /// Why the level is `UNKNOWN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_level_reason: Option<String>,
    /// With `UNKNOWN`: the level of the priced positions alone (a lower bound on exposure,
    /// not a rating).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priced_risk_level: Option<&'static str>,
    #[serde(serialize_with = "crate::core::json_num::money_f64_in")]
    pub balance: f64,
    /// The account's equity from its valuation (balance + unrealized PnL).
    #[serde(serialize_with = "crate::core::json_num::money_f64_in")]
    pub equity: f64,
    #[serde(serialize_with = "crate::core::json_num::money_f64_in")]
    pub total_position_value: f64,
    pub exposure_ratio: Option<f64>,
    #[serde(serialize_with = "crate::core::json_num::money_f64_in")]
    pub unrealized_pnl: f64,
    pub unrealized_pnl_pct: Option<f64>,
    pub positions: Vec<PositionRisk>,
    pub unpriced: Vec<String>,
    pub warnings: Vec<String>,
    #[serde(serialize_with = "crate::core::json_num::money_f64_in_opt")]
    pub portfolio_var_95_1d: Option<f64>,
    pub var_method: String,
}

/// Lower 5% quantile (linear interpolation) of a sample, as a positive loss; None if < 30 points.
pub fn var95(mut pnl: Vec<f64>) -> Option<f64> {
    if pnl.len() < 30 {
        return None;
    }
    pnl.sort_by(|a, b| a.total_cmp(b));
    let pos = 0.05 * (pnl.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    let q = pnl[i] + (pnl[(i + 1).min(pnl.len() - 1)] - pnl[i]) * frac;
    Some((-q).max(0.0))
}

fn signed(side: PositionSide) -> f64 {
    match side {
        PositionSide::Long => 1.0,
        PositionSide::Short => -1.0,
    }
}

fn r4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The report with its ratios rounded to 4 decimals, for output. Amounts are rounded to the
/// account's currency when serialized (`json_num::InCurrency`), not here: a BTC-quoted
/// account keeps its 8 decimals.
pub fn rounded(mut r: RiskReport) -> RiskReport {
    r.exposure_ratio = r.exposure_ratio.map(r4);
    r.unrealized_pnl_pct = r.unrealized_pnl_pct.map(r4);
    for p in &mut r.positions {
        p.concentration_pct = p.concentration_pct.map(r4);
    }
    r
}

/// Exposure and concentration are fractions of equity; the unrealized PnL % is of the
/// balance (the account before its unrealized PnL).
pub fn analyze(
    account: AccountFigures,
    positions: &[RiskPosition],
    cfg: &RiskConfig,
) -> RiskReport {
    let AccountFigures { balance, equity } = account;
    let mut out = Vec::new();
    let (mut total, mut upnl) = (0.0, 0.0);
    let mut unpriced = Vec::new();
    let mut warnings = Vec::new();
    for p in positions {
        let Some(px) = p.price else {
            unpriced.push(p.symbol.clone());
            out.push(PositionRisk {
                symbol: p.symbol.clone(),
                side: p.side,
                value: None,
                unrealized_pnl: None,
                concentration_pct: None,
                concentration_warning: false,
                var_95_1d: None,
                var_method: "none",
            });
            continue;
        };
        let value = p.quantity.abs() * px;
        let pnl = p
            .unrealized_pnl
            .unwrap_or_else(|| signed(p.side) * (px - p.entry_price) * p.quantity.abs());
        total += value;
        upnl += pnl;
        let conc = (equity > 0.0).then(|| 100.0 * value / equity);
        let warn = conc.is_some_and(|c| c > cfg.concentration_pct);
        if warn {
            warnings.push(format!(
                "{} is {:.1}% of the equity (limit {}%)",
                p.symbol,
                conc.unwrap_or(0.0),
                cfg.concentration_pct
            ));
        }
        let hist = var95(
            p.daily_returns
                .values()
                .map(|r| signed(p.side) * r * value)
                .collect(),
        );
        let (var, method) = match (hist, p.daily_atr) {
            (Some(v), _) => (Some(v), "historical"),
            (None, Some(atr)) => (Some(1.645 * atr * p.quantity.abs()), "atr"),
            _ => (None, "none"),
        };
        out.push(PositionRisk {
            symbol: p.symbol.clone(),
            side: p.side,
            value: Some(value),
            unrealized_pnl: Some(pnl),
            concentration_pct: conc,
            concentration_warning: warn,
            var_95_1d: var,
            var_method: method,
        });
    }
    // Portfolio VaR: historical simulation on the times every priced position has a return.
    let priced: Vec<&RiskPosition> = positions.iter().filter(|p| p.price.is_some()).collect();
    let mut times: Option<Vec<i64>> = None;
    for p in &priced {
        let t: Vec<i64> = p.daily_returns.keys().copied().collect();
        times = Some(match times {
            None => t,
            Some(prev) => prev
                .into_iter()
                .filter(|x| p.daily_returns.contains_key(x))
                .collect(),
        });
    }
    let times = times.unwrap_or_default();
    let hist = var95(
        times
            .iter()
            .map(|t| {
                priced
                    .iter()
                    .map(|p| {
                        signed(p.side)
                            * p.daily_returns[t]
                            * p.quantity.abs()
                            * p.price.unwrap_or(0.0)
                    })
                    .sum()
            })
            .collect(),
    );
    let (pvar, pmethod) = match hist {
        Some(v) if !priced.is_empty() => (Some(v), "historical: 1-day returns (overlapping 24 h windows) of the stored candles, 5th percentile".to_string()),
        _ => {
            // Sum of per-position VaR: no diversification credit, so an upper bound.
            let parts: Vec<f64> = out.iter().filter_map(|p| p.var_95_1d).collect();
            if parts.is_empty() {
                (None, "none: too little price history".to_string())
            } else {
                (Some(parts.iter().sum()), "sum of per-position VaR (not enough common history for a portfolio simulation)".to_string())
            }
        }
    };
    if !unpriced.is_empty() {
        warnings.push(format!(
            "no price for {}: left out of exposure",
            unpriced.join(", ")
        ));
    }
    let (status, exposure, upct) = if equity <= 0.0 {
        warnings.push("the account equity is zero or negative: ratios are undefined".into());
        ("zero_balance", None, None)
    } else if positions.is_empty() {
        ("no_positions", Some(0.0), Some(0.0))
    } else {
        (
            "success",
            Some(total / equity),
            (balance > 0.0).then(|| 100.0 * upnl / balance),
        )
    };
    let loss_pct = upct.map(|u| -u).unwrap_or(0.0);
    // Positions on a non-positive balance are HIGH risk whatever the ratios (they are undefined).
    let level = if (equity <= 0.0 && !positions.is_empty())
        || exposure.is_some_and(|e| e > cfg.high_exposure)
        || loss_pct > cfg.high_loss_pct
    {
        "HIGH"
    } else if exposure.is_some_and(|e| e > cfg.medium_exposure)
        || loss_pct > cfg.medium_loss_pct
        || out.iter().any(|p| p.concentration_warning)
    {
        "MEDIUM"
    } else {
        "LOW"
    };
    // A portfolio that could not be fully priced is not rated: what is missing may be what
    // makes it risky.
    let (status, level, reason, priced_level) = if unpriced.is_empty() {
        (status, level, None, None)
    } else {
        (
            "unpriced",
            "UNKNOWN",
            Some(format!(
                "{} of {} open positions could not be priced ({}): the risk of this portfolio is unknown",
                unpriced.len(),
                positions.len(),
                unpriced.join(", ")
            )),
            (unpriced.len() < positions.len()).then_some(level),
        )
    };
    RiskReport {
        status,
        risk_level: level,
        risk_level_reason: reason,
        priced_risk_level: priced_level,
        balance,
        equity,
        total_position_value: total,
        exposure_ratio: exposure,
        unrealized_pnl: upnl,
        unrealized_pnl_pct: upct,
        positions: out,
        unpriced,
        warnings,
        portfolio_var_95_1d: pvar,
        var_method: pmethod,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(
        symbol: &str,
        side: PositionSide,
        qty: f64,
        entry: f64,
        price: Option<f64>,
    ) -> RiskPosition {
        RiskPosition {
            symbol: symbol.into(),
            side,
            quantity: qty,
            entry_price: entry,
            price,
            daily_returns: BTreeMap::new(),
            daily_atr: None,
            unrealized_pnl: None,
        }
    }

    /// An account whose balance is its equity (no unrealized PnL counted in it).
    fn flat(balance: f64) -> AccountFigures {
        AccountFigures {
            balance,
            equity: balance,
        }
    }

    #[test]
    fn exposure_and_concentration_are_of_equity_and_the_valued_pnl_is_used() {
        // Paper: balance 10000, a LONG 0.1 BTC bought at 40000 now 38000 (−200): equity 9800.
        let mut p = pos("BTC", PositionSide::Long, 0.1, 40_000.0, Some(38_000.0));
        p.unrealized_pnl = Some(-200.0);
        let r = analyze(
            AccountFigures {
                balance: 10_000.0,
                equity: 9_800.0,
            },
            &[p.clone()],
            &RiskConfig::default(),
        );
        assert_eq!(r.equity, 9_800.0);
        assert_eq!(r.exposure_ratio, Some(3_800.0 / 9_800.0));
        assert_eq!(
            r.positions[0].concentration_pct,
            Some(100.0 * 3_800.0 / 9_800.0)
        );
        assert_eq!(r.unrealized_pnl_pct, Some(-2.0), "of the balance");
        // The valuation's PnL (e.g. the exchange's own for futures) wins over entry × price.
        p.unrealized_pnl = Some(-199.5);
        let r = analyze(flat(10_000.0), &[p], &RiskConfig::default());
        assert_eq!(r.unrealized_pnl, -199.5);
    }

    #[test]
    fn levels_and_ratios() {
        let cfg = RiskConfig::default();
        let r = analyze(
            flat(10_000.0),
            &[pos(
                "BTC",
                PositionSide::Long,
                0.1,
                40_000.0,
                Some(38_000.0),
            )],
            &cfg,
        );
        assert_eq!(r.exposure_ratio, Some(0.38));
        assert_eq!(r.unrealized_pnl, -200.0);
        assert_eq!(r.unrealized_pnl_pct, Some(-2.0));
        assert_eq!(
            r.risk_level, "MEDIUM",
            "38% of balance in one position is concentrated"
        );
        let r = analyze(
            flat(10_000.0),
            &[pos(
                "BTC",
                PositionSide::Long,
                0.25,
                40_000.0,
                Some(36_000.0),
            )],
            &cfg,
        );
        assert_eq!(r.risk_level, "HIGH");
        let r = analyze(
            flat(10_000.0),
            &[pos("A", PositionSide::Short, 1.0, 100.0, Some(110.0))],
            &cfg,
        );
        assert_eq!(r.unrealized_pnl, -10.0);
        assert_eq!(r.risk_level, "LOW");
        let r = analyze(
            flat(0.0),
            &[pos("A", PositionSide::Long, 1.0, 100.0, Some(110.0))],
            &cfg,
        );
        assert_eq!(r.status, "zero_balance");
        assert_eq!(r.exposure_ratio, None);
        let r = analyze(flat(1000.0), &[], &cfg);
        assert_eq!((r.status, r.risk_level), ("no_positions", "LOW"));
        let r = analyze(
            flat(1000.0),
            &[pos("X", PositionSide::Long, 1.0, 1.0, None)],
            &cfg,
        );
        assert_eq!(r.unpriced, vec!["X".to_string()]);
        assert_eq!(r.risk_level, "UNKNOWN");
        assert_eq!(
            r.priced_risk_level, None,
            "nothing priced: no partial level either"
        );
        // One priced, calm position and one unpriced: still not LOW.
        let r = analyze(
            flat(100_000.0),
            &[
                pos("A", PositionSide::Long, 1.0, 100.0, Some(101.0)),
                pos("B", PositionSide::Long, 1000.0, 100.0, None),
            ],
            &cfg,
        );
        assert_eq!((r.status, r.risk_level), ("unpriced", "UNKNOWN"));
        assert_eq!(r.priced_risk_level, Some("LOW"));
        assert!(r.risk_level_reason.as_deref().unwrap().contains("B"));
    }

    #[test]
    fn historical_var() {
        // 100 returns: -0.10, -0.09, ..., 0.89 -> 5th percentile by interpolation = -0.0505.
        let rets: Vec<f64> = (0..100).map(|i| -0.10 + i as f64 * 0.01).collect();
        let v = var95(rets.iter().map(|r| r * 1000.0).collect()).unwrap();
        assert!((v - 50.5).abs() < 1e-9, "{v}");
        assert_eq!(var95(vec![1.0; 10]), None);
        let mut p = pos("A", PositionSide::Long, 10.0, 100.0, Some(100.0));
        p.daily_returns = rets
            .iter()
            .enumerate()
            .map(|(i, r)| (i as i64, *r))
            .collect();
        let r = analyze(flat(100_000.0), &[p.clone()], &RiskConfig::default());
        assert!((r.positions[0].var_95_1d.unwrap() - 50.5).abs() < 1e-9);
        assert!((r.portfolio_var_95_1d.unwrap() - 50.5).abs() < 1e-9);
        // A short gains when the price falls: its VaR comes from the top of the distribution.
        p.side = PositionSide::Short;
        let r = analyze(flat(100_000.0), &[p], &RiskConfig::default());
        assert!(r.positions[0].var_95_1d.unwrap() > 700.0);
    }
}
