//! `fks sync-account-balance`: snapshot balance, equity, unrealized PnL, margin, daily and
//! cumulative PnL of every active account (or one) into the balance history.

use super::Ctx;
use crate::core::accounts::{self, Account, AccountKind, money};
use crate::core::balances::{self, AccountState};
use crate::core::exchange::Market;
use crate::core::market::Symbol;
use anyhow::{Context, Result};
use rust_decimal::Decimal;
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
    let state = match acct.kind {
        AccountKind::Paper => {
            let (s, unpriced) = balances::paper_state(store, acct, now).await?;
            if !unpriced.is_empty() {
                notes.push(format!(
                    "no price for {}: valued at entry",
                    unpriced.join(", ")
                ));
            }
            s
        }
        AccountKind::BinanceSpot => {
            let client = ctx.binance_for(acct, Market::Spot)?;
            let a = client
                .spot_account()
                .await
                .with_context(|| format!("read spot account {}", acct.name))?;
            let assets: Vec<_> = a.non_zero().cloned().collect();
            let symbols: Vec<Symbol> = assets
                .iter()
                .filter(|b| b.asset != acct.quote)
                .map(|b| Symbol(format!("{}{}", b.asset, acct.quote)))
                .collect();
            let prices = if symbols.is_empty() {
                BTreeMap::new()
            } else {
                client
                    .ticker_prices(&symbols)
                    .await
                    .context("value spot balances")?
            };
            let (mut total, mut free) = (Decimal::ZERO, Decimal::ZERO);
            let mut unpriced = Vec::new();
            for b in &assets {
                let px = if b.asset == acct.quote {
                    Some(Decimal::ONE)
                } else {
                    prices
                        .get(&Symbol(format!("{}{}", b.asset, acct.quote)))
                        .copied()
                };
                match px {
                    Some(p) => {
                        total += b.total() * p;
                        free += b.free * p;
                    }
                    None => unpriced.push(b.asset.clone()),
                }
            }
            if !unpriced.is_empty() {
                notes.push(format!(
                    "no {} price for {}: not valued",
                    acct.quote,
                    unpriced.join(", ")
                ));
            }
            AccountState {
                balance: total,
                unrealized_pnl: Decimal::ZERO,
                margin_used: Decimal::ZERO,
                margin_available: free,
                equity: Some(total),
            }
        }
        AccountKind::BinanceFutures => {
            let client = ctx.binance_for(acct, Market::UsdM)?;
            let a = client
                .futures_account()
                .await
                .with_context(|| format!("read futures account {}", acct.name))?;
            AccountState {
                balance: a.total_wallet_balance,
                unrealized_pnl: a.total_unrealized_profit,
                margin_used: a.total_position_initial_margin + a.total_open_order_initial_margin,
                margin_available: a.available_balance,
                equity: Some(a.total_margin_balance),
            }
        }
    };
    let snap = balances::snapshot(store, acct, &state, now).await?;
    balances::record(store, acct.id, &snap).await?;
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
