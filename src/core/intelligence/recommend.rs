//! From the retrieved neighbours' outcomes to a recommendation.
//!
//! **Weights.** A neighbour at distance `d` (normalised units) gets
//! `w = 1 / (1 + (d / h)²)` with a fixed bandwidth `h` ([`RecommendConfig::bandwidth`],
//! default 1.0: one robust standard deviation per feature). `w ≤ 1`, and `w → 1` as
//! `d → 0`.
//!
//! **Effective count.** `n_eff = Σ w`: it grows with the number of neighbours and shrinks
//! as they get farther away (ten neighbours at distance `h` count as five).
//!
//! **Shrinkage (the raw estimate).** With `p̂ = Σ w·1[ret > 0] / Σ w` and the base rate `b`
//! (share of positive outcomes among all snapshots available at the decision time):
//! `p = (n_eff · p̂ + m · b) / (n_eff + m)`, `m` = [`RecommendConfig::prior_strength`]
//! (default 20). No neighbours → `p = b`; many close neighbours → `p → p̂`. The probability
//! of a "flat" outcome (`|ret| ≤ band`, used for HOLD), the mean gain of the rising
//! neighbours `G` and the mean loss of the falling ones `L` are shrunk the same way toward
//! the base rates. The shrunk `p` is a *score*, not yet a measured probability.
//!
//! **Calibration.** `P(up) = cal_up(p)` and `P(flat) = cal_flat(p_flat)`, beta calibrations
//! fitted on the method's own resolved past decisions ([`super::calibrate`]; the base rate
//! when there are too few of them). These are the probabilities reported. `G` and `L` are
//! calibrated the same way (a regression of the realised gain / loss on them).
//!
//! **Action: the evidence after fees.** `fees = 2 × fee_rate` (a round trip). The expected
//! return of a long from the calibrated parts is `P(up)·G − (1 − P(up))·L`; its own
//! calibration on the realised returns of resolved decisions gives `E` (when it carries no
//! information about the sign of the move, `E` is the market's drift). BUY when
//! `E − fees > 0`; SELL when `−E − fees > 0`; HOLD otherwise: no edge, no trade.
//!
//! **Confidence** = the calibrated probability that the chosen action is right: BUY →
//! `P(up)`, SELL → `1 − P(up)`, HOLD → `P(flat)` (`|ret| ≤ band = fees + margin`: no trade
//! would have paid). The same definitions of "right" are used by [`super::evaluate`], which
//! measures how well these numbers hold (Brier, skill against the base rate, calibration
//! error) — confidence is a measured quantity, and that report says how far it can be trusted.
//!
//! **Risk.** `scale = ATR/price × √horizon` (the move current volatility predicts over
//! the horizon); `r = max(dispersion, avg adverse excursion) / scale`, where the adverse
//! excursion is `max_adverse` for BUY, `max_favorable` (against a short) for SELL and the
//! larger of both for HOLD. `low` if `r < risk_low` (0.8), `high` if `r > risk_high`
//! (1.5), else `medium`; no neighbours at all is `high` (nothing known is not low risk).
//!
//! **Levels.** BUY: entries `[price, price − 0.5·ATR]`, stop `price − 2·ATR`; SELL:
//! entries `[price, price + 0.5·ATR]`, stop `price + 2·ATR`; HOLD: none.

use super::calibrate::Calibration;
use super::features::Outcome;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    Buy,
    Sell,
    Hold,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Buy => "BUY",
            Action::Sell => "SELL",
            Action::Hold => "HOLD",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds of the recommendation (`[intelligence]` in `fks.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecommendConfig {
    /// Fee per side as a fraction of notional (0.001 = 0.1%, Binance spot).
    pub fee_rate: f64,
    /// Added to the round-trip fees to make the "flat" band a HOLD is right in.
    pub margin: f64,
    /// `m`: how many neighbours' worth of weight the base rate has.
    pub prior_strength: f64,
    /// `h`: distance at which a neighbour counts half.
    pub bandwidth: f64,
    /// Entry below (BUY) / above (SELL) the price, in ATRs.
    pub entry_atr: f64,
    /// Stop distance in ATRs.
    pub stop_atr: f64,
    /// `r` below this → low risk.
    pub risk_low: f64,
    /// `r` above this → high risk.
    pub risk_high: f64,
}

impl Default for RecommendConfig {
    fn default() -> Self {
        RecommendConfig {
            fee_rate: 0.001,
            margin: 0.001,
            prior_strength: 20.0,
            bandwidth: 1.0,
            entry_atr: 0.5,
            stop_atr: 2.0,
            risk_low: 0.8,
            risk_high: 1.5,
        }
    }
}

impl RecommendConfig {
    /// Round-trip fees plus margin: a move inside it would not have paid a trade (HOLD right).
    pub fn band(&self) -> f64 {
        2.0 * self.fee_rate + self.margin
    }

    /// Round-trip fees: what a trade's expected return must beat.
    pub fn fees(&self) -> f64 {
        2.0 * self.fee_rate
    }
}

/// The unconditional statistics of the knowledge available at the decision time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaseRates {
    /// Share of outcomes with `ret > 0`.
    pub p_up: f64,
    /// Share of outcomes with `|ret| <= band`.
    pub p_flat: f64,
    /// Mean return.
    pub mean_return: f64,
    /// Mean return of the rising outcomes (0 when none).
    #[serde(default)]
    pub mean_gain: f64,
    /// Mean loss (a positive number) of the outcomes that did not rise (0 when none).
    #[serde(default)]
    pub mean_loss: f64,
    /// Number of outcomes they were computed from.
    pub count: usize,
}

impl BaseRates {
    /// With no knowledge at all: a coin flip, nothing flat, zero drift.
    pub const UNINFORMED: BaseRates = BaseRates {
        p_up: 0.5,
        p_flat: 0.0,
        mean_return: 0.0,
        mean_gain: 0.0,
        mean_loss: 0.0,
        count: 0,
    };

    /// Base rates of `outcomes` for a cost band `band` ([`RecommendConfig::band`]).
    pub fn from_outcomes<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>, band: f64) -> Self {
        let (mut n, mut up, mut flat, mut sum) = (0usize, 0usize, 0usize, 0.0);
        let (mut gain, mut loss) = (0.0, 0.0);
        for o in outcomes {
            n += 1;
            up += usize::from(o.ret > 0.0);
            flat += usize::from(o.ret.abs() <= band);
            sum += o.ret;
            if o.ret > 0.0 {
                gain += o.ret;
            } else {
                loss -= o.ret;
            }
        }
        if n == 0 {
            return Self::UNINFORMED;
        }
        let nf = n as f64;
        BaseRates {
            p_up: up as f64 / nf,
            p_flat: flat as f64 / nf,
            mean_return: sum / nf,
            mean_gain: if up > 0 { gain / up as f64 } else { 0.0 },
            mean_loss: if n > up { loss / (n - up) as f64 } else { 0.0 },
            count: n,
        }
    }
}

/// A retrieved neighbour's distance and outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NeighbourOutcome {
    pub dist: f64,
    pub outcome: Outcome,
}

/// The current market: price, ATR and the outcome horizon in bars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MarketContext {
    pub price: f64,
    pub atr: f64,
    pub horizon: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub action: Action,
    /// Calibrated probability that `action` is right (see the module docs): measured on the
    /// method's resolved past decisions, or the base rate when there are too few.
    pub confidence: f64,
    /// Calibrated probability of a positive return over the horizon.
    pub probability_up: f64,
    /// The shrunk neighbour score `p` that was calibrated into `probability_up`.
    pub shrunk_probability_up: f64,
    /// Unshrunk, distance-weighted share of positive neighbours (`p̂`); the base rate when
    /// there are none.
    pub raw_probability_up: f64,
    /// Calibrated probability that `|ret| <= band`.
    pub probability_flat: f64,
    /// The shrunk share of flat neighbours that was calibrated into `probability_flat`.
    pub shrunk_probability_flat: f64,
    /// Calibrated expected return of a long over the horizon, before fees: the `edge`
    /// calibration of `neighbour_expected_return`.
    pub expected_return: f64,
    /// `P(up)·G − (1 − P(up))·L` from the calibrated probability and magnitudes.
    pub neighbour_expected_return: f64,
    /// The expected return of the chosen action after round-trip fees (0 for HOLD); what
    /// the action was chosen on.
    pub expected_return_after_fees: f64,
    /// `G`: the rising neighbours' shrunk mean return, calibrated.
    pub expected_gain: f64,
    /// `L`: the other neighbours' shrunk mean loss (positive), calibrated.
    pub expected_loss: f64,
    /// Unshrunk distance-weighted mean return (the base mean with no neighbours).
    pub raw_expected_return: f64,
    /// Distance-weighted standard deviation of the neighbours' returns.
    pub dispersion: f64,
    /// Weighted mean worst excursion against a long.
    pub avg_max_adverse: f64,
    /// Weighted mean worst excursion against a short.
    pub avg_max_favorable: f64,
    pub neighbours: usize,
    /// `Σ w`.
    pub effective_neighbours: f64,
    pub base_rate: f64,
    /// The calibrators used (their source: the symbol's history, the pooled one, or the
    /// base rate).
    pub calibration: Calibration,
    /// `max(dispersion, adverse) / (ATR% × √horizon)`.
    pub risk_ratio: f64,
    pub risk_assessment: RiskLevel,
    /// Prices: exact decimal strings in JSON (at most 8 decimals), like the exchange's.
    #[serde(serialize_with = "crate::core::json_num::price_f64_vec")]
    pub entry_points: Vec<f64>,
    #[serde(serialize_with = "crate::core::json_num::price_f64_opt")]
    pub stop_loss: Option<f64>,
    /// Round-trip fees: the return a trade's expected return must beat.
    pub required_return: f64,
    /// Neighbours plus documents used.
    pub sources_used: usize,
    pub horizon: usize,
}

/// The neighbours' evidence before calibration (a function of the neighbours and the base
/// rates only; the walk-forward computes it in parallel, then calibrates in time order).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RawEstimate {
    pub p_hat: f64,
    pub p: f64,
    pub p_flat: f64,
    pub mu_hat: f64,
    pub gain: f64,
    pub loss: f64,
    pub dispersion: f64,
    pub mae: f64,
    pub mfe: f64,
    pub n_eff: f64,
    pub neighbours: usize,
}

/// Neighbour weight `1 / (1 + (d/h)²)`.
pub fn weight(dist: f64, bandwidth: f64) -> f64 {
    if !dist.is_finite() {
        return 0.0;
    }
    let h = if bandwidth > 0.0 { bandwidth } else { 1.0 };
    1.0 / (1.0 + (dist / h).powi(2))
}

/// `(n_eff · x̂ + m · prior) / (n_eff + m)`; the prior when both weights are 0.
pub fn shrink(n_eff: f64, estimate: f64, m: f64, prior: f64) -> f64 {
    let den = n_eff + m;
    if den <= 0.0 {
        prior
    } else {
        (n_eff * estimate + m * prior) / den
    }
}

/// Entry points and stop loss for `action` at `price` with `atr` (see module docs).
pub fn levels(
    action: Action,
    price: f64,
    atr: f64,
    cfg: &RecommendConfig,
) -> (Vec<f64>, Option<f64>) {
    match action {
        Action::Buy => (
            vec![price, price - cfg.entry_atr * atr],
            Some(price - cfg.stop_atr * atr),
        ),
        Action::Sell => (
            vec![price, price + cfg.entry_atr * atr],
            Some(price + cfg.stop_atr * atr),
        ),
        Action::Hold => (Vec::new(), None),
    }
}

/// The shrunk, uncalibrated evidence of `neighbours` (module docs).
pub fn estimate(
    neighbours: &[NeighbourOutcome],
    base: &BaseRates,
    cfg: &RecommendConfig,
) -> RawEstimate {
    let band = cfg.band();
    let m = cfg.prior_strength.max(0.0);
    let ws: Vec<f64> = neighbours
        .iter()
        .map(|n| weight(n.dist, cfg.bandwidth))
        .collect();
    let n_eff: f64 = ws.iter().sum();
    let wsum = |keep: &dyn Fn(&Outcome) -> bool, f: &dyn Fn(&Outcome) -> f64| -> (f64, f64) {
        neighbours
            .iter()
            .zip(&ws)
            .filter(|(n, _)| keep(&n.outcome))
            .fold((0.0, 0.0), |(w, s), (n, x)| (w + x, s + x * f(&n.outcome)))
    };
    let wmean = |f: &dyn Fn(&Outcome) -> f64, default: f64| -> f64 {
        let (w, s) = wsum(&|_| true, f);
        if w > 0.0 { s / w } else { default }
    };
    let p_hat = wmean(&|o| f64::from(u8::from(o.ret > 0.0)), base.p_up);
    let flat_hat = wmean(&|o| f64::from(u8::from(o.ret.abs() <= band)), base.p_flat);
    let mu_hat = wmean(&|o| o.ret, base.mean_return);
    let dispersion = if n_eff > 0.0 {
        wmean(&|o| (o.ret - mu_hat).powi(2), 0.0).sqrt()
    } else {
        0.0
    };
    let (w_up, s_up) = wsum(&|o| o.ret > 0.0, &|o| o.ret);
    let (w_dn, s_dn) = wsum(&|o| o.ret <= 0.0, &|o| -o.ret);
    let gain_hat = if w_up > 0.0 {
        s_up / w_up
    } else {
        base.mean_gain
    };
    let loss_hat = if w_dn > 0.0 {
        s_dn / w_dn
    } else {
        base.mean_loss
    };
    RawEstimate {
        p_hat,
        p: shrink(n_eff, p_hat, m, base.p_up),
        p_flat: shrink(n_eff, flat_hat, m, base.p_flat),
        mu_hat,
        gain: shrink(w_up, gain_hat, m, base.mean_gain),
        loss: shrink(w_dn, loss_hat, m, base.mean_loss),
        dispersion,
        mae: wmean(&|o| o.max_adverse, 0.0),
        mfe: wmean(&|o| o.max_favorable, 0.0),
        n_eff,
        neighbours: neighbours.len(),
    }
}

/// The action from a calibrated expected return `e` of a long: `(action, e, e after fees of
/// the action)` (module docs).
pub fn act(e: f64, fees: f64) -> (Action, f64, f64) {
    if e - fees > 0.0 {
        (Action::Buy, e, e - fees)
    } else if -e - fees > 0.0 {
        (Action::Sell, e, -e - fees)
    } else {
        (Action::Hold, e, 0.0)
    }
}

/// The recommendation from a raw estimate, its calibration, the base rates, the current
/// market and the number of documents the caller retrieved.
pub fn finish(
    raw: &RawEstimate,
    cal: &Calibration,
    base: &BaseRates,
    market: &MarketContext,
    documents: usize,
    cfg: &RecommendConfig,
) -> Recommendation {
    let p = cal.up.apply(raw.p);
    let p_flat = cal.flat.apply(raw.p_flat);
    let (gain, loss) = (cal.gain.apply(raw.gain), cal.loss.apply(raw.loss));
    let neighbour_e = p * gain - (1.0 - p) * loss;
    let (action, e, e_net) = act(cal.edge.apply_signed(neighbour_e), cfg.fees());
    let confidence = match action {
        Action::Buy => p,
        Action::Sell => 1.0 - p,
        Action::Hold => p_flat,
    };
    let adverse = match action {
        Action::Buy => raw.mae,
        Action::Sell => raw.mfe,
        Action::Hold => raw.mae.max(raw.mfe),
    };
    let scale = if market.price > 0.0 {
        market.atr / market.price * (market.horizon.max(1) as f64).sqrt()
    } else {
        0.0
    };
    let risk_ratio = if scale > 0.0 {
        raw.dispersion.max(adverse) / scale
    } else {
        f64::INFINITY
    };
    let risk_assessment = if raw.neighbours == 0 || risk_ratio > cfg.risk_high {
        RiskLevel::High // nothing known is not low risk
    } else if risk_ratio < cfg.risk_low {
        RiskLevel::Low
    } else {
        RiskLevel::Medium
    };
    let (entry_points, stop_loss) = levels(action, market.price, market.atr, cfg);

    Recommendation {
        action,
        confidence,
        probability_up: p,
        shrunk_probability_up: raw.p,
        raw_probability_up: raw.p_hat,
        probability_flat: p_flat,
        shrunk_probability_flat: raw.p_flat,
        expected_return: e,
        neighbour_expected_return: neighbour_e,
        expected_return_after_fees: e_net,
        expected_gain: gain,
        expected_loss: loss,
        raw_expected_return: raw.mu_hat,
        dispersion: raw.dispersion,
        avg_max_adverse: raw.mae,
        avg_max_favorable: raw.mfe,
        neighbours: raw.neighbours,
        effective_neighbours: raw.n_eff,
        base_rate: base.p_up,
        calibration: *cal,
        risk_ratio,
        risk_assessment,
        entry_points,
        stop_loss,
        required_return: cfg.fees(),
        sources_used: raw.neighbours + documents,
        horizon: market.horizon,
    }
}

/// The recommendation from `neighbours`, the base rates of the available knowledge, the
/// current market, the number of documents the caller retrieved and the calibration.
pub fn recommend(
    neighbours: &[NeighbourOutcome],
    base: &BaseRates,
    market: &MarketContext,
    documents: usize,
    cfg: &RecommendConfig,
    cal: &Calibration,
) -> Recommendation {
    finish(
        &estimate(neighbours, base, cfg),
        cal,
        base,
        market,
        documents,
        cfg,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::intelligence::calibrate::{Calibration, Calibrator};

    fn nb(dist: f64, ret: f64) -> NeighbourOutcome {
        NeighbourOutcome {
            dist,
            outcome: Outcome {
                ret,
                max_adverse: 0.01,
                max_favorable: 0.01,
            },
        }
    }

    const BASE: BaseRates = BaseRates {
        p_up: 0.5,
        p_flat: 0.2,
        mean_return: 0.0,
        mean_gain: 0.01,
        mean_loss: 0.01,
        count: 1000,
    };
    const ID: Calibration = Calibration {
        up: Calibrator {
            source: crate::core::intelligence::calibrate::CalibrationSource::Symbol,
            fit: Some(crate::core::intelligence::calibrate::BetaFit::IDENTITY),
            base_rate: 0.5,
        },
        flat: Calibrator {
            source: crate::core::intelligence::calibrate::CalibrationSource::Symbol,
            fit: Some(crate::core::intelligence::calibrate::BetaFit::IDENTITY),
            base_rate: 0.5,
        },
        gain: M,
        loss: M,
        edge: M,
    };
    const M: crate::core::intelligence::calibrate::Magnitude =
        crate::core::intelligence::calibrate::Magnitude {
            source: crate::core::intelligence::calibrate::CalibrationSource::Symbol,
            fit: Some(crate::core::intelligence::calibrate::LinearFit::IDENTITY),
            base: 0.0,
        };
    const MKT: MarketContext = MarketContext {
        price: 100.0,
        atr: 1.0,
        horizon: 4,
    };

    #[test]
    fn no_neighbours_gives_the_base_rate() {
        let r = recommend(&[], &BASE, &MKT, 0, &RecommendConfig::default(), &ID);
        assert_eq!(r.probability_up, 0.5);
        assert_eq!(r.raw_probability_up, 0.5);
        assert_eq!(r.expected_return, 0.0);
        assert_eq!(r.action, Action::Hold);
        assert_eq!(r.confidence, 0.2);
        assert_eq!(r.risk_assessment, RiskLevel::High);
        assert_eq!(r.sources_used, 0);
    }

    #[test]
    fn many_close_neighbours_pull_p_to_p_hat() {
        let cfg = RecommendConfig::default();
        // 80% positive, all at distance 0
        let many: Vec<_> = (0..10_000)
            .map(|i| nb(0.0, if i % 5 == 0 { -0.02 } else { 0.02 }))
            .collect();
        let r = recommend(&many, &BASE, &MKT, 0, &cfg, &ID);
        assert!((r.raw_probability_up - 0.8).abs() < 1e-12);
        assert!(
            (r.probability_up - 0.8).abs() < 0.001,
            "{}",
            r.probability_up
        );
        assert!((r.effective_neighbours - 10_000.0).abs() < 1e-9);
        // few neighbours: exact shrinkage formula
        let few: Vec<_> = (0..5).map(|_| nb(0.0, 0.02)).collect();
        let r = recommend(&few, &BASE, &MKT, 0, &cfg, &ID);
        assert!((r.probability_up - (5.0 * 1.0 + 20.0 * 0.5) / 25.0).abs() < 1e-12);
        // the same neighbours far away count less: p closer to the base rate
        let far: Vec<_> = (0..5).map(|_| nb(3.0, 0.02)).collect();
        let r_far = recommend(&far, &BASE, &MKT, 0, &cfg, &ID);
        assert!((r_far.effective_neighbours - 0.5).abs() < 1e-12);
        assert!(r_far.probability_up < r.probability_up && r_far.probability_up > 0.5);
    }

    fn with(rets: &[f64], n: usize) -> Vec<NeighbourOutcome> {
        (0..n).map(|i| nb(0.0, rets[i % rets.len()])).collect()
    }

    #[test]
    fn buy_needs_an_expected_return_above_fees() {
        let cfg = RecommendConfig {
            prior_strength: 0.0,
            ..RecommendConfig::default()
        };
        // fees = 0.002; every neighbour rose 0.31%: E = 0.0031
        let r = recommend(&with(&[0.0031], 50), &BASE, &MKT, 2, &cfg, &ID);
        assert_eq!(r.action, Action::Buy);
        assert!((r.confidence - 1.0).abs() < 1e-5);
        assert!((r.expected_return_after_fees - 0.0011).abs() < 1e-5);
        assert_eq!(r.entry_points, vec![100.0, 99.5]);
        assert_eq!(r.stop_loss, Some(98.0));
        assert_eq!(r.sources_used, 52);
        // edge smaller than the fees
        let r = recommend(&with(&[0.0019], 50), &BASE, &MKT, 0, &cfg, &ID);
        assert_eq!(r.action, Action::Hold);
        assert_eq!(r.expected_return_after_fees, 0.0);
        assert!(r.entry_points.is_empty() && r.stop_loss.is_none());
        // higher fees turn the same evidence into HOLD
        let dear = RecommendConfig {
            fee_rate: 0.002,
            ..cfg.clone()
        };
        assert_eq!(
            recommend(&with(&[0.004], 50), &BASE, &MKT, 0, &dear, &ID).action,
            Action::Hold
        );
        assert_eq!(
            recommend(&with(&[0.004], 50), &BASE, &MKT, 0, &cfg, &ID).action,
            Action::Buy
        );
        // half rise 5%, half fall 1%: E = 0.5·5% − 0.5·1% = 2%: BUY ...
        let nbs = with(&[0.05, -0.01], 50);
        let r = recommend(&nbs, &BASE, &MKT, 0, &cfg, &ID);
        assert_eq!(r.action, Action::Buy);
        assert!((r.expected_return - 0.02).abs() < 1e-9);
        assert!((r.expected_gain - 0.05).abs() < 1e-12 && (r.expected_loss - 0.01).abs() < 1e-12);
        // ... unless calibration measured that such states rise only 10% of the time:
        // E = 0.1·5% − 0.9·1% = −0.4%, a short clears the fees
        let low = Calibration {
            up: Calibrator::base_rate(0.1),
            ..ID
        };
        let r = recommend(&nbs, &BASE, &MKT, 0, &cfg, &low);
        assert_eq!(r.action, Action::Sell);
        assert!((r.confidence - 0.9).abs() < 1e-12);
        assert!((r.shrunk_probability_up - 0.5).abs() < 1e-12);
        // no information (the base rate) and symmetric gains and losses: no edge, HOLD
        let none = Calibration::base_rates(&BaseRates {
            p_up: 0.5,
            p_flat: 0.2,
            mean_return: 0.0,
            mean_gain: 0.01,
            mean_loss: 0.01,
            count: 100,
        });
        let r = recommend(&with(&[0.01, -0.01], 50), &BASE, &MKT, 0, &cfg, &none);
        assert_eq!(r.action, Action::Hold);
        assert_eq!(r.confidence, 0.2);
    }

    #[test]
    fn sell_is_the_mirror() {
        let cfg = RecommendConfig {
            prior_strength: 0.0,
            ..RecommendConfig::default()
        };
        // p = 1/3, G = 0.5%, L = 1%: E = −0.5%
        let r = recommend(&with(&[-0.01, -0.01, 0.005], 60), &BASE, &MKT, 0, &cfg, &ID);
        assert_eq!(r.action, Action::Sell);
        assert!((r.confidence - 2.0 / 3.0).abs() < 1e-9);
        assert!((r.expected_return_after_fees - 0.003).abs() < 1e-9);
        assert_eq!(r.entry_points, vec![100.0, 100.5]);
        assert_eq!(r.stop_loss, Some(102.0));
        let r = recommend(&with(&[-0.0019], 60), &BASE, &MKT, 0, &cfg, &ID);
        assert_eq!(r.action, Action::Hold);
        // HOLD confidence: share of flat outcomes
        let r = recommend(
            &with(&[0.001, 0.002, 0.05, -0.05], 60),
            &BASE,
            &MKT,
            0,
            &cfg,
            &ID,
        );
        assert_eq!(r.action, Action::Hold);
        assert!((r.confidence - 0.5).abs() < 1e-9);
    }

    #[test]
    fn risk_grows_with_dispersion_relative_to_atr() {
        let cfg = RecommendConfig::default();
        // scale = 1% × √4 = 2%
        let calm = recommend(&with(&[0.005, -0.005], 40), &BASE, &MKT, 0, &cfg, &ID);
        assert_eq!(calm.risk_assessment, RiskLevel::Low);
        let mid = recommend(&with(&[0.02, -0.02], 40), &BASE, &MKT, 0, &cfg, &ID);
        assert_eq!(mid.risk_assessment, RiskLevel::Medium);
        let wild = recommend(&with(&[0.06, -0.06], 40), &BASE, &MKT, 0, &cfg, &ID);
        assert_eq!(wild.risk_assessment, RiskLevel::High);
        assert!((wild.dispersion - 0.06).abs() < 1e-12);
    }

    #[test]
    fn base_rates_count_outcomes() {
        let o = |ret| Outcome {
            ret,
            max_adverse: 0.0,
            max_favorable: 0.0,
        };
        let b = BaseRates::from_outcomes(&[o(0.01), o(-0.02), o(0.001), o(0.03)], 0.003);
        assert_eq!(b.count, 4);
        assert_eq!(b.p_up, 0.75);
        assert_eq!(b.p_flat, 0.25);
        assert!((b.mean_gain - 0.041 / 3.0).abs() < 1e-12);
        assert!((b.mean_loss - 0.02).abs() < 1e-12);
        assert!((b.mean_return - 0.00525).abs() < 1e-12);
        assert_eq!(BaseRates::from_outcomes(&[], 0.003), BaseRates::UNINFORMED);
    }
}
