//! `fks check-stop-loss`: positions whose stop is hit (LONG: price <= stop; SHORT: price >=
//! stop; optional trailing stops); an urgent alert once per position and trigger; closes them
//! only with `--execute` and trading enabled. Stale prices never trigger.

use super::Ctx;
use crate::core::accounts::{self, Account};
use crate::core::exchange::venue::Venue;
use crate::core::execution::{self, StopSpec, StopStatus, evaluate_stop};
use crate::core::notify::{COLOR_RED, MessageKind};
use crate::core::orders;
use crate::core::outbox::NewMessage;
use crate::core::positions;
use crate::output::Outcome;
use crate::vals;
use anyhow::Result;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this account (default: every active account).
    #[arg(long)]
    pub account_id: Option<i64>,
    /// Close triggered positions with a market order (also needs trading.enabled = true).
    #[arg(long)]
    pub execute: bool,
}

async fn check_account(ctx: &Ctx, acct: &Account, send: bool) -> Result<Value> {
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    // The freshness rule: a price older than the configured timeframe's limit never triggers.
    let tf = ctx.settings.file.market.timeframe;
    let rule = ctx.settings.file.market.freshness();
    let max_age = rule.max_age_ms(tf);
    let open = positions::open_positions(store, acct.id).await?;
    let venue = ctx.venue_for(acct).await?;
    let venue: &dyn Venue = venue.as_ref();
    // Closes an earlier run left unconfirmed are settled first (asked for, never resent).
    let reconciled = orders::reconcile_pending(store, acct, venue, Some("stop-loss"), now).await?;
    // Prices from the venue: the exchange's ticker read now, or the paper exchange's stored
    // closes (with their times).
    let marks = if open.is_empty() {
        BTreeMap::new()
    } else {
        let syms: Vec<_> = open.iter().map(|p| p.symbol.clone()).collect();
        venue.marks(&syms, now).await?
    };
    let (mut checked, mut triggered, mut stale) = (0, Vec::new(), Vec::new());
    let mut strategy_owned = Vec::new();
    for p in &open {
        let spec_json = store
            .query_one("SELECT stop_spec FROM positions WHERE id = ?", vals![p.id])
            .await?
            .opt_text(0)?;
        let mut spec: StopSpec = spec_json
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?
            .unwrap_or_default();
        if spec.stop_price.is_none() {
            spec.stop_price = p.stop_loss;
        }
        if spec.stop_price.is_none() && spec.trailing.is_none() {
            continue;
        }
        // A symbol an enabled strategy owns: its stops are the strategy's (run-strategies).
        if let Some(owner) = crate::core::strategies::owner_of(store, acct.id, &p.symbol).await? {
            strategy_owned.push(json!({"symbol": p.symbol, "strategy": owner}));
            continue;
        }
        checked += 1;
        let price = marks.get(&p.symbol).copied();
        let Some((price, t)) = price else {
            stale.push(json!({"symbol": p.symbol, "side": p.side, "status": "no_price", "reason": "no price"}));
            continue;
        };
        let atr = crate::core::indicator_store::latest_at(
            store,
            &p.symbol,
            tf,
            Some(crate::core::freshness::last_closed_open(tf, now)),
        )
        .await?
        .and_then(|r| r.atr14)
        .and_then(|a| Decimal::try_from(a).ok());
        let c = evaluate_stop(p.side, p.entry_price, &spec, price, t, now, max_age, atr);
        if c.marks_changed(&spec) {
            let mut s2 = spec.clone();
            s2.high_water = c.new_high_water;
            s2.low_water = c.new_low_water;
            s2.trailing_stop = c.new_trailing_stop;
            store
                .exec(
                    "UPDATE positions SET stop_spec = ? WHERE id = ?",
                    vals![serde_json::to_string(&s2)?, p.id],
                )
                .await?;
        }
        match c.status {
            StopStatus::Stale => {
                let f = rule.check_close(&p.symbol, tf, Some(t), now);
                let mut e = f.to_json();
                e["side"] = json!(p.side);
                e["price"] = json!(price);
                e["price_age_secs"] = json!(c.price_age_ms / 1000);
                e["detail"] = json!(c.message);
                stale.push(e);
            }
            StopStatus::Triggered => {
                let stop = c.effective_stop.unwrap_or_default();
                let key = execution::alert_key(acct.id, &p.symbol, p.side, stop);
                let mut m = NewMessage::new(
                    MessageKind::Alert,
                    format!(
                        "Stop loss hit: {} {} on {}",
                        p.side.as_str(),
                        p.symbol,
                        acct.name
                    ),
                    format!(
                        "Price {price} crossed the stop {stop} (entry {}, quantity {}).",
                        p.entry_price, p.quantity
                    ),
                );
                m.urgent = true;
                m.color = Some(COLOR_RED);
                m.dedup_key = Some(key);
                m.cooldown_ms = Some(i64::MAX / 4);
                let alert = ctx.notify(m).await;
                let mut action = json!(if send { "close" } else { "alert_only" });
                if send {
                    let run_id = ctx.run_id.load(std::sync::atomic::Ordering::SeqCst);
                    let quantity = close_quantity(store, venue, &p.symbol, p.quantity, now).await?;
                    let new = orders::NewOrder {
                        account_id: acct.id,
                        run_id: Some(run_id),
                        symbol: &p.symbol,
                        side: orders::closing_side(p.side),
                        quantity,
                        reason: "stop-loss",
                        now_ms: now,
                        position_id: Some(p.id),
                    };
                    // A position is closed once: a close already in flight or filled (this
                    // job's in an earlier run, or rebalance's) is reported, not repeated.
                    action = match orders::journal_close(store, venue, &new, p).await? {
                        orders::Journaled::New(rec) => {
                            let done =
                                orders::execute(store, acct, venue, &rec, Some(price), now).await?;
                            json!({"closed": done.is_filled(), "order": done})
                        }
                        orders::Journaled::Existing(rec) => json!({
                            "closed": rec.is_filled(),
                            "already_closed": rec.is_filled(),
                            "close_in_flight": !rec.is_filled(),
                            "order": rec,
                        }),
                    };
                }
                triggered.push(json!({"symbol": p.symbol, "side": p.side, "stop": stop, "price": price, "action": action, "alert": alert}));
            }
            _ => {}
        }
    }
    let unclosed: Vec<&Value> = triggered
        .iter()
        .filter(|t| t["action"]["closed"] == json!(false))
        .collect();
    let refused = unclosed
        .iter()
        .all(|t| t["action"]["order"]["status"] == "rejected");
    let attention = reconciled
        .iter()
        .any(|r| matches!(r.status.as_str(), "foreign" | "unknown"));
    let status = if !unclosed.is_empty() && refused && !attention {
        // Every close was refused outright by the exchange.
        "error"
    } else if checked > 0 && stale.len() == checked {
        // No position could be checked (stale or no price): the freshness rule.
        "stale"
    } else if !unclosed.is_empty() || attention || !stale.is_empty() {
        // A close not placed after a lost answer, one that is not ours, one unconfirmed, or
        // a position that could not be checked.
        "partial"
    } else {
        "success"
    };
    Ok(json!({
        "status": status,
        "checked": checked,
        "triggered": triggered,
        "stale": stale,
        "reconciled_orders": reconciled,
        "strategy_owned": strategy_owned,
    }))
}

/// The quantity that closes `qty` of `symbol`: rounded down to the exchange's market lot step
/// (the journal holds what is sent, so reconciliation can compare it with the exchange's).
async fn close_quantity(
    store: &crate::core::store::Store,
    venue: &dyn Venue,
    symbol: &crate::core::market::Symbol,
    qty: Decimal,
    now: i64,
) -> Result<Decimal> {
    if venue.profile().simulated {
        // The paper exchange fills any quantity: the whole position closes.
        return Ok(qty);
    }
    let rules =
        crate::core::rules_cache::rules(store, venue, std::slice::from_ref(symbol), now).await?;
    let step = rules
        .get(symbol)
        .and_then(|info| execution::rules::quantity_rules(info, true))
        .map_or(Decimal::ZERO, |r| r.step);
    Ok(execution::round_qty_down(qty, step))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let send = orders::trading_allowed(ctx.settings.file.trading.enabled, args.execute)?;
    let mut results = BTreeMap::new();
    let (mut checked, mut triggered) = (0, 0);
    for acct in accounts::selected(store, args.account_id).await? {
        let v = check_account(ctx, &acct, send)
            .await
            .unwrap_or_else(|e| json!({"status": "error", "error": format!("{e:#}")}));
        checked += v["checked"].as_u64().unwrap_or(0);
        triggered += v["triggered"].as_array().map(|a| a.len()).unwrap_or(0);
        results.insert(acct.name.clone(), v);
    }
    // A partial account makes the run partial, a stale one counts as failed (Status::combine).
    Outcome::from_results(
        json!({ "dry_run": !send, "checked": checked, "triggered": triggered, "results": results }),
    )
}
