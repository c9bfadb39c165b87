//! `fks optimize-portfolio`: a target allocation (rag, legacy 50/50, risk-parity or
//! min-variance) with reasoning per asset; stored for rebalance-portfolio.

use super::Ctx;
use crate::core::accounts;
use crate::core::freshness::FreshState;
use crate::core::intelligence::portfolio::{
    AssetInput, PortfolioConfig, PortfolioMethod, optimize, rebalance_needed,
};
use crate::core::intelligence::recommend::Action;
use crate::core::json_num::Money;
use crate::core::knowledge::{self, SymbolDecision};
use crate::core::market::{Symbol, Timeframe};
use crate::core::store::{Store, candles};
use crate::core::time::time_arg;
use crate::output::{Outcome, Status};
use crate::vals;
use anyhow::{Result, bail};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Method {
    Rag,
    Legacy,
    RiskParity,
    MinVariance,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Account whose holdings and cash are allocated (default: the first active account).
    #[arg(long)]
    pub account_id: Option<i64>,
    /// rag (calibrated expected returns from retrieval; risk-parity when skill is not demonstrated), legacy (50% mains / 50% others), risk-parity or min-variance.
    #[arg(long, value_enum, default_value = "rag")]
    pub method: Method,
    /// Candle interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; default: market.timeframe).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// Allocate as of this time, from what had closed by then (YYYY-MM-DD, RFC 3339 or milliseconds, UTC); default: now.
    #[arg(long, value_parser = time_arg)]
    pub as_of: Option<i64>,
}

/// Close of the last candle of each UTC day, for `days` days before `as_of`.
pub async fn daily_closes(
    store: &Store,
    s: &Symbol,
    tf: Timeframe,
    as_of: i64,
    days: u32,
) -> Result<BTreeMap<i64, f64>> {
    let bars = candles::bars(
        store,
        s,
        tf,
        Some(as_of - (days as i64 + 1) * 86_400_000),
        Some(as_of - tf.millis()),
    )
    .await?;
    let mut out = BTreeMap::new();
    for b in bars {
        out.insert(crate::core::time::day_start(b.open_time), b.close);
    }
    Ok(out)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.intelligence;
    let tf = args.timeframe.unwrap_or(ctx.settings.file.market.timeframe);
    let as_of = super::intel_common::as_of(ctx, args.as_of)?;
    let acct = match args.account_id {
        Some(id) => accounts::get(store, id).await?,
        None => match accounts::list(store, true).await?.into_iter().next() {
            Some(a) => a,
            None => bail!("no active account: add one with `fks account add`"),
        },
    };
    let (symbols, stale) = fresh_symbols(ctx, tf, as_of).await?;
    let stale_names: Vec<String> = stale
        .iter()
        .filter_map(|f| f["symbol"].as_str().map(String::from))
        .collect();
    if symbols.is_empty() {
        return Outcome::new(
            Status::Error,
            json!({
                "account": acct.name,
                "error": super::generate_signals::no_decision_reason(&stale_names, &[], as_of),
                "stale": stale,
                "recommendations": [],
            }),
        );
    }
    // Aligned daily returns.
    let mut closes = BTreeMap::new();
    for s in &symbols {
        closes.insert(
            s.clone(),
            daily_closes(store, s, tf, as_of, cfg.lookback_days).await?,
        );
    }
    let mut days: Option<Vec<i64>> = None;
    for c in closes.values() {
        let d: Vec<i64> = c.keys().copied().collect();
        days = Some(match days {
            None => d,
            Some(prev) => prev.into_iter().filter(|x| c.contains_key(x)).collect(),
        });
    }
    let days = days.unwrap_or_default();
    if days.len() < 3 {
        bail!(
            "need at least 3 common days of {tf} candles for {} (have {}): sync market data first",
            symbols
                .iter()
                .map(|s| s.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            days.len()
        );
    }
    // Before optimize(): HOLD keeps the current weight.
    let valued = crate::core::valuation::load_stored_or_live(store, &acct, as_of).await?;
    let (equity, current) = current_allocation(valued.as_ref());
    let (stale_prices, stale_note) = match &valued {
        Some(v) => {
            super::intel_common::stale_valuation(ctx, v, as_of, "current weights and amounts")
        }
        None => (Vec::new(), Value::Null),
    };
    let total = equity.to_f64().unwrap_or(0.0);
    // Retrieval's decisions (the same function, on the same data, as generate-signals) and
    // expected returns per day for rag; the legacy split otherwise or as fallback.
    let mut method = match args.method {
        Method::Rag => PortfolioMethod::Rag,
        Method::Legacy => PortfolioMethod::Legacy,
        Method::RiskParity => PortfolioMethod::RiskParity,
        Method::MinVariance => PortfolioMethod::MinVariance,
    };
    let mut signals: BTreeMap<Symbol, SymbolDecision> = BTreeMap::new();
    let mut expected = BTreeMap::new();
    let mut note = None;
    if method == PortfolioMethod::Rag {
        let (ks, series) = super::intel_common::prepare(ctx, &symbols, tf, as_of).await?;
        if ks.len() < cfg.min_sources {
            method = PortfolioMethod::Legacy;
            note = Some(format!(
                "{} known snapshots, fewer than {}: legacy split used",
                ks.len(),
                cfg.min_sources
            ));
        } else {
            // Calibrated expected returns (P(up)·gain − (1 − P(up))·loss) per day.
            let bars_per_day = 86_400_000.0 / tf.millis() as f64;
            for s in &symbols {
                if let Some(d) = knowledge::decide(
                    store,
                    knowledge::Decider {
                        ks: &ks,
                        tf,
                        cfg,
                        llm: None,
                    },
                    s,
                    as_of,
                    &series[s],
                )
                .await?
                {
                    if let Some(er) = d.expected_return {
                        expected.insert(s.clone(), er * bars_per_day / cfg.horizon as f64);
                    }
                    signals.insert(s.clone(), d);
                }
            }
            // Weights from expected returns only where they were measured to carry skill.
            let unskilled: Vec<String> = symbols
                .iter()
                .filter(|s| !signals.get(*s).is_some_and(|d| d.skill.demonstrated))
                .map(|s| s.0.clone())
                .collect();
            if !unskilled.is_empty() {
                method = PortfolioMethod::RiskParity;
                note = Some(format!(
                    "no demonstrated skill for {} (latest evaluate-signals): rag's expected returns are not evidence, risk-parity used",
                    unskilled.join(", ")
                ));
            }
        }
    }
    let assets: Vec<AssetInput> = symbols
        .iter()
        .map(|s| {
            let c = &closes[s];
            let r: Vec<f64> = days.windows(2).map(|w| c[&w[1]] / c[&w[0]] - 1.0).collect();
            AssetInput {
                symbol: s.clone(),
                daily_returns: r,
                expected_return: expected.get(s).copied(),
                signal: signals.get(s).map(|d| d.action),
                current_weight: current.get(s).copied().unwrap_or(0.0),
            }
        })
        .collect();
    let pcfg = PortfolioConfig {
        mains: cfg.mains.clone(),
        max_weight: cfg.max_weight,
        ..Default::default()
    };
    let alloc = optimize(method, &assets, &pcfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let target = alloc.as_map();
    let band = cfg.rebalance_band;
    let recs = recommendations(
        &alloc,
        &current,
        &signals,
        (total, &acct.quote),
        band,
        pcfg.max_weight,
    );
    let targets_dec: BTreeMap<Symbol, Decimal> = target
        .iter()
        .map(|(s, w)| {
            (
                s.clone(),
                // toward zero: rounding up could make the stored targets add up to more than 1
                Decimal::try_from(*w)
                    .unwrap_or_default()
                    .round_dp_with_strategy(6, rust_decimal::RoundingStrategy::ToZero),
            )
        })
        .collect();
    // A replay's target is printed, not stored: the next rebalance never trades to a target
    // decided on the data of another time.
    let replay = super::intel_common::is_replay(ctx, as_of);
    if !replay {
        store
            .exec(
                "INSERT INTO portfolio_targets (account_id, method, targets, created_ms) VALUES (?, ?, ?, ?)",
                vals![acct.id, method.as_str(), serde_json::to_string(&targets_dec)?, ctx.now_ms()],
            )
            .await?;
    }
    let status = if stale.is_empty() && stale_prices.is_empty() {
        Status::Success
    } else {
        Status::Partial
    };
    let mut body = json!({
            "method": method.as_str(),
            "requested_method": match args.method { Method::Rag => "rag", Method::Legacy => "legacy", Method::RiskParity => "risk-parity", Method::MinVariance => "min-variance" },
            "note": note,
            "account": acct.name,
            "as_of": crate::core::time::fmt_ms(as_of),
            "total_value": accounts::money(equity, &acct.quote),
            "equity": accounts::money(equity, &acct.quote),
            "current_allocation": current,
            "target_allocation": target,
            "cash_weight": alloc.cash_weight,
            "recommendations": recs,
            "portfolio_advice": alloc.advice,
            "rebalance_needed": rebalance_needed(&current, &target, band),
            "days_of_history": days.len(),
            "stale": stale,
            "stale_symbols": stale_names,
            "target_stored": !replay,
            "replay": replay,
            "replay_note": super::intel_common::replay_note(replay, "the target is not stored for rebalance-portfolio"),
    });
    if !stale_prices.is_empty() {
        body["stale_prices"] = json!(stale_prices);
        body["stale_prices_note"] = stale_note;
    }
    Outcome::new(status, body)
}

/// The account's equity and current allocation (each position's signed value over equity)
/// from the one valuation at `as_of`: a paper account valued as of `as_of`, an exchange account
/// as its latest snapshot at or before `as_of` valued it. An exchange account never synced
/// has no valuation yet: equity 0, nothing held.
fn current_allocation(
    valued: Option<&crate::core::valuation::Valuation>,
) -> (Decimal, BTreeMap<Symbol, f64>) {
    match valued {
        Some(v) => (v.equity, v.weights()),
        None => (Decimal::ZERO, BTreeMap::new()),
    }
}

/// The configured symbols split by the freshness rule at `as_of`: the fresh ones (and those
/// with no candles, which fail later with their own message), and the stale ones' entries. A
/// stale symbol gets no target, so no order comes from it.
async fn fresh_symbols(ctx: &Ctx, tf: Timeframe, as_of: i64) -> Result<(Vec<Symbol>, Vec<Value>)> {
    let store = ctx.store().await?;
    let rule = ctx.settings.file.market.freshness();
    let (mut symbols, mut stale) = (Vec::new(), Vec::new());
    for s in ctx.settings.symbols() {
        let f = crate::core::freshness::of_candles(store, &rule, s, tf, as_of).await?;
        if f.status == FreshState::Stale {
            stale.push(f.to_json());
        } else {
            symbols.push(s.clone());
        }
    }
    Ok((symbols, stale))
}

/// One recommendation per target weight: the trade that moves the current weight to it
/// (beyond the band), with the retrieval decision beside it when there is one.
fn recommendations(
    alloc: &crate::core::intelligence::portfolio::Allocation,
    current: &BTreeMap<Symbol, f64>,
    signals: &BTreeMap<Symbol, SymbolDecision>,
    (total, quote): (f64, &str),
    band: f64,
    cap: f64,
) -> Vec<Value> {
    alloc
        .weights
        .iter()
        .map(|w| {
            let cur = current.get(&w.symbol).copied().unwrap_or(0.0);
            let diff = w.weight - cur;
            let action = if diff > band {
                Action::Buy
            } else if diff < -band {
                Action::Sell
            } else {
                Action::Hold
            };
            let vol_ann = w.volatility.map(|v| v * 365f64.sqrt());
            let risk = match vol_ann {
                Some(v) if v > 0.9 => "high",
                Some(v) if v > 0.5 => "medium",
                Some(_) => "low",
                None => "unknown",
            };
            let mut rec = json!({
                "symbol": w.symbol,
                "action": action,
                "current_allocation": (cur * 1e4).round() / 1e4,
                "target_allocation": (w.weight * 1e4).round() / 1e4,
                "amount": Money::from_f64(diff * total, quote),
                "reasoning": w.reasoning,
                "risk_assessment": risk,
                "confidence": Value::Null,
            });
            if let Some(d) = signals.get(&w.symbol) {
                agreement(&mut rec, action, d, cur, w.weight, band, cap);
            }
            rec
        })
        .collect()
}

/// The retrieval decision beside a recommendation: the confidence of the recommended action
/// (BUY: the probability the price rises over the horizon; SELL: that it falls; HOLD: that it
/// moves less than the fees), from the same numbers as generate-signals, and why the two
/// differ when they do.
fn agreement(
    rec: &mut Value,
    action: Action,
    d: &SymbolDecision,
    current: f64,
    target: f64,
    band: f64,
    cap: f64,
) {
    let r = d.recommendation.as_ref();
    let confidence = match (action, r) {
        (a, _) if a == d.action => Some(d.confidence),
        (Action::Buy, Some(r)) => Some(r.probability_up),
        (Action::Sell, Some(r)) => Some(1.0 - r.probability_up),
        (Action::Hold, Some(r)) => Some(r.probability_flat),
        _ => None,
    };
    rec["confidence"] = json!(confidence);
    rec["signal"] = json!({
        "action": d.action,
        "confidence": d.confidence,
        "method": d.method,
        "probability_up": d.probability_up,
        "expected_return": d.expected_return,
        "horizon": d.horizon,
        "candle_open_time": d.candle_open_time,
    });
    let agrees = action == d.action;
    rec["agrees_with_signal"] = json!(agrees);
    if !agrees {
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        let why = match (d.action, action) {
            (_, Action::Buy) if current < 0.0 => format!(
                "the signal is {}, but the current {} is a short and this allocation is long-only: its target closes it",
                d.action,
                pct(current)
            ),
            (Action::Buy, Action::Hold) => format!(
                "the signal is BUY, but the target {} is within {} of the current {}",
                pct(target),
                pct(band),
                pct(current)
            ),
            (Action::Buy, _) if target <= cap + 1e-9 && current > cap => format!(
                "the signal is BUY, but the current {} is above the {} cap per asset",
                pct(current),
                pct(cap)
            ),
            (Action::Buy, _) => format!(
                "the signal is BUY, but mean-variance puts {} here against the current {} (risk and correlation with the other assets)",
                pct(target),
                pct(current)
            ),
            (Action::Sell, _) => format!(
                "the signal is SELL, but the current {} is already within {} of zero",
                pct(current),
                pct(band)
            ),
            (Action::Hold, _) => format!(
                "the signal is HOLD, but the current {} is trimmed to {} ({} cap per asset, 100% in all)",
                pct(current),
                pct(target),
                pct(cap)
            ),
        };
        rec["why"] = json!(why);
    }
}
