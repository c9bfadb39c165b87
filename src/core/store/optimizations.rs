//! Stored optimisations (`run-backtest --optimize`): one row per optimisation of a strategy
//! (or an ad hoc kind) over its symbols, and the `backtest_results` rows that belong to it
//! (the kept grid runs, the winner in and out of sample), all written in one transaction.

use super::Tx;
use crate::core::backtest::{Metrics, StrategySpec};
use crate::core::market::{Symbol, Timeframe};
use crate::vals;
use anyhow::{Context, Result};

/// An optimisation to record.
#[derive(Debug, Clone)]
pub struct NewOptimization<'a> {
    pub run_id: Option<i64>,
    pub strategy_id: Option<i64>,
    pub spec_kind: &'a str,
    pub timeframe: Timeframe,
    /// The symbols optimised together.
    pub symbols: &'a [Symbol],
    pub objective: &'a str,
    /// The grid's ranges, as JSON.
    pub grid_json: String,
    pub train_ratio: Option<f64>,
    pub grid_size: u64,
    pub combinations: usize,
    pub runs_stored: usize,
    /// The winner's spec as JSON; `None` without a winner.
    pub params_json: Option<String>,
    /// In-sample, out-of-sample and validation figures, as JSON.
    pub summary_json: String,
    /// `pass`, `fail`, `insufficient_data`, `no_out_of_sample` or `no_winner`.
    pub verdict: &'a str,
    pub apply_requested: bool,
    pub created_ms: i64,
}

/// Insert an optimisation; returns its id.
pub async fn insert(tx: &Tx<'_>, o: &NewOptimization<'_>) -> Result<i64> {
    let symbols = o
        .symbols
        .iter()
        .map(|s| s.0.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let grid_size = i64::try_from(o.grid_size).unwrap_or(i64::MAX);
    tx.query_one(
        "INSERT INTO optimizations (run_id, strategy_id, kind, timeframe, symbols, objective, grid, train_ratio, \
         grid_size, combinations, runs_stored, params, summary, verdict, apply_requested, applied, apply_reasons, created_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '[]', ?) RETURNING id",
        vals![
            o.run_id,
            o.strategy_id,
            o.spec_kind,
            o.timeframe,
            symbols,
            o.objective,
            o.grid_json.as_str(),
            o.train_ratio,
            grid_size,
            o.combinations,
            o.runs_stored,
            o.params_json.clone(),
            o.summary_json.as_str(),
            o.verdict,
            o.apply_requested,
            o.created_ms
        ],
    )
    .await
    .context("store the optimisation")?
    .int(0)
}

/// Record whether the optimisation's parameters were applied, and why not.
pub async fn set_applied(tx: &Tx<'_>, id: i64, applied: bool, reasons: &[String]) -> Result<()> {
    tx.exec(
        "UPDATE optimizations SET applied = ?, apply_reasons = ? WHERE id = ?",
        vals![applied, serde_json::to_string(reasons)?, id],
    )
    .await?;
    Ok(())
}

/// One backtest row of an optimisation.
#[derive(Debug, Clone, Copy)]
pub struct ResultRow<'a> {
    pub optimization_id: i64,
    pub strategy_id: Option<i64>,
    pub symbol: &'a Symbol,
    pub timeframe: Timeframe,
    /// `grid`, `in_sample` or `out_of_sample`.
    pub phase: &'a str,
    pub spec: &'a StrategySpec,
    pub metrics: &'a Metrics,
    pub created_ms: i64,
}

pub async fn insert_result(tx: &Tx<'_>, r: &ResultRow<'_>) -> Result<()> {
    tx.exec(
        "INSERT INTO backtest_results (strategy_id, kind, symbol, timeframe, phase, params, from_ms, to_ms, metrics, created_ms, optimization_id) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vals![
            r.strategy_id,
            r.spec.kind.as_str(),
            r.symbol,
            r.timeframe,
            r.phase,
            serde_json::to_string(r.spec)?,
            r.metrics.from_time,
            r.metrics.to_time,
            serde_json::to_string(r.metrics)?,
            r.created_ms,
            r.optimization_id
        ],
    )
    .await?;
    Ok(())
}
