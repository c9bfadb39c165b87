//! `fks rebalance-portfolio`: the orders that move an account within a band of its target
//! allocation; sells first, then buys with the cash they free, rounded to the exchange's
//! rules. A dry run unless trading is enabled and `--execute` is given.

use super::Ctx;
use crate::core::accounts::{self, AccountKind};
use crate::core::exchange::Market;
use crate::core::execution::{self, RebalanceInput, plan_rebalance};
use crate::core::market::Symbol;
use crate::core::notify::MessageKind;
use crate::core::orders::{self, Venue};
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

/// A paper account valued from the store, with the fresh stored prices of the targets it
/// does not hold and the paper exchange's rules. A held LONG position without a fresh price
/// cannot be valued: refused.
async fn paper_valuation(
    ctx: &Ctx,
    acct: &accounts::Account,
    targets: &[Symbol],
    now: i64,
) -> Result<(
    Valuation,
    BTreeMap<Symbol, Decimal>,
    BTreeMap<Symbol, crate::core::exchange::SymbolInfo>,
)> {
    let store = ctx.store().await?;
    let max_age = ctx.settings.file.market.max_price_age_secs as i64 * 1000;
    let v = valuation::load(store, acct, now).await?;
    for p in v.positions.iter().filter(|p| p.side == PositionSide::Long) {
        let Some(t) = p.price_time.filter(|_| p.price.is_some()) else {
            bail!("no price for {} held on {}", p.symbol, acct.name)
        };
        if now - t > max_age {
            bail!(
                "the latest {} price is {} old: holdings cannot be valued; sync market data first",
                p.symbol,
                super::paper::human_age(now - t)
            );
        }
    }
    let mut prices = BTreeMap::new();
    for s in targets.iter().filter(|s| v.position(s).is_none()) {
        if let Some((price, _)) = positions::latest_stored_price(store, s, now)
            .await?
            .filter(|(_, t)| now - t <= max_age)
        {
            prices.insert(s.clone(), price);
        }
    }
    let rules = v
        .positions
        .iter()
        .map(|p| &p.symbol)
        .chain(targets)
        .map(|s| (s.clone(), rules_cache::paper_rules(s, &acct.quote)))
        .collect();
    Ok((v, prices, rules))
}

pub async fn load_targets(
    ctx: &Ctx,
    account_id: i64,
    file: Option<&PathBuf>,
) -> Result<(BTreeMap<Symbol, Decimal>, String)> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("read targets file {}", f.display()))?;
        let raw: BTreeMap<String, Decimal> = serde_json::from_str(&text).map_err(|e| {
            crate::core::config::ConfigError(format!(
                "targets file {}: {e} (expected {{\"BTCUSDT\": 0.5, ...}})",
                f.display()
            ))
        })?;
        let mut t = BTreeMap::new();
        for (k, v) in raw {
            t.insert(k.parse::<Symbol>()?, v);
        }
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
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    let acct = accounts::get(store, args.account_id).await?;
    let send = orders::trading_allowed(ctx.settings.file.trading.enabled, args.execute)?;
    let (targets, source) = load_targets(ctx, acct.id, args.targets.as_ref()).await?;
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
    let target_syms: Vec<Symbol> = targets.keys().cloned().collect();
    // The account valued once (the same figures sync-account-balance records), the prices of
    // targets it does not hold, and the trading rules of every symbol involved.
    let (valuation, prices, rules) = match &client {
        None => paper_valuation(ctx, &acct, &target_syms, now).await?,
        Some(c) => {
            let (v, prices) = valuation::fetch_spot(store, c, &acct, &target_syms, now).await?;
            let mut syms: Vec<Symbol> = prices.keys().cloned().collect();
            for s in &target_syms {
                if !syms.contains(s) {
                    syms.push(s.clone());
                }
            }
            let rules = rules_cache::rules(store, c, &syms, now).await?;
            (v, prices, rules)
        }
    };
    let built = RebalanceInput::from_valuation(&valuation, &targets, &rules, &prices);
    let mut input = built.input;
    input.band = args.band;
    input.fee_rate = acct.fee_rate;
    if acct.kind == AccountKind::Paper {
        // The paper exchange fills at the mark moved by the account's slippage.
        input.slippage = acct.slippage_bps / Decimal::from(10_000);
    }
    input.max_order_notional = ctx.settings.file.trading.max_order_notional;
    input.max_run_notional = ctx.settings.file.trading.max_run_notional;
    input.sell_untargeted = args.sell_unlisted;
    notes.extend(built.left_out.iter().map(|(_, why)| why.clone()));
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
            // The paper exchange applies the account's slippage to the last price itself.
            let done = orders::execute(store, &acct, &venue, &rec, Some(o.last_price), now).await?;
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
        "equity": accounts::money(valuation.equity, &acct.quote),
        "valuation": valuation.summary_json(),
        "sell_unlisted": args.sell_unlisted,
        "untouched": untouched,
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
