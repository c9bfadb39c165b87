//! `fks optimize-portfolio`: a target allocation (rag, legacy 50/50, risk-parity or
//! min-variance) with reasoning per asset; stored for rebalance-portfolio.

use super::Ctx;
use crate::core::accounts::{self, AccountKind};
use crate::core::intelligence::portfolio::{
    AssetInput, PortfolioConfig, PortfolioMethod, optimize, rebalance_needed,
};
use crate::core::knowledge;
use crate::core::market::{Symbol, Timeframe};
use crate::core::positions::{self, PositionSide};
use crate::core::store::{Store, candles};
use crate::core::time::time_arg;
use crate::output::{Outcome, Status};
use crate::vals;
use anyhow::{Result, bail};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::json;
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
    /// rag (retrieval over fks's history), legacy (50% mains / 50% others), risk-parity or min-variance.
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
    let as_of = args.as_of.unwrap_or_else(|| ctx.now_ms());
    let acct = match args.account_id {
        Some(id) => accounts::get(store, id).await?,
        None => match accounts::list(store, true).await?.into_iter().next() {
            Some(a) => a,
            None => bail!("no active account: add one with `fks account add`"),
        },
    };
    let symbols = ctx.settings.symbols().to_vec();
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
    // Retrieval's expected returns (per day) for rag; the legacy split otherwise or as fallback.
    let mut method = match args.method {
        Method::Rag => PortfolioMethod::Rag,
        Method::Legacy => PortfolioMethod::Legacy,
        Method::RiskParity => PortfolioMethod::RiskParity,
        Method::MinVariance => PortfolioMethod::MinVariance,
    };
    let mut confidences = BTreeMap::new();
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
            let bars_per_day = 86_400_000.0 / tf.millis() as f64;
            for s in &symbols {
                if let Some(d) =
                    knowledge::decide(store, &ks, s, tf, as_of, cfg, None, &series[s]).await?
                {
                    if let Some(er) = d.expected_return {
                        expected.insert(s.clone(), er * bars_per_day / cfg.horizon as f64);
                    }
                    confidences.insert(s.clone(), d.confidence);
                }
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
            }
        })
        .collect();
    let pcfg = PortfolioConfig {
        mains: cfg.mains.clone(),
        max_weight: cfg.max_weight,
        ..Default::default()
    };
    let alloc = optimize(method, &assets, &pcfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Current allocation (fractions of total value).
    let (total, current): (f64, BTreeMap<Symbol, f64>) = match acct.kind {
        AccountKind::Paper => {
            let (st, _) = crate::core::balances::paper_state(store, &acct, as_of).await?;
            let eq = st.equity.unwrap_or(st.balance).to_f64().unwrap_or(0.0);
            let mut cur = BTreeMap::new();
            for p in positions::open_positions(store, acct.id).await? {
                let px = positions::latest_stored_price(store, &p.symbol, as_of)
                    .await?
                    .map(|x| x.0)
                    .unwrap_or(p.entry_price);
                let v = (p.quantity * px).to_f64().unwrap_or(0.0)
                    * if p.side == PositionSide::Long {
                        1.0
                    } else {
                        -1.0
                    };
                cur.insert(p.symbol.clone(), if eq > 0.0 { v / eq } else { 0.0 });
            }
            (eq, cur)
        }
        _ => {
            let eq = store
                .query_opt("SELECT equity FROM balance_history WHERE account_id = ? ORDER BY time_ms DESC LIMIT 1", vals![acct.id])
                .await?
                .map(|r| r.dec(0))
                .transpose()?
                .unwrap_or_default()
                .to_f64()
                .unwrap_or(0.0);
            (eq, BTreeMap::new())
        }
    };
    let target = alloc.as_map();
    let band = cfg.rebalance_band;
    let recs: Vec<_> = alloc
        .weights
        .iter()
        .map(|w| {
            let cur = current.get(&w.symbol).copied().unwrap_or(0.0);
            let diff = w.weight - cur;
            let action = if diff > band {
                "BUY"
            } else if diff < -band {
                "SELL"
            } else {
                "HOLD"
            };
            let vol_ann = w.volatility.map(|v| v * 365f64.sqrt());
            let risk = match vol_ann {
                Some(v) if v > 0.9 => "high",
                Some(v) if v > 0.5 => "medium",
                Some(_) => "low",
                None => "unknown",
            };
            json!({
                "symbol": w.symbol,
                "action": action,
                "current_allocation": (cur * 1e4).round() / 1e4,
                "target_allocation": (w.weight * 1e4).round() / 1e4,
                "amount": ((diff * total) * 100.0).round() / 100.0,
                "reasoning": w.reasoning,
                "risk_assessment": risk,
                "confidence": confidences.get(&w.symbol),
            })
        })
        .collect();
    let targets_dec: BTreeMap<Symbol, Decimal> = target
        .iter()
        .map(|(s, w)| {
            (
                s.clone(),
                Decimal::try_from(*w).unwrap_or_default().round_dp(6),
            )
        })
        .collect();
    store
        .exec(
            "INSERT INTO portfolio_targets (account_id, method, targets, created_ms) VALUES (?, ?, ?, ?)",
            vals![acct.id, method.as_str(), serde_json::to_string(&targets_dec)?, ctx.now_ms()],
        )
        .await?;
    Outcome::new(
        Status::Success,
        json!({
            "method": method.as_str(),
            "requested_method": match args.method { Method::Rag => "rag", Method::Legacy => "legacy", Method::RiskParity => "risk-parity", Method::MinVariance => "min-variance" },
            "note": note,
            "account": acct.name,
            "total_value": (total * 100.0).round() / 100.0,
            "current_allocation": current,
            "target_allocation": target,
            "cash_weight": alloc.cash_weight,
            "recommendations": recs,
            "portfolio_advice": alloc.advice,
            "rebalance_needed": rebalance_needed(&current, &target, band),
            "days_of_history": days.len(),
        }),
    )
}
