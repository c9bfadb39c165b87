//! `fks validate-strategies`: backtest each enabled strategy on recent data; disable those
//! that fail the criteria (Sharpe, return, drawdown; configurable) and alert.

use super::Ctx;
use crate::core::backtest::{BacktestConfig, run_backtest};
use crate::core::notify::{COLOR_RED, MessageKind};
use crate::core::outbox::NewMessage;
use crate::core::store::candles;
use crate::core::strategies;
use crate::output::Outcome;
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this strategy (default: every enabled one).
    #[arg(long)]
    pub strategy_id: Option<i64>,
    /// Days of recent data to validate on.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Report only; disable nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take a deterministic share K of N of the strategies (for several hosts on one
    /// Postgres); a strategy's verdict needs all its symbols, so the share is by strategy.
    #[arg(long)]
    pub shard: Option<super::Shard>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    let c = &ctx.settings.file.backtest;
    let cfg = BacktestConfig {
        initial_cash: c.initial_cash,
        fee_rate: c.fee_rate,
        slippage_bps: c.slippage_bps,
        ..Default::default()
    };
    let list = match args.strategy_id {
        Some(id) => vec![strategies::find(store, &id.to_string()).await?],
        None => strategies::list(store, true).await?,
    };
    let list: Vec<_> = list
        .into_iter()
        .filter(|st| super::Shard::keeps(args.shard, &st.name))
        .collect();
    let from = now - args.days as i64 * 86_400_000;
    let mut results = BTreeMap::new();
    let (mut passed, mut failed, mut disabled) = (0, 0, 0);
    for st in &list {
        let mut per_symbol = BTreeMap::new();
        let mut reasons = Vec::new();
        let mut insufficient = 0;
        for sym in &st.symbols {
            // Only candles closed by the run's clock.
            let to = crate::core::freshness::last_closed_open(st.timeframe, now);
            let bars = candles::bars(store, sym, st.timeframe, Some(from - 1), Some(to)).await?;
            let need = (st.spec.warmup_bars() + 2).max(c.min_bars);
            if bars.len() < need {
                insufficient += 1;
                per_symbol.insert(
                    sym.0.clone(),
                    json!({"verdict": "insufficient_data", "bars": bars.len(), "needed": need}),
                );
                continue;
            }
            let r = run_backtest(&bars, st.timeframe, &st.spec, &cfg)?;
            let m = &r.metrics;
            let why = strategies::criteria_failures(c, m);
            strategies::record_result(
                store,
                Some(st.id),
                sym,
                st.timeframe,
                "validation",
                &st.spec,
                m,
                now,
            )
            .await?;
            if !why.is_empty() {
                reasons.push(format!("{sym}: {}", why.join(", ")));
            }
            per_symbol.insert(sym.0.clone(), json!({"verdict": if why.is_empty() { "pass" } else { "fail" }, "reasons": why, "metrics": m}));
        }
        let verdict = if !reasons.is_empty() {
            "fail"
        } else if insufficient == st.symbols.len() {
            "insufficient_data"
        } else {
            "pass"
        };
        let mut action = "none";
        let mut positions_after = serde_json::Value::Null;
        match verdict {
            "pass" => passed += 1,
            "fail" => {
                failed += 1;
                if !args.dry_run {
                    let reason = format!(
                        "failed validation on the last {} days: {}",
                        args.days,
                        reasons.join("; ")
                    );
                    strategies::set_enabled(store, st.id, false, Some(&reason), now).await?;
                    disabled += 1;
                    action = "disabled";
                    let mut m = NewMessage::new(
                        MessageKind::Alert,
                        format!("Strategy {} disabled", st.name),
                        reason,
                    );
                    m.color = Some(COLOR_RED);
                    m.dedup_key = Some(format!("strategy-disabled:{}", st.id));
                    ctx.notify(m).await;
                    positions_after = on_disable(ctx, st, now).await?;
                } else {
                    action = "would_disable";
                }
            }
            _ => {}
        }
        results.insert(st.name.clone(), json!({"status": "success", "verdict": verdict, "action": action, "symbols": per_symbol, "positions": positions_after}));
    }
    Outcome::from_results(json!({
        "days": args.days,
        "dry_run": args.dry_run,
        "criteria": {"min_sharpe": c.min_sharpe, "min_return_pct": c.min_return_pct, "max_drawdown_pct": c.max_drawdown_pct},
        "passed": passed, "failed": failed, "disabled": disabled,
        "results": results,
    }))
}

/// A disabled strategy that holds positions on its account: `strategy.on_disable = "close"`
/// closes them (when trading is enabled), `"keep"` keeps them with an alert.
async fn on_disable(
    ctx: &Ctx,
    st: &crate::core::strategies::StoredStrategy,
    now: i64,
) -> Result<serde_json::Value> {
    let Some(account_id) = st.account_id else {
        return Ok(serde_json::Value::Null);
    };
    let store = ctx.store().await?;
    let acct = crate::core::accounts::get(store, account_id).await?;
    let held: Vec<_> = crate::core::positions::open_positions(store, account_id)
        .await?
        .into_iter()
        .filter(|p| st.symbols.contains(&p.symbol))
        .collect();
    if held.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    let close = ctx.settings.file.strategy.on_disable == crate::core::config::OnDisable::Close
        && ctx.settings.file.trading.enabled;
    let mut out = Vec::new();
    if close {
        let venue = ctx.venue_for(&acct).await?;
        let syms: Vec<_> = held.iter().map(|p| p.symbol.clone()).collect();
        let marks = venue.marks(&syms, now).await?;
        let run_id = ctx.run_id.load(std::sync::atomic::Ordering::SeqCst);
        for p in &held {
            let new = crate::core::orders::NewOrder {
                account_id,
                run_id: Some(run_id),
                symbol: &p.symbol,
                side: crate::core::orders::closing_side(p.side),
                quantity: p.quantity,
                reason: "strategy-disable",
                now_ms: now,
                position_id: Some(p.id),
            };
            // A position is closed once: a close already in flight (check-stop-loss's, a
            // rebalance's, an earlier run's) is reported, not repeated.
            let rec =
                match crate::core::orders::journal_close(store, venue.as_ref(), &new, p).await? {
                    crate::core::orders::Journaled::New(rec) => rec,
                    crate::core::orders::Journaled::Existing(rec) => {
                        out.push(
                            json!({"symbol": p.symbol, "action": "already_closing", "order": rec}),
                        );
                        continue;
                    }
                };
            let mark = marks.get(&p.symbol).map(|(m, _)| *m);
            let done =
                crate::core::orders::execute(store, &acct, venue.as_ref(), &rec, mark, now).await?;
            out.push(json!({"symbol": p.symbol, "action": "close", "order": done}));
        }
    } else {
        let names: Vec<String> = held
            .iter()
            .map(|p| {
                format!(
                    "{} {} {}",
                    p.side.as_str(),
                    p.quantity.normalize(),
                    p.symbol
                )
            })
            .collect();
        let mut m = NewMessage::new(
            MessageKind::Alert,
            format!("Strategy {} disabled with open positions", st.name),
            format!(
                "{} keeps {} on {} (strategy.on_disable = \"keep\"): close them by hand, or set on_disable = \"close\".",
                st.name,
                names.join(", "),
                acct.name
            ),
        );
        m.color = Some(COLOR_RED);
        m.dedup_key = Some(format!("strategy-disabled-positions:{}", st.id));
        ctx.notify(m).await;
        for p in &held {
            out.push(json!({"symbol": p.symbol, "action": "keep"}));
        }
    }
    Ok(json!(out))
}
