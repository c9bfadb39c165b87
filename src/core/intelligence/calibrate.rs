//! Calibration: from the raw, shrunk probabilities of [`super::recommend`] to probabilities
//! that were *measured* to hold.
//!
//! **Beta calibration** (Kull, Silva Filho & Flach, 2017): `P = σ(a·ln p − b·ln(1 − p) + c)`,
//! a logistic regression of the outcome on `ln p` and `−ln(1 − p)`. It contains the identity
//! (`a = b = 1, c = 0`), can fix a probability that is too confident (`a, b < 1`), too timid
//! (`a, b > 1`) or shifted (`c`), and has three parameters, so a few hundred resolved
//! decisions fit it. It is fitted by Newton's method with a small ridge pulling `(a, b, c)`
//! toward the identity (the fit on a handful of points stays near the raw probability).
//!
//! **Which history.** A calibrator for a decision at time `t` is fitted only on earlier
//! decisions whose outcome horizon had closed by `t` (their "resolved" time `<= t`). When the
//! symbol has at least [`CalibrationPolicy::min_symbol`] of them its own history is used; else
//! the resolved decisions of every symbol are pooled, when there are at least
//! [`CalibrationPolicy::min_pooled`]; else the probability is the base rate of the event
//! among the knowledge available at `t` (no evidence beyond it).
//!
//! Two events are calibrated: "up over the horizon" (from the raw `probability_up`; a BUY's
//! confidence is `P(up)`, a SELL's `1 − P(up)`) and "flat" (`|ret| <= band`, from the raw
//! `probability_flat`; a HOLD's confidence).
//!
//! Two magnitudes are calibrated too, so that the expected return a decision rests on is
//! measured as well: the realised gain of the resolved decisions that rose is regressed on the
//! neighbours' mean gain `G` they were decided with, the realised loss of the others on `L`
//! (least squares, slope clamped to `[0, 2]` and shrunk by `n / (n + 100)`). When the
//! neighbours' magnitudes carry no information the slope is 0 and the calibrated gain is the
//! mean realised gain: with a probability at its base rate too, the expected return is the
//! market's drift, and fees make that a HOLD unless the drift itself beats them. With no
//! history the magnitudes are the base rates' mean gain and loss.
//!
//! Last, the expected return itself (`edge`): the realised return of resolved decisions is
//! regressed on the expected return `P(up)·G − (1 − P(up))·L` they were decided with (same
//! clamp and shrinkage of the slope). Volatility makes `G` and `L` informative about the size
//! of a move but not its sign; when their difference carries no information about the sign
//! the slope is 0, the calibrated expected return is the mean realised return (the drift),
//! and the decision is HOLD unless the drift beats the fees: no edge, no trade. With no
//! history it is the base rates' mean return.

use super::recommend::BaseRates;
use serde::{Deserialize, Serialize};

/// Probabilities are clamped to `[EPS, 1 − EPS]` before the logarithms.
const EPS: f64 = 1e-6;
/// Ridge strength toward the identity, in units of resolved decisions.
const RIDGE: f64 = 1.0;

/// `P = σ(a·ln p − b·ln(1 − p) + c)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BetaFit {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    /// Resolved decisions it was fitted on.
    pub n: usize,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn design(p: f64) -> [f64; 3] {
    let p = p.clamp(EPS, 1.0 - EPS);
    [p.ln(), -(1.0 - p).ln(), 1.0]
}

/// Solve the 3×3 system `m·x = v` (Gaussian elimination with partial pivoting).
fn solve3(mut m: [[f64; 3]; 3], mut v: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let piv = (col..3).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[piv][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, piv);
        v.swap(col, piv);
        for r in col + 1..3 {
            let f = m[r][col] / m[col][col];
            let pivot_row = m[col];
            for (x, p) in m[r].iter_mut().zip(pivot_row).skip(col) {
                *x -= f * p;
            }
            v[r] -= f * v[col];
        }
    }
    let mut x = [0.0; 3];
    for r in (0..3).rev() {
        let s: f64 = (r + 1..3).map(|c| m[r][c] * x[c]).sum();
        x[r] = (v[r] - s) / m[r][r];
    }
    Some(x)
}

impl BetaFit {
    pub const IDENTITY: BetaFit = BetaFit {
        a: 1.0,
        b: 1.0,
        c: 0.0,
        n: 0,
    };

    pub fn apply(&self, p: f64) -> f64 {
        let x = design(p);
        sigmoid(self.a * x[0] + self.b * x[1] + self.c * x[2])
    }

    /// Fit on `(raw probability, happened)` pairs, starting from `start` (a previous fit
    /// converges in a step or two). Deterministic; an empty list gives the identity.
    pub fn fit_from(pairs: &[(f64, bool)], start: BetaFit) -> BetaFit {
        if pairs.is_empty() {
            return BetaFit::IDENTITY;
        }
        let xs: Vec<([f64; 3], f64)> = pairs
            .iter()
            .map(|(p, y)| (design(*p), f64::from(u8::from(*y))))
            .collect();
        let prior = [1.0, 1.0, 0.0];
        // the penalised negative log-likelihood (convex), for the line search
        let loss = |w: &[f64; 3]| -> f64 {
            let mut l = 0.0;
            for (x, y) in &xs {
                let z = w[0] * x[0] + w[1] * x[1] + w[2] * x[2];
                // log(1 + e^z) − y·z, computed stably
                l += z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z;
            }
            l + 0.5 * RIDGE * (0..3).map(|i| (w[i] - prior[i]).powi(2)).sum::<f64>()
        };
        let mut w = [start.a, start.b, start.c];
        if !w.iter().all(|x| x.is_finite()) {
            w = prior;
        }
        let mut current = loss(&w);
        for _ in 0..100 {
            let mut g = [0.0; 3];
            let mut h = [[0.0; 3]; 3];
            for (x, y) in &xs {
                let z = w[0] * x[0] + w[1] * x[1] + w[2] * x[2];
                let q = sigmoid(z);
                let r = q * (1.0 - q);
                for i in 0..3 {
                    g[i] += (q - y) * x[i];
                    for j in 0..3 {
                        h[i][j] += r * x[i] * x[j];
                    }
                }
            }
            for i in 0..3 {
                g[i] += RIDGE * (w[i] - prior[i]);
                h[i][i] += RIDGE;
            }
            let Some(step) = solve3(h, g) else { break };
            // damped Newton: halve the step until the objective does not rise
            let mut t = 1.0;
            let mut moved = false;
            for _ in 0..30 {
                let cand = [w[0] - t * step[0], w[1] - t * step[1], w[2] - t * step[2]];
                let l = loss(&cand);
                if l.is_finite() && l <= current {
                    let size = (0..3).map(|i| (t * step[i]).abs()).fold(0.0, f64::max);
                    w = cand;
                    moved = current - l > 1e-12 * (1.0 + current.abs()) && size > 1e-10;
                    current = l;
                    break;
                }
                t *= 0.5;
            }
            if !moved {
                break;
            }
        }
        BetaFit {
            a: w[0],
            b: w[1],
            c: w[2],
            n: pairs.len(),
        }
    }

    pub fn fit(pairs: &[(f64, bool)]) -> BetaFit {
        Self::fit_from(pairs, Self::IDENTITY)
    }
}

/// `y = a + b·x`, the calibration of a magnitude (never negative).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearFit {
    pub a: f64,
    pub b: f64,
    pub n: usize,
}

/// Shrinkage of a magnitude's slope: `b · n / (n + SLOPE_PRIOR)`.
const SLOPE_PRIOR: f64 = 100.0;

impl LinearFit {
    pub const IDENTITY: LinearFit = LinearFit {
        a: 0.0,
        b: 1.0,
        n: 0,
    };

    /// Least squares on `(raw, realised)` pairs, slope clamped to `[0, 2]` and shrunk toward
    /// 0; `None` when empty.
    pub fn fit(pairs: &[(f64, f64)]) -> Option<LinearFit> {
        let n = pairs.len();
        if n == 0 {
            return None;
        }
        let nf = n as f64;
        let mx = pairs.iter().map(|p| p.0).sum::<f64>() / nf;
        let my = pairs.iter().map(|p| p.1).sum::<f64>() / nf;
        let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let b = if sxx > 0.0 {
            (sxy / sxx).clamp(0.0, 2.0) * nf / (nf + SLOPE_PRIOR)
        } else {
            0.0
        };
        Some(LinearFit {
            a: my - b * mx,
            b,
            n,
        })
    }

    pub fn apply(&self, x: f64) -> f64 {
        (self.a + self.b * x).max(0.0)
    }

    /// `a + b·x` without the floor (a return can be negative).
    pub fn apply_signed(&self, x: f64) -> f64 {
        self.a + self.b * x
    }
}

/// A calibrated magnitude (mean gain or mean loss over the horizon).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Magnitude {
    pub source: CalibrationSource,
    pub fit: Option<LinearFit>,
    /// The base rate's mean used when there is no fit.
    pub base: f64,
}

impl Magnitude {
    pub fn apply(&self, raw: f64) -> f64 {
        match &self.fit {
            Some(f) => f.apply(raw),
            None => self.base,
        }
    }

    /// For a signed quantity (the expected return).
    pub fn apply_signed(&self, raw: f64) -> f64 {
        match &self.fit {
            Some(f) => f.apply_signed(raw),
            None => self.base,
        }
    }
}

/// Where a calibrator's history came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationSource {
    /// The symbol's own resolved decisions.
    Symbol,
    /// The resolved decisions of every symbol evaluated together.
    Pooled,
    /// Too few resolved decisions: the base rate of the event.
    BaseRate,
}

/// A calibrated probability for one event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibrator {
    pub source: CalibrationSource,
    /// `None` for [`CalibrationSource::BaseRate`].
    pub fit: Option<BetaFit>,
    /// The base rate used when there is no fit.
    pub base_rate: f64,
}

impl Calibrator {
    pub fn base_rate(rate: f64) -> Self {
        Calibrator {
            source: CalibrationSource::BaseRate,
            fit: None,
            base_rate: rate,
        }
    }

    pub fn apply(&self, raw: f64) -> f64 {
        match &self.fit {
            Some(f) => f.apply(raw),
            None => self.base_rate,
        }
    }

    /// Resolved decisions behind it (0 for a base rate).
    pub fn resolved(&self) -> usize {
        self.fit.map_or(0, |f| f.n)
    }
}

/// The calibrators of a decision: "up" (BUY/SELL), "flat" (HOLD), the mean gain and loss
/// of the expected return, and the expected return itself (`edge`: the realised return
/// regressed on `P(up)·G − (1 − P(up))·L`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub up: Calibrator,
    pub flat: Calibrator,
    pub gain: Magnitude,
    pub loss: Magnitude,
    pub edge: Magnitude,
}

impl Calibration {
    /// The raw probabilities unchanged (unit tests of the decision rule).
    #[cfg(test)]
    pub fn identity() -> Self {
        let id = Calibrator {
            source: CalibrationSource::Symbol,
            fit: Some(BetaFit::IDENTITY),
            base_rate: 0.5,
        };
        let m = Magnitude {
            source: CalibrationSource::Symbol,
            fit: Some(LinearFit::IDENTITY),
            base: 0.0,
        };
        Calibration {
            up: id,
            flat: id,
            gain: m,
            loss: m,
            edge: m,
        }
    }

    /// No resolved history at all: everything at the base rates of the knowledge.
    pub fn base_rates(base: &BaseRates) -> Self {
        let m = |x: f64| Magnitude {
            source: CalibrationSource::BaseRate,
            fit: None,
            base: x,
        };
        Calibration {
            up: Calibrator::base_rate(base.p_up),
            flat: Calibrator::base_rate(base.p_flat),
            gain: m(base.mean_gain),
            loss: m(base.mean_loss),
            edge: m(base.mean_return),
        }
    }
}

/// How much resolved history a fit needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationPolicy {
    /// The symbol's own history is used from this many resolved decisions on.
    pub min_symbol: usize,
    /// Below that, the pooled history of all symbols, from this many on; else the base rate.
    pub min_pooled: usize,
}

impl Default for CalibrationPolicy {
    fn default() -> Self {
        CalibrationPolicy {
            min_symbol: 200,
            min_pooled: 50,
        }
    }
}

impl CalibrationPolicy {
    /// Which history `own` resolved decisions of the symbol and `pooled` of everyone give.
    pub fn source(&self, own: usize, pooled: usize) -> CalibrationSource {
        if own >= self.min_symbol {
            CalibrationSource::Symbol
        } else if pooled >= self.min_pooled {
            CalibrationSource::Pooled
        } else {
            CalibrationSource::BaseRate
        }
    }

    /// A magnitude calibrated on the `(raw, realised)` pairs of the chosen `source`.
    pub fn magnitude(
        &self,
        source: CalibrationSource,
        own: &[(f64, f64)],
        pooled: &[(f64, f64)],
        base: f64,
    ) -> Magnitude {
        let fit = match source {
            CalibrationSource::Symbol => LinearFit::fit(own),
            CalibrationSource::Pooled => LinearFit::fit(pooled),
            CalibrationSource::BaseRate => None,
        };
        Magnitude {
            source: if fit.is_some() {
                source
            } else {
                CalibrationSource::BaseRate
            },
            fit,
            base,
        }
    }

    /// The calibrator from the symbol's resolved pairs `own`, everyone's `pooled` (which
    /// include `own`) and the event's base rate. `start` warm-starts the fit.
    pub fn choose(
        &self,
        own: &[(f64, bool)],
        pooled: &[(f64, bool)],
        base_rate: f64,
        start: Option<BetaFit>,
    ) -> Calibrator {
        let start = start.unwrap_or(BetaFit::IDENTITY);
        if own.len() >= self.min_symbol {
            Calibrator {
                source: CalibrationSource::Symbol,
                fit: Some(BetaFit::fit_from(own, start)),
                base_rate,
            }
        } else if pooled.len() >= self.min_pooled {
            Calibrator {
                source: CalibrationSource::Pooled,
                fit: Some(BetaFit::fit_from(pooled, start)),
                base_rate,
            }
        } else {
            Calibrator::base_rate(base_rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::intelligence::testkit::Rng;

    fn u(rng: &mut Rng) -> f64 {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn an_overconfident_forecast_is_pulled_back() {
        // raw p spread over [0.1, 0.9] but the truth is 0.5 + (p − 0.5) / 4
        let mut rng = Rng(3);
        let pairs: Vec<(f64, bool)> = (0..20_000)
            .map(|_| {
                let p = 0.1 + 0.8 * u(&mut rng);
                let truth = 0.5 + (p - 0.5) / 4.0;
                (p, u(&mut rng) < truth)
            })
            .collect();
        let f = BetaFit::fit(&pairs);
        assert_eq!(f.n, 20_000);
        for p in [0.2, 0.5, 0.8] {
            let want = 0.5 + (p - 0.5) / 4.0;
            assert!((f.apply(p) - want).abs() < 0.02, "{p}: {}", f.apply(p));
        }
        // the raw forecast was far off at the ends
        assert!((0.8f64 - (0.5 + 0.3 / 4.0)).abs() > 0.2);
    }

    #[test]
    fn a_calibrated_forecast_stays_near_the_identity() {
        let mut rng = Rng(5);
        let pairs: Vec<(f64, bool)> = (0..20_000)
            .map(|_| {
                let p = 0.05 + 0.9 * u(&mut rng);
                (p, u(&mut rng) < p)
            })
            .collect();
        let f = BetaFit::fit(&pairs);
        for p in [0.1, 0.3, 0.5, 0.7, 0.9] {
            assert!((f.apply(p) - p).abs() < 0.02, "{p}: {}", f.apply(p));
        }
        // a warm start reaches the same fit
        let g = BetaFit::fit_from(&pairs, f);
        assert!((g.a - f.a).abs() < 1e-6 && (g.c - f.c).abs() < 1e-6);
    }

    #[test]
    fn no_information_means_the_base_rate_of_the_history() {
        // outcomes independent of p, 30% happen: every p maps near 0.3
        let mut rng = Rng(8);
        let pairs: Vec<(f64, bool)> = (0..10_000)
            .map(|_| (u(&mut rng), u(&mut rng) < 0.3))
            .collect();
        let f = BetaFit::fit(&pairs);
        for p in [0.1, 0.5, 0.9] {
            assert!((f.apply(p) - 0.3).abs() < 0.03, "{p}: {}", f.apply(p));
        }
        // separable data does not blow up
        let sep: Vec<(f64, bool)> = (0..100).map(|i| (i as f64 / 100.0, i >= 50)).collect();
        let s = BetaFit::fit(&sep);
        assert!(s.apply(0.9) > 0.8 && s.apply(0.1) < 0.2 && s.a.is_finite());
        assert_eq!(BetaFit::fit(&[]), BetaFit::IDENTITY);
    }

    #[test]
    fn the_policy_uses_own_then_pooled_then_base_rate() {
        let pol = CalibrationPolicy {
            min_symbol: 10,
            min_pooled: 5,
        };
        let own: Vec<(f64, bool)> = (0..12).map(|i| (0.6, i % 2 == 0)).collect();
        let c = pol.choose(&own, &own, 0.4, None);
        assert_eq!(c.source, CalibrationSource::Symbol);
        assert_eq!(c.resolved(), 12);
        let c = pol.choose(&own[..6], &own, 0.4, None);
        assert_eq!(c.source, CalibrationSource::Pooled);
        assert_eq!(c.resolved(), 12);
        let c = pol.choose(&own[..2], &own[..4], 0.4, None);
        assert_eq!(c.source, CalibrationSource::BaseRate);
        assert_eq!(c.apply(0.99), 0.4);
        assert_eq!(c.resolved(), 0);
    }

    #[test]
    fn a_magnitude_without_information_is_the_mean_realised_one() {
        let mut rng = Rng(4);
        // realised gains independent of the raw estimate: slope 0, the mean
        let pairs: Vec<(f64, f64)> = (0..5000)
            .map(|_| (0.02 * u(&mut rng), 0.01 + 0.01 * u(&mut rng)))
            .collect();
        let f = LinearFit::fit(&pairs).unwrap();
        assert!(f.b < 0.05, "{f:?}");
        assert!((f.apply(0.0) - 0.015).abs() < 0.001 && (f.apply(0.02) - 0.015).abs() < 0.001);
        // informative: realised = raw (plus noise): slope near 1, shrunk by n / (n + 100)
        let good: Vec<(f64, f64)> = (0..5000)
            .map(|_| {
                let x = 0.02 * u(&mut rng);
                (x, x + 0.001 * (u(&mut rng) - 0.5))
            })
            .collect();
        let g = LinearFit::fit(&good).unwrap();
        assert!((g.b - 5000.0 / 5100.0).abs() < 0.02, "{g:?}");
        assert_eq!(LinearFit::fit(&[]), None);
        // never a negative magnitude
        assert_eq!(
            LinearFit {
                a: -1.0,
                b: 0.0,
                n: 1
            }
            .apply(0.5),
            0.0
        );
        let pol = CalibrationPolicy::default();
        assert_eq!(pol.source(200, 200), CalibrationSource::Symbol);
        assert_eq!(pol.source(10, 60), CalibrationSource::Pooled);
        assert_eq!(pol.source(10, 20), CalibrationSource::BaseRate);
        let m = pol.magnitude(CalibrationSource::Pooled, &[], &[], 0.012);
        assert_eq!(
            (m.source, m.apply(0.5)),
            (CalibrationSource::BaseRate, 0.012)
        );
    }
}
