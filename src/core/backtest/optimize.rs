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
//!
//! # Several symbols, one parameter set
//!
//! [`optimize_symbols`] searches one grid over several symbols at once (each split at its
//! own `floor(n * r)`): a combination's score is the **mean of its in-sample scores over
//! the symbols**, undefined when any symbol's score is undefined; the highest defined mean
//! wins, ties to the first combination in grid order. With one symbol this is exactly the
//! single-symbol search ([`optimize`]).
//!
//! # Bounded size and memory
//!
//! The grid's size ([`Grid::size`], the product of each parameter's value count) is known
//! without enumerating it; a grid larger than [`GridLimits::max_combinations`] is refused
//! before anything is allocated for it. Combinations are streamed in chunks: each chunk's
//! indicator series (at most [`GridLimits::cache_budget_bytes`] of them) are computed, its runs made
//! in parallel, and only the best-so-far and the best [`GridLimits::keep_runs`] runs are
//! kept. Peak memory therefore depends on the bars and the chunk, not on the grid.

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
use super::strategy::{
    IndicatorCache, IndicatorKey, ParamDef, ParamRange, Params, StrategyError, StrategyKind,
    StrategySpec,
};
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

    /// Valid specs of the grid in the fixed order, with `base`'s options. Allocates them
    /// all: for large grids use [`Grid::iter`].
    pub fn combinations(&self, base: &StrategySpec) -> Vec<StrategySpec> {
        self.iter(base).collect()
    }

    /// The valid specs of the grid in the fixed order, one at a time.
    pub fn iter(&self, base: &StrategySpec) -> Combinations {
        let defs = self.kind.params();
        let axes: Vec<Vec<f64>> = defs
            .iter()
            .map(|d| {
                self.ranges
                    .get(d.name)
                    .map_or_else(|| vec![d.default], ParamRange::values)
            })
            .collect();
        let mut base = base.clone();
        base.kind = self.kind;
        Combinations {
            done: axes.iter().any(Vec::is_empty),
            idx: vec![0; axes.len()],
            defs,
            axes,
            base,
        }
    }

    /// Grid points: the product of each declared parameter's number of values (1 for a
    /// parameter without a range). Combinations the strategy rejects (e.g. `fast >= slow`)
    /// are counted too, so this bounds the work; saturates at `u64::MAX`. Computed from the
    /// ranges alone, without enumerating or allocating anything.
    pub fn size(&self) -> u64 {
        self.axis_sizes()
            .iter()
            .fold(1u64, |acc, (_, n)| acc.saturating_mul(*n))
    }

    /// `(parameter, number of values)` in declaration order.
    pub fn axis_sizes(&self) -> Vec<(&'static str, u64)> {
        self.kind
            .params()
            .iter()
            .map(|d| {
                (
                    d.name,
                    self.ranges.get(d.name).map_or(1, |r| r.len() as u64),
                )
            })
            .collect()
    }
}

/// The valid combinations of a grid, in grid order (see [`Grid::iter`]).
pub struct Combinations {
    defs: &'static [ParamDef],
    axes: Vec<Vec<f64>>,
    idx: Vec<usize>,
    base: StrategySpec,
    done: bool,
}

impl Iterator for Combinations {
    type Item = StrategySpec;

    fn next(&mut self) -> Option<StrategySpec> {
        while !self.done {
            let params: BTreeMap<String, f64> = self
                .defs
                .iter()
                .zip(&self.idx)
                .zip(&self.axes)
                .map(|((d, &i), a)| (d.name.to_string(), a[i]))
                .collect();
            // odometer: last parameter fastest
            let mut k = self.axes.len();
            loop {
                if k == 0 {
                    self.done = true;
                    break;
                }
                k -= 1;
                self.idx[k] += 1;
                if self.idx[k] < self.axes[k].len() {
                    break;
                }
                self.idx[k] = 0;
            }
            if let Ok(s) = self.base.with_params(&params) {
                return Some(s);
            }
        }
        None
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

/// How large a grid may be and how many of its runs a report keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridLimits {
    /// Largest accepted [`Grid::size`]; a larger grid is refused before anything runs.
    pub max_combinations: u64,
    /// Runs kept in the report: the best ones by score (defined scores first, higher
    /// first, then grid order).
    pub keep_runs: usize,
    /// Memory for one chunk's indicator series ([`CACHE_BUDGET_BYTES`] by default).
    pub cache_budget_bytes: usize,
}

impl GridLimits {
    /// No limit: every run kept (the single-symbol [`optimize`]).
    pub const UNBOUNDED: GridLimits = GridLimits {
        max_combinations: u64::MAX,
        keep_runs: usize::MAX,
        cache_budget_bytes: CACHE_BUDGET_BYTES,
    };

    pub fn new(max_combinations: u64, keep_runs: usize) -> GridLimits {
        GridLimits {
            max_combinations,
            keep_runs,
            cache_budget_bytes: CACHE_BUDGET_BYTES,
        }
    }
}

/// Default memory for one chunk's indicator series (per symbol, one symbol at a time).
pub const CACHE_BUDGET_BYTES: usize = 64 << 20;
/// Combinations run per chunk (in parallel).
const CHUNK_COMBINATIONS: usize = 1024;

/// One symbol's in-sample figures of one combination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SymbolRun {
    pub score: Option<f64>,
    pub metrics: Metrics,
}

/// One grid combination over every symbol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JointRun {
    /// Position among the grid's valid combinations, in grid order.
    pub index: usize,
    pub params: BTreeMap<String, f64>,
    /// Mean of the symbols' scores; `None` when any of them is undefined.
    pub score: Option<f64>,
    /// In the order the symbols were given.
    pub symbols: Vec<SymbolRun>,
}

/// The winning combination, re-run in full on every symbol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JointBest {
    /// Position among the grid's valid combinations.
    pub index: usize,
    pub spec: StrategySpec,
    /// The mean in-sample score over the symbols.
    pub score: f64,
    /// Per symbol, on `bars[..train]`.
    pub in_sample: Vec<BacktestResult>,
    /// Per symbol, on `bars[train - warmup..]` with `start_index = warmup`; `None` unsplit.
    pub out_of_sample: Vec<Option<BacktestResult>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JointReport {
    pub objective: Objective,
    /// [`Grid::size`]: grid points, invalid combinations included.
    pub grid_size: u64,
    /// Valid combinations evaluated.
    pub combinations: usize,
    /// Per symbol; `None` when not split.
    pub splits: Vec<Option<Split>>,
    /// The kept runs ([`GridLimits::keep_runs`] best), in grid order.
    pub runs: Vec<JointRun>,
    /// `None` when no combination has a defined score on every symbol.
    pub best: Option<JointBest>,
}

/// Bars tuned on for `n` bars: all of them without a ratio, else `floor(n * r)`, with at
/// least 2 bars on each side of a split.
pub fn train_bars(n: usize, train_ratio: Option<f64>) -> Result<usize, BacktestError> {
    let train = match train_ratio {
        None => n,
        Some(r) if r > 0.0 && r < 1.0 => (n as f64 * r).floor() as usize,
        Some(r) => return Err(BacktestError::TrainRatio(r)),
    };
    if train < 2 || (train < n && n - train < 2) {
        return Err(BacktestError::NotEnoughBars { needed: 4, got: n });
    }
    Ok(train)
}

/// Order of kept runs: defined scores first, higher first, then grid order.
fn rank(a: &JointRun, b: &JointRun) -> std::cmp::Ordering {
    match (a.score, b.score) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
    .then(a.index.cmp(&b.index))
}

/// The next chunk of combinations: at most [`CHUNK_COMBINATIONS`], and no more distinct
/// indicator series than `max_keys` (unless a single combination needs more).
fn next_chunk(
    it: &mut std::iter::Peekable<Combinations>,
    max_keys: usize,
) -> (Vec<(StrategySpec, Params)>, Vec<IndicatorKey>) {
    let mut chunk = Vec::new();
    let mut keys: Vec<IndicatorKey> = Vec::new();
    while chunk.len() < CHUNK_COMBINATIONS {
        let Some(spec) = it.peek() else { break };
        let p = spec.typed().expect("the grid yields only valid specs");
        let new: Vec<IndicatorKey> = spec
            .indicator_keys(&p)
            .into_iter()
            .filter(|k| !keys.contains(k))
            .collect();
        if !chunk.is_empty() && keys.len() + new.len() > max_keys {
            break;
        }
        keys.extend(new);
        let spec = it.next().expect("peeked");
        chunk.push((spec, p));
    }
    (chunk, keys)
}

/// Search `grid` (with `base`'s options) over several symbols' bars at once and pick the
/// one parameter set with the best mean in-sample score (see the module docs); report it
/// in and out of sample on every symbol. Memory stays bounded whatever the grid's size.
pub fn optimize_symbols(
    series: &[&[Bar]],
    tf: Timeframe,
    base: &StrategySpec,
    grid: &Grid,
    cfg: &BacktestConfig,
    opt: &OptimizeConfig,
    limits: &GridLimits,
) -> Result<JointReport, BacktestError> {
    cfg.validate()?;
    let grid_size = grid.size();
    if grid_size > limits.max_combinations {
        return Err(BacktestError::GridTooLarge {
            size: grid_size,
            limit: limits.max_combinations,
        });
    }
    if series.is_empty() {
        return Err(BacktestError::NotEnoughBars { needed: 4, got: 0 });
    }
    let mut trains = Vec::with_capacity(series.len());
    for bars in series {
        validate_bars(bars)?;
        trains.push(train_bars(bars.len(), opt.train_ratio)?);
    }
    // a Macd or Bands key holds three series of the training length
    let longest = trains.iter().copied().max().unwrap_or(0).max(1);
    let max_keys = (limits.cache_budget_bytes / (3 * 8 * longest)).max(1);

    let mut it = grid.iter(base).peekable();
    let mut evaluated = 0usize;
    let mut best: Option<(usize, f64, StrategySpec)> = None;
    let mut kept: Vec<JointRun> = Vec::new();
    loop {
        let (chunk, keys) = next_chunk(&mut it, max_keys);
        if chunk.is_empty() {
            break;
        }
        let mut per: Vec<Vec<SymbolRun>> = (0..chunk.len())
            .map(|_| Vec::with_capacity(series.len()))
            .collect();
        for (bars, &train) in series.iter().zip(&trains) {
            let train_bars = &bars[..train];
            let cache = IndicatorCache::build(train_bars, keys.iter().copied());
            let runs: Vec<SymbolRun> = chunk
                .par_iter()
                .map_init(Scratch::default, |scratch, (spec, p)| {
                    let metrics = run_prepared(train_bars, 0, tf, spec, p, cfg, &cache, scratch);
                    SymbolRun {
                        score: opt.objective.score(&metrics),
                        metrics,
                    }
                })
                .collect();
            for (slot, r) in per.iter_mut().zip(runs) {
                slot.push(r);
            }
        }
        for ((spec, _), symbols) in chunk.into_iter().zip(per) {
            let index = evaluated;
            evaluated += 1;
            let score = symbols
                .iter()
                .map(|r| r.score)
                .sum::<Option<f64>>()
                .map(|s| s / symbols.len() as f64);
            if let Some(sc) = score
                && best.as_ref().is_none_or(|(_, b, _)| sc > *b)
            {
                best = Some((index, sc, spec.clone()));
            }
            if limits.keep_runs > 0 {
                kept.push(JointRun {
                    index,
                    params: spec.params,
                    score,
                    symbols,
                });
            }
        }
        if kept.len() > limits.keep_runs {
            kept.sort_by(rank);
            kept.truncate(limits.keep_runs);
        }
    }
    if evaluated == 0 {
        return Err(BacktestError::EmptyGrid);
    }
    kept.sort_by_key(|r| r.index);

    let warmup = best.as_ref().map_or(0, |(_, _, s)| s.warmup_bars());
    let splits: Vec<Option<Split>> = series
        .iter()
        .zip(&trains)
        .map(|(bars, &train)| {
            (train < bars.len()).then(|| Split {
                train_bars: train,
                test_bars: bars.len() - train,
                warmup_bars: warmup.min(train),
                split_time: bars[train].open_time,
            })
        })
        .collect();
    let best = match best {
        None => None,
        Some((index, score, spec)) => {
            let mut in_sample = Vec::with_capacity(series.len());
            let mut out_of_sample = Vec::with_capacity(series.len());
            for ((bars, &train), split) in series.iter().zip(&trains).zip(&splits) {
                in_sample.push(run_backtest_window(&bars[..train], 0, tf, &spec, cfg)?);
                out_of_sample.push(match split {
                    Some(sp) => Some(run_backtest_window(
                        &bars[train - sp.warmup_bars..],
                        sp.warmup_bars,
                        tf,
                        &spec,
                        cfg,
                    )?),
                    None => None,
                });
            }
            Some(JointBest {
                index,
                spec,
                score,
                in_sample,
                out_of_sample,
            })
        }
    };
    Ok(JointReport {
        objective: opt.objective,
        grid_size,
        combinations: evaluated,
        splits,
        runs: kept,
        best,
    })
}

/// Evaluate every combination of `grid` (with `base`'s options) in parallel, pick the best
/// by `opt.objective` on the training part, and report it out of sample when split. Every
/// run is kept: for large grids use [`optimize_symbols`] with [`GridLimits`].
pub fn optimize(
    bars: &[Bar],
    tf: Timeframe,
    base: &StrategySpec,
    grid: &Grid,
    cfg: &BacktestConfig,
    opt: &OptimizeConfig,
) -> Result<OptimizeReport, BacktestError> {
    let j = optimize_symbols(&[bars], tf, base, grid, cfg, opt, &GridLimits::UNBOUNDED)?;
    let runs = j
        .runs
        .into_iter()
        .map(|mut r| {
            let s = r.symbols.swap_remove(0);
            GridRun {
                params: r.params,
                score: s.score,
                metrics: s.metrics,
            }
        })
        .collect();
    let best = j.best.map(|mut b| BestRun {
        index: b.index,
        spec: b.spec,
        in_sample: b.in_sample.swap_remove(0),
        out_of_sample: b.out_of_sample.swap_remove(0),
    });
    Ok(OptimizeReport {
        objective: j.objective,
        split: j.splits.into_iter().next().flatten(),
        runs,
        best,
    })
}

#[cfg(test)]
mod joint_tests {
    use super::super::engine::run_backtest;
    use super::super::tests::random_bars;
    use super::*;
    use proptest::prelude::*;

    fn sma() -> StrategySpec {
        StrategySpec::default_for(StrategyKind::SmaCross)
    }

    /// A combination's parameters and its score on each symbol.
    type Scored = (BTreeMap<String, f64>, Vec<Option<f64>>);

    /// Every valid combination run alone on `bars[..train]`.
    fn serial(series: &[&[Bar]], grid: &Grid, opt: &OptimizeConfig) -> Vec<Scored> {
        let cfg = BacktestConfig::default();
        grid.combinations(&sma())
            .iter()
            .map(|spec| {
                let scores = series
                    .iter()
                    .map(|b| {
                        let train = train_bars(b.len(), opt.train_ratio).unwrap();
                        let r = run_backtest(&b[..train], Timeframe::H1, spec, &cfg).unwrap();
                        opt.objective.score(&r.metrics)
                    })
                    .collect();
                (spec.params.clone(), scores)
            })
            .collect()
    }

    fn mean(s: &[Option<f64>]) -> Option<f64> {
        s.iter()
            .copied()
            .sum::<Option<f64>>()
            .map(|x| x / s.len() as f64)
    }

    #[test]
    fn grid_size_is_the_product_of_the_axes_without_enumerating() {
        let g = Grid::parse(StrategyKind::SmaCross, "fast=10:30:10,slow=20:30:10").unwrap();
        assert_eq!(g.size(), 6);
        assert_eq!(g.combinations(&sma()).len(), 3, "invalid pairs are skipped");
        assert_eq!(Grid::default_for(StrategyKind::SmaCross).size(), 100);
        let rsi = Grid::default_for(StrategyKind::RsiReversion);
        let by_hand: u64 = StrategyKind::RsiReversion
            .params()
            .iter()
            .map(|p| p.grid.values().len() as u64)
            .product();
        assert_eq!(rsi.size(), by_hand);
        // the grid: counted at once
        let big = Grid::parse(StrategyKind::SmaCross, "fast=2:1000000:1,slow=3:1000000:1");
        if let Ok(big) = big {
            assert_eq!(big.size(), 999_999 * 999_998);
            assert_eq!(big.axis_sizes(), vec![("fast", 999_999), ("slow", 999_998)]);
        }
        // saturates instead of overflowing
        let r = ParamRange {
            start: 0.0,
            end: 1e300,
            step: 1e-300,
        };
        assert_eq!(r.len() as u64, u64::MAX);
    }

    proptest! {
        #[test]
        fn range_len_counts_the_values(start in -1e4f64..1e4, len in 0.0f64..500.0, step in 0.01f64..50.0) {
            let r = ParamRange { start, end: start + len, step };
            prop_assert_eq!(r.len(), r.values().len());
        }
    }

    #[test]
    fn streamed_combinations_are_the_grid_in_order() {
        for kind in StrategyKind::ALL {
            let g = Grid::default_for(kind);
            let base = StrategySpec::default_for(kind);
            let streamed: Vec<_> = g.iter(&base).collect();
            assert!(!streamed.is_empty());
            assert!(streamed.len() as u64 <= g.size());
            assert_eq!(streamed, g.combinations(&base));
        }
    }

    #[test]
    fn a_grid_above_the_limit_is_refused_before_it_runs() {
        let bars = random_bars(100, 1);
        let g = Grid::parse(StrategyKind::SmaCross, "fast=2:90000:1,slow=3:90000:1").unwrap();
        let err = optimize_symbols(
            &[&bars],
            Timeframe::H1,
            &sma(),
            &g,
            &BacktestConfig::default(),
            &OptimizeConfig::default(),
            &GridLimits::new(100_000, 10),
        )
        .unwrap_err();
        assert_eq!(
            err,
            BacktestError::GridTooLarge {
                size: 89_999 * 89_998,
                limit: 100_000
            }
        );
    }

    #[test]
    fn chunked_search_over_several_symbols_picks_the_best_mean_and_keeps_the_top_runs() {
        let a = random_bars(400, 21);
        let b = random_bars(300, 22);
        let series: [&[Bar]; 2] = [&a, &b];
        // 49 x 58 = 2,842 points, 1,666 valid: more than one chunk of 1,024
        let grid = Grid::parse(StrategyKind::SmaCross, "fast=2:50:1,slow=3:60:1").unwrap();
        let opt = OptimizeConfig {
            objective: Objective::TotalReturn,
            train_ratio: Some(0.7),
        };
        let expect = serial(&series, &grid, &opt);
        assert!(expect.len() > CHUNK_COMBINATIONS);
        // a budget of a few series per chunk forces many small chunks
        for budget in [CACHE_BUDGET_BYTES, 3 * 8 * 280 * 5] {
            let limits = GridLimits {
                max_combinations: 100_000,
                keep_runs: 7,
                cache_budget_bytes: budget,
            };
            let rep = optimize_symbols(
                &series,
                Timeframe::H1,
                &sma(),
                &grid,
                &BacktestConfig::default(),
                &opt,
                &limits,
            )
            .unwrap();
            assert_eq!(rep.grid_size, 2_842);
            assert_eq!(rep.combinations, expect.len());
            // the best mean over both symbols, first in grid order on a tie
            let means: Vec<Option<f64>> = expect.iter().map(|(_, s)| mean(s)).collect();
            let top = means
                .iter()
                .flatten()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let first = means.iter().position(|m| *m == Some(top)).unwrap();
            let best = rep.best.as_ref().unwrap();
            assert_eq!(best.index, first, "budget {budget}");
            assert_eq!(best.spec.params, expect[first].0);
            assert_eq!(best.score, top);
            assert_eq!(best.in_sample.len(), 2);
            assert_eq!(best.in_sample[0].metrics.bars, 280);
            assert_eq!(best.in_sample[1].metrics.bars, 210);
            let oos = best.out_of_sample[1].as_ref().unwrap();
            assert_eq!(oos.metrics.bars, 90);
            assert_eq!(rep.splits[0].unwrap().train_bars, 280);
            // the 7 best runs, in grid order, with each symbol's figures
            let mut order: Vec<usize> = (0..expect.len()).collect();
            order.sort_by(|&i, &j| {
                match (means[i], means[j]) {
                    (Some(x), Some(y)) => y.total_cmp(&x),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
                .then(i.cmp(&j))
            });
            let mut kept: Vec<usize> = order[..7].to_vec();
            kept.sort();
            assert_eq!(rep.runs.iter().map(|r| r.index).collect::<Vec<_>>(), kept);
            for r in &rep.runs {
                assert_eq!(r.params, expect[r.index].0);
                assert_eq!(r.score, means[r.index]);
                let s: Vec<Option<f64>> = r.symbols.iter().map(|x| x.score).collect();
                assert_eq!(s, expect[r.index].1);
            }
        }
    }

    #[test]
    fn one_symbol_is_the_single_symbol_search() {
        let bars = random_bars(600, 5);
        let grid = Grid::default_for(StrategyKind::SmaCross);
        let opt = OptimizeConfig::default();
        let cfg = BacktestConfig::default();
        let single = optimize(&bars, Timeframe::H1, &sma(), &grid, &cfg, &opt).unwrap();
        let joint = optimize_symbols(
            &[&bars],
            Timeframe::H1,
            &sma(),
            &grid,
            &cfg,
            &opt,
            &GridLimits::new(1_000, 1_000),
        )
        .unwrap();
        assert_eq!(single.runs.len(), joint.runs.len());
        let b = joint.best.unwrap();
        let s = single.best.unwrap();
        assert_eq!((b.index, &b.spec), (s.index, &s.spec));
        assert_eq!(b.out_of_sample[0], s.out_of_sample);
        // a symbol on which a combination's score is undefined rules it out
        let flat: Vec<Bar> = (0..600)
            .map(|i| {
                let mut x = bars[i];
                (x.open, x.high, x.low, x.close) = (100.0, 100.0, 100.0, 100.0);
                x
            })
            .collect();
        let none = optimize_symbols(
            &[&bars, &flat],
            Timeframe::H1,
            &sma(),
            &grid,
            &cfg,
            &opt,
            &GridLimits::new(1_000, 5),
        )
        .unwrap();
        assert!(none.best.is_none(), "Sharpe is undefined on a flat series");
        assert!(none.runs.iter().all(|r| r.score.is_none()));
        assert_eq!(none.runs.len(), 5);
    }
}
