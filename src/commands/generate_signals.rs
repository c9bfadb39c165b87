//! `fks generate-signals`: recommendations for one account from retrieval over the project's
//! own history (or the legacy indicator rules when the knowledge is thin), sized for the
//! account, stored, and notified on BUY. Each carries the method's measured skill for its
//! symbol (the latest stored evaluate-signals result), "no demonstrated skill" included.

use super::Ctx;
use crate::core::accounts;
use crate::core::freshness::FreshState;
use crate::core::intelligence::recommend::Action;
use crate::core::intelligence::sizing::{SizingConfig, SizingMode, size};
use crate::core::json_num::{Money, PriceStr, QtyStr};
use crate::core::knowledge;
use crate::core::market::{Symbol, Timeframe};
use crate::core::notify::{COLOR_GREEN, MessageKind};
use crate::core::outbox::NewMessage;
use crate::core::time::time_arg;
use crate::output::{Outcome, Status};
use anyhow::{Result, bail};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Account whose cash sizes the suggestions (default: the first active account).
    #[arg(long)]
    pub account_id: Option<i64>,
    /// Candle interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; default: market.timeframe).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// Decide as of this time, from what had closed by then (default: now).
    #[arg(long, value_parser = time_arg)]
    pub as_of: Option<i64>,
    /// Symbols (repeatable); default: the configured symbols.
    #[arg(long = "symbol")]
    pub symbols: Vec<Symbol>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.intelligence;
    let tf = args.timeframe.unwrap_or(ctx.settings.file.market.timeframe);
    let as_of = super::intel_common::as_of(ctx, args.as_of)?;
    let replay = super::intel_common::is_replay(ctx, as_of);
    let acct = match args.account_id {
        Some(id) => accounts::get(store, id).await?,
        None => match accounts::list(store, true).await?.into_iter().next() {
            Some(a) => a,
            None => bail!(
                "no active account: add one with `fks account add NAME --kind paper --cash 10000`"
            ),
        },
    };
    // Equity and cash from the one valuation: the paper account's as of `as_of`, else the one
    // stored with its latest snapshot at or before `as_of`.
    let valued = crate::core::valuation::load(store, &acct, as_of).await?;
    let (stale_prices, stale_note) =
        super::intel_common::stale_valuation(ctx, &valued, as_of, "position sizes");
    let (equity, cash) = (valued.equity, valued.cash_free);
    let (equity, cash) = (
        equity.to_f64().unwrap_or(0.0),
        cash.to_f64().unwrap_or(0.0).max(0.0),
    );
    let symbols = if args.symbols.is_empty() {
        ctx.settings.symbols().to_vec()
    } else {
        args.symbols.clone()
    };
    let (ks, series) = super::intel_common::prepare(ctx, &symbols, tf, as_of).await?;
    let llm = super::intel_common::llm(ctx);
    let sizing = SizingConfig {
        mode: if cfg.sizing == "risk" {
            SizingMode::Risk
        } else {
            SizingMode::FixedFraction
        },
        fraction: cfg.sizing_fraction,
    };
    let run_id = ctx.run_id.load(std::sync::atomic::Ordering::SeqCst);
    let mut suggestions = Vec::new();
    let mut rag = BTreeMap::new();
    let mut methods = Vec::new();
    let mut missing = Vec::new();
    let mut stale = Vec::new();
    for s in &symbols {
        // The freshness rule: nothing is decided, stored or notified from stale candles.
        let fresh = super::intel_common::freshness(ctx, s, &series[s], tf, as_of);
        match fresh.status {
            FreshState::Fresh => {}
            FreshState::NoData => {
                missing.push(s.0.clone());
                continue;
            }
            FreshState::Stale => {
                stale.push(s.0.clone());
                suggestions.push(fresh.to_json());
                continue;
            }
        }
        let Some(d) = knowledge::decide(
            store,
            knowledge::Decider {
                ks: &ks,
                tf,
                cfg,
                llm: llm.as_ref(),
            },
            s,
            as_of,
            &series[s],
        )
        .await?
        else {
            missing.push(s.0.clone());
            continue;
        };
        let entry = d.entry_points.first().copied().unwrap_or(d.price);
        let sz = if d.action == Action::Hold {
            None
        } else {
            size(&sizing, equity, cash, entry, d.stop_loss).ok()
        };
        knowledge::record_signal(
            store,
            Some(run_id),
            Some(acct.id),
            "generate-signals",
            tf,
            as_of,
            &d,
            sz.map(|x| x.position_size_usd),
            ctx.now_ms(),
        )
        .await?;
        methods.push(d.method);
        suggestions.push(json!({
            "symbol": d.symbol,
            "status": "success",
            "action": d.action,
            "method": d.method,
            "position_size_usd": sz.and_then(|x| Money::from_f64(x.position_size_usd, &acct.quote)),
            "quantity": sz.map(|x| QtyStr(x.quantity)),
            "reasoning": d.reasoning,
            "reasoning_source": d.reasoning_source,
            "risk_assessment": d.risk_assessment,
            "confidence": d.confidence,
            "skill": d.skill,
            "entry_points": d.entry_points.iter().map(|p| PriceStr(*p)).collect::<Vec<_>>(),
            "stop_loss": d.stop_loss.map(PriceStr),
            "price": PriceStr(d.price),
        }));
        rag.insert(d.symbol.0.clone(), serde_json::to_value(&d)?);
        if d.action == Action::Buy && !replay {
            notify_buy(ctx, &d).await;
        }
    }
    // The strongest action: the most confident BUY or SELL, else HOLD.
    let strongest = suggestions
        .iter()
        .filter(|s| s["status"] == "success" && s["action"] != "HOLD")
        .max_by(|a, b| {
            a["confidence"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b["confidence"].as_f64().unwrap_or(0.0))
        })
        .map(|s| s["action"].clone())
        .unwrap_or(json!("HOLD"));
    let method = if methods.contains(&"rag") {
        "rag"
    } else {
        "legacy"
    };
    let decided = suggestions
        .iter()
        .filter(|s| s["status"] == "success")
        .count();
    let status = if decided == 0 {
        Status::Error
    } else if missing.is_empty() && stale.is_empty() && stale_prices.is_empty() {
        Status::Success
    } else {
        Status::Partial
    };
    let mut body: Value = json!({
        "signal": strongest,
        "method": method,
        "as_of": crate::core::time::fmt_ms(as_of),
        "account": acct.name,
        "account_balance": Money::new(valued.equity, &acct.quote),
        "available_cash": Money::new(valued.cash_free.max(Decimal::ZERO), &acct.quote),
        "knowledge_snapshots": ks.len(),
        "suggestions": suggestions,
        "rag_signals": rag,
        "missing_data": missing,
        "stale_symbols": stale,
        "replay": replay,
    });
    if replay {
        body["replay_note"] = super::intel_common::replay_note(true, "no notification queued");
    }
    if !stale_prices.is_empty() {
        body["stale_prices"] = json!(stale_prices);
        body["stale_prices_note"] = stale_note;
    }
    if decided == 0 {
        body["error"] = json!(no_decision_reason(&stale, &missing, as_of));
    }
    Outcome::new(status, body)
}

/// Why a run decided nothing (every symbol stale or without candles).
pub fn no_decision_reason(stale: &[String], missing: &[String], as_of: i64) -> String {
    let at = crate::core::time::fmt_ms(as_of);
    match (stale.is_empty(), missing.is_empty()) {
        (false, true) => format!(
            "every symbol is stale at {at} ({}): nothing decided; sync market data, or pass --as-of to replay an earlier time",
            stale.join(", ")
        ),
        (true, false) => format!("no candles closed by {at} for {}", missing.join(", ")),
        _ => format!(
            "nothing to decide at {at}: stale {}; no candles {}",
            stale.join(", "),
            missing.join(", ")
        ),
    }
}

/// The notification of a BUY (deduplicated per symbol, candle and method).
async fn notify_buy(ctx: &Ctx, d: &knowledge::SymbolDecision) {
    let mut m = NewMessage::new(
        MessageKind::Signal,
        format!(
            "BUY {} ({}, confidence {:.0}%)",
            d.symbol,
            d.method,
            d.confidence * 100.0
        ),
        format!("{}\nMeasured skill: {}", d.reasoning, d.skill.summary),
    );
    m.color = Some(COLOR_GREEN);
    m.dedup_key = Some(format!(
        "signal:{}:{}:{}",
        d.symbol, d.candle_open_time, d.method
    ));
    ctx.notify(m).await;
}
