//! Honest evaluation: walk-forward decisions scored against what happened next.
//!
//! **Right or wrong** (the same definitions as the confidence in [`super::recommend`]):
//! BUY is right when the forward return is `> 0`, SELL when it is `< 0`, HOLD when
//! `|ret| <= band` (fees + margin: no trade would have paid).
//!
//! **Decision return** (what acting on the decision earned, after a round trip of fees):
//! BUY `ret − 2·fee`, SELL `−ret − 2·fee` (a short, or the loss avoided by selling), HOLD 0.
//! Buy-and-hold earns `ret` at every decision time.
//!
//! **Confidence scores** ([`Scores`], for all decisions and for BUY/SELL only):
//! - Brier = mean (confidence − right)² (lower is better; 0.25 is a constant 50% guess);
//! - base-rate Brier: the same decisions with the confidence replaced by the past base rate
//!   of that action (BUY: the share of rising outcomes known at the decision time; SELL: of
//!   falling ones; HOLD: of flat ones) — the forecast anyone gets for free;
//! - Brier skill score `BSS = 1 − Brier / base-rate Brier` (> 0: better than the base rate),
//!   with a 95% interval from a seeded bootstrap over the decisions ([`BOOTSTRAP`] resamples):
//!   an interval that holds 0 is no evidence of skill;
//! - expected calibration error over ten bins `[0.0, 0.1)`, …, `[0.9, 1.0]`:
//!   `Σ n_b / N · |mean confidence_b − observed frequency_b|`, with the reliability table
//!   (those bins); with fewer than [`MIN_MEASURABLE`] decisions it is printed but the
//!   calibration is reported as not measurable;
//! - the hit rate by confidence quintile (five equal-count groups by confidence).
//!
//! **Calibration is walk-forward.** Every rag decision's confidence is calibrated
//! ([`super::calibrate`]) on the earlier decisions whose outcome was known at its time, so
//! the scores above measure the confidence exactly as it would have been printed.
//!
//! **Verdict.** It leads with skill against the base rate (BUY/SELL first: the decisions a
//! reader acts on), says "no evidence of skill" when the interval holds 0 and that the
//! calibration cannot be measured with fewer than [`MIN_MEASURABLE`] BUY/SELL decisions; then
//! compares the mean decision return of rag with legacy and buy-and-hold, paired per
//! decision time, with `t = mean diff / (sd / √n)`; `|t| < 2` is reported as "within noise".
//! When `step < horizon` consecutive outcomes overlap and `t` is overstated; the verdict says
//! so. "Better" always names what it is better than.

use super::calibrate::{BetaFit, Calibration, CalibrationPolicy, CalibrationSource};
use super::features::{D, Normalizer, Outcome, features, forward_outcome};
use super::knn::{KnnIndex, SnapshotMeta};
use super::legacy::legacy_signal;
use super::recommend::{
    Action, BaseRates, MarketContext, NeighbourOutcome, RawEstimate, RecommendConfig, estimate,
    finish,
};
use crate::core::indicators::IndicatorRow;
use crate::core::market::{Bar, Symbol};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples of the skill interval.
pub const BOOTSTRAP: usize = 1000;
/// Fewer BUY/SELL decisions than this: their calibration cannot be measured.
pub const MIN_MEASURABLE: usize = 300;

/// One decision and, once known, its forward return.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Open time of the candle whose close the decision was made on, ms UTC.
    pub time: i64,
    pub action: Action,
    pub confidence: f64,
    /// The rag method's calibrated P(up); `None` for legacy.
    pub probability_up: Option<f64>,
    /// The past base rate of this action being right (known at `time`).
    pub base_rate: f64,
    /// Return from the decision close to the close `horizon` bars later; `None` until known.
    pub forward_return: Option<f64>,
}

/// Whether `action` was right given the forward return `ret` (module docs).
pub fn is_right(action: Action, ret: f64, band: f64) -> bool {
    match action {
        Action::Buy => ret > 0.0,
        Action::Sell => ret < 0.0,
        Action::Hold => ret.abs() <= band,
    }
}

/// What acting on `action` earned after fees (module docs).
pub fn decision_return(action: Action, ret: f64, fee_rate: f64) -> f64 {
    match action {
        Action::Buy => ret - 2.0 * fee_rate,
        Action::Sell => -ret - 2.0 * fee_rate,
        Action::Hold => 0.0,
    }
}

/// The past base rate of `action` being right, from the base rates known at its time.
pub fn action_base_rate(action: Action, base: &BaseRates) -> f64 {
    match action {
        Action::Buy => base.p_up,
        Action::Sell => 1.0 - base.p_up,
        Action::Hold => base.p_flat,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBucket {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    pub mean_confidence: f64,
    /// Share of the bucket's decisions that were right.
    pub observed_frequency: f64,
}

/// One fifth of the decisions, by confidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quintile {
    /// 1 (least confident) to 5.
    pub quintile: usize,
    pub count: usize,
    pub min_confidence: f64,
    pub max_confidence: f64,
    pub mean_confidence: f64,
    /// Share that was right.
    pub hit_rate: f64,
}

/// How far a set of confidences can be trusted (module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Decisions with a known outcome.
    pub count: usize,
    /// Whether `count >= MIN_MEASURABLE` (else the calibration cannot be measured).
    pub measurable: bool,
    pub brier: Option<f64>,
    pub base_rate_brier: Option<f64>,
    pub brier_skill_score: Option<f64>,
    /// 95% bootstrap interval of the skill score.
    pub brier_skill_score_low: Option<f64>,
    pub brier_skill_score_high: Option<f64>,
    /// Expected calibration error, 10 bins.
    pub ece: Option<f64>,
    pub reliability: Vec<CalibrationBucket>,
    pub quintiles: Vec<Quintile>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodStats {
    pub decisions: usize,
    /// Decisions whose forward return is known.
    pub evaluated: usize,
    pub buys: usize,
    pub sells: usize,
    pub holds: usize,
    pub hit_rate: Option<f64>,
    pub accuracy: Option<f64>,
    pub avg_return_buy: Option<f64>,
    pub avg_return_sell: Option<f64>,
    /// Mean forward return over all evaluated decision times (the unconditional drift).
    pub avg_return_all: Option<f64>,
    /// Mean [`decision_return`] over evaluated decisions.
    pub mean_decision_return: Option<f64>,
    pub brier: Option<f64>,
    /// Brier over BUY/SELL decisions only (HOLD's "right" differs between methods, so
    /// this is the fairer comparison of directional confidence).
    pub brier_directional: Option<f64>,
    /// The reliability table over all decisions (the same as `all.reliability`).
    pub calibration: Vec<CalibrationBucket>,
    /// Confidence scores over all decisions.
    pub all: Scores,
    /// Confidence scores over BUY/SELL decisions.
    pub directional: Scores,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuyAndHoldStats {
    pub evaluated: usize,
    /// Share of decision times with a positive forward return.
    pub hit_rate: Option<f64>,
    pub avg_forward_return: Option<f64>,
    /// Close of the last bar over close at the first decision, minus 1.
    pub total_return: Option<f64>,
}

fn mean(xs: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut n, mut s) = (0usize, 0.0);
    for x in xs {
        n += 1;
        s += x;
    }
    (n > 0).then(|| s / n as f64)
}

fn y(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// Brier score of `(probability, happened)` pairs; `None` when empty.
pub fn brier(pairs: &[(f64, bool)]) -> Option<f64> {
    mean(pairs.iter().map(|(p, h)| (p - y(*h)).powi(2)))
}

/// Ten buckets of width 0.1 (the last one includes 1.0); only non-empty ones returned.
pub fn calibration(pairs: &[(f64, bool)]) -> Vec<CalibrationBucket> {
    let mut acc = [(0usize, 0.0f64, 0usize); 10];
    for (p, y) in pairs {
        let b = ((p * 10.0).floor() as isize).clamp(0, 9) as usize;
        acc[b].0 += 1;
        acc[b].1 += p;
        acc[b].2 += usize::from(*y);
    }
    acc.iter()
        .enumerate()
        .filter(|(_, a)| a.0 > 0)
        .map(|(b, (n, sp, sy))| CalibrationBucket {
            lo: b as f64 / 10.0,
            hi: (b + 1) as f64 / 10.0,
            count: *n,
            mean_confidence: sp / *n as f64,
            observed_frequency: *sy as f64 / *n as f64,
        })
        .collect()
}

/// Expected calibration error of a reliability table; `None` when it is empty.
pub fn ece(buckets: &[CalibrationBucket]) -> Option<f64> {
    let n: usize = buckets.iter().map(|b| b.count).sum();
    (n > 0).then(|| {
        buckets
            .iter()
            .map(|b| b.count as f64 * (b.mean_confidence - b.observed_frequency).abs())
            .sum::<f64>()
            / n as f64
    })
}

/// Hit rate by confidence quintile: sorted by confidence (ties by position), cut into five
/// groups of equal count (the first ones one larger when it does not divide).
pub fn quintiles(pairs: &[(f64, bool)]) -> Vec<Quintile> {
    let mut v: Vec<(f64, bool)> = pairs.to_vec();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = v.len();
    let mut out = Vec::new();
    let mut start = 0;
    for q in 0..5 {
        let len = n / 5 + usize::from(q < n % 5);
        let part = &v[start..start + len];
        start += len;
        if part.is_empty() {
            continue;
        }
        out.push(Quintile {
            quintile: q + 1,
            count: part.len(),
            min_confidence: part[0].0,
            max_confidence: part[part.len() - 1].0,
            mean_confidence: part.iter().map(|x| x.0).sum::<f64>() / part.len() as f64,
            hit_rate: part.iter().map(|x| y(x.1)).sum::<f64>() / part.len() as f64,
        });
    }
    out
}

/// A small deterministic generator for the bootstrap (splitmix64).
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 11) as u128 * n as u128) >> 53) as usize
    }
}

/// Brier skill score of `(confidence, base rate, right)` triples and its 95% bootstrap
/// interval (seeded: the same decisions always give the same interval).
pub fn skill(triples: &[(f64, f64, bool)]) -> (Option<f64>, Option<(f64, f64)>) {
    let bss = |idx: &mut dyn Iterator<Item = usize>| -> Option<f64> {
        let (mut f, mut b) = (0.0, 0.0);
        for i in idx {
            let (c, r, h) = triples[i];
            f += (c - y(h)).powi(2);
            b += (r - y(h)).powi(2);
        }
        (b > 0.0).then(|| 1.0 - f / b)
    };
    let n = triples.len();
    let point = bss(&mut (0..n));
    if n < 2 || point.is_none() {
        return (point, None);
    }
    let mut rng = SplitMix(0x5EED_0000 ^ n as u64);
    let mut draws: Vec<f64> = (0..BOOTSTRAP)
        .filter_map(|_| {
            let picks: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
            bss(&mut picks.into_iter())
        })
        .collect();
    if draws.is_empty() {
        return (point, None);
    }
    draws.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| draws[((q * (draws.len() - 1) as f64).round() as usize).min(draws.len() - 1)];
    (point, Some((at(0.025), at(0.975))))
}

/// The scores of `(confidence, base rate, right)` triples.
pub fn scores(triples: &[(f64, f64, bool)]) -> Scores {
    let pairs: Vec<(f64, bool)> = triples.iter().map(|(c, _, h)| (*c, *h)).collect();
    let base: Vec<(f64, bool)> = triples.iter().map(|(_, b, h)| (*b, *h)).collect();
    let reliability = calibration(&pairs);
    let (bss, interval) = skill(triples);
    Scores {
        count: triples.len(),
        measurable: triples.len() >= MIN_MEASURABLE,
        brier: brier(&pairs),
        base_rate_brier: brier(&base),
        brier_skill_score: bss,
        brier_skill_score_low: interval.map(|x| x.0),
        brier_skill_score_high: interval.map(|x| x.1),
        ece: ece(&reliability),
        reliability,
        quintiles: quintiles(&pairs),
    }
}

/// Scores of one method's decisions.
pub fn compute_stats(decisions: &[Decision], band: f64, fee_rate: f64) -> MethodStats {
    let known: Vec<(&Decision, f64)> = decisions
        .iter()
        .filter_map(|d| d.forward_return.filter(|r| r.is_finite()).map(|r| (d, r)))
        .collect();
    let count = |a: Action| decisions.iter().filter(|d| d.action == a).count();
    let triples: Vec<(f64, f64, bool)> = known
        .iter()
        .map(|(d, r)| (d.confidence, d.base_rate, is_right(d.action, *r, band)))
        .collect();
    let directional: Vec<(f64, f64, bool)> = known
        .iter()
        .filter(|(d, _)| d.action != Action::Hold)
        .map(|(d, r)| (d.confidence, d.base_rate, is_right(d.action, *r, band)))
        .collect();
    let all = scores(&triples);
    let dir = scores(&directional);
    let of = |a: Action| mean(known.iter().filter(|(d, _)| d.action == a).map(|(_, r)| *r));
    MethodStats {
        decisions: decisions.len(),
        evaluated: known.len(),
        buys: count(Action::Buy),
        sells: count(Action::Sell),
        holds: count(Action::Hold),
        hit_rate: mean(directional.iter().map(|t| y(t.2))),
        accuracy: mean(triples.iter().map(|t| y(t.2))),
        avg_return_buy: of(Action::Buy),
        avg_return_sell: of(Action::Sell),
        avg_return_all: mean(known.iter().map(|(_, r)| *r)),
        mean_decision_return: mean(
            known
                .iter()
                .map(|(d, r)| decision_return(d.action, *r, fee_rate)),
        ),
        brier: all.brier,
        brier_directional: dir.brier,
        calibration: all.reliability.clone(),
        all,
        directional: dir,
    }
}

/// Buy-and-hold at the same decision times.
pub fn buy_and_hold(decisions: &[Decision], total_return: Option<f64>) -> BuyAndHoldStats {
    let rets: Vec<f64> = decisions.iter().filter_map(|d| d.forward_return).collect();
    BuyAndHoldStats {
        evaluated: rets.len(),
        hit_rate: mean(rets.iter().map(|r| y(*r > 0.0))),
        avg_forward_return: mean(rets.iter().copied()),
        total_return,
    }
}

/// Paired comparison: mean of `a − b` and its t statistic (`None` when fewer than 2).
fn paired(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    if d.len() < 2 {
        return None;
    }
    let n = d.len() as f64;
    let m = d.iter().sum::<f64>() / n;
    let sd = (d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let t = if sd > 0.0 {
        m / (sd / n.sqrt())
    } else if m == 0.0 {
        0.0
    } else {
        f64::INFINITY.copysign(m)
    };
    Some((m, t))
}

fn pct(x: Option<f64>) -> String {
    x.map_or("n/a".to_string(), |v| format!("{:+.3}%", v * 100.0))
}

/// Whether the scores show skill: measurable and the interval's low end above 0.
pub fn shows_skill(s: &Scores) -> bool {
    s.measurable && s.brier_skill_score_low.is_some_and(|lo| lo > 0.0)
}

/// "BSS +0.012 (95% interval −0.010 to +0.034)".
pub fn describe_skill(s: &Scores) -> String {
    match (
        s.brier_skill_score,
        s.brier_skill_score_low,
        s.brier_skill_score_high,
    ) {
        (Some(b), Some(lo), Some(hi)) => {
            format!("Brier skill score {b:+.3} (95% interval {lo:+.3} to {hi:+.3})")
        }
        (Some(b), _, _) => format!("Brier skill score {b:+.3} (no interval)"),
        _ => "no Brier skill score".to_string(),
    }
}

/// The skill sentence of one method and one set of decisions.
fn skill_sentence(method: &str, what: &str, s: &Scores) -> String {
    if s.count == 0 {
        return format!("{method} made no {what} decision with a known outcome");
    }
    let judged = if shows_skill(s) {
        "skill: better than the base rate".to_string()
    } else if !s.measurable {
        format!(
            "fewer than {MIN_MEASURABLE}: calibration and skill cannot be measured here, so no evidence of skill"
        )
    } else if s.brier_skill_score_high.is_some_and(|hi| hi < 0.0) {
        "worse than the base rate".to_string()
    } else {
        "no evidence of skill (the interval holds 0)".to_string()
    };
    format!(
        "{method} on {} {what} decisions: {} against the base rate, ECE {} — {judged}",
        s.count,
        describe_skill(s),
        s.ece.map_or("n/a".into(), |e| format!("{e:.3}")),
    )
}

/// The verdict sentence(s). `rag` and `legacy` must be decisions at the same times.
pub fn verdict(
    rag: &[Decision],
    legacy: &[Decision],
    rag_stats: &MethodStats,
    legacy_stats: &MethodStats,
    overlapping: bool,
    fee_rate: f64,
) -> String {
    let both: Vec<(&Decision, &Decision, f64)> = rag
        .iter()
        .zip(legacy)
        .filter_map(|(r, l)| Some((r, l, r.forward_return.filter(|x| x.is_finite())?)))
        .collect();
    if both.is_empty() {
        return "No decision has a known outcome yet: nothing can be judged.".to_string();
    }
    let mut s = String::from("Skill against the base rate: ");
    if rag_stats.buys + rag_stats.sells == 0 {
        s.push_str(
            "rag found no edge after fees at any decision and held throughout — no evidence of skill on this market. ",
        );
    } else {
        s.push_str(&skill_sentence("rag", "BUY/SELL", &rag_stats.directional));
        s.push_str(". ");
    }
    s.push_str(&skill_sentence("rag", "all", &rag_stats.all));
    s.push_str("; ");
    s.push_str(&skill_sentence(
        "legacy",
        "BUY/SELL",
        &legacy_stats.directional,
    ));
    s.push_str(". ");

    let rag_ret: Vec<f64> = both
        .iter()
        .map(|(r, _, x)| decision_return(r.action, *x, fee_rate))
        .collect();
    let leg_ret: Vec<f64> = both
        .iter()
        .map(|(_, l, x)| decision_return(l.action, *x, fee_rate))
        .collect();
    let bh_ret: Vec<f64> = both.iter().map(|(_, _, x)| *x).collect();
    let compare = |name: &str, other: &[f64]| -> String {
        match paired(&rag_ret, other) {
            None => format!("too few decisions to compare rag with {name}"),
            Some((m, t)) => {
                let verb = if m > 0.0 { "beat" } else { "did NOT beat" };
                let noise = if t.abs() < 2.0 {
                    ", within noise (|t| < 2)"
                } else {
                    ""
                };
                format!(
                    "rag {verb} {name} by {:+.3}% per decision (t = {t:.2}{noise})",
                    m * 100.0
                )
            }
        }
    };
    s.push_str(&format!(
        "Returns: over {} decisions with known outcomes, rag earned {} per decision after fees, legacy {}, buy-and-hold {}. {}; {}.",
        both.len(),
        pct(mean(rag_ret.iter().copied())),
        pct(mean(leg_ret.iter().copied())),
        pct(mean(bh_ret.iter().copied())),
        compare("legacy", &leg_ret),
        compare("buy-and-hold", &bh_ret),
    ));
    if let (Some(rb), Some(lb)) = (rag_stats.brier_directional, legacy_stats.brier_directional) {
        let better = if rb < lb {
            "better than legacy's"
        } else {
            "not better than legacy's"
        };
        s.push_str(&format!(
            " Brier on BUY/SELL: rag {rb:.4}, {better} {lb:.4}."
        ));
    }
    if overlapping {
        s.push_str(" Outcomes overlap (step < horizon), so t is overstated.");
    }
    s
}

/// Walk-forward settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WalkForwardConfig {
    /// Neighbours per query.
    pub k: usize,
    pub recommend: RecommendConfig,
    pub calibration: CalibrationPolicy,
    /// The normaliser is refitted when the known history has grown by this fraction since
    /// the last fit (between refits the last fit, made on data known then, is used).
    pub refit_growth: f64,
}

impl Default for WalkForwardConfig {
    fn default() -> Self {
        WalkForwardConfig {
            k: 50,
            recommend: RecommendConfig::default(),
            calibration: CalibrationPolicy::default(),
            refit_growth: 0.05,
        }
    }
}

/// Skill judged from the BUY/SELL scores of rag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skill {
    /// Measurable (at least [`MIN_MEASURABLE`] BUY/SELL decisions) and the 95% interval of
    /// the skill score above 0.
    pub demonstrated: bool,
    pub summary: String,
}

impl Skill {
    pub fn from_scores(s: &Scores) -> Self {
        let demonstrated = shows_skill(s);
        let summary = if demonstrated {
            format!(
                "demonstrated skill: {} on {} BUY/SELL decisions",
                describe_skill(s),
                s.count
            )
        } else if s.count == 0 {
            "no demonstrated skill: no BUY/SELL decision with a known outcome".to_string()
        } else if !s.measurable {
            format!(
                "no demonstrated skill: {} BUY/SELL decisions, fewer than {MIN_MEASURABLE} to measure ({})",
                s.count,
                describe_skill(s)
            )
        } else {
            format!(
                "no demonstrated skill: {} on {} BUY/SELL decisions",
                describe_skill(s),
                s.count
            )
        };
        Skill {
            demonstrated,
            summary,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub symbol: Symbol,
    pub horizon: usize,
    pub step: usize,
    pub min_history: usize,
    /// Open time of the first and last decision candle.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub rag: MethodStats,
    pub legacy: MethodStats,
    pub buy_and_hold: BuyAndHoldStats,
    /// rag's skill, from its BUY/SELL scores.
    pub skill: Skill,
    pub verdict: String,
    /// The calibration fitted on every decision resolved by the last bar: what a signal
    /// decided after this evaluation uses.
    pub calibration_fit: Calibration,
    /// Open time of the last bar: everything above was known by its close.
    pub through: Option<i64>,
    pub rag_decisions: Vec<Decision>,
    pub legacy_decisions: Vec<Decision>,
}

/// One symbol's candles and indicator rows (same length, same open times).
pub struct SeriesInput<'a> {
    pub symbol: &'a Symbol,
    pub bars: &'a [Bar],
    pub ind: &'a [IndicatorRow],
}

/// Phase one of a decision: everything but the calibration.
struct RawDecision {
    time: i64,
    /// Open time of bar `t + horizon`: from then on the outcome is known.
    resolved_at: Option<i64>,
    est: RawEstimate,
    base: BaseRates,
    market: MarketContext,
    legacy: (Action, f64),
    fwd: Option<f64>,
}

/// Running sums for the base rates of the snapshots `0..=i`.
#[derive(Clone, Copy, Default)]
struct Sums {
    n: usize,
    up: usize,
    flat: usize,
    sum: f64,
    gain: f64,
    loss: f64,
}

impl Sums {
    fn add(&mut self, o: &Outcome, band: f64) {
        self.n += 1;
        self.up += usize::from(o.ret > 0.0);
        self.flat += usize::from(o.ret.abs() <= band);
        self.sum += o.ret;
        if o.ret > 0.0 {
            self.gain += o.ret;
        } else {
            self.loss -= o.ret;
        }
    }
    fn rates(&self) -> BaseRates {
        if self.n == 0 {
            return BaseRates::UNINFORMED;
        }
        let n = self.n as f64;
        BaseRates {
            p_up: self.up as f64 / n,
            p_flat: self.flat as f64 / n,
            mean_return: self.sum / n,
            mean_gain: if self.up > 0 {
                self.gain / self.up as f64
            } else {
                0.0
            },
            mean_loss: if self.n > self.up {
                self.loss / (self.n - self.up) as f64
            } else {
                0.0
            },
            count: self.n,
        }
    }
}

/// Phase one for one symbol: decision times and their raw estimates. At decision bar `t` the
/// knowledge is the snapshots `i` with `i + horizon <= t` (outcome known at the close of bar
/// `t`); the normaliser is the one fitted at the last refit point `<= t` on the snapshots
/// known there; the base rates count exactly the snapshots known at `t`.
fn raw_decisions(
    input: &SeriesInput<'_>,
    horizon: usize,
    step: usize,
    min_history: usize,
    cfg: &WalkForwardConfig,
) -> (Vec<RawDecision>, Option<usize>) {
    let bars = input.bars;
    let n = bars.len().min(input.ind.len());
    let bars = &bars[..n];
    let ind = &input.ind[..n];
    let rc = &cfg.recommend;
    let band = rc.band();
    let feats: Vec<Option<[f32; D]>> = (0..n).map(|i| features(bars, ind, i)).collect();
    // A snapshot's outcome is a function of bars i..=i+horizon: read only once i + horizon <= t.
    let outcomes: Vec<Option<Outcome>> = (0..n)
        .map(|i| {
            feats[i]
                .is_some()
                .then(|| forward_outcome(bars, i, horizon))
                .flatten()
        })
        .collect();
    // known[t] = snapshots known at t; sums[t] = their base-rate sums
    let mut known = vec![0usize; n];
    let mut sums = vec![Sums::default(); n];
    let mut acc = Sums::default();
    for t in 0..n {
        if t >= horizon
            && let Some(o) = &outcomes[t - horizon]
        {
            acc.add(o, band);
        }
        known[t] = acc.n;
        sums[t] = acc;
    }
    // first t with enough known snapshots: a function of bars <= t only
    let start = (0..n).find(|&t| known[t] >= min_history.max(1) && feats[t].is_some());
    let times: Vec<usize> = match start {
        Some(s) => (s..n)
            .step_by(step)
            .filter(|&t| feats[t].is_some())
            .collect(),
        None => Vec::new(),
    };
    // refit points: the first decision, then whenever the known history grew by refit_growth
    let mut segments: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut fitted_at = 0usize;
    for &t in &times {
        let grow = (fitted_at as f64 * (1.0 + cfg.refit_growth.max(0.0))).ceil() as usize;
        if segments.is_empty() || known[t] >= grow.max(fitted_at + 1) {
            fitted_at = known[t];
            segments.push((t, Vec::new()));
        }
        if let Some(last) = segments.last_mut() {
            last.1.push(t);
        }
    }
    let raws: Vec<RawDecision> = segments
        .par_iter()
        .flat_map_iter(|(fit_t, ts)| {
            // fitted on the snapshots known at the refit point
            let train: Vec<[f32; D]> = (0..=fit_t - horizon)
                .filter(|&i| outcomes[i].is_some())
                .filter_map(|i| feats[i])
                .collect();
            let norm = Normalizer::fit(&train);
            // every snapshot that will be known by the segment's last decision
            let last_t = *ts.last().expect("segments are not empty");
            let mut index = KnnIndex::with_capacity(D, last_t + 1 - horizon);
            for i in 0..=last_t - horizon {
                if let (Some(f), Some(o)) = (&feats[i], &outcomes[i]) {
                    index.push(
                        &norm.apply(f),
                        SnapshotMeta {
                            symbol: 0,
                            open_time: bars[i].open_time,
                            known_at: i as i64 + horizon as i64,
                            outcome: *o,
                        },
                    );
                }
            }
            let norm = &norm;
            let index = index;
            ts.iter()
                .map(|&t| {
                    let q = norm.apply(&feats[t].expect("decision times have features"));
                    let found = index.query(&q, cfg.k, |m| m.known_at <= t as i64, Some(0));
                    let neighbours: Vec<NeighbourOutcome> = found
                        .iter()
                        .map(|nb| NeighbourOutcome {
                            dist: nb.dist as f64,
                            outcome: index.meta(nb.row).outcome,
                        })
                        .collect();
                    let base = sums[t].rates();
                    let leg = legacy_signal(bars[t].close, &ind[t]);
                    RawDecision {
                        time: bars[t].open_time,
                        resolved_at: bars.get(t + horizon).map(|b| b.open_time),
                        est: estimate(&neighbours, &base, rc),
                        base,
                        market: MarketContext {
                            price: bars[t].close,
                            atr: ind[t].atr14.unwrap_or(0.0),
                            horizon,
                        },
                        legacy: (leg.action, leg.confidence),
                        fwd: forward_outcome(bars, t, horizon).map(|o| o.ret),
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    (raws, times.first().copied())
}

/// Resolved `(score, happened)` pairs of the two calibrated events, and `(raw, realised)`
/// pairs of the two magnitudes.
#[derive(Default, Clone)]
struct History {
    up: Vec<(f64, bool)>,
    flat: Vec<(f64, bool)>,
    gain: Vec<(f64, f64)>,
    loss: Vec<(f64, f64)>,
    /// `(neighbour expected return as decided, realised return)`.
    edge: Vec<(f64, f64)>,
    fit_up: Option<BetaFit>,
    fit_flat: Option<BetaFit>,
}

/// Walk forward over several symbols at once (their calibrations may pool each other's
/// resolved decisions). Phase one decides every symbol's raw estimates in parallel; phase two
/// walks all decisions in time order, calibrating each on the decisions resolved by its time
/// (its own symbol's when there are enough, else everyone's, else the base rate).
pub fn walk_forward_many(
    inputs: &[SeriesInput<'_>],
    horizon: usize,
    step: usize,
    min_history: usize,
    cfg: &WalkForwardConfig,
) -> Vec<Evaluation> {
    let horizon = horizon.max(1);
    let step = step.max(1);
    let rc = &cfg.recommend;
    let band = rc.band();
    let phase1: Vec<(Vec<RawDecision>, Option<usize>)> = inputs
        .par_iter()
        .map(|s| raw_decisions(s, horizon, step, min_history, cfg))
        .collect();

    // phase two: time order over every symbol
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    let mut resolve: Vec<(i64, usize, usize)> = Vec::new();
    for (s, (raws, _)) in phase1.iter().enumerate() {
        for (j, r) in raws.iter().enumerate() {
            order.push((r.time, s, j));
            if let (Some(at), Some(_)) = (r.resolved_at, r.fwd) {
                resolve.push((at, s, j));
            }
        }
    }
    order.sort_unstable();
    resolve.sort_unstable();
    let mut own: Vec<History> = inputs.iter().map(|_| History::default()).collect();
    let mut pooled = History::default();
    let mut next = 0usize;
    let mut decided: Vec<Vec<Option<(Decision, Decision)>>> =
        phase1.iter().map(|(r, _)| vec![None; r.len()]).collect();
    let pol = &cfg.calibration;
    let mut neighbour_e: Vec<Vec<f64>> = phase1.iter().map(|(r, _)| vec![0.0; r.len()]).collect();
    let push = |h: &mut History, r: &RawDecision, decided_e: f64| {
        let ret = r.fwd.unwrap_or(0.0);
        h.edge.push((decided_e, ret));
        h.up.push((r.est.p, ret > 0.0));
        h.flat.push((r.est.p_flat, ret.abs() <= band));
        if ret > 0.0 {
            h.gain.push((r.est.gain, ret));
        } else {
            h.loss.push((r.est.loss, -ret));
        }
    };
    let calibrate = |own: &mut History, pooled: &mut History, base: &BaseRates| -> Calibration {
        let source = pol.source(own.up.len(), pooled.up.len());
        let use_own = source == CalibrationSource::Symbol;
        let start_up = if use_own { own.fit_up } else { pooled.fit_up };
        let start_flat = if use_own {
            own.fit_flat
        } else {
            pooled.fit_flat
        };
        let up = pol.choose(&own.up, &pooled.up, base.p_up, start_up);
        let flat = pol.choose(&own.flat, &pooled.flat, base.p_flat, start_flat);
        let gain = pol.magnitude(source, &own.gain, &pooled.gain, base.mean_gain);
        let loss = pol.magnitude(source, &own.loss, &pooled.loss, base.mean_loss);
        let edge = pol.magnitude(source, &own.edge, &pooled.edge, base.mean_return);
        let slot = if use_own { own } else { pooled };
        if up.fit.is_some() {
            slot.fit_up = up.fit;
            slot.fit_flat = flat.fit;
        }
        Calibration {
            up,
            flat,
            gain,
            loss,
            edge,
        }
    };
    for &(time, s, j) in &order {
        while next < resolve.len() && resolve[next].0 <= time {
            let (_, rs, rj) = resolve[next];
            let r = &phase1[rs].0[rj];
            let e = neighbour_e[rs][rj];
            push(&mut own[rs], r, e);
            push(&mut pooled, r, e);
            next += 1;
        }
        let r = &phase1[s].0[j];
        let cal = calibrate(&mut own[s], &mut pooled, &r.base);
        let rec = finish(&r.est, &cal, &r.base, &r.market, 0, rc);
        // a decision resolves after it is made: its expected return is known by then
        neighbour_e[s][j] = rec.neighbour_expected_return;
        decided[s][j] = Some((
            Decision {
                time: r.time,
                action: rec.action,
                confidence: rec.confidence,
                probability_up: Some(rec.probability_up),
                base_rate: action_base_rate(rec.action, &r.base),
                forward_return: r.fwd,
            },
            Decision {
                time: r.time,
                action: r.legacy.0,
                confidence: r.legacy.1,
                probability_up: None,
                base_rate: action_base_rate(r.legacy.0, &r.base),
                forward_return: r.fwd,
            },
        ));
    }
    // whatever resolves after the last decision, by each series' end
    while next < resolve.len() {
        let (_, rs, rj) = resolve[next];
        let r = &phase1[rs].0[rj];
        let e = neighbour_e[rs][rj];
        push(&mut own[rs], r, e);
        push(&mut pooled, r, e);
        next += 1;
    }

    inputs
        .iter()
        .zip(phase1.iter().zip(decided))
        .enumerate()
        .map(|(s, (input, ((raws, first), dec)))| {
            let (rag, legacy): (Vec<Decision>, Vec<Decision>) = dec.into_iter().flatten().unzip();
            let n = input.bars.len().min(input.ind.len());
            let rag_stats = compute_stats(&rag, band, rc.fee_rate);
            let legacy_stats = compute_stats(&legacy, band, rc.fee_rate);
            let total = first.map(|s0| input.bars[n - 1].close / input.bars[s0].close - 1.0);
            let verdict = verdict(
                &rag,
                &legacy,
                &rag_stats,
                &legacy_stats,
                step < horizon,
                rc.fee_rate,
            );
            // the calibration a later signal uses: everything resolved by the last bar
            let base_end = raws.last().map_or(BaseRates::UNINFORMED, |r| r.base);
            let mut mine = std::mem::take(&mut own[s]);
            let mut all = pooled.clone();
            let calibration_fit = calibrate(&mut mine, &mut all, &base_end);
            Evaluation {
                symbol: input.symbol.clone(),
                horizon,
                step,
                min_history,
                from: rag.first().map(|d| d.time),
                to: rag.last().map(|d| d.time),
                buy_and_hold: buy_and_hold(&rag, total),
                skill: Skill::from_scores(&rag_stats.directional),
                rag: rag_stats,
                legacy: legacy_stats,
                verdict,
                calibration_fit,
                through: n.checked_sub(1).map(|i| input.bars[i].open_time),
                rag_decisions: rag,
                legacy_decisions: legacy,
            }
        })
        .collect()
}

/// Walk forward over one symbol's `bars` and indicator rows `ind` (same length, same open
/// times). Decisions are taken every `step` bars from the first bar at which at least
/// `min_history` snapshots have a known outcome. Nothing at or after `t + 1` is read to
/// decide at `t` (the knowledge, the normaliser, the base rates and the calibration all come
/// from outcomes known by the close of bar `t`); forward returns are attached for scoring.
pub fn walk_forward(
    bars: &[Bar],
    ind: &[IndicatorRow],
    symbol: &Symbol,
    horizon: usize,
    step: usize,
    min_history: usize,
    cfg: &WalkForwardConfig,
) -> Evaluation {
    walk_forward_many(
        &[SeriesInput { symbol, bars, ind }],
        horizon,
        step,
        min_history,
        cfg,
    )
    .pop()
    .expect("one input, one evaluation")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::intelligence::testkit;

    fn d(action: Action, confidence: f64, ret: Option<f64>) -> Decision {
        Decision {
            time: 0,
            action,
            confidence,
            probability_up: None,
            base_rate: 0.5,
            forward_return: ret,
        }
    }

    #[test]
    fn brier_and_calibration_on_a_hand_made_list() {
        let band = 0.003;
        let list = vec![
            d(Action::Buy, 0.8, Some(0.02)),   // right
            d(Action::Buy, 0.8, Some(-0.01)),  // wrong
            d(Action::Sell, 0.6, Some(-0.01)), // right
            d(Action::Hold, 0.3, Some(0.001)), // right (flat)
            d(Action::Hold, 0.3, Some(0.05)),  // wrong
            d(Action::Buy, 0.9, None),         // not yet known
        ];
        let s = compute_stats(&list, band, 0.001);
        assert_eq!(
            (s.decisions, s.evaluated, s.buys, s.sells, s.holds),
            (6, 5, 3, 1, 2)
        );
        // (0.2² + 0.8² + 0.4² + 0.7² + 0.3²) / 5 = (0.04+0.64+0.16+0.49+0.09)/5 = 0.284
        assert!((s.brier.unwrap() - 0.284).abs() < 1e-12);
        // BUY/SELL only: (0.04 + 0.64 + 0.16) / 3
        assert!((s.brier_directional.unwrap() - 0.28).abs() < 1e-12);
        assert!((s.hit_rate.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.accuracy.unwrap() - 0.6).abs() < 1e-12);
        assert!((s.avg_return_buy.unwrap() - 0.005).abs() < 1e-12);
        assert!((s.avg_return_sell.unwrap() + 0.01).abs() < 1e-12);
        assert!((s.avg_return_all.unwrap() - 0.051 / 5.0).abs() < 1e-12);
        // decision returns: 0.018, −0.012, 0.008, 0, 0 → 0.014 / 5
        assert!((s.mean_decision_return.unwrap() - 0.0028).abs() < 1e-12);
        let cal: Vec<(f64, usize, f64)> = s
            .calibration
            .iter()
            .map(|b| (b.lo, b.count, b.observed_frequency))
            .collect();
        assert_eq!(cal, vec![(0.3, 2, 0.5), (0.6, 1, 1.0), (0.8, 2, 0.5)]);
        assert!((s.calibration[2].mean_confidence - 0.8).abs() < 1e-12);
        // edges: 1.0 goes in the last bucket, empty list has no scores
        assert_eq!(calibration(&[(1.0, true)])[0].lo, 0.9);
        let e = compute_stats(&[], band, 0.001);
        assert_eq!((e.brier, e.hit_rate), (None, None));
        assert!(e.calibration.is_empty());
    }

    #[test]
    fn verdict_says_when_rag_loses() {
        let rag: Vec<_> = (0..10)
            .map(|i| {
                d(
                    Action::Buy,
                    0.6,
                    Some(if i % 2 == 0 { -0.02 } else { 0.01 }),
                )
            })
            .collect();
        let leg: Vec<_> = rag
            .iter()
            .map(|x| d(Action::Hold, 0.5, x.forward_return))
            .collect();
        let rs = compute_stats(&rag, 0.003, 0.001);
        let ls = compute_stats(&leg, 0.003, 0.001);
        let v = verdict(&rag, &leg, &rs, &ls, false, 0.001);
        assert!(v.contains("rag did NOT beat legacy"), "{v}");
        assert!(v.contains("over 10 decisions"), "{v}");
        assert!(v.starts_with("Skill against the base rate: "), "{v}");
        // "better" names what it is better than
        assert!(
            !v.contains("better") || v.contains("better than legacy's"),
            "{v}"
        );
        let none = verdict(
            &[d(Action::Buy, 0.6, None)],
            &[d(Action::Hold, 0.5, None)],
            &rs,
            &ls,
            false,
            0.001,
        );
        assert!(none.contains("nothing can be judged"));
    }

    /// 900 hourly bars with some persistence so retrieval has something to find.
    fn data(seed: u64) -> (Vec<Bar>, Vec<IndicatorRow>) {
        let bars = testkit::random_walk(900, seed, 100.0);
        let ind = testkit::indicators(&bars);
        (bars, ind)
    }

    fn run(bars: &[Bar], ind: &[IndicatorRow]) -> Evaluation {
        walk_forward(
            bars,
            ind,
            &Symbol("BTCUSDT".into()),
            4,
            3,
            150,
            &WalkForwardConfig::default(),
        )
    }

    #[test]
    fn walk_forward_has_no_look_ahead() {
        let (bars, ind) = data(21);
        let before = run(&bars, &ind);
        assert!(before.rag_decisions.len() > 100);
        // cut right after a decision bar: T is a decision time, bars from T+1 on change
        let cut_time = before.rag_decisions[before.rag_decisions.len() / 2].time;
        let cut = bars.iter().position(|b| b.open_time == cut_time).unwrap();
        let mut changed = bars.clone();
        let mut rng = testkit::Rng(99);
        for b in &mut changed[cut + 1..] {
            let f = (0.05 * rng.normal()).exp();
            b.open *= f;
            b.high *= f * 1.01;
            b.low *= f * 0.99;
            b.close *= f;
            b.volume *= 3.0;
        }
        let changed_ind = testkit::indicators(&changed);
        let after = run(&changed, &changed_ind);

        let key = |d: &Decision| {
            (
                d.time,
                d.action,
                d.confidence.to_bits(),
                d.probability_up.map(f64::to_bits),
            )
        };
        let past = |e: &Evaluation, rag: bool| -> Vec<_> {
            let ds = if rag {
                &e.rag_decisions
            } else {
                &e.legacy_decisions
            };
            ds.iter().filter(|d| d.time <= cut_time).map(key).collect()
        };
        assert!(past(&before, true).len() > 50);
        assert_eq!(past(&before, true), past(&after, true));
        assert_eq!(past(&before, false), past(&after, false));
        // the change did matter: later decisions and the outcomes of recent ones moved
        let later = |e: &Evaluation| -> Vec<_> {
            e.rag_decisions
                .iter()
                .filter(|d| d.time > cut_time)
                .map(key)
                .collect()
        };
        assert_ne!(later(&before), later(&after));
        let last_known = before
            .rag_decisions
            .iter()
            .rfind(|d| d.time <= cut_time)
            .unwrap();
        let last_after = after
            .rag_decisions
            .iter()
            .rfind(|d| d.time <= cut_time)
            .unwrap();
        assert_ne!(last_known.forward_return, last_after.forward_return);
    }

    #[test]
    fn walk_forward_is_deterministic_and_reports() {
        let (bars, ind) = data(5);
        let a = run(&bars, &ind);
        let b = run(&bars, &ind);
        assert_eq!(a, b);
        assert_eq!(a.rag_decisions.len(), a.legacy_decisions.len());
        assert!(a.rag.evaluated > 0 && a.rag.brier.is_some());
        assert!(
            a.verdict.starts_with("Skill against the base rate: "),
            "{}",
            a.verdict
        );
        // every decision's base rate is a past share, and the skill follows the scores
        assert!(
            a.rag_decisions
                .iter()
                .all(|d| (0.0..=1.0).contains(&d.base_rate))
        );
        assert_eq!(a.skill, Skill::from_scores(&a.rag.directional));
        assert!(a.rag.all.base_rate_brier.is_some() && a.rag.all.ece.is_some());
        assert_eq!(a.rag.all.count, a.rag.evaluated);
        assert_eq!(a.through, Some(bars[bars.len() - 1].open_time));
        assert!(a.verdict.contains("legacy") && a.verdict.contains("buy-and-hold"));
        assert!(a.verdict.contains("overlap"), "step 3 < horizon 4");
        // the first decision respects min_history: 150 known snapshots, 199 bars of warm-up
        let first = bars
            .iter()
            .position(|x| Some(x.open_time) == a.from)
            .unwrap();
        assert!(first >= 199 + 150 + 4 - 1, "first decision at {first}");
        let json = serde_json::to_value(&a).unwrap();
        assert!(json["rag"]["calibration"].is_array());
        assert!(json["rag"]["directional"]["quintiles"].is_array());
        assert!(json["calibration_fit"]["up"]["source"].is_string());
    }

    #[test]
    fn too_little_history_means_no_decisions() {
        let (bars, ind) = data(6);
        let e = walk_forward(
            &bars[..300],
            &ind[..300],
            &Symbol("X".into()),
            4,
            1,
            500,
            &WalkForwardConfig::default(),
        );
        assert!(e.rag_decisions.is_empty());
        assert!(e.verdict.contains("nothing can be judged"));
    }

    #[test]
    fn scores_against_the_base_rate_by_hand() {
        // 4 decisions: confidences 0.9, 0.9, 0.6, 0.2; base rates 0.5; right: y, y, n, n
        let t = vec![
            (0.9, 0.5, true),
            (0.9, 0.5, true),
            (0.6, 0.5, false),
            (0.2, 0.5, false),
        ];
        let s = scores(&t);
        // Brier (0.01 + 0.01 + 0.36 + 0.04) / 4 = 0.105; base 0.25; BSS = 1 − 0.105/0.25 = 0.58
        assert!((s.brier.unwrap() - 0.105).abs() < 1e-12);
        assert!((s.base_rate_brier.unwrap() - 0.25).abs() < 1e-12);
        assert!((s.brier_skill_score.unwrap() - 0.58).abs() < 1e-12);
        let (lo, hi) = (
            s.brier_skill_score_low.unwrap(),
            s.brier_skill_score_high.unwrap(),
        );
        assert!(lo <= 0.58 && 0.58 <= hi, "{lo} {hi}");
        // ECE: bins 0.9 (2, freq 1: |0.9−1|), 0.6 (1, |0.6−0|), 0.2 (1, |0.2−0|) → (0.2+0.6+0.2)/4
        assert!((s.ece.unwrap() - 0.25).abs() < 1e-12);
        assert!(!s.measurable);
        // quintiles of 4 decisions: four groups of one, sorted by confidence
        let q: Vec<(usize, f64)> = s.quintiles.iter().map(|q| (q.count, q.hit_rate)).collect();
        assert_eq!(q, vec![(1, 0.0), (1, 0.0), (1, 1.0), (1, 1.0)]);
        // the interval is seeded: same input, same interval
        assert_eq!(scores(&t), s);
        assert_eq!(scores(&[]).brier_skill_score, None);
    }

    #[test]
    fn a_forecast_no_better_than_the_base_rate_has_no_evidence_of_skill() {
        let mut rng = testkit::Rng(11);
        // 1000 coin flips forecast at 0.5 ± noise, base rate 0.5: skill ≈ 0, interval holds 0
        let t: Vec<(f64, f64, bool)> = (0..1000)
            .map(|_| {
                let c = 0.5 + 0.02 * rng.normal();
                (c, 0.5, rng.next_u64().is_multiple_of(2))
            })
            .collect();
        let s = scores(&t);
        assert!(s.measurable);
        assert!(s.brier_skill_score_low.unwrap() < 0.0 && s.brier_skill_score_high.unwrap() > 0.0);
        assert!(!shows_skill(&s));
        let sk = Skill::from_scores(&s);
        assert!(
            !sk.demonstrated && sk.summary.starts_with("no demonstrated skill"),
            "{}",
            sk.summary
        );
        assert!(skill_sentence("rag", "BUY/SELL", &s).contains("no evidence of skill"));
        // a forecast that knows the outcome: skill, the interval above 0
        let good: Vec<(f64, f64, bool)> = t
            .iter()
            .map(|(_, b, y)| (if *y { 0.8 } else { 0.2 }, *b, *y))
            .collect();
        let g = scores(&good);
        assert!(shows_skill(&g) && Skill::from_scores(&g).demonstrated);
        // too few BUY/SELL: calibration cannot be measured
        let few = scores(&good[..50]);
        assert!(!few.measurable && !shows_skill(&few));
        assert!(skill_sentence("rag", "BUY/SELL", &few).contains("cannot be measured"));
    }

    #[test]
    fn the_calibration_of_a_decision_uses_only_decisions_resolved_by_then() {
        let (bars, ind) = data(21);
        let cfg = WalkForwardConfig {
            calibration: CalibrationPolicy {
                min_symbol: 30,
                min_pooled: 10,
            },
            ..Default::default()
        };
        let sym = Symbol("BTCUSDT".into());
        let run = |b: &[Bar], i: &[IndicatorRow]| walk_forward(b, i, &sym, 4, 3, 150, &cfg);
        let before = run(&bars, &ind);
        // the first decisions have no resolved history: their probabilities are base rates
        let first = &before.rag_decisions[0];
        let p_first = first.probability_up.unwrap();
        assert!((0.0..=1.0).contains(&p_first));
        assert_eq!(
            before.calibration_fit.up.source,
            super::super::calibrate::CalibrationSource::Symbol
        );
        assert!(before.calibration_fit.up.resolved() >= before.rag.evaluated - 2);
        // change only the outcome of the last decisions: every earlier calibrated
        // confidence stays, since their calibration could not see those outcomes
        let cut_time = before.rag_decisions[before.rag_decisions.len() - 10].time;
        let cut = bars.iter().position(|b| b.open_time == cut_time).unwrap();
        let mut changed = bars.clone();
        for b in &mut changed[cut + 1..] {
            b.close *= 1.5;
            b.high *= 1.5;
            b.low *= 1.5;
            b.open *= 1.5;
        }
        let ci = testkit::indicators(&changed);
        let after = run(&changed, &ci);
        let key = |d: &Decision| {
            (
                d.time,
                d.action,
                d.confidence.to_bits(),
                d.probability_up.map(f64::to_bits),
            )
        };
        let upto = |e: &Evaluation| -> Vec<_> {
            e.rag_decisions
                .iter()
                .filter(|d| d.time <= cut_time)
                .map(key)
                .collect()
        };
        assert_eq!(upto(&before), upto(&after));
        // while the final calibration (which saw them) moved
        assert_ne!(before.calibration_fit, after.calibration_fit);
    }

    #[test]
    fn a_symbol_with_too_little_history_pools_with_the_others() {
        let (a, ia) = data(31);
        let (b, ib) = data(32);
        let (sa, sb) = (Symbol("AAA".into()), Symbol("BBB".into()));
        let cfg = WalkForwardConfig {
            calibration: CalibrationPolicy {
                min_symbol: 100,
                min_pooled: 20,
            },
            ..Default::default()
        };
        // BBB has only its last 450 bars: few resolved decisions of its own
        let off = b.len() - 450;
        let evs = walk_forward_many(
            &[
                SeriesInput {
                    symbol: &sa,
                    bars: &a,
                    ind: &ia,
                },
                SeriesInput {
                    symbol: &sb,
                    bars: &b[off..],
                    ind: &ib[off..],
                },
            ],
            4,
            4,
            150,
            &cfg,
        );
        use super::super::calibrate::CalibrationSource;
        assert_eq!(evs[0].calibration_fit.up.source, CalibrationSource::Symbol);
        assert!(evs[1].rag.evaluated < 100, "{}", evs[1].rag.evaluated);
        assert_eq!(evs[1].calibration_fit.up.source, CalibrationSource::Pooled);
        assert!(evs[1].calibration_fit.up.resolved() > evs[1].rag.evaluated);
        // alone, BBB falls back further: to the base rate below min_pooled, or its own pool
        let alone = walk_forward(&b[off..], &ib[off..], &sb, 4, 4, 150, &cfg);
        assert_ne!(alone.calibration_fit.up.source, CalibrationSource::Symbol);
        assert!(alone.calibration_fit.up.resolved() < evs[1].calibration_fit.up.resolved());
    }
}
