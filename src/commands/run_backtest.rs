//! `fks run-backtest`: backtest strategies on stored candles, optionally optimising their
//! parameters (parallel grid, walk-forward split), store the results, write trade and
//! equity files and a chart.
//!
//! An optimisation searches one parameter set for all of a strategy's symbols together
//! (the highest mean in-sample score over them; see `core::backtest::optimize`), is
//! stored as a result of its own, and changes the strategy only with `--apply` when the
//! out-of-sample part passes the `[backtest]` validation criteria on every symbol the
//! strategy trades.

use super::Ctx;
use crate::core::backtest::{
    BacktestConfig, BacktestResult, Grid, GridLimits, JointReport, Metrics, Objective,
    OptimizeConfig, StrategySpec, optimize_symbols, run_backtest, train_bars,
};
use crate::core::config::ConfigError;
use crate::core::market::{Bar, Symbol, Timeframe};
use crate::core::store::optimizations::{self, NewOptimization, ResultRow};
use crate::core::store::{Store, candles};
use crate::core::strategies::{self, StoredStrategy};
use crate::core::time::time_arg;
use crate::output::{Outcome, new_table};
use anyhow::{Context, Result, bail};
use comfy_table::Table;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MetricArg {
    Sharpe,
    Sortino,
    Return,
    Calmar,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A stored strategy by name (default: every enabled strategy).
    #[arg(long)]
    pub strategy: Option<String>,
    /// A stored strategy by id (see `fks strategy list`).
    #[arg(long)]
    pub strategy_id: Option<i64>,
    /// Ad hoc run without a stored strategy: sma_cross, ema_cross, rsi_reversion, macd_cross, bollinger_reversion.
    #[arg(long, conflicts_with_all = ["strategy", "strategy_id"])]
    pub kind: Option<String>,
    /// Parameters of an ad hoc run: `fast=10,slow=30` (also stop_loss=2%, take_profit=1.5atr, direction=long_short).
    #[arg(long, default_value = "")]
    pub params: String,
    /// Only this symbol (repeatable).
    #[arg(long = "symbol")]
    pub symbols: Vec<Symbol>,
    /// Candle interval (default: the strategy's, else market.timeframe).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// First bar's open time (YYYY-MM-DD, RFC 3339 or milliseconds, UTC).
    #[arg(long, value_parser = time_arg)]
    pub from: Option<i64>,
    /// Last bar's open time, inclusive (YYYY-MM-DD, RFC 3339 or milliseconds, UTC).
    #[arg(long, value_parser = time_arg)]
    pub to: Option<i64>,
    /// Search the parameter grid: ONE parameter set for all of a strategy's symbols, the
    /// combination with the highest mean in-sample score across them (ties: the first in
    /// grid order). Stored as an optimisation; the strategy is changed only with --apply.
    #[arg(long)]
    pub optimize: bool,
    /// Grid override: `fast=5:50:5,slow=20:200:20`. A grid with more points than
    /// `backtest.max_grid_combinations` (default 100000) is refused.
    #[arg(long)]
    pub grid: Option<String>,
    /// What --optimize maximises: sharpe, sortino, return or calmar.
    #[arg(long, value_enum, default_value = "sharpe")]
    pub metric: MetricArg,
    /// Tune on this share of the bars and report the winner on the rest (0 < r < 1).
    #[arg(long, default_value_t = 0.7, value_parser = train_ratio_arg)]
    pub train_ratio: f64,
    /// Fee per side, a fraction of notional in [0, 1) (default: backtest.fee_rate, 0.001 = 0.1%).
    #[arg(long)]
    pub fee: Option<f64>,
    /// Starting cash, greater than 0 (default: backtest.initial_cash).
    #[arg(long)]
    pub cash: Option<f64>,
    /// Write trades.csv, equity.csv, metrics.json and chart.png here.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// With --optimize of a stored strategy: replace its parameters with the winner, only if
    /// the out-of-sample part passes the [backtest] validation criteria (those of
    /// validate-strategies) on every symbol the strategy trades; otherwise refused, with why.
    #[arg(long, requires = "optimize", conflicts_with = "kind")]
    pub apply: bool,
    /// Take a deterministic share K of N of the work (for several hosts on one Postgres):
    /// the symbols, or with --optimize the strategies (one parameter set spans a strategy's
    /// symbols).
    #[arg(long)]
    pub shard: Option<super::Shard>,
}

struct Target {
    strategy: Option<StoredStrategy>,
    label: String,
    spec: StrategySpec,
    symbols: Vec<Symbol>,
    tf: Timeframe,
}

fn write_outputs(dir: &Path, label: &str, bars: &[Bar], r: &BacktestResult) -> Result<Vec<String>> {
    use std::io::Write;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut trades = std::fs::File::create(dir.join("trades.csv"))?;
    writeln!(
        trades,
        "entry_time,entry_price,exit_time,exit_price,size,pnl,return,exit_kind"
    )?;
    for t in &r.trades {
        writeln!(
            trades,
            "{},{},{},{},{},{},{},{}",
            t.entry_time,
            t.entry_price,
            t.exit_time,
            t.exit_price,
            t.size,
            t.pnl,
            t.return_pct / 100.0,
            t.exit_kind.as_str()
        )?;
    }
    let points: Vec<(i64, f64)> = r.equity_points(bars).collect();
    let mut eq = std::fs::File::create(dir.join("equity.csv"))?;
    writeln!(eq, "open_time,equity")?;
    for (t, e) in &points {
        writeln!(eq, "{t},{e}")?;
    }
    std::fs::write(
        dir.join("metrics.json"),
        serde_json::to_string_pretty(&r.metrics)?,
    )?;
    let png = crate::core::report::backtest_chart_png(label, &points, r.metrics.initial_equity)?;
    std::fs::write(dir.join("chart.png"), png)?;
    Ok(["trades.csv", "equity.csv", "metrics.json", "chart.png"]
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .collect())
}

/// Values the flags' types cannot check: refused before any work, as usage errors (exit 2).
fn check_flags(args: &Args) -> Result<()> {
    use super::usage;
    if let Some(f) = args.fee
        && !(f.is_finite() && (0.0..1.0).contains(&f))
    {
        return Err(usage(format!(
            "--fee {f}: must be at least 0 and below 1 (a fraction of notional: 0.001 = 0.1%)"
        )));
    }
    if let Some(c) = args.cash
        && !(c.is_finite() && c > 0.0)
    {
        return Err(usage(format!("--cash {c}: must be greater than 0")));
    }
    if args.grid.is_some() && !args.optimize {
        return Err(usage(
            "--grid needs --optimize (the grid is what the optimisation searches)",
        ));
    }
    // Below 1: an optimisation always has an out-of-sample part to validate (and --apply)
    // its winner on.
    let r = args.train_ratio;
    if !(r.is_finite() && r > 0.0 && r < 1.0) {
        return Err(usage(format!("--train-ratio {r}: {TRAIN_RATIO_RANGE}")));
    }
    Ok(())
}

/// `--train-ratio`: a number strictly between 0 and 1, else a usage error saying so.
fn train_ratio_arg(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r < 1.0 => Ok(r),
        _ => Err(format!("{s:?}: {TRAIN_RATIO_RANGE}")),
    }
}

/// What `--train-ratio` may be, said in every refusal of it.
const TRAIN_RATIO_RANGE: &str = "must be a number in the range (0, 1), 0 and 1 excluded (0.7 tunes on the first 70% of the bars and tests the winner on the rest)";

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    check_flags(&args)?;
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    let s = &ctx.settings.file.backtest;
    let cfg = BacktestConfig {
        initial_cash: args.cash.unwrap_or(s.initial_cash),
        fee_rate: args.fee.unwrap_or(s.fee_rate),
        slippage_bps: s.slippage_bps,
        ..BacktestConfig::default()
    };
    let targets = targets(ctx, store, &args).await?;
    // Every grid is parsed and counted before any candle is read or any run allocated.
    let grids = if args.optimize {
        targets
            .iter()
            .map(|t| target_grid(t, args.grid.as_deref(), s.max_grid_combinations))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let pairs: usize = targets.iter().map(|t| t.symbols.len()).sum();
    let mut results = BTreeMap::new();
    let mut optimizations_out = BTreeMap::new();
    let mut table = new_table();
    if args.optimize {
        table.set_header(OPTIMIZE_HEADER.to_vec());
    } else {
        table.set_header(vec![
            "strategy",
            "symbol",
            "params",
            "return %",
            "sharpe",
            "max DD %",
            "trades",
            "win %",
            "buy&hold %",
        ]);
    }
    for (ti, t) in targets.iter().enumerate() {
        // With --optimize, a strategy's symbols are loaded first and optimised together.
        let mut loaded: Vec<(Symbol, Vec<Bar>)> = Vec::new();
        for sym in &t.symbols {
            let key = format!("{}/{}", t.label, sym);
            let res: Result<Option<Value>> = async {
                // Only candles closed by the run's clock: a result stamped `now` holds
                // nothing later (FKS_NOW replays included).
                let closed = crate::core::freshness::last_closed_open(t.tf, now);
                let to = Some(args.to.map_or(closed, |x| x.min(closed)));
                let bars = candles::bars(store, sym, t.tf, args.from.map(|f| f - 1), to).await?;
                if bars.len() < t.spec.warmup_bars() + 2 {
                    bail!(
                        "{} {} candles stored for {sym}; {} needs at least {}",
                        bars.len(),
                        t.tf,
                        t.label,
                        t.spec.warmup_bars() + 2
                    );
                }
                if args.optimize {
                    train_bars(bars.len(), train_ratio(&args))?;
                    loaded.push((sym.clone(), bars));
                    return Ok(None);
                }
                let sid = t.strategy.as_ref().map(|s| s.id);
                // A strategy bound to an account trades its allocation of the equity, as
                // run-strategies does: the backtest's position fraction.
                let cfg = match t.strategy.as_ref().and_then(|s| s.allocation) {
                    Some(a) => BacktestConfig {
                        position_fraction: a.to_string().parse().unwrap_or(1.0),
                        ..cfg
                    },
                    None => cfg,
                };
                let result = run_backtest(&bars, t.tf, &t.spec, &cfg)?;
                strategies::record_result(
                    store,
                    sid,
                    sym,
                    t.tf,
                    "full",
                    &t.spec,
                    &result.metrics,
                    now,
                )
                .await?;
                let files = match &args.output_dir {
                    Some(d) => write_outputs(
                        &output_dir(d, pairs, t, sym),
                        &format!("{key} {}", t.tf),
                        &bars,
                        &result,
                    )?,
                    None => vec![],
                };
                let m = &result.metrics;
                table.add_row(vec![
                    t.label.clone(),
                    sym.0.clone(),
                    params_text(&result.spec),
                    format!("{:.2}", m.total_return_pct),
                    opt2(m.sharpe),
                    format!("{:.2}", m.max_drawdown_pct),
                    m.total_trades.to_string(),
                    m.win_rate_pct
                        .map(|x| format!("{x:.1}"))
                        .unwrap_or_else(|| "-".into()),
                    format!("{:.2}", m.buy_and_hold_return_pct),
                ]);
                Ok(Some(symbol_result(
                    json!({"optimized": false}),
                    t,
                    sym,
                    &result,
                    files,
                )?))
            }
            .await;
            match res {
                Ok(None) => {}
                Ok(Some(v)) => {
                    results.insert(key, v);
                }
                Err(e) => {
                    results.insert(key, json!({"status": "error", "error": format!("{e:#}")}));
                }
            }
        }
        if args.optimize {
            let run = OptimizeRun {
                ctx,
                store,
                args: &args,
                cfg: &cfg,
                now,
                pairs,
            };
            let entry = optimize_target(&run, t, &grids[ti], loaded, &mut results, &mut table)
                .await
                .with_context(|| format!("optimise {}", t.label))?;
            optimizations_out.insert(t.label.clone(), entry);
        }
    }
    // Failed symbols get a row too, so a table never hides why a run failed.
    let ncols = if args.optimize {
        OPTIMIZE_HEADER.len()
    } else {
        9
    };
    for (key, r) in &results {
        if let Some(e) = r["error"].as_str() {
            let (label, sym) = key.rsplit_once('/').unwrap_or((key.as_str(), ""));
            let mut row = vec![label.to_string(), sym.to_string(), format!("error: {e}")];
            row.resize(ncols, "-".into());
            table.add_row(row);
        }
    }
    let mut body = json!({
        "config": cfg,
        "open_positions_at_end": "closed at the last close and counted as trades (metrics.closed_at_end)",
        "results": results,
    });
    if args.optimize {
        body["selection"] = json!(SELECTION);
        body["optimizations"] = json!(optimizations_out);
    }
    Ok(Outcome::from_results(body)?.with_table(table))
}

/// The strategies (or the ad hoc kind) to run, each with its symbols and timeframe.
async fn targets(ctx: &Ctx, store: &Store, args: &Args) -> Result<Vec<Target>> {
    let tf_flag = args.timeframe;
    let mut targets = Vec::new();
    if let Some(kind) = &args.kind {
        let spec = StrategySpec::parse(kind, &args.params)
            .map_err(|e| super::usage(format!("--params {:?}: {e}", args.params)))?;
        let syms = if args.symbols.is_empty() {
            ctx.settings.symbols().to_vec()
        } else {
            args.symbols.clone()
        };
        targets.push(Target {
            strategy: None,
            label: kind.clone(),
            spec,
            symbols: syms,
            tf: tf_flag.unwrap_or(ctx.settings.file.market.timeframe),
        });
    } else {
        let list = match (&args.strategy, args.strategy_id) {
            (Some(n), _) => vec![strategies::find(store, n).await?],
            (None, Some(id)) => vec![strategies::find(store, &id.to_string()).await?],
            (None, None) => strategies::list(store, true).await?,
        };
        if list.is_empty() {
            bail!(
                "no enabled strategies: add one with `fks strategy add`, or run ad hoc with --kind"
            );
        }
        for st in list {
            let syms = if args.symbols.is_empty() {
                st.symbols.clone()
            } else {
                args.symbols.clone()
            };
            targets.push(Target {
                label: st.name.clone(),
                spec: st.spec.clone(),
                symbols: syms,
                tf: tf_flag.unwrap_or(st.timeframe),
                strategy: Some(st),
            });
        }
    }
    if args.shard.is_some() {
        for t in &mut targets {
            if args.optimize {
                if !super::Shard::keeps(args.shard, &t.label) {
                    t.symbols.clear();
                }
            } else {
                t.symbols
                    .retain(|s| super::Shard::keeps(args.shard, s.as_str()));
            }
        }
        targets.retain(|t| !t.symbols.is_empty());
    }
    Ok(targets)
}

/// How the one parameter set of a strategy is chosen (also in README and --help).
const SELECTION: &str = "one parameter set per strategy: the grid combination with the highest mean in-sample score of the objective across the strategy's symbols (a combination whose score is undefined on any symbol is never chosen); ties go to the first combination in grid order";

const OPTIMIZE_HEADER: [&str; 12] = [
    "strategy",
    "symbol",
    "params",
    "in-sample return %",
    "out-of-sample return %",
    "in-sample sharpe",
    "out-of-sample sharpe",
    "in-sample max DD %",
    "out-of-sample max DD %",
    "in-sample trades",
    "out-of-sample trades",
    "out-of-sample verdict",
];

/// The split of an optimisation: `check_flags` keeps `--train-ratio` strictly between 0 and
/// 1, so there is always an out-of-sample part.
fn train_ratio(args: &Args) -> Option<f64> {
    Some(args.train_ratio)
}

/// The target's grid: `--grid` parsed, within the parameters' bounds and with at least one
/// valid combination; refused (exit 2) otherwise or when it has more points than `limit`.
fn target_grid(t: &Target, text: Option<&str>, limit: u64) -> Result<Grid> {
    let grid = match text {
        Some(g) => Grid::parse(t.spec.kind, g)
            .map_err(|e| super::usage(format!("--grid {g:?} for {}: {e}", t.label)))?,
        None => Grid::default_for(t.spec.kind),
    };
    if let Some(g) = text {
        grid.check(&t.spec)
            .map_err(|e| super::usage(format!("--grid {g:?} for {}: {e}", t.label)))?;
    }
    let size = grid.size();
    if size > limit {
        let axes = grid.axis_sizes();
        let counts = axes
            .iter()
            .map(|(_, n)| n.to_string())
            .collect::<Vec<_>>()
            .join(" × ");
        let names = axes.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(" × ");
        return Err(ConfigError(format!(
            "the grid for {} has {size} combinations ({counts} values of {names}), more than backtest.max_grid_combinations = {limit}; narrow --grid (fewer values or larger steps) or raise the limit in fks.toml",
            t.label
        ))
        .into());
    }
    Ok(grid)
}

fn output_dir(d: &Path, pairs: usize, t: &Target, sym: &Symbol) -> PathBuf {
    if pairs == 1 {
        d.to_path_buf()
    } else {
        d.join(format!("{}-{}", t.label.replace(['/', ' '], "_"), sym))
    }
}

fn opt2(x: Option<f64>) -> String {
    x.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())
}

fn params_text(spec: &StrategySpec) -> String {
    spec.params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The per-symbol entry of `results`: `extra` plus the fields every run reports.
fn symbol_result(
    mut extra: Value,
    t: &Target,
    sym: &Symbol,
    result: &BacktestResult,
    files: Vec<String>,
) -> Result<Value> {
    let o = extra.as_object_mut().context("object")?;
    o.insert("status".into(), json!("success"));
    o.insert("strategy".into(), json!(t.label));
    o.insert("symbol".into(), json!(sym));
    o.insert("timeframe".into(), json!(t.tf));
    o.insert("params".into(), serde_json::to_value(&result.spec)?);
    o.insert("trades".into(), json!(result.trades.len()));
    o.insert("metrics".into(), serde_json::to_value(&result.metrics)?);
    o.insert("files".into(), json!(files));
    Ok(extra)
}

/// What an optimisation of one target needs besides the target.
struct OptimizeRun<'a> {
    ctx: &'a Ctx,
    store: &'a Store,
    args: &'a Args,
    cfg: &'a BacktestConfig,
    now: i64,
    pairs: usize,
}

fn objective(m: MetricArg) -> Objective {
    match m {
        MetricArg::Sharpe => Objective::Sharpe,
        MetricArg::Sortino => Objective::Sortino,
        MetricArg::Return => Objective::TotalReturn,
        MetricArg::Calmar => Objective::Calmar,
    }
}

/// Headline figures of one symbol's run.
fn headline(m: &Metrics, score: Option<f64>) -> Value {
    json!({
        "total_return_pct": m.total_return_pct,
        "sharpe": m.sharpe,
        "max_drawdown_pct": m.max_drawdown_pct,
        "total_trades": m.total_trades,
        "win_rate_pct": m.win_rate_pct,
        "buy_and_hold_return_pct": m.buy_and_hold_return_pct,
        "bars": m.bars,
        "from_time": m.from_time,
        "to_time": m.to_time,
        "score": score,
    })
}

/// Per-symbol headlines and the overall figures: the mean return (= the return of the
/// capital split equally across the symbols' runs), the mean Sharpe (null if any is
/// undefined), the worst max drawdown, the total trades and bars, the mean score.
fn part_summary(syms: &[Symbol], metrics: &[&Metrics], objective: Objective) -> Value {
    let n = metrics.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Metrics) -> Option<f64>| {
        metrics
            .iter()
            .map(|m| f(m))
            .sum::<Option<f64>>()
            .map(|s| s / n)
    };
    let symbols: BTreeMap<&str, Value> = syms
        .iter()
        .zip(metrics)
        .map(|(s, m)| (s.0.as_str(), headline(m, objective.score(m))))
        .collect();
    json!({
        "overall": {
            "symbols": metrics.len(),
            "total_return_pct": mean(&|m| Some(m.total_return_pct)),
            "sharpe": mean(&|m| m.sharpe),
            "max_drawdown_pct": metrics.iter().map(|m| m.max_drawdown_pct).fold(0.0, f64::max),
            "total_trades": metrics.iter().map(|m| m.total_trades).sum::<usize>(),
            "bars": metrics.iter().map(|m| m.bars).sum::<usize>(),
            "score": mean(&|m| objective.score(m)),
        },
        "symbols": symbols,
    })
}

/// One symbol's out-of-sample verdict against the `[backtest]` criteria.
struct SymbolVerdict {
    verdict: &'static str,
    reasons: Vec<String>,
}

fn symbol_verdict(ctx: &Ctx, oos: Option<&Metrics>) -> SymbolVerdict {
    let c = &ctx.settings.file.backtest;
    match oos {
        None => SymbolVerdict {
            verdict: "no_out_of_sample",
            reasons: vec!["no out-of-sample part".into()],
        },
        Some(m) if m.bars < c.min_bars => SymbolVerdict {
            verdict: "insufficient_data",
            reasons: vec![format!(
                "the out-of-sample part has {} bars, fewer than backtest.min_bars = {}",
                m.bars, c.min_bars
            )],
        },
        Some(m) => {
            let reasons = strategies::criteria_failures(c, m);
            SymbolVerdict {
                verdict: if reasons.is_empty() { "pass" } else { "fail" },
                reasons,
            }
        }
    }
}

/// The verdict over every symbol: no winner, no split, any failure, any symbol with too
/// few out-of-sample bars, else pass.
fn overall_verdict(best: bool, verdicts: &[SymbolVerdict]) -> &'static str {
    if !best {
        "no_winner"
    } else if verdicts.iter().any(|v| v.verdict == "no_out_of_sample") {
        "no_out_of_sample"
    } else if verdicts.iter().any(|v| v.verdict == "fail") {
        "fail"
    } else if verdicts.iter().any(|v| v.verdict == "insufficient_data") {
        "insufficient_data"
    } else {
        "pass"
    }
}

/// What stops the winner from being applied to the strategy, besides the validation.
fn apply_blockers(
    o: &OptimizeRun<'_>,
    t: &Target,
    optimised: &[Symbol],
    results: &BTreeMap<String, Value>,
) -> Vec<String> {
    let Some(st) = &t.strategy else {
        return vec!["an ad hoc run (--kind) has no stored parameters to change".into()];
    };
    let mut why = Vec::new();
    for s in &st.symbols {
        if !optimised.contains(s) {
            let detail = results
                .get(&format!("{}/{}", t.label, s))
                .and_then(|v| v["error"].as_str())
                .map(|e| format!("not optimised: {e}"))
                .unwrap_or_else(|| "not optimised (not selected by --symbol)".into());
            why.push(format!("{s}: {detail}"));
        }
    }
    for s in optimised {
        if !st.symbols.contains(s) {
            why.push(format!(
                "{s}: optimised on, but the strategy does not trade it"
            ));
        }
    }
    if t.tf != st.timeframe {
        why.push(format!(
            "optimised on {} candles; the strategy trades {}",
            t.tf, st.timeframe
        ));
    }
    let s = &o.ctx.settings.file.backtest;
    if o.cfg.fee_rate != s.fee_rate {
        why.push(format!(
            "--fee {} differs from backtest.fee_rate = {}: --apply validates under the configured costs",
            o.cfg.fee_rate, s.fee_rate
        ));
    }
    why
}

fn apply_json(requested: bool, status: &str, reasons: &[String]) -> Value {
    json!({
        "requested": requested,
        "applied": status == "applied",
        "status": status,
        "reasons": reasons,
    })
}

/// Run the grid over the loaded symbols (with a spinner on a terminal for long searches).
fn search(
    o: &OptimizeRun<'_>,
    t: &Target,
    grid: &Grid,
    loaded: &[(Symbol, Vec<Bar>)],
) -> Result<JointReport, crate::core::backtest::BacktestError> {
    let settings = &o.ctx.settings.file.backtest;
    let series: Vec<&[Bar]> = loaded.iter().map(|(_, b)| b.as_slice()).collect();
    let total_bars: usize = series.iter().map(|b| b.len()).sum();
    let spinner = (o.ctx.progress_enabled()
        && grid.size().saturating_mul(total_bars as u64) > 2_000_000)
        .then(|| {
            let s = indicatif::ProgressBar::new_spinner();
            s.set_message(format!(
                "{}: up to {} combinations on {} symbols, {total_bars} bars",
                t.label,
                grid.size(),
                series.len()
            ));
            s.enable_steady_tick(std::time::Duration::from_millis(120));
            s
        });
    let rep = optimize_symbols(
        &series,
        t.tf,
        &t.spec,
        grid,
        o.cfg,
        &OptimizeConfig {
            objective: objective(o.args.metric),
            train_ratio: train_ratio(o.args),
        },
        &GridLimits::new(
            settings.max_grid_combinations,
            settings.max_stored_grid_runs,
        ),
    );
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    rep
}

/// The optimisation of one target over its loaded symbols: run, validate, store (and
/// apply when asked and allowed), then the per-symbol results, files and table rows.
/// Returns the target's entry of `optimizations`.
async fn optimize_target(
    o: &OptimizeRun<'_>,
    t: &Target,
    grid: &Grid,
    loaded: Vec<(Symbol, Vec<Bar>)>,
    results: &mut BTreeMap<String, Value>,
    table: &mut Table,
) -> Result<Value> {
    let args = o.args;
    let settings = &o.ctx.settings.file.backtest;
    let objective = objective(args.metric);
    let syms: Vec<Symbol> = loaded.iter().map(|(s, _)| s.clone()).collect();
    let refused = |why: String| {
        let reasons = if args.apply { vec![why] } else { vec![] };
        let status = if args.apply {
            "refused"
        } else {
            "not_requested"
        };
        apply_json(args.apply, status, &reasons)
    };
    if loaded.is_empty() {
        let e = "no symbol had enough candles to optimise (see results)";
        return Ok(error_entry(t, e, refused("nothing was optimised".into())));
    }
    let rep = search(o, t, grid, &loaded);
    let rep = match rep {
        Ok(r) => r,
        Err(e) => {
            for sym in &syms {
                results.insert(
                    format!("{}/{}", t.label, sym),
                    json!({"status": "error", "error": e.to_string()}),
                );
            }
            let apply = refused(format!("the optimisation failed: {e}"));
            return Ok(error_entry(t, &e.to_string(), apply));
        }
    };
    let verdicts: Vec<SymbolVerdict> = rep.best.as_ref().map_or_else(Vec::new, |b| {
        b.out_of_sample
            .iter()
            .map(|r| symbol_verdict(o.ctx, r.as_ref().map(|r| &r.metrics)))
            .collect()
    });
    let verdict = overall_verdict(rep.best.is_some(), &verdicts);
    let validation_reasons: Vec<String> = syms
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| !v.reasons.is_empty())
        .map(|(s, v)| format!("{s}: {}", v.reasons.join(", ")))
        .collect();
    let summary = summarize(&rep, &syms, objective, &verdicts, verdict, settings);
    let mut reasons = if args.apply {
        apply_blockers(o, t, &syms, results)
    } else {
        Vec::new()
    };
    if args.apply {
        if rep.best.is_none() {
            reasons.push(format!(
                "no parameter combination had a defined {objective} on every symbol"
            ));
        }
        reasons.extend(validation_reasons);
    }
    let stored = StoreArgs {
        grid,
        rep: &rep,
        syms: &syms,
        summary: &summary,
        verdict,
    };
    let (id, apply_status) = store_optimization(o, t, &stored, &mut reasons).await?;
    let apply = apply_json(args.apply, apply_status, &reasons);
    let Some(best) = &rep.best else {
        for sym in &syms {
            results.insert(
                format!("{}/{}", t.label, sym),
                json!({"status": "error", "error": format!("no parameter combination had a defined {objective} on every symbol"), "optimization_id": id}),
            );
        }
        return Ok(target_entry(summary, "error", t, id, apply));
    };
    for (i, (sym, bars)) in loaded.iter().enumerate() {
        let key = format!("{}/{}", t.label, sym);
        let split = rep.splits[i];
        let oos = best.out_of_sample[i].as_ref().map(|r| &r.metrics);
        let extra = json!({
            "optimized": true,
            "optimization_id": id,
            "objective": objective.as_str(),
            "grid_size": rep.grid_size,
            "combinations": rep.combinations,
            "runs_stored": rep.runs.len(),
            "split": split,
            "in_sample": best.in_sample[i].metrics,
            "out_of_sample": oos,
            "validation": {"verdict": verdicts[i].verdict, "reasons": verdicts[i].reasons},
            "metrics_cover": "all bars, in-sample and out-of-sample together (as the files); judge the parameters by out_of_sample",
        });
        let res: Result<Value> = (|| {
            // Files and `metrics` describe the winner over all bars.
            let full = run_backtest(bars, t.tf, &best.spec, o.cfg)?;
            let files = match &args.output_dir {
                Some(d) => write_outputs(
                    &output_dir(d, o.pairs, t, sym),
                    &format!("{key} {}", t.tf),
                    bars,
                    &full,
                )?,
                None => vec![],
            };
            symbol_result(extra, t, sym, &full, files)
        })();
        table.add_row(symbol_row(
            t,
            &best.spec,
            &best.in_sample[i].metrics,
            oos,
            &verdicts[i],
            sym,
        ));
        results.insert(
            key,
            res.unwrap_or_else(|e| json!({"status": "error", "error": format!("{e:#}")})),
        );
    }
    table.add_row(overall_row(t, best, &summary, verdict, apply_status));
    Ok(target_entry(summary, "success", t, id, apply))
}

/// A symbol's table row: in-sample and out-of-sample figures side by side.
fn symbol_row(
    t: &Target,
    spec: &StrategySpec,
    is: &Metrics,
    oos: Option<&Metrics>,
    v: &SymbolVerdict,
    sym: &Symbol,
) -> Vec<String> {
    vec![
        t.label.clone(),
        sym.0.clone(),
        params_text(spec),
        format!("{:.2}", is.total_return_pct),
        oos.map_or("-".into(), |m| format!("{:.2}", m.total_return_pct)),
        opt2(is.sharpe),
        opt2(oos.and_then(|m| m.sharpe)),
        format!("{:.2}", is.max_drawdown_pct),
        oos.map_or("-".into(), |m| format!("{:.2}", m.max_drawdown_pct)),
        is.total_trades.to_string(),
        oos.map_or("-".into(), |m| m.total_trades.to_string()),
        if v.reasons.is_empty() {
            v.verdict.to_string()
        } else {
            format!("{}: {}", v.verdict, v.reasons.join(", "))
        },
    ]
}

/// The entry of a target whose optimisation could not run (nothing stored).
fn error_entry(t: &Target, error: &str, apply: Value) -> Value {
    json!({
        "status": "error",
        "error": error,
        "strategy": t.label,
        "strategy_id": t.strategy.as_ref().map(|s| s.id),
        "timeframe": t.tf,
        "optimization_id": null,
        "apply": apply,
    })
}

fn target_entry(mut summary: Value, status: &str, t: &Target, id: i64, apply: Value) -> Value {
    summary["status"] = json!(status);
    summary["strategy"] = json!(t.label);
    summary["strategy_id"] = json!(t.strategy.as_ref().map(|s| s.id));
    summary["timeframe"] = json!(t.tf);
    summary["optimization_id"] = json!(id);
    summary["apply"] = apply;
    summary
}

/// The fields every backtest row of one optimisation shares.
struct RowBase {
    id: i64,
    sid: Option<i64>,
    tf: Timeframe,
    now: i64,
}

impl RowBase {
    fn row<'a>(
        &self,
        symbol: &'a Symbol,
        phase: &'a str,
        spec: &'a StrategySpec,
        metrics: &'a Metrics,
    ) -> ResultRow<'a> {
        ResultRow {
            optimization_id: self.id,
            strategy_id: self.sid,
            symbol,
            timeframe: self.tf,
            phase,
            spec,
            metrics,
            created_ms: self.now,
        }
    }
}

/// What [`store_optimization`] writes.
struct StoreArgs<'a> {
    grid: &'a Grid,
    rep: &'a JointReport,
    syms: &'a [Symbol],
    summary: &'a Value,
    verdict: &'a str,
}

/// Store the optimisation, its kept grid runs and the winner in and out of sample, and
/// apply the winner to the strategy when asked and nothing in `reasons` stops it, all in
/// one transaction. Returns the optimisation's id and the apply status.
async fn store_optimization(
    o: &OptimizeRun<'_>,
    t: &Target,
    w: &StoreArgs<'_>,
    reasons: &mut Vec<String>,
) -> Result<(i64, &'static str)> {
    let rep = w.rep;
    let run_id = o.ctx.run_id.load(std::sync::atomic::Ordering::SeqCst);
    let sid = t.strategy.as_ref().map(|s| s.id);
    let tx = o.store.begin().await?;
    let id = optimizations::insert(
        &tx,
        &NewOptimization {
            run_id: (run_id > 0).then_some(run_id),
            strategy_id: sid,
            spec_kind: t.spec.kind.as_str(),
            timeframe: t.tf,
            symbols: w.syms,
            objective: rep.objective.as_str(),
            grid_json: serde_json::to_string(w.grid)?,
            train_ratio: train_ratio(o.args),
            grid_size: rep.grid_size,
            combinations: rep.combinations,
            runs_stored: rep.runs.len(),
            params_json: rep
                .best
                .as_ref()
                .map(|b| serde_json::to_string(&b.spec))
                .transpose()?,
            summary_json: serde_json::to_string(w.summary)?,
            verdict: w.verdict,
            apply_requested: o.args.apply,
            created_ms: o.now,
        },
    )
    .await?;
    let rows = RowBase {
        id,
        sid,
        tf: t.tf,
        now: o.now,
    };
    for run in &rep.runs {
        let spec = t.spec.with_params(&run.params)?;
        for (sym, r) in w.syms.iter().zip(&run.symbols) {
            optimizations::insert_result(&tx, &rows.row(sym, "grid", &spec, &r.metrics)).await?;
        }
    }
    if let Some(b) = &rep.best {
        for (i, sym) in w.syms.iter().enumerate() {
            let is = &b.in_sample[i].metrics;
            optimizations::insert_result(&tx, &rows.row(sym, "in_sample", &b.spec, is)).await?;
            if let Some(r) = &b.out_of_sample[i] {
                optimizations::insert_result(
                    &tx,
                    &rows.row(sym, "out_of_sample", &b.spec, &r.metrics),
                )
                .await?;
            }
        }
    }
    let status = match (&t.strategy, &rep.best) {
        _ if !o.args.apply => "not_requested",
        _ if !reasons.is_empty() => "refused",
        (Some(st), Some(b)) if st.spec == b.spec => "unchanged",
        (Some(st), Some(b)) => {
            if strategies::set_spec_if_unchanged(&tx, st.id, &b.spec, st.updated_ms, o.now).await? {
                "applied"
            } else {
                reasons.push(
                    "the strategy was changed by another run while it was being optimised; run again"
                        .into(),
                );
                "refused"
            }
        }
        _ => "refused",
    };
    optimizations::set_applied(&tx, id, status == "applied", reasons).await?;
    tx.commit().await.context("commit the optimisation")?;
    Ok((id, status))
}

/// The table's last row for a target: the overall figures and what happened to the
/// strategy's parameters.
fn overall_row(
    t: &Target,
    best: &crate::core::backtest::JointBest,
    summary: &Value,
    verdict: &str,
    apply_status: &str,
) -> Vec<String> {
    let f = |part: &str, k: &str, dp: usize| {
        summary[part]["overall"][k]
            .as_f64()
            .map(|x| format!("{x:.dp$}"))
            .unwrap_or_else(|| "-".into())
    };
    let outcome = match apply_status {
        "applied" => "parameters applied",
        "unchanged" => "already the strategy's parameters",
        "refused" => "--apply refused, parameters unchanged",
        _ if t.strategy.is_some() => "not applied (no --apply)",
        _ => "ad hoc run",
    };
    vec![
        t.label.clone(),
        format!("all {} symbols", best.in_sample.len()),
        params_text(&best.spec),
        f("in_sample", "total_return_pct", 2),
        f("out_of_sample", "total_return_pct", 2),
        f("in_sample", "sharpe", 2),
        f("out_of_sample", "sharpe", 2),
        f("in_sample", "max_drawdown_pct", 2),
        f("out_of_sample", "max_drawdown_pct", 2),
        f("in_sample", "total_trades", 0),
        f("out_of_sample", "total_trades", 0),
        format!("{verdict}; {outcome}"),
    ]
}

/// The stored and reported figures of an optimisation.
fn summarize(
    rep: &JointReport,
    syms: &[Symbol],
    objective: Objective,
    verdicts: &[SymbolVerdict],
    verdict: &str,
    c: &crate::core::config::BacktestSettings,
) -> Value {
    let best = rep.best.as_ref();
    let in_sample = best.map(|b| {
        let m: Vec<&Metrics> = b.in_sample.iter().map(|r| &r.metrics).collect();
        part_summary(syms, &m, objective)
    });
    let out_of_sample = best.and_then(|b| {
        let m: Option<Vec<&Metrics>> = b
            .out_of_sample
            .iter()
            .map(|r| r.as_ref().map(|r| &r.metrics))
            .collect();
        m.map(|m| part_summary(syms, &m, objective))
    });
    let per: BTreeMap<&str, Value> = syms
        .iter()
        .zip(verdicts)
        .map(|(s, v)| {
            (
                s.0.as_str(),
                json!({"verdict": v.verdict, "reasons": v.reasons}),
            )
        })
        .collect();
    json!({
        "objective": objective.as_str(),
        "selection": SELECTION,
        "symbols_optimized": syms,
        "grid_size": rep.grid_size,
        "combinations": rep.combinations,
        "runs_stored": rep.runs.len(),
        "params": best.map(|b| &b.spec),
        "score": best.map(|b| b.score),
        "in_sample": in_sample,
        "out_of_sample": out_of_sample,
        "validation": {
            "criteria": {"min_sharpe": c.min_sharpe, "min_return_pct": c.min_return_pct, "max_drawdown_pct": c.max_drawdown_pct, "min_bars": c.min_bars},
            "verdict": verdict,
            "symbols": per,
        },
    })
}
