//! Target portfolio weights.
//!
//! - `legacy`: 50% to the mains present (BTCUSDT, ETHUSDT by default) split equally, 50%
//!   to the other symbols split equally; if one group is empty the other gets 100%.
//!   A fixed rule: `max_weight` does not apply.
//! - `risk-parity`: `w_i ∝ 1 / σ_i` (σ = standard deviation of daily returns), summing to
//!   1; weights above `max_weight` are set to the cap and the excess is redistributed over
//!   the others in the same proportions (what cannot be placed stays in cash).
//! - `min-variance`: minimise `wᵀΣw` with `0 ≤ w_i ≤ max_weight`, `Σw = min(1, n·cap)`,
//!   by projected gradient descent (projection onto the capped simplex by bisection).
//! - `rag`: maximise `wᵀμ − (γ/2)·wᵀΣw` with `0 ≤ w_i ≤ max_weight`, `Σw ≤ 1` (the rest
//!   is cash), μ = expected daily returns from retrieval, γ = `risk_aversion`. Gated by the
//!   retrieval decision of each asset (the action `generate-signals` gives for it at the same
//!   time, [`AssetInput::signal`]): only a BUY is free to take weight; a HOLD keeps its
//!   current weight (capped), a SELL gets 0. So the portfolio never buys what the signal job
//!   says to hold or sell.
//!
//! Σ is the sample covariance of daily returns shrunk toward its diagonal:
//! `Σ = δ·diag(S) + (1 − δ)·S`, with δ fixed by `shrinkage` or estimated (`None`) by the
//! Ledoit–Wolf / Schäfer–Strimmer formula for a diagonal target:
//! `δ = Σ_{i≠j} Var(s_ij) / Σ_{i≠j} s_ij²`, clipped to [0, 1], where
//! `Var(s_ij) = T / (T − 1)³ · Σ_t (x_ti·x_tj − mean)²` on centred returns.
//! Return series of different lengths are aligned on their last observations (the caller
//! passes series that end on the same day).

use super::recommend::Action;
use crate::core::market::Symbol;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortfolioMethod {
    Rag,
    Legacy,
    RiskParity,
    MinVariance,
}

impl PortfolioMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PortfolioMethod::Rag => "rag",
            PortfolioMethod::Legacy => "legacy",
            PortfolioMethod::RiskParity => "risk-parity",
            PortfolioMethod::MinVariance => "min-variance",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetInput {
    pub symbol: Symbol,
    /// Daily simple returns, oldest first.
    pub daily_returns: Vec<f64>,
    /// Expected return over one day from retrieval (`rag` only; the caller converts its
    /// horizon, e.g. `μ_h × bars_per_day / h`).
    pub expected_return: Option<f64>,
    /// The retrieval decision for the asset (`rag` only): BUY → weight by mean-variance,
    /// HOLD → its current weight (capped), SELL → 0; None → by mean-variance, ungated.
    #[serde(default)]
    pub signal: Option<Action>,
    /// The asset's current weight in the account (what a HOLD keeps).
    #[serde(default)]
    pub current_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortfolioConfig {
    pub mains: Vec<Symbol>,
    /// Per-asset cap (all methods but `legacy`).
    pub max_weight: f64,
    /// γ of the `rag` mean-variance objective.
    pub risk_aversion: f64,
    /// Fixed shrinkage intensity δ in [0, 1]; `None` estimates it.
    pub shrinkage: Option<f64>,
}

impl Default for PortfolioConfig {
    fn default() -> Self {
        PortfolioConfig {
            mains: vec![Symbol("BTCUSDT".into()), Symbol("ETHUSDT".into())],
            max_weight: 0.4,
            risk_aversion: 3.0,
            shrinkage: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetWeight {
    pub symbol: Symbol,
    pub weight: f64,
    /// Daily volatility (not for `legacy`).
    pub volatility: Option<f64>,
    pub expected_return: Option<f64>,
    pub reasoning: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Allocation {
    pub method: PortfolioMethod,
    /// One per input asset, sorted by symbol.
    pub weights: Vec<TargetWeight>,
    /// `1 − Σ weights`.
    pub cash_weight: f64,
    /// Shrinkage intensity used (covariance methods).
    pub shrinkage: Option<f64>,
    pub advice: String,
}

impl Allocation {
    pub fn as_map(&self) -> BTreeMap<Symbol, f64> {
        self.weights
            .iter()
            .map(|w| (w.symbol.clone(), w.weight))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PortfolioError {
    #[error("no assets to allocate")]
    NoAssets,
    #[error("{symbol} has {observations} daily returns; at least 2 are needed")]
    InsufficientData { symbol: Symbol, observations: usize },
    #[error("{0} has zero volatility; risk-based weights are undefined")]
    ZeroVolatility(Symbol),
    #[error("{0} has no expected return from retrieval (needed by the rag method)")]
    MissingExpectedReturn(Symbol),
    #[error("max_weight must be in (0, 1], got {0}")]
    BadCap(f64),
    #[error("duplicate symbol {0}")]
    Duplicate(Symbol),
}

/// Target weights for `assets` by `method`.
pub fn optimize(
    method: PortfolioMethod,
    assets: &[AssetInput],
    cfg: &PortfolioConfig,
) -> Result<Allocation, PortfolioError> {
    if assets.is_empty() {
        return Err(PortfolioError::NoAssets);
    }
    let mut seen = BTreeSet::new();
    for a in assets {
        if !seen.insert(&a.symbol) {
            return Err(PortfolioError::Duplicate(a.symbol.clone()));
        }
    }
    let mut alloc = match method {
        PortfolioMethod::Legacy => legacy(assets, &cfg.mains),
        PortfolioMethod::RiskParity => risk_parity(assets, cap(cfg)?)?,
        PortfolioMethod::MinVariance => min_variance(assets, cfg)?,
        PortfolioMethod::Rag => rag(assets, cfg)?,
    };
    alloc.weights.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    Ok(alloc)
}

/// True when any symbol's weight differs from its target by more than `band` (absolute,
/// e.g. 0.05 = 5 percentage points); a symbol missing on one side counts as 0.
pub fn rebalance_needed(
    current: &BTreeMap<Symbol, f64>,
    target: &BTreeMap<Symbol, f64>,
    band: f64,
) -> bool {
    current
        .keys()
        .chain(target.keys())
        .any(|s| (current.get(s).unwrap_or(&0.0) - target.get(s).unwrap_or(&0.0)).abs() > band)
}

fn cap(cfg: &PortfolioConfig) -> Result<f64, PortfolioError> {
    if cfg.max_weight > 0.0 && cfg.max_weight <= 1.0 {
        Ok(cfg.max_weight)
    } else {
        Err(PortfolioError::BadCap(cfg.max_weight))
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn finish(
    method: PortfolioMethod,
    weights: Vec<TargetWeight>,
    shrinkage: Option<f64>,
    advice: String,
) -> Allocation {
    let total: f64 = weights.iter().map(|w| w.weight).sum();
    Allocation {
        method,
        weights,
        cash_weight: (1.0 - total).max(0.0),
        shrinkage,
        advice,
    }
}

fn legacy(assets: &[AssetInput], mains: &[Symbol]) -> Allocation {
    let is_main = |s: &Symbol| mains.contains(s);
    let n_main = assets.iter().filter(|a| is_main(&a.symbol)).count();
    let n_alt = assets.len() - n_main;
    let (main_share, alt_share) = match (n_main, n_alt) {
        (0, _) => (0.0, 1.0),
        (_, 0) => (1.0, 0.0),
        _ => (0.5, 0.5),
    };
    let weights = assets
        .iter()
        .map(|a| {
            let (share, n, group) = if is_main(&a.symbol) {
                (main_share, n_main, "mains")
            } else {
                (alt_share, n_alt, "alts")
            };
            let w = share / n as f64;
            TargetWeight {
                symbol: a.symbol.clone(),
                weight: w,
                volatility: None,
                expected_return: None,
                reasoning: format!(
                    "legacy split: {} of the portfolio to the {n} {group}, equally → {}",
                    pct(share),
                    pct(w)
                ),
            }
        })
        .collect();
    finish(
        PortfolioMethod::Legacy,
        weights,
        None,
        format!("Legacy allocation: {n_main} mains and {n_alt} alts, each group split equally."),
    )
}

/// Standard deviation (n − 1) of each series; errors for short or flat series.
fn volatilities(assets: &[AssetInput]) -> Result<Vec<f64>, PortfolioError> {
    assets
        .iter()
        .map(|a| {
            let r = &a.daily_returns;
            if r.len() < 2 {
                return Err(PortfolioError::InsufficientData {
                    symbol: a.symbol.clone(),
                    observations: r.len(),
                });
            }
            let m = r.iter().sum::<f64>() / r.len() as f64;
            let v = r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (r.len() - 1) as f64;
            let s = v.sqrt();
            if s > 0.0 && s.is_finite() {
                Ok(s)
            } else {
                Err(PortfolioError::ZeroVolatility(a.symbol.clone()))
            }
        })
        .collect()
}

/// `w ∝ raw`, summing to 1, with weights above `cap` fixed at the cap and the rest
/// redistributed proportionally (water-filling).
fn capped_proportional(raw: &[f64], cap: f64) -> Vec<f64> {
    let n = raw.len();
    let mut w = vec![0.0; n];
    let mut fixed = vec![false; n];
    loop {
        let free_mass = 1.0 - fixed.iter().filter(|f| **f).count() as f64 * cap;
        let free_raw: f64 = (0..n).filter(|&i| !fixed[i]).map(|i| raw[i]).sum();
        let mut newly = false;
        for i in 0..n {
            if fixed[i] {
                w[i] = cap;
            } else {
                w[i] = if free_raw > 0.0 {
                    free_mass.max(0.0) * raw[i] / free_raw
                } else {
                    0.0
                };
                if w[i] > cap + 1e-15 {
                    fixed[i] = true;
                    newly = true;
                }
            }
        }
        if !newly {
            return w;
        }
    }
}

fn risk_parity(assets: &[AssetInput], cap: f64) -> Result<Allocation, PortfolioError> {
    let vols = volatilities(assets)?;
    let inv: Vec<f64> = vols.iter().map(|v| 1.0 / v).collect();
    let w = capped_proportional(&inv, cap);
    let weights = assets
        .iter()
        .zip(&vols)
        .zip(&w)
        .map(|((a, v), w)| TargetWeight {
            symbol: a.symbol.clone(),
            weight: *w,
            volatility: Some(*v),
            expected_return: None,
            reasoning: format!(
                "daily volatility {}; weight proportional to 1/volatility → {}{}",
                pct2(*v),
                pct(*w),
                if (*w - cap).abs() < 1e-12 {
                    format!(" (capped at {})", pct(cap))
                } else {
                    String::new()
                }
            ),
        })
        .collect();
    Ok(finish(
        PortfolioMethod::RiskParity,
        weights,
        None,
        "Risk parity: each asset weighted by the inverse of its daily volatility, so calmer assets get more."
            .to_string(),
    ))
}

fn pct2(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// Series aligned on their last `min_len` observations, centred.
fn aligned_centred(assets: &[AssetInput]) -> Vec<Vec<f64>> {
    let t = assets
        .iter()
        .map(|a| a.daily_returns.len())
        .min()
        .unwrap_or(0);
    assets
        .iter()
        .map(|a| {
            let r = &a.daily_returns[a.daily_returns.len() - t..];
            let m = r.iter().sum::<f64>() / t as f64;
            r.iter().map(|x| x - m).collect()
        })
        .collect()
}

/// The covariance of `series` (rows = assets, columns = aligned days) shrunk toward its
/// diagonal, and the intensity used. `intensity = None` estimates it (module docs).
pub fn shrunk_covariance(series: &[Vec<f64>], intensity: Option<f64>) -> (Vec<Vec<f64>>, f64) {
    let n = series.len();
    let t = series.first().map_or(0, |s| s.len());
    let mut s = vec![vec![0.0; n]; n];
    if t < 2 {
        return (s, 1.0);
    }
    let centred: Vec<Vec<f64>> = series
        .iter()
        .map(|r| {
            let m = r.iter().sum::<f64>() / t as f64;
            r.iter().map(|x| x - m).collect()
        })
        .collect();
    let tf = t as f64;
    for i in 0..n {
        for j in i..n {
            let c = (0..t).map(|k| centred[i][k] * centred[j][k]).sum::<f64>() / (tf - 1.0);
            s[i][j] = c;
            s[j][i] = c;
        }
    }
    let delta = match intensity {
        Some(d) => d.clamp(0.0, 1.0),
        None => {
            let (mut num, mut den) = (0.0, 0.0);
            for i in 0..n {
                for j in 0..n {
                    if i == j {
                        continue;
                    }
                    let w: Vec<f64> = (0..t).map(|k| centred[i][k] * centred[j][k]).collect();
                    let wm = w.iter().sum::<f64>() / tf;
                    let var =
                        tf / (tf - 1.0).powi(3) * w.iter().map(|x| (x - wm).powi(2)).sum::<f64>();
                    num += var;
                    den += s[i][j].powi(2);
                }
            }
            if den > 0.0 {
                (num / den).clamp(0.0, 1.0)
            } else {
                1.0
            }
        }
    };
    for (i, row) in s.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            if i != j {
                *v *= 1.0 - delta;
            }
        }
    }
    (s, delta)
}

fn mat_vec(m: &[Vec<f64>], v: &[f64]) -> Vec<f64> {
    m.iter()
        .map(|r| r.iter().zip(v).map(|(a, b)| a * b).sum())
        .collect()
}

/// Largest eigenvalue of a symmetric PSD matrix (power iteration, upper-bounded by trace).
fn lambda_max(m: &[Vec<f64>]) -> f64 {
    let n = m.len();
    let trace: f64 = (0..n).map(|i| m[i][i]).sum();
    let mut v = vec![1.0 / (n as f64).sqrt(); n];
    let mut lam = 0.0;
    for _ in 0..200 {
        let mv = mat_vec(m, &v);
        let norm = mv.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            break;
        }
        lam = norm;
        v = mv.into_iter().map(|x| x / norm).collect();
    }
    // a slight overestimate keeps the step safe
    (lam * 1.05).min(trace).max(1e-18)
}

/// Projection onto `{0 ≤ w ≤ cap, Σw = total}` (bisection on the shift τ).
fn project_capped_simplex(v: &[f64], cap: f64, total: f64) -> Vec<f64> {
    let sum_at = |tau: f64| v.iter().map(|x| (x - tau).clamp(0.0, cap)).sum::<f64>();
    let mut lo = v.iter().cloned().fold(f64::INFINITY, f64::min) - cap;
    let mut hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if sum_at(mid) > total {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let tau = 0.5 * (lo + hi);
    v.iter().map(|x| (x - tau).clamp(0.0, cap)).collect()
}

/// Projected gradient ascent on `f(w) = wᵀμ − (γ/2)wᵀΣw` (μ = 0, γ = 2 gives min-variance).
fn projected_gradient(
    cov: &[Vec<f64>],
    mu: &[f64],
    gamma: f64,
    start: Vec<f64>,
    project: impl Fn(&[f64]) -> Vec<f64>,
) -> Vec<f64> {
    let step = 1.0 / (gamma * lambda_max(cov));
    let mut w = project(&start);
    for _ in 0..20_000 {
        let sw = mat_vec(cov, &w);
        let next: Vec<f64> = w
            .iter()
            .zip(&sw)
            .zip(mu)
            .map(|((wi, si), mi)| wi + step * (mi - gamma * si))
            .collect();
        let next = project(&next);
        let moved = next
            .iter()
            .zip(&w)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        w = next;
        if moved < 1e-13 {
            break;
        }
    }
    w
}

fn min_variance(
    assets: &[AssetInput],
    cfg: &PortfolioConfig,
) -> Result<Allocation, PortfolioError> {
    let cap = cap(cfg)?;
    let vols = volatilities(assets)?;
    let (cov, delta) = shrunk_covariance(&aligned_centred(assets), cfg.shrinkage);
    let n = assets.len();
    let total = (n as f64 * cap).min(1.0);
    let w = projected_gradient(&cov, &vec![0.0; n], 2.0, vec![total / n as f64; n], |v| {
        project_capped_simplex(v, cap, total)
    });
    let weights = assets
        .iter()
        .zip(&vols)
        .zip(&w)
        .map(|((a, v), w)| TargetWeight {
            symbol: a.symbol.clone(),
            weight: *w,
            volatility: Some(*v),
            expected_return: None,
            reasoning: format!(
                "daily volatility {}; minimum-variance weight {} (cap {})",
                pct2(*v),
                pct(*w),
                pct(cap)
            ),
        })
        .collect();
    Ok(finish(
        PortfolioMethod::MinVariance,
        weights,
        Some(delta),
        format!(
            "Minimum variance, long-only with a {} cap per asset; covariance shrunk {:.0}% toward its diagonal.",
            pct(cap),
            delta * 100.0
        ),
    ))
}

/// The weight a gate fixes for an asset (None: free for the optimiser).
fn pinned_weight(a: &AssetInput, cap: f64) -> Option<f64> {
    match a.signal {
        Some(Action::Hold) => Some(a.current_weight.clamp(0.0, cap)),
        Some(Action::Sell) => Some(0.0),
        Some(Action::Buy) | None => None,
    }
}

fn rag(assets: &[AssetInput], cfg: &PortfolioConfig) -> Result<Allocation, PortfolioError> {
    let cap = cap(cfg)?;
    let mut pinned: Vec<Option<f64>> = assets.iter().map(|a| pinned_weight(a, cap)).collect();
    // Held weights above a fully invested book (leverage) are scaled into the budget.
    let held: f64 = pinned.iter().flatten().sum();
    if held > 1.0 {
        for w in pinned.iter_mut().flatten() {
            *w /= held;
        }
    }
    let budget = (1.0 - pinned.iter().flatten().sum::<f64>()).max(0.0);
    let mu: Vec<f64> = assets
        .iter()
        .zip(&pinned)
        .map(
            |(a, p)| match (a.expected_return.filter(|m| m.is_finite()), p) {
                (Some(m), _) => Ok(m),
                (None, Some(_)) => Ok(0.0), // not optimised: its expectation is not needed
                (None, None) => Err(PortfolioError::MissingExpectedReturn(a.symbol.clone())),
            },
        )
        .collect::<Result<_, _>>()?;
    let vols = volatilities(assets)?;
    let (cov, delta) = shrunk_covariance(&aligned_centred(assets), cfg.shrinkage);
    let gamma = if cfg.risk_aversion > 0.0 {
        cfg.risk_aversion
    } else {
        1.0
    };
    let free: Vec<usize> = (0..assets.len()).filter(|&i| pinned[i].is_none()).collect();
    let start: Vec<f64> = pinned.iter().map(|p| p.unwrap_or(0.0)).collect();
    // Pinned weights stay where the gate put them; the free ones are projected onto
    // {0 ≤ w ≤ cap, Σ ≤ budget}. Their covariance with the pinned ones still counts.
    let project = |v: &[f64]| -> Vec<f64> {
        let vf: Vec<f64> = free.iter().map(|&i| v[i]).collect();
        let clipped: Vec<f64> = vf.iter().map(|x| x.clamp(0.0, cap)).collect();
        let wf = if clipped.iter().sum::<f64>() <= budget {
            clipped
        } else {
            project_capped_simplex(&vf, cap, budget)
        };
        let mut out: Vec<f64> = pinned.iter().map(|p| p.unwrap_or(0.0)).collect();
        for (k, &i) in free.iter().enumerate() {
            out[i] = wf[k];
        }
        out
    };
    let w = if free.is_empty() {
        start
    } else {
        projected_gradient(&cov, &mu, gamma, start, project)
    };
    let weights: Vec<TargetWeight> = assets
        .iter()
        .zip(&vols)
        .zip(mu.iter().zip(&w))
        .map(|((a, v), (m, w))| TargetWeight {
            symbol: a.symbol.clone(),
            weight: *w,
            volatility: Some(*v),
            expected_return: a.expected_return.filter(|m| m.is_finite()),
            reasoning: rag_reason(a, *m, *v, *w, cap),
        })
        .collect();
    let invested: f64 = w.iter().sum();
    Ok(finish(
        PortfolioMethod::Rag,
        weights,
        Some(delta),
        format!(
            "Mean-variance on retrieved expected returns (risk aversion {gamma}), covariance shrunk {:.0}% toward its diagonal, only for assets retrieval says to BUY (HOLD keeps the current weight, SELL goes to 0); {} invested, {} in cash.",
            delta * 100.0,
            pct(invested),
            pct((1.0 - invested).max(0.0))
        ),
    ))
}

fn rag_reason(a: &AssetInput, m: f64, v: f64, w: f64, cap: f64) -> String {
    let expects = format!(
        "retrieval expects {:+.2}% a day, daily volatility {}",
        m * 100.0,
        pct2(v)
    );
    match a.signal {
        Some(Action::Sell) => format!("signal SELL ({expects}): weight 0%"),
        Some(Action::Hold) => format!(
            "signal HOLD ({expects}): kept at its current weight {}{}",
            pct(w),
            if a.current_weight > cap + 1e-12 {
                format!(" (capped at {}, from {})", pct(cap), pct(a.current_weight))
            } else {
                String::new()
            }
        ),
        _ => {
            let gate = if a.signal == Some(Action::Buy) {
                "signal BUY: "
            } else {
                ""
            };
            if w < 1e-6 {
                format!("{gate}{expects}: not worth its risk, weight 0%")
            } else {
                format!(
                    "{gate}{expects} → mean-variance weight {}{}",
                    pct(w),
                    if (w - cap).abs() < 1e-9 {
                        format!(" (capped at {})", pct(cap))
                    } else {
                        String::new()
                    }
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::intelligence::testkit::Rng;

    fn sym(s: &str) -> Symbol {
        Symbol(s.into())
    }

    fn asset(s: &str, r: Vec<f64>, mu: Option<f64>) -> AssetInput {
        AssetInput {
            symbol: sym(s),
            daily_returns: r,
            expected_return: mu,
            signal: None,
            current_weight: 0.0,
        }
    }

    /// Zero-mean, mutually uncorrelated patterns of amplitude a, b, c.
    fn uncorrelated(a: f64, b: f64, c: f64) -> [Vec<f64>; 3] {
        let pa = [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0];
        let pb = [1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0];
        let pc = [1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0];
        [
            pa.map(|x| x * a).to_vec(),
            pb.map(|x| x * b).to_vec(),
            pc.map(|x| x * c).to_vec(),
        ]
    }

    fn random_assets(n: usize, seed: u64) -> Vec<AssetInput> {
        let mut rng = Rng(seed);
        let common: Vec<f64> = (0..120).map(|_| rng.normal() * 0.02).collect();
        (0..n)
            .map(|i| {
                let vol = 0.01 + 0.01 * i as f64;
                let r = common
                    .iter()
                    .map(|c| 0.5 * c + vol * rng.normal())
                    .collect();
                asset(&format!("S{i}USDT"), r, Some(0.002 - 0.0005 * i as f64))
            })
            .collect()
    }

    #[test]
    fn legacy_split_is_exact() {
        let assets: Vec<_> = ["BTCUSDT", "SOLUSDT", "ETHUSDT", "ADAUSDT", "XRPUSDT"]
            .iter()
            .map(|s| asset(s, vec![], None))
            .collect();
        let a = optimize(
            PortfolioMethod::Legacy,
            &assets,
            &PortfolioConfig::default(),
        )
        .unwrap();
        let m = a.as_map();
        assert_eq!(m[&sym("BTCUSDT")], 0.25);
        assert_eq!(m[&sym("ETHUSDT")], 0.25);
        assert_eq!(m[&sym("SOLUSDT")], 0.5 / 3.0);
        assert!(a.cash_weight.abs() < 1e-12);
        assert_eq!(a.weights[0].symbol, sym("ADAUSDT")); // sorted
        // configurable mains; only alts → alts take everything
        let cfg = PortfolioConfig {
            mains: vec![sym("SOLUSDT")],
            ..PortfolioConfig::default()
        };
        let m = optimize(PortfolioMethod::Legacy, &assets, &cfg)
            .unwrap()
            .as_map();
        assert_eq!(m[&sym("SOLUSDT")], 0.5);
        assert_eq!(m[&sym("BTCUSDT")], 0.125);
        let alts = vec![
            asset("ADAUSDT", vec![], None),
            asset("XRPUSDT", vec![], None),
        ];
        let m = optimize(PortfolioMethod::Legacy, &alts, &PortfolioConfig::default())
            .unwrap()
            .as_map();
        assert_eq!(m[&sym("ADAUSDT")], 0.5);
    }

    #[test]
    fn risk_parity_is_inverse_volatility() {
        let [a, b, c] = uncorrelated(0.01, 0.02, 0.04);
        let assets = vec![
            asset("AUSDT", a, None),
            asset("BUSDT", b, None),
            asset("CUSDT", c, None),
        ];
        let cfg = PortfolioConfig {
            max_weight: 1.0,
            ..PortfolioConfig::default()
        };
        let m = optimize(PortfolioMethod::RiskParity, &assets, &cfg)
            .unwrap()
            .as_map();
        // 1/1 : 1/2 : 1/4 = 4/7, 2/7, 1/7
        assert!((m[&sym("AUSDT")] - 4.0 / 7.0).abs() < 1e-12);
        assert!((m[&sym("BUSDT")] - 2.0 / 7.0).abs() < 1e-12);
        assert!((m[&sym("CUSDT")] - 1.0 / 7.0).abs() < 1e-12);
        // with a 50% cap: A at 0.5, the remaining 0.5 split 2:1
        let cfg = PortfolioConfig {
            max_weight: 0.5,
            ..PortfolioConfig::default()
        };
        let al = optimize(PortfolioMethod::RiskParity, &assets, &cfg).unwrap();
        let m = al.as_map();
        assert!((m[&sym("AUSDT")] - 0.5).abs() < 1e-12);
        assert!((m[&sym("BUSDT")] - 1.0 / 3.0).abs() < 1e-12);
        assert!(al.weights[0].reasoning.contains("capped"));
    }

    #[test]
    fn min_variance_matches_the_closed_form_on_uncorrelated_assets() {
        let [a, b, _] = uncorrelated(0.01, 0.02, 0.0);
        let assets = vec![asset("AUSDT", a, None), asset("BUSDT", b, None)];
        let cfg = PortfolioConfig {
            max_weight: 1.0,
            ..PortfolioConfig::default()
        };
        let al = optimize(PortfolioMethod::MinVariance, &assets, &cfg).unwrap();
        let m = al.as_map();
        // inverse variance: 1 : 1/4 → 0.8, 0.2
        assert!((m[&sym("AUSDT")] - 0.8).abs() < 1e-6, "{m:?}");
        assert!((m[&sym("BUSDT")] - 0.2).abs() < 1e-6);
        let cfg = PortfolioConfig {
            max_weight: 0.6,
            ..cfg
        };
        let m = optimize(PortfolioMethod::MinVariance, &assets, &cfg)
            .unwrap()
            .as_map();
        assert!((m[&sym("AUSDT")] - 0.6).abs() < 1e-6);
        assert!((m[&sym("BUSDT")] - 0.4).abs() < 1e-6);
    }

    #[test]
    fn every_method_respects_caps_and_the_budget() {
        let assets = random_assets(6, 5);
        for cap in [0.15, 0.3, 1.0] {
            let cfg = PortfolioConfig {
                max_weight: cap,
                ..PortfolioConfig::default()
            };
            for method in [
                PortfolioMethod::RiskParity,
                PortfolioMethod::MinVariance,
                PortfolioMethod::Rag,
            ] {
                let a = optimize(method, &assets, &cfg).unwrap();
                let sum: f64 = a.weights.iter().map(|w| w.weight).sum();
                assert!(sum <= 1.0 + 1e-9, "{method:?} cap {cap}: sum {sum}");
                assert!((sum + a.cash_weight - 1.0).abs() < 1e-9);
                for w in &a.weights {
                    assert!(
                        w.weight >= 0.0 && w.weight <= cap + 1e-9,
                        "{method:?}: {} {}",
                        w.symbol,
                        w.weight
                    );
                    assert!(!w.reasoning.is_empty());
                }
                if method != PortfolioMethod::Rag && cap * 6.0 >= 1.0 {
                    assert!((sum - 1.0).abs() < 1e-6, "{method:?} is fully invested");
                }
            }
        }
        let cfg = PortfolioConfig {
            max_weight: 0.1,
            ..PortfolioConfig::default()
        };
        let a = optimize(PortfolioMethod::MinVariance, &assets, &cfg).unwrap();
        assert!(
            (a.cash_weight - 0.4).abs() < 1e-6,
            "6 × 10% cap leaves 40% cash"
        );
    }

    #[test]
    fn rag_avoids_negative_expectations_and_needs_them() {
        let mut assets = random_assets(3, 8);
        assets[0].expected_return = Some(-0.01);
        assets[1].expected_return = Some(0.004);
        assets[2].expected_return = Some(-0.002);
        let a = optimize(PortfolioMethod::Rag, &assets, &PortfolioConfig::default()).unwrap();
        let m = a.as_map();
        assert!(m[&sym("S0USDT")] < 1e-9);
        assert!(m[&sym("S1USDT")] > 0.1);
        assert!(a.weights[0].reasoning.contains("not worth its risk"));
        assets[1].expected_return = None;
        assert_eq!(
            optimize(PortfolioMethod::Rag, &assets, &PortfolioConfig::default()),
            Err(PortfolioError::MissingExpectedReturn(sym("S1USDT")))
        );
    }

    #[test]
    fn rag_buys_only_what_the_signal_says_to_buy() {
        let cfg = PortfolioConfig::default();
        let mut assets = random_assets(3, 8);
        for a in &mut assets {
            a.expected_return = Some(0.004);
        }
        // Ungated, every asset with a positive expectation takes weight.
        let free = optimize(PortfolioMethod::Rag, &assets, &cfg)
            .unwrap()
            .as_map();
        assert!(
            free[&sym("S0USDT")] > 0.1 && free[&sym("S2USDT")] > 0.0,
            "{free:?}"
        );
        assets[0].signal = Some(Action::Hold);
        assets[0].current_weight = 0.1;
        assets[1].signal = Some(Action::Buy);
        assets[2].signal = Some(Action::Sell);
        assets[2].current_weight = 0.2;
        let a = optimize(PortfolioMethod::Rag, &assets, &cfg).unwrap();
        let m = a.as_map();
        assert_eq!(m[&sym("S0USDT")], 0.1, "HOLD keeps the current weight");
        assert_eq!(m[&sym("S2USDT")], 0.0, "SELL goes to zero");
        assert!(m[&sym("S1USDT")] > 0.1, "{m:?}");
        assert!(a.weights[0].reasoning.starts_with("signal HOLD"));
        assert!(a.weights[1].reasoning.starts_with("signal BUY"));
        assert!(a.weights[2].reasoning.starts_with("signal SELL"));
        // A HOLD above the cap is trimmed to it; a SELL needs no expectation.
        assets[0].current_weight = 0.9;
        assets[2].expected_return = None;
        let m = optimize(PortfolioMethod::Rag, &assets, &cfg)
            .unwrap()
            .as_map();
        assert!((m[&sym("S0USDT")] - cfg.max_weight).abs() < 1e-12);
        assert!(m.values().sum::<f64>() <= 1.0 + 1e-9);
        // Nothing to buy: nothing optimised, holdings kept.
        assets[1].signal = Some(Action::Hold);
        assets[1].current_weight = 0.3;
        let m = optimize(PortfolioMethod::Rag, &assets, &cfg)
            .unwrap()
            .as_map();
        assert_eq!(
            (m[&sym("S0USDT")], m[&sym("S1USDT")], m[&sym("S2USDT")]),
            (0.4, 0.3, 0.0)
        );
        // A BUY still needs its expectation.
        assets[1].signal = Some(Action::Buy);
        assets[1].expected_return = None;
        assert_eq!(
            optimize(PortfolioMethod::Rag, &assets, &cfg),
            Err(PortfolioError::MissingExpectedReturn(sym("S1USDT")))
        );
    }

    #[test]
    fn shrinkage_moves_toward_the_diagonal() {
        let assets = random_assets(4, 11);
        let series = aligned_centred(&assets);
        let (s0, d0) = shrunk_covariance(&series, Some(0.0));
        let (s1, _) = shrunk_covariance(&series, Some(1.0));
        let (se, de) = shrunk_covariance(&series, None);
        assert_eq!(d0, 0.0);
        assert!(de > 0.0 && de < 1.0, "estimated intensity {de}");
        assert_eq!(s1[0][1], 0.0);
        assert_eq!(s0[2][2], se[2][2]);
        assert!((se[0][1] - (1.0 - de) * s0[0][1]).abs() < 1e-15);
    }

    #[test]
    fn bad_inputs_are_errors_and_rebalance_band_works() {
        let flat = vec![asset("AUSDT", vec![0.0; 10], None)];
        assert_eq!(
            optimize(
                PortfolioMethod::RiskParity,
                &flat,
                &PortfolioConfig::default()
            ),
            Err(PortfolioError::ZeroVolatility(sym("AUSDT")))
        );
        assert_eq!(
            optimize(PortfolioMethod::Legacy, &[], &PortfolioConfig::default()),
            Err(PortfolioError::NoAssets)
        );
        let cur = BTreeMap::from([(sym("A"), 0.50), (sym("B"), 0.50)]);
        let tgt = BTreeMap::from([(sym("A"), 0.47), (sym("B"), 0.50), (sym("C"), 0.03)]);
        assert!(!rebalance_needed(&cur, &tgt, 0.05));
        assert!(rebalance_needed(&cur, &tgt, 0.02));
        let tgt = BTreeMap::from([(sym("A"), 0.40), (sym("B"), 0.60)]);
        assert!(rebalance_needed(&cur, &tgt, 0.05));
    }
}
