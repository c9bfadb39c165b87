//! Parameter grid search (parallel, rayon) with an optional walk-forward split.
//!
//! The grid is enumerated in a fixed order: parameters in the strategy's declaration
//! order, the first outermost, values ascending; combinations the strategy rejects (e.g.
//! `fast >= slow`) are skipped. Every indicator series the grid needs is computed once
//! (an SMA of a given period is shared by all combinations using it). The best run has
//! the highest score of the objective; a `None` score (undefined metric) never wins; ties
//! go to the first combination in grid order.
//!
//! With `train_ratio = r`, the first `floor(n * r)` bars are the in-sample (training)
//! part where the grid is searched. The winner is then run on the out-of-sample part
//! `bars[split..]`, given `warmup_bars()` bars before the split as indicator history
//! only: no signal from before the split is acted on, and equity, trades and metrics
//! cover only bars from the split on.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::BacktestError;
use super::engine::{
    BacktestConfig, BacktestResult, Scratch, run_backtest_window, run_prepared, validate_bars,
};
use super::metrics::Metrics;
use super::strategy::{IndicatorCache, ParamRange, StrategyError, StrategyKind, StrategySpec};
use crate::core::market::{Bar, Timeframe};

/// The metric a grid search maximises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    #[default]
    Sharpe,
    Sortino,
    TotalReturn,
    Cagr,
    Calmar,
    ProfitFactor,
    WinRate,
    /// Smallest max drawdown wins.
    MaxDrawdown,
}

impl Objective {
    pub const ALL: [Objective; 8] = [
        Objective::Sharpe,
        Objective::Sortino,
        Objective::TotalReturn,
        Objective::Cagr,
        Objective::Calmar,
        Objective::ProfitFactor,
        Objective::WinRate,
        Objective::MaxDrawdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Sharpe => "sharpe",
            Objective::Sortino => "sortino",
            Objective::TotalReturn => "total_return",
            Objective::Cagr => "cagr",
            Objective::Calmar => "calmar",
            Objective::ProfitFactor => "profit_factor",
            Objective::WinRate => "win_rate",
            Objective::MaxDrawdown => "max_drawdown",
        }
    }

    /// Higher is better; `None` when the metric is undefined for the run.
    pub fn score(self, m: &Metrics) -> Option<f64> {
        match self {
            Objective::Sharpe => m.sharpe,
            Objective::Sortino => m.sortino,
            Objective::TotalReturn => Some(m.total_return_pct),
            Objective::Cagr => m.cagr_pct,
            Objective::Calmar => m.calmar,
            Objective::ProfitFactor => m.profit_factor,
            Objective::WinRate => m.win_rate_pct,
            Objective::MaxDrawdown => Some(-m.max_drawdown_pct),
        }
        .filter(|v| !v.is_nan())
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Objective {
    type Err = BacktestError;
    /// The names above; `return` is accepted for `total_return`.
    fn from_str(s: &str) -> Result<Self, BacktestError> {
        let t = s.trim().replace('-', "_").to_ascii_lowercase();
        if t == "return" {
            return Ok(Objective::TotalReturn);
        }
        Objective::ALL
            .into_iter()
            .find(|o| o.as_str() == t)
            .ok_or_else(|| BacktestError::UnknownObjective(s.to_string()))
    }
}

/// Ranges of a grid, one per declared parameter of `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub kind: StrategyKind,
    pub ranges: BTreeMap<String, ParamRange>,
}

impl Grid {
    /// The strategy's declared default grid.
    pub fn default_for(kind: StrategyKind) -> Self {
        Grid {
            kind,
            ranges: kind
                .params()
                .iter()
                .map(|p| (p.name.to_string(), p.grid))
                .collect(),
        }
    }

    /// The default grid with overrides such as `fast=5:50:5,slow=20:200:20` (a single
    /// value fixes a parameter).
    pub fn parse(kind: StrategyKind, s: &str) -> Result<Self, StrategyError> {
        let mut g = Grid::default_for(kind);
        for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| StrategyError::Syntax(item.into()))?;
            let slot = g
                .ranges
                .get_mut(k.trim())
                .ok_or_else(|| StrategyError::UnknownParam {
                    kind,
                    name: k.trim().into(),
                    expected: kind
                        .params()
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            *slot = v.parse().map_err(|e| match e {
                StrategyError::InvalidValue { value, reason, .. } => StrategyError::InvalidValue {
                    name: k.trim().into(),
                    value,
                    reason,
                },
                other => other,
            })?;
            let def = kind
                .params()
                .iter()
                .find(|p| p.name == k.trim())
                .copied()
                .ok_or_else(|| StrategyError::Syntax(item.into()))?;
            check_range(&def, slot, v.trim())?;
        }
        Ok(g)
    }

    /// Whether some combination of the grid is a valid strategy (`fast < slow`, ...). The
    /// strategies' rules only compare an earlier parameter with a later one, so if any
    /// combination is valid, one of the corners (each range at its start or its end) is:
    /// at most 2^3 specs are tried, whatever the grid's size.
    pub fn check(&self, base: &StrategySpec) -> Result<(), StrategyError> {
        let defs = self.kind.params();
        let ends: Vec<(f64, f64)> = defs
            .iter()
            .map(|d| {
                let r = self
                    .ranges
                    .get(d.name)
                    .copied()
                    .unwrap_or(ParamRange::fixed(d.default));
                let last = r.start + (r.len().saturating_sub(1)) as f64 * r.step;
                (r.start, ((last * 1e9).round() / 1e9).min(r.end))
            })
            .collect();
        let mut base = base.clone();
        base.kind = self.kind;
        let mut first_err = None;
        for mask in 0..(1u32 << defs.len()) {
            let params: BTreeMap<String, f64> = defs
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let (lo, hi) = ends[i];
                    (
                        d.name.to_string(),
                        if mask & (1 << i) == 0 { lo } else { hi },
                    )
                })
                .collect();
            match base.with_params(&params) {
                Ok(_) => return Ok(()),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(StrategyError::Invalid {
            kind: self.kind,
            reason: format!(
                "no combination of the grid is valid ({})",
                first_err.map(|e| e.to_string()).unwrap_or_default()
            ),
        })
    }

    /// Valid specs of the grid in the fixed order, with `base`'s options.
    pub fn combinations(&self, base: &StrategySpec) -> Vec<StrategySpec> {
        let defs = self.kind.params();
        let axes: Vec<Vec<f64>> = defs
            .iter()
            .map(|d| {
                self.ranges
                    .get(d.name)
                    .map_or_else(|| vec![d.default], ParamRange::values)
            })
            .collect();
        let mut out = Vec::new();
        let mut idx = vec![0usize; axes.len()];
        if axes.iter().any(Vec::is_empty) {
            return out;
        }
        let mut base = base.clone();
        base.kind = self.kind;
        loop {
            let params: BTreeMap<String, f64> = defs
                .iter()
                .zip(&idx)
                .zip(&axes)
                .map(|((d, &i), a)| (d.name.to_string(), a[i]))
                .collect();
            if let Ok(s) = base.with_params(&params) {
                out.push(s);
            }
            // odometer: last parameter fastest
            let mut k = axes.len();
            loop {
                if k == 0 {
                    return out;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < axes[k].len() {
                    break;
                }
                idx[k] = 0;
            }
        }
    }
}

/// A grid range must stay within the parameter's declared bounds (and be whole numbers for
/// periods), so no value of it is silently skipped.
fn check_range(
    def: &super::strategy::ParamDef,
    r: &ParamRange,
    text: &str,
) -> Result<(), StrategyError> {
    let bad = |reason: String| StrategyError::InvalidValue {
        name: def.name.into(),
        value: text.to_string(),
        reason,
    };
    if r.start < def.min || r.end > def.max {
        return Err(bad(format!(
            "every value must be between {} and {}",
            def.min, def.max
        )));
    }
    if def.integer && (r.start.fract() != 0.0 || r.step.fract() != 0.0) {
        return Err(bad("start and step must be whole numbers (a period)".into()));
    }
    Ok(())
}

/// What to optimise and how to split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimizeConfig {
    pub objective: Objective,
    /// Share of bars (in (0, 1)) to tune on; `None` tunes on all bars with no
    /// out-of-sample check.
    pub train_ratio: Option<f64>,
}

impl Default for OptimizeConfig {
    fn default() -> Self {
        OptimizeConfig {
            objective: Objective::Sharpe,
            train_ratio: Some(0.7),
        }
    }
}

/// One grid combination's in-sample figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridRun {
    pub params: BTreeMap<String, f64>,
    pub score: Option<f64>,
    pub metrics: Metrics,
}

/// Where the data was split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Split {
    /// Bars tuned on: `bars[..train_bars]`.
    pub train_bars: usize,
    /// Out-of-sample bars: `bars[train_bars..]`.
    pub test_bars: usize,
    /// Bars before the split given to the out-of-sample run as indicator history.
    pub warmup_bars: usize,
    /// Open time of the first out-of-sample bar.
    pub split_time: i64,
}

/// The winning combination, re-run in full.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BestRun {
    /// Index of the winner in [`OptimizeReport::runs`].
    pub index: usize,
    pub spec: StrategySpec,
    pub in_sample: BacktestResult,
    /// On `bars[split - warmup..]` with `start_index = warmup`; present when split.
    pub out_of_sample: Option<BacktestResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptimizeReport {
    pub objective: Objective,
    pub split: Option<Split>,
    /// Every valid combination, in grid order, with its in-sample metrics.
    pub runs: Vec<GridRun>,
    /// `None` when no combination has a defined score.
    pub best: Option<BestRun>,
}

/// Evaluate every combination of `grid` (with `base`'s options) in parallel, pick the best
/// by `opt.objective` on the training part, and report it out of sample when split.
pub fn optimize(
    bars: &[Bar],
    tf: Timeframe,
    base: &StrategySpec,
    grid: &Grid,
    cfg: &BacktestConfig,
    opt: &OptimizeConfig,
) -> Result<OptimizeReport, BacktestError> {
    cfg.validate()?;
    validate_bars(bars)?;
    let n = bars.len();
    let train = match opt.train_ratio {
        None => n,
        Some(r) if r > 0.0 && r < 1.0 => (n as f64 * r).floor() as usize,
        Some(r) => return Err(BacktestError::TrainRatio(r)),
    };
    if train < 2 || (train < n && n - train < 2) {
        return Err(BacktestError::NotEnoughBars { needed: 4, got: n });
    }
    let combos = grid.combinations(base);
    if combos.is_empty() {
        return Err(BacktestError::EmptyGrid);
    }
    let train_bars = &bars[..train];
    let typed: Vec<_> = combos
        .iter()
        .map(|s| s.typed().expect("grid keeps only valid specs"))
        .collect();
    let cache = IndicatorCache::build(
        train_bars,
        combos
            .iter()
            .zip(&typed)
            .flat_map(|(s, p)| s.indicator_keys(p)),
    );
    let runs: Vec<GridRun> = combos
        .par_iter()
        .zip(typed.par_iter())
        .map_init(Scratch::default, |scratch, (spec, p)| {
            let metrics = run_prepared(train_bars, 0, tf, spec, p, cfg, &cache, scratch);
            GridRun {
                params: spec.params.clone(),
                score: opt.objective.score(&metrics),
                metrics,
            }
        })
        .collect();
    drop(cache);

    let mut best: Option<(usize, f64)> = None;
    for (i, r) in runs.iter().enumerate() {
        if let Some(s) = r.score
            && best.is_none_or(|(_, b)| s > b)
        {
            best = Some((i, s));
        }
    }
    let split = (train < n).then(|| {
        let spec_warmup = best.map_or(0, |(i, _)| combos[i].warmup_bars());
        Split {
            train_bars: train,
            test_bars: n - train,
            warmup_bars: spec_warmup.min(train),
            split_time: bars[train].open_time,
        }
    });
    let best = match best {
        None => None,
        Some((i, _)) => {
            let spec = combos[i].clone();
            let in_sample = run_backtest_window(train_bars, 0, tf, &spec, cfg)?;
            let out_of_sample = match split {
                Some(sp) => Some(run_backtest_window(
                    &bars[train - sp.warmup_bars..],
                    sp.warmup_bars,
                    tf,
                    &spec,
                    cfg,
                )?),
                None => None,
            };
            Some(BestRun {
                index: i,
                spec,
                in_sample,
                out_of_sample,
            })
        }
    };
    Ok(OptimizeReport {
        objective: opt.objective,
        split,
        runs,
        best,
    })
}
