//! `fks rebalance-portfolio`: the orders that move an account within a band of its target
//! allocation; sells first, then buys with the cash they free, rounded to the exchange's
//! rules. A dry run unless trading is enabled and `--execute` is given.

use super::Ctx;
use crate::core::accounts;
use crate::core::exchange::venue::Venue;
use crate::core::execution::{RebalanceInput, plan_rebalance};
use crate::core::json_num::{InCurrency, Money};
use crate::core::market::Symbol;
use crate::core::notify::MessageKind;
use crate::core::orders;
use crate::core::outbox::NewMessage;
use crate::core::positions::{self, PositionSide};
use crate::core::rules_cache;
use crate::core::valuation::{self, Valuation};
use crate::output::{Outcome, Status};
use crate::vals;
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The account to rebalance (see `fks account list`).
    #[arg(long)]
    pub account_id: i64,
    /// Send the orders (also needs trading.enabled = true).
    #[arg(long)]
    pub execute: bool,
    /// JSON file of target fractions, e.g. {"BTCUSDT": 0.5, "ETHUSDT": 0.3}; default: the
    /// latest allocation stored by optimize-portfolio.
    #[arg(long)]
    pub targets: Option<PathBuf>,
    /// Drift allowed before a symbol is traded (absolute fraction).
    #[arg(long, default_value = "0.02")]
    pub band: Decimal,
    /// Sell held assets the targets do not list (default: leave them untouched and list them
    /// under `untouched`).
    #[arg(long)]
    pub sell_unlisted: bool,
}

/// An account valued once, with the prices of the targets it does not hold, the trading
/// rules of every symbol involved, and what the freshness rule kept out.
struct Valued {
    valuation: Valuation,
    prices: BTreeMap<Symbol, Decimal>,
    rules: BTreeMap<Symbol, crate::core::exchange::SymbolInfo>,
    /// Held LONG positions without a fresh price: the account cannot be valued.
    stale_held: Vec<serde_json::Value>,
    /// Targets not held without a fresh price: not traded.
    stale_targets: Vec<serde_json::Value>,
}

/// A paper account valued from the store, with the fresh stored prices of the targets it
/// does not hold and the paper exchange's rules. The freshness rule (the configured
/// timeframe's limit) judges every price: a held LONG position without a fresh price is
/// listed in `stale_held` (the caller refuses to trade), a target without one in
/// `stale_targets` (and gets no price, so it is not traded).
async fn paper_valuation(
    ctx: &Ctx,
    acct: &accounts::Account,
    targets: &[Symbol],
    now: i64,
) -> Result<Valued> {
    let store = ctx.store().await?;
    let (tf, rule) = (
        ctx.settings.file.market.timeframe,
        ctx.settings.file.market.freshness(),
    );
    let v = valuation::load(store, acct, now).await?;
    let held = |s: &Symbol| v.position(s).is_some_and(|p| !p.quantity.is_zero());
    let mut stale_held = Vec::new();
    for p in v
        .positions
        .iter()
        .filter(|p| p.side == PositionSide::Long && !p.quantity.is_zero())
    {
        let f = rule.check_close(&p.symbol, tf, p.price.and(p.price_time), now);
        if !f.is_fresh() {
            stale_held.push(f.to_json());
        }
    }
    let mut prices = BTreeMap::new();
    let mut stale_targets = Vec::new();
    for s in targets.iter().filter(|s| !held(s)) {
        let quote = positions::latest_stored_price(store, s, now).await?;
        let f = rule.check_close(s, tf, quote.map(|(_, t)| t), now);
        match quote.filter(|_| f.is_fresh()) {
            Some((price, _)) => {
                prices.insert(s.clone(), price);
            }
            None => stale_targets.push(f.to_json()),
        }
    }
    let rules = v
        .positions
        .iter()
        .map(|p| &p.symbol)
        .chain(targets)
        .map(|s| (s.clone(), rules_cache::paper_rules(s, &acct.quote)))
        .collect();
    Ok(Valued {
        valuation: v,
        prices,
        rules,
        stale_held,
        stale_targets,
    })
}

pub async fn load_targets(
    ctx: &Ctx,
    account_id: i64,
    file: Option<&PathBuf>,
) -> Result<(BTreeMap<Symbol, Decimal>, String)> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| super::usage(format!("--targets {}: cannot read it: {e}", f.display())))?;
        // Checked whole before anything is planned: a usage error (exit 2) names the file.
        let t = crate::core::targets::parse(&text)
            .map_err(|e| super::usage(format!("--targets {}: {e}", f.display())))?;
        return Ok((t, format!("file {}", f.display())));
    }
    let row = ctx
        .store()
        .await?
        .query_opt("SELECT targets, method, created_ms FROM portfolio_targets WHERE account_id = ? AND created_ms <= ? ORDER BY id DESC LIMIT 1", vals![account_id, ctx.now_ms()])
        .await?
        .context("no target allocation stored for this account: run optimize-portfolio or pass --targets FILE")?;
    let t: BTreeMap<Symbol, Decimal> = serde_json::from_str(&row.text(0)?)?;
    Ok((
        t,
        format!(
            "optimize-portfolio ({}) at {}",
            row.text(1)?,
            crate::core::time::fmt_ms(row.int(2)?)
        ),
    ))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    if args.band < Decimal::ZERO || args.band >= Decimal::ONE {
        return Err(super::usage(format!(
            "--band {}: must be at least 0 and below 1 (an absolute fraction: 0.02 = 2 points)",
            args.band
        )));
    }
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    let acct = accounts::get(store, args.account_id).await?;
    let send = orders::trading_allowed(ctx.settings.file.trading.enabled, args.execute)?;
    let (targets, source) = load_targets(ctx, acct.id, args.targets.as_ref()).await?;
    let venue = ctx.venue_for(&acct).await?;
    let venue: &dyn Venue = venue.as_ref();
    let profile = venue.profile();
    if !profile.rebalances {
        bail!(
            "rebalance-portfolio trades spot balances; {} is a {} account",
            acct.name,
            profile.noun
        );
    }
    // Orders an earlier run left unconfirmed are settled first (asked for, never resent).
    let reconciled = orders::reconcile_pending(store, &acct, venue, Some("rebalance"), now).await?;
    let mut notes = Vec::new();
    let target_syms: Vec<Symbol> = targets.keys().cloned().collect();
    // The account valued once (the same figures sync-account-balance records), the prices of
    // targets it does not hold, and the trading rules of every symbol involved.
    let Valued {
        valuation,
        prices,
        rules,
        stale_held,
        stale_targets: stale,
    } = match profile.simulated {
        true => paper_valuation(ctx, &acct, &target_syms, now).await?,
        false => {
            let (v, prices) = venue.value_now(store, &acct, &target_syms, now).await?;
            let mut syms: Vec<Symbol> = prices.keys().cloned().collect();
            for s in &target_syms {
                if !syms.contains(s) {
                    syms.push(s.clone());
                }
            }
            let rules = rules_cache::rules(store, venue, &syms, now).await?;
            // The exchange's own prices, read now.
            Valued {
                valuation: v,
                prices,
                rules,
                stale_held: Vec::new(),
                stale_targets: Vec::new(),
            }
        }
    };
    // The freshness rule: a stale holding leaves the account without a value, so nothing is
    // traded; a stale target is not traded (the run is partial).
    if !stale_held.is_empty() {
        return unvalued(&acct.name, send, stale_held, stale, reconciled);
    }
    let built = RebalanceInput::from_valuation(&valuation, &targets, &rules, &prices);
    let mut input = built.input;
    input.band = args.band;
    input.fee_rate = acct.fee_rate;
    if profile.simulated {
        // The paper exchange fills at the mark moved by the account's slippage.
        input.slippage = acct.slippage_bps / Decimal::from(10_000);
    }
    input.max_order_notional = ctx.settings.file.trading.max_order_notional;
    input.max_run_notional = ctx.settings.file.trading.max_run_notional;
    input.sell_untargeted = args.sell_unlisted;
    notes.extend(built.left_out.iter().map(|(_, why)| why.clone()));
    // Symbols an enabled strategy trades on this account belong to it: left out, and said.
    let mut strategy_owned = Vec::new();
    let held_or_targeted: Vec<Symbol> = input
        .holdings
        .iter()
        .map(|h| h.symbol.clone())
        .chain(input.targets.keys().cloned())
        .collect();
    for sym in held_or_targeted {
        if let Some(owner) = crate::core::strategies::owner_of(store, acct.id, &sym).await?
            && !strategy_owned.iter().any(|(s, _)| s == &sym)
        {
            input.holdings.retain(|h| h.symbol != sym);
            input.targets.remove(&sym);
            notes.push(format!(
                "{sym}: traded by strategy {owner} (run-strategies); left out"
            ));
            strategy_owned.push((sym, owner));
        }
    }
    notes.extend(built.dropped.iter().map(|(_, why)| why.clone()));
    let plan = plan_rebalance(&input).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Held and not listed: what the plan leaves alone, and what it could not trade anyway.
    let mut untouched: Vec<Symbol> = plan.untouched.clone();
    for (s, _) in &built.left_out {
        if !targets.contains_key(s) && !untouched.contains(s) {
            untouched.push(s.clone());
        }
    }
    untouched.sort();
    let run_id = ctx.run_id.load(std::sync::atomic::Ordering::SeqCst);
    let mut results = Vec::new();
    let (mut failures, mut rejected) = (0, 0);
    // Positions the store holds: an order that sells (or buys back) all of one closes it, and
    // is linked to it so the position is closed once (check-stop-loss may be closing it too).
    let open = crate::core::positions::open_positions(store, acct.id).await?;
    for o in &plan.orders {
        let mut entry = serde_json::to_value(InCurrency(&acct.quote, o))?;
        if send {
            let new = orders::NewOrder {
                account_id: acct.id,
                run_id: Some(run_id),
                symbol: &o.symbol,
                side: o.side,
                quantity: o.quantity,
                reason: "rebalance",
                now_ms: now,
                position_id: None,
            };
            let closes = open.iter().find(|p| {
                p.symbol == o.symbol
                    && orders::closing_side(p.side) == o.side
                    && o.quantity >= p.quantity
            });
            let journaled = match closes {
                Some(p) => orders::journal_close(store, venue, &new, p).await?,
                None => orders::Journaled::New(orders::journal(store, venue, &new).await?),
            };
            let done = match journaled {
                // The paper exchange applies the account's slippage to the last price itself.
                orders::Journaled::New(rec) => {
                    orders::execute(store, &acct, venue, &rec, Some(o.last_price), now).await?
                }
                orders::Journaled::Existing(rec) => {
                    entry["already_closing"] = json!(format!(
                        "{} is already being closed by order {} ({}); not sent again",
                        o.symbol, rec.client_order_id, rec.status
                    ));
                    failures += 1;
                    entry["fill"] = serde_json::to_value(&rec)?;
                    results.push(entry);
                    continue;
                }
            };
            if !done.is_filled() {
                failures += 1;
                rejected += usize::from(done.is_rejected());
            }
            entry["fill"] = serde_json::to_value(&done)?;
        }
        results.push(entry);
    }
    // Orders of earlier runs that turned out not to be ours, or are still unconfirmed, need
    // a look: the run is partial.
    let attention = reconciled
        .iter()
        .any(|r| matches!(r.status.as_str(), "foreign" | "unknown"));
    let no_fresh_target =
        failures == 0 && plan.orders.is_empty() && input.targets.is_empty() && !stale.is_empty();
    let status = if failures == 0 && stale.is_empty() && !attention {
        Status::Success
    } else if no_fresh_target {
        // No target has a fresh price: nothing is traded (the error below says why).
        Status::Error
    } else if failures > 0 && failures == plan.orders.len() && rejected == failures && !attention {
        // Every order was refused outright by the exchange.
        Status::Error
    } else {
        // Some orders filled, or an order's fate was settled without a fill (not placed
        // after a lost answer, foreign, unconfirmed), or a target had no fresh price and was
        // not traded: partial, with each order's status and the stale targets.
        Status::Partial
    };
    // The plan's fields as its type writes them: amounts in the account's quote.
    let p = serde_json::to_value(InCurrency(&acct.quote, &plan))?;
    let mut body = json!({
        "account": acct.name,
        "dry_run": !send,
        "targets_from": source,
        "total_value": p["total_value"],
        "equity": accounts::money(valuation.equity, &acct.quote),
        "valuation": valuation.summary_json(),
        "sell_unlisted": args.sell_unlisted,
        "untouched": untouched,
        "strategy_owned": strategy_owned.iter().map(|(s, o)| json!({"symbol": s, "strategy": o})).collect::<Vec<_>>(),
        "cash_before": p["cash_before"],
        "cash_after": p["cash_after"],
        "orders": results,
        "skipped": p["skipped"],
        "allocation_before": p["before"],
        "allocation_after": p["after"],
        "reconciled_orders": reconciled,
        "notes": notes,
        "stale": stale,
    });
    if no_fresh_target {
        body["error"] = json!(format!(
            "no target has a fresh price ({}): nothing is traded; sync market data first",
            stale
                .iter()
                .filter_map(|f| f["symbol"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if send && !plan.orders.is_empty() {
        let lines: Vec<String> = plan
            .orders
            .iter()
            .map(|o| {
                format!(
                    "{} {} {} (~{} {})",
                    o.side.as_str(),
                    o.quantity,
                    o.symbol,
                    Money::new(o.notional, &acct.quote).rounded(),
                    acct.quote
                )
            })
            .collect();
        let m = NewMessage::new(
            MessageKind::Trade,
            format!("Rebalanced {}", acct.name),
            format!(
                "{} orders, {} failed:\n{}",
                plan.orders.len(),
                failures,
                lines.join("\n")
            ),
        );
        body["notification"] = ctx.notify(m).await;
    }
    Outcome::new(status, body)
}

/// A holding without a fresh price leaves the account without a value: nothing is traded.
fn unvalued(
    account: &str,
    send: bool,
    mut stale: Vec<serde_json::Value>,
    stale_targets: Vec<serde_json::Value>,
    reconciled: impl serde::Serialize,
) -> Result<Outcome> {
    let names: Vec<String> = stale
        .iter()
        .filter_map(|f| f["symbol"].as_str().map(String::from))
        .collect();
    stale.extend(stale_targets);
    Outcome::new(
        Status::Error,
        json!({
            "account": account,
            "dry_run": !send,
            "error": format!(
                "no fresh price for {} held on {account}: the account cannot be valued, so nothing is traded; sync market data first",
                names.join(", ")
            ),
            "orders": [],
            "stale": stale,
            "reconciled_orders": serde_json::to_value(reconciled)?,
        }),
    )
}
