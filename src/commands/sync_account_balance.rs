//! `fks sync-account-balance`: snapshot balance, equity, unrealized PnL, margin, daily and
//! cumulative PnL of every active account (or one) into the balance history.

use super::Ctx;
use crate::core::accounts::{self, Account, money};
use crate::core::balances;
use crate::core::freshness;
use crate::core::valuation;
use anyhow::Result;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this account (default: every active account).
    #[arg(long)]
    pub account_id: Option<i64>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<crate::output::Outcome> {
    let store = ctx.store().await?;
    let list = accounts::selected(store, args.account_id).await?;
    let mut results = BTreeMap::new();
    let mut synced = 0;
    for acct in &list {
        let r = sync_one(ctx, acct).await;
        match r {
            Ok(v) => {
                synced += 1;
                results.insert(acct.name.clone(), v);
            }
            Err(e) => {
                tracing::warn!("account {}: {e:#}", acct.name);
                results.insert(
                    acct.name.clone(),
                    json!({"status": "error", "error": format!("{e:#}")}),
                );
            }
        }
    }
    crate::output::Outcome::from_results(json!({ "accounts_synced": synced, "results": results }))
}

async fn sync_one(ctx: &Ctx, acct: &Account) -> Result<Value> {
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    let mut notes = Vec::new();
    // The one valuation (crate::core::valuation): cash, every position marked once, margin.
    let venue = ctx.venue_for(acct).await?;
    let state = venue.value_now(store, acct, &[], now).await?.0;
    // A paper account is valued at stored closes: when one is stale by the freshness rule
    // the equity is not current, so no snapshot is written (a gap in the history, which
    // calculate-metrics shows, rather than a stale figure passed off as a real one); the
    // account is `stale` with the prices and their times. Exchange valuations are read from
    // the exchange in this run (fresh by construction).
    if state.source == valuation::Source::Store {
        let market = &ctx.settings.file.market;
        let stale = freshness::stale_marks(&state, &market.freshness(), market.timeframe, now);
        if !stale.is_empty() {
            return Ok(json!({
                "status": "stale",
                "account_id": acct.id,
                "kind": acct.kind,
                "quote": acct.quote,
                "stale_prices": stale,
                "error": format!(
                    "no snapshot written: its equity would rest on stale prices ({}); sync market data first",
                    freshness::describe_stale_marks(&stale)
                ),
            }));
        }
    }
    if !state.unpriced.is_empty() {
        let names: Vec<String> = state
            .positions
            .iter()
            .filter(|p| state.unpriced.contains(&p.symbol))
            .map(|p| p.asset.clone().unwrap_or_else(|| p.symbol.0.clone()))
            .collect();
        notes.push(if venue.profile().spot_balances {
            format!(
                "no {} price for {}: not valued",
                acct.quote,
                names.join(", ")
            )
        } else {
            format!("no price for {}: valued at entry", names.join(", "))
        });
    }
    let snap = balances::snapshot(store, acct, &state, now).await?;
    balances::record(store, acct.id, &snap, &state).await?;
    let q = acct.quote.as_str();
    let status = if snap.equity.is_zero() {
        "empty"
    } else {
        "success"
    };
    let mut v = json!({
        "status": if status == "empty" { "success" } else { status },
        "account_id": acct.id,
        "kind": acct.kind,
        "quote": q,
        "balance": money(snap.balance, q),
        "equity": money(snap.equity, q),
        "unrealized_pnl": money(snap.unrealized_pnl, q),
        "margin_used": money(snap.margin_used, q),
        "margin_available": money(snap.margin_available, q),
        "daily_pnl": money(snap.daily_pnl, q),
        "cumulative_pnl": money(snap.cumulative_pnl, q),
        "cumulative_pnl_base": snap.pnl_base,
        "cash": money(state.cash, q),
        "positions_value": money(state.positions_value, q),
        "fees_paid": money(state.fees_paid, q),
        "time": snap.time_ms,
    });
    if status == "empty" {
        notes.push("the account holds nothing (equity 0)".into());
    }
    if !notes.is_empty() {
        v["notes"] = json!(notes);
    }
    Ok(v)
}
