//! `fks run-backtest`: backtest strategies on stored candles, optionally optimising their
//! parameters (parallel grid, walk-forward split), store the results, write trade and
//! equity files and a chart.

use super::Ctx;
use crate::core::backtest::{
    BacktestConfig, BacktestResult, Grid, Objective, OptimizeConfig, StrategySpec, optimize,
    run_backtest,
};
use crate::core::market::{Bar, Symbol, Timeframe};
use crate::core::store::candles;
use crate::core::strategies::{self, StoredStrategy};
use crate::core::time::time_arg;
use crate::output::{Outcome, new_table};
use anyhow::{Context, Result, bail};
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
    /// Search the strategy's parameter grid.
    #[arg(long)]
    pub optimize: bool,
    /// Grid override: `fast=5:50:5,slow=20:200:20`.
    #[arg(long)]
    pub grid: Option<String>,
    /// What --optimize maximises: sharpe, sortino, return or calmar.
    #[arg(long, value_enum, default_value = "sharpe")]
    pub metric: MetricArg,
    /// Tune on this share of the bars and report the winner on the rest (0 < r < 1).
    #[arg(long, default_value_t = 0.7)]
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
    let r = args.train_ratio;
    if !(r.is_finite() && r > 0.0 && r < 1.0) {
        return Err(usage(format!(
            "--train-ratio {r}: must be between 0 and 1, both excluded (0.7 tunes on the first 70% of the bars and tests the winner on the rest)"
        )));
    }
    Ok(())
}

/// `--grid` for one strategy: parsed, within the parameters' bounds, and with at least one
/// valid combination; a usage error otherwise.
fn grid_for(spec: &StrategySpec, text: Option<&str>) -> Result<Grid> {
    let grid = match text {
        Some(g) => Grid::parse(spec.kind, g)
            .map_err(|e| super::usage(format!("--grid {g:?} for {}: {e}", spec.kind)))?,
        None => Grid::default_for(spec.kind),
    };
    if let Some(g) = text {
        grid.check(spec)
            .map_err(|e| super::usage(format!("--grid {g:?}: {e}")))?;
    }
    Ok(grid)
}

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
    // Every target's grid is checked before the first backtest runs.
    let mut grids = Vec::with_capacity(targets.len());
    for t in &targets {
        grids.push(if args.optimize {
            Some(grid_for(&t.spec, args.grid.as_deref())?)
        } else {
            None
        });
    }
    let pairs: usize = targets.iter().map(|t| t.symbols.len()).sum();
    let mut results = BTreeMap::new();
    let mut table = new_table();
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
    for (t, grid) in targets.iter().zip(&grids) {
        for sym in &t.symbols {
            let key = format!("{}/{}", t.label, sym);
            let res: Result<Value> = async {
                let bars =
                    candles::bars(store, sym, t.tf, args.from.map(|f| f - 1), args.to).await?;
                if bars.len() < t.spec.warmup_bars() + 2 {
                    bail!(
                        "{} {} candles stored for {sym}; {} needs at least {}",
                        bars.len(),
                        t.tf,
                        t.label,
                        t.spec.warmup_bars() + 2
                    );
                }
                let sid = t.strategy.as_ref().map(|s| s.id);
                let (result, mut extra) = if let Some(grid) = grid {
                    let objective = match args.metric {
                        MetricArg::Sharpe => Objective::Sharpe,
                        MetricArg::Sortino => Objective::Sortino,
                        MetricArg::Return => Objective::TotalReturn,
                        MetricArg::Calmar => Objective::Calmar,
                    };
                    let train_ratio = (args.train_ratio < 1.0).then_some(args.train_ratio);
                    let combos = grid.combinations(&t.spec).len();
                    let spinner =
                        (ctx.progress_enabled() && combos * bars.len() > 2_000_000).then(|| {
                            let s = indicatif::ProgressBar::new_spinner();
                            s.set_message(format!(
                                "{key}: {combos} combinations on {} bars",
                                bars.len()
                            ));
                            s.enable_steady_tick(std::time::Duration::from_millis(120));
                            s
                        });
                    let rep = optimize(
                        &bars,
                        t.tf,
                        &t.spec,
                        grid,
                        &cfg,
                        &OptimizeConfig {
                            objective,
                            train_ratio,
                        },
                    );
                    if let Some(s) = spinner {
                        s.finish_and_clear();
                    }
                    let rep = rep?;
                    for run in &rep.runs {
                        let spec = t.spec.with_params(&run.params)?;
                        strategies::record_result(
                            store,
                            sid,
                            sym,
                            t.tf,
                            "grid",
                            &spec,
                            &run.metrics,
                            now,
                        )
                        .await?;
                    }
                    let best = rep
                        .best
                        .context("no parameter combination had a defined score")?;
                    strategies::record_result(
                        store,
                        sid,
                        sym,
                        t.tf,
                        "in_sample",
                        &best.spec,
                        &best.in_sample.metrics,
                        now,
                    )
                    .await?;
                    if let Some(oos) = &best.out_of_sample {
                        strategies::record_result(
                            store,
                            sid,
                            sym,
                            t.tf,
                            "out_of_sample",
                            &best.spec,
                            &oos.metrics,
                            now,
                        )
                        .await?;
                    }
                    if let Some(st) = &t.strategy {
                        strategies::set_spec(store, st.id, &best.spec, now).await?;
                    }
                    let extra = json!({
                        "optimized": true,
                        "objective": objective.as_str(),
                        "combinations": rep.runs.len(),
                        "split": rep.split,
                        "in_sample": best.in_sample.metrics,
                        "out_of_sample": best.out_of_sample.as_ref().map(|r| &r.metrics),
                    });
                    // Files and the headline figures describe the winner over all bars.
                    (run_backtest(&bars, t.tf, &best.spec, &cfg)?, extra)
                } else {
                    let r = run_backtest(&bars, t.tf, &t.spec, &cfg)?;
                    strategies::record_result(
                        store, sid, sym, t.tf, "full", &t.spec, &r.metrics, now,
                    )
                    .await?;
                    (r, json!({"optimized": false}))
                };
                let files = match &args.output_dir {
                    Some(d) => {
                        let dir = if pairs == 1 {
                            d.clone()
                        } else {
                            d.join(format!("{}-{}", t.label.replace(['/', ' '], "_"), sym))
                        };
                        write_outputs(&dir, &format!("{key} {}", t.tf), &bars, &result)?
                    }
                    None => vec![],
                };
                let m = &result.metrics;
                table.add_row(vec![
                    t.label.clone(),
                    sym.0.clone(),
                    result
                        .spec
                        .params
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    format!("{:.2}", m.total_return_pct),
                    m.sharpe
                        .map(|x| format!("{x:.2}"))
                        .unwrap_or_else(|| "-".into()),
                    format!("{:.2}", m.max_drawdown_pct),
                    m.total_trades.to_string(),
                    m.win_rate_pct
                        .map(|x| format!("{x:.1}"))
                        .unwrap_or_else(|| "-".into()),
                    format!("{:.2}", m.buy_and_hold_return_pct),
                ]);
                let o = extra.as_object_mut().context("object")?;
                o.insert("status".into(), json!("success"));
                o.insert("strategy".into(), json!(t.label));
                o.insert("symbol".into(), json!(sym));
                o.insert("timeframe".into(), json!(t.tf));
                o.insert("params".into(), serde_json::to_value(&result.spec)?);
                o.insert("trades".into(), json!(result.trades.len()));
                o.insert("metrics".into(), serde_json::to_value(m)?);
                o.insert("files".into(), json!(files));
                Ok(extra)
            }
            .await;
            results.insert(
                key,
                res.unwrap_or_else(|e| json!({"status": "error", "error": format!("{e:#}")})),
            );
        }
    }
    Ok(Outcome::from_results(json!({
        "config": cfg,
        "open_positions_at_end": "closed at the last close and counted as trades (metrics.closed_at_end)",
        "results": results,
    }))?
    .with_table(table))
}
