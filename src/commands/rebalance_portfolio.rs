//! `fks rebalance-portfolio`: the orders that move an account within a band of its target
//! allocation; sells first, then buys with the cash they free, rounded to the exchange's
//! rules. A dry run unless trading is enabled and `--execute` is given.

use super::Ctx;
use crate::core::accounts::{self, AccountKind};
use crate::core::exchange::Market;
use crate::core::execution::{self, Holding, RebalanceInput, plan_rebalance};
use crate::core::market::Symbol;
use crate::core::notify::MessageKind;
use crate::core::orders::{self, Venue};
use crate::core::outbox::NewMessage;
use crate::core::positions::{self, PositionSide};
use crate::core::rules_cache;
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
        .query_opt("SELECT targets, method, created_ms FROM portfolio_targets WHERE account_id = ? ORDER BY id DESC LIMIT 1", vals![account_id])
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
    let mut input = RebalanceInput::new(acct.quote.clone(), Decimal::ZERO);
    input.targets = targets.clone();
    input.band = args.band;
    input.fee_rate = acct.fee_rate;
    input.max_order_notional = ctx.settings.file.trading.max_order_notional;
    input.max_run_notional = ctx.settings.file.trading.max_run_notional;
    let client = match acct.kind {
        AccountKind::BinanceSpot => Some(ctx.binance_for(&acct, Market::Spot)?),
        AccountKind::BinanceFutures => bail!(
            "rebalance-portfolio trades spot balances; {} is a futures account",
            acct.name
        ),
        AccountKind::Paper => None,
    };
    let venue = match &client {
        Some(c) => Venue::Spot(c),
        None => Venue::Paper,
    };
    // Orders an earlier run left unconfirmed are settled first (asked for, never resent).
    let reconciled = orders::reconcile_pending(store, &acct, &venue, now).await?;
    let mut notes = Vec::new();
    let max_age = ctx.settings.file.market.max_price_age_secs as i64 * 1000;
    match &client {
        None => {
            let (state, _) = crate::core::balances::paper_state(store, &acct, now).await?;
            input.quote_free = state.margin_available.max(Decimal::ZERO);
            let mut syms: Vec<Symbol> = targets.keys().cloned().collect();
            for p in positions::open_positions(store, acct.id).await? {
                if p.side == PositionSide::Short {
                    notes.push(format!("{}: short positions are not rebalanced", p.symbol));
                    continue;
                }
                let Some((price, t)) =
                    positions::latest_stored_price(store, &p.symbol, now).await?
                else {
                    bail!("no price for {} held on {}", p.symbol, acct.name)
                };
                if now - t > max_age {
                    bail!(
                        "the latest {} price is {} old: holdings cannot be valued; sync market data first",
                        p.symbol,
                        super::paper::human_age(now - t)
                    );
                }
                syms.retain(|s| s != &p.symbol);
                input.holdings.push(Holding {
                    symbol: p.symbol.clone(),
                    quantity: p.quantity,
                    price,
                    info: rules_cache::paper_rules(&p.symbol, &acct.quote),
                });
            }
            for s in syms {
                if let Some((price, _)) = positions::latest_stored_price(store, &s, now)
                    .await?
                    .filter(|(_, t)| now - t <= max_age)
                {
                    input.holdings.push(Holding {
                        symbol: s.clone(),
                        quantity: Decimal::ZERO,
                        price,
                        info: rules_cache::paper_rules(&s, &acct.quote),
                    });
                } else {
                    notes.push(format!("{s}: no recent stored price; not traded"));
                    input.targets.remove(&s);
                }
            }
        }
        Some(c) => {
            let a = c.spot_account().await.context("read spot balances")?;
            input.quote_free = a.balance(&acct.quote).map(|b| b.free).unwrap_or_default();
            let mut syms: Vec<Symbol> = targets.keys().cloned().collect();
            for b in a.non_zero().filter(|b| b.asset != acct.quote) {
                let s = Symbol(format!("{}{}", b.asset, acct.quote));
                if !syms.contains(&s) {
                    syms.push(s);
                }
            }
            let prices = c.ticker_prices(&syms).await.context("read prices")?;
            let rules = rules_cache::rules(store, c, &syms, now).await?;
            for s in syms {
                let (Some(price), Some(info)) = (prices.get(&s), rules.get(&s)) else {
                    notes.push(format!(
                        "{s}: no price or trading rules on the exchange; not traded"
                    ));
                    input.targets.remove(&s);
                    continue;
                };
                let asset = info.base_asset.clone();
                let qty = a.balance(&asset).map(|b| b.free).unwrap_or_default();
                input.holdings.push(Holding {
                    symbol: s,
                    quantity: qty,
                    price: *price,
                    info: info.clone(),
                });
            }
        }
    }
    let plan = plan_rebalance(&input).map_err(|e| anyhow::anyhow!("{e}"))?;
    let run_id = ctx.run_id.load(std::sync::atomic::Ordering::SeqCst);
    let mut results = Vec::new();
    let mut failures = 0;
    for o in &plan.orders {
        let mut entry = serde_json::to_value(o)?;
        if send {
            let cid = execution::client_order_id(acct.id, run_id, &o.symbol, o.side, "rebalance");
            let rec = orders::record(
                store,
                acct.id,
                Some(run_id),
                &cid,
                &o.symbol,
                o.side,
                o.quantity,
                "rebalance",
                now,
            )
            .await?;
            let done = orders::execute(store, &acct, &venue, &rec, Some(o.est_price), now).await?;
            if !matches!(done.status.as_str(), "filled" | "partially_filled") {
                failures += 1;
            }
            entry["fill"] = serde_json::to_value(&done)?;
        }
        results.push(entry);
    }
    let status = if failures == 0 {
        Status::Success
    } else if failures < plan.orders.len() {
        Status::Partial
    } else {
        Status::Error
    };
    let mut body = json!({
        "account": acct.name,
        "dry_run": !send,
        "targets_from": source,
        "total_value": plan.total_value,
        "cash_before": plan.cash_before,
        "cash_after": plan.cash_after,
        "orders": results,
        "skipped": plan.skipped,
        "allocation_before": plan.before,
        "allocation_after": plan.after,
        "reconciled_orders": reconciled,
        "notes": notes,
    });
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
                    o.notional.round_dp(2),
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
