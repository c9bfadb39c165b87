//! `fks update-positions`: mark every open position to the latest price (unrealized PnL and
//! PnL %), reconcile futures positions with the exchange, flag stale prices.

use super::Ctx;
use crate::core::accounts::{self, Account};
use crate::core::positions;
use crate::core::store::Store;
use crate::core::valuation;
use crate::vals;
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
    for acct in &list {
        let v = match update_one(ctx, acct).await {
            Ok(v) => v,
            Err(e) => json!({"status": "error", "error": format!("{e:#}")}),
        };
        results.insert(acct.name.clone(), v);
    }
    let mut t = crate::output::new_table();
    t.set_header(vec![
        "account",
        "symbol",
        "side",
        "quantity",
        "entry",
        "price",
        "unrealized PnL",
        "PnL %",
        "status",
    ]);
    for (name, r) in &results {
        if let Some(e) = r.get("error").and_then(Value::as_str) {
            t.add_row(vec![
                name.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!("error: {e}"),
            ]);
        }
        for p in r
            .get("positions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let s = |k: &str| {
                p.get(k)
                    .map(|v| {
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .unwrap_or_default()
            };
            t.add_row(vec![
                name.clone(),
                s("symbol"),
                s("side"),
                s("quantity"),
                s("entry_price"),
                s("current_price"),
                s("unrealized_pnl"),
                s("pnl_pct"),
                s("status"),
            ]);
        }
    }
    Ok(
        crate::output::Outcome::from_results(
            json!({ "accounts": list.len(), "results": results }),
        )?
        .with_table(t),
    )
}

/// Bring the store's futures positions in line with the exchange's.
async fn reconcile(
    store: &Store,
    acct: &Account,
    live: &[crate::core::exchange::FuturesPosition],
    now: i64,
) -> Result<Value> {
    let (mut opened, mut changed, mut closed) = (0, 0, 0);
    let tx = store.begin().await?;
    let stored = positions::open_positions_tx(&tx, acct.id).await?;
    for p in live {
        let side = p.side;
        let pct = positions::pnl_pct(p.unrealized_pnl, p.quantity, p.entry_price);
        match stored.iter().find(|s| s.symbol == p.symbol) {
            Some(s) if s.side == side => {
                if s.quantity != p.quantity || s.entry_price != p.entry_price {
                    changed += 1;
                }
                tx.exec(
                    "UPDATE positions SET quantity = ?, entry_price = ?, current_price = ?, unrealized_pnl = ?, pnl_pct = ?, leverage = ?, price_time = ?, updated_ms = ? WHERE id = ?",
                    vals![p.quantity, p.entry_price, p.mark_price, p.unrealized_pnl, pct, Decimal::from(p.leverage), now, now, s.id],
                )
                .await?;
                continue;
            }
            Some(s) => {
                tx.exec("UPDATE positions SET status = 'closed', closed_ms = ?, updated_ms = ? WHERE id = ?", vals![now, now, s.id]).await?;
                closed += 1;
            }
            None => {}
        }
        tx.exec(
            "INSERT INTO positions (account_id, symbol, side, quantity, entry_price, current_price, unrealized_pnl, pnl_pct, leverage, price_time, status, opened_ms, updated_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
            vals![acct.id, &p.symbol, side.as_str(), p.quantity, p.entry_price, p.mark_price, p.unrealized_pnl, pct, Decimal::from(p.leverage), now, now, now],
        )
        .await?;
        opened += 1;
    }
    for s in stored
        .iter()
        .filter(|s| !live.iter().any(|p| p.symbol == s.symbol))
    {
        tx.exec(
            "UPDATE positions SET status = 'closed', closed_ms = ?, updated_ms = ? WHERE id = ?",
            vals![now, now, s.id],
        )
        .await?;
        closed += 1;
    }
    tx.commit().await?;
    Ok(json!({"opened": opened, "changed": changed, "closed": closed}))
}

async fn update_one(ctx: &Ctx, acct: &Account) -> Result<Value> {
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    // The freshness rule, judged by the configured timeframe's limit.
    let tf = ctx.settings.file.market.timeframe;
    let rule = ctx.settings.file.market.freshness();
    let mut reconciled = Value::Null;
    // Where prices come from: stored closes for paper, the exchange's ticker for Binance.
    // The venue is opened only when it is asked something (an exchange account without
    // open positions needs no credentials here).
    let profile = crate::core::exchange::venue::profile(acct.kind);
    let mut marks: BTreeMap<crate::core::market::Symbol, (Decimal, i64)> = BTreeMap::new();
    if profile.exchange_positions {
        // The exchange keeps the positions: read them, reconcile the store, mark at theirs.
        let live = ctx
            .venue_for(acct)
            .await?
            .positions(None)
            .await
            .context("read futures positions")?;
        reconciled = reconcile(store, acct, &live, now).await?;
        marks = live
            .iter()
            .map(|p| (p.symbol.clone(), (p.mark_price, now)))
            .collect();
    }
    let mut out = Vec::new();
    let (mut stale, mut unpriced) = (0, 0);
    let open = positions::open_positions(store, acct.id).await?;
    if !profile.exchange_positions && !open.is_empty() {
        let syms: Vec<_> = open.iter().map(|p| p.symbol.clone()).collect();
        marks = ctx.venue_for(acct).await?.marks(&syms, now).await?;
    }
    let prices: Vec<Option<(Decimal, i64)>> =
        open.iter().map(|p| marks.get(&p.symbol).copied()).collect();
    let tx = store.begin().await?;
    for (p, price) in open.iter().zip(prices) {
        let mut entry = json!({
            "symbol": p.symbol, "side": p.side, "quantity": positions::dec_str(p.quantity),
            "entry_price": positions::dec_str(p.entry_price), "stop_loss": p.stop_loss.map(positions::dec_str),
            "take_profit": p.take_profit.map(positions::dec_str),
        });
        match price {
            None => {
                unpriced += 1;
                entry["status"] = json!("no_price");
                entry["current_price"] = Value::Null;
                entry["unrealized_pnl"] = Value::Null;
                entry["pnl_pct"] = Value::Null;
                entry["price_time"] = Value::Null;
            }
            Some((px, t)) => {
                let age = now - t;
                let pnl = positions::unrealized(p.side, p.quantity, p.entry_price, px);
                let pct = positions::pnl_pct(pnl, p.quantity, p.entry_price);
                entry["current_price"] = json!(positions::dec_str(px));
                entry["unrealized_pnl"] = accounts::money(pnl, &acct.quote);
                entry["pnl_pct"] = json!(pct.map(|x| (x * 10_000.0).round() / 10_000.0));
                entry["price_time"] = json!(t);
                entry["price_age_secs"] = json!(age / 1000);
                let f = rule.check_close(&p.symbol, tf, Some(t), now);
                if !f.is_fresh() {
                    stale += 1;
                    entry["status"] = json!("stale");
                    entry["last_candle_time"] = json!(f.last_candle_time);
                    entry["age"] = json!(f.age);
                    entry["max_age_secs"] = json!(f.max_age_secs);
                    entry["max_age_from"] = json!(f.max_age_from);
                    entry["reason"] = json!(f.reason);
                } else {
                    entry["status"] = json!("success");
                    positions::mark(&tx, p.id, px, pnl, pct, t, now).await?;
                }
            }
        }
        out.push(entry);
    }
    tx.commit().await?;
    // Positions left unmarked (stale or no price) make the account partial, or `stale`
    // when none could be marked.
    let status = match stale + unpriced {
        0 => "success",
        n if n == out.len() => "stale",
        _ => "partial",
    };
    let mut v = json!({
        "status": status,
        "open_positions": out.len(),
        "stale": stale,
        "no_price": unpriced,
        "positions": out,
    });
    if !reconciled.is_null() {
        v["reconciled"] = reconciled;
    }
    add_valuation(store, acct, now, &mut v).await?;
    Ok(v)
}

/// The account's equity from the one valuation (crate::core::valuation), next to its marked
/// positions: a paper account valued now, an exchange account as its latest snapshot
/// valued it (`null` before the first sync-account-balance).
async fn add_valuation(store: &Store, acct: &Account, now: i64, v: &mut Value) -> Result<()> {
    match valuation::load_stored_or_live(store, acct, now).await? {
        Some(val) => {
            v["equity"] = accounts::money(val.equity, &acct.quote);
            v["valuation"] = val.summary_json();
        }
        None => {
            v["equity"] = Value::Null;
            v["valuation"] = Value::Null;
        }
    }
    Ok(())
}
