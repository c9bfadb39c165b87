//! `fks analyze-risk`: exposure, unrealized PnL, concentration, value-at-risk and a risk level
//! per account; HIGH sends an alert (with a cool-down).

use super::Ctx;
use crate::core::accounts::{self, Account, AccountKind};
use crate::core::balances;
use crate::core::market::Symbol;
use crate::core::notify::{COLOR_RED, MessageKind};
use crate::core::outbox::NewMessage;
use crate::core::positions;
use crate::core::risk::{self, RiskPosition};
use crate::core::store::{Store, candles};
use crate::vals;
use anyhow::Result;
use rust_decimal::prelude::ToPrimitive;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this account (default: every active account).
    #[arg(long)]
    pub account_id: Option<i64>,
}

/// 1-day returns (overlapping 24 h windows) over the last `days` of stored candles, and the
/// latest ATR scaled to one day.
async fn history(
    ctx: &Ctx,
    store: &Store,
    symbol: &Symbol,
    days: u32,
) -> Result<(BTreeMap<i64, f64>, Option<f64>)> {
    let tf = ctx.settings.file.market.timeframe;
    let per_day = (86_400_000 / tf.millis()).max(1) as usize;
    let now = ctx.now_ms();
    let bars = candles::bars(
        store,
        symbol,
        tf,
        Some(now - (days as i64 + 1) * 86_400_000),
        Some(now),
    )
    .await?;
    let mut rets = BTreeMap::new();
    for i in per_day..bars.len() {
        let (a, b) = (bars[i - per_day].close, bars[i].close);
        if a > 0.0 {
            rets.insert(bars[i].open_time, b / a - 1.0);
        }
    }
    let atr = crate::core::indicator_store::latest_at(store, symbol, tf, Some(now))
        .await?
        .and_then(|r| r.atr14)
        .map(|a| a * (per_day as f64).sqrt());
    Ok((rets, atr))
}

async fn analyze_one(ctx: &Ctx, acct: &Account) -> Result<serde_json::Value> {
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.risk;
    let balance = match acct.kind {
        AccountKind::Paper => balances::paper_state(store, acct, ctx.now_ms()).await?.0.balance,
        _ => match store
            .query_opt("SELECT balance FROM balance_history WHERE account_id = ? ORDER BY time_ms DESC LIMIT 1", vals![acct.id])
            .await?
        {
            Some(r) => r.dec(0)?,
            None => {
                return Ok(json!({"status": "error", "error": format!("no balance snapshot for {}: run sync-account-balance first", acct.name)}));
            }
        },
    };
    let max_age = ctx.settings.file.market.max_price_age_secs as i64 * 1000;
    let mut rp = Vec::new();
    for p in positions::open_positions(store, acct.id).await? {
        let price = match acct.kind {
            AccountKind::Paper => {
                positions::latest_stored_price(store, &p.symbol, ctx.now_ms()).await?
            }
            _ => p.current_price.zip(p.price_time),
        }
        .filter(|(_, t)| ctx.now_ms() - t <= max_age)
        .and_then(|(px, _)| px.to_f64());
        let (daily_returns, daily_atr) = history(ctx, store, &p.symbol, cfg.var_days).await?;
        rp.push(RiskPosition {
            symbol: p.symbol.0.clone(),
            side: p.side,
            quantity: p.quantity.to_f64().unwrap_or(0.0),
            entry_price: p.entry_price.to_f64().unwrap_or(0.0),
            price,
            daily_returns,
            daily_atr,
        });
    }
    let report = risk::analyze(balance.to_f64().unwrap_or(0.0), &rp, cfg);
    let mut v = serde_json::to_value(risk::rounded(report.clone()))?;
    v["status"] = json!("success");
    v["state"] = json!(report.status);
    if report.risk_level == "HIGH" {
        let mut m = NewMessage::new(
            MessageKind::Alert,
            format!("HIGH risk on {}", acct.name),
            format!(
                "Exposure {} of balance, unrealized PnL {:.2} {} ({}).{}",
                report
                    .exposure_ratio
                    .map(|e| format!("{:.0}%", e * 100.0))
                    .unwrap_or_else(|| "n/a".into()),
                report.unrealized_pnl,
                acct.quote,
                report
                    .unrealized_pnl_pct
                    .map(|p| format!("{p:.1}%"))
                    .unwrap_or_else(|| "n/a".into()),
                if report.warnings.is_empty() {
                    String::new()
                } else {
                    format!(" {}", report.warnings.join("; "))
                }
            ),
        );
        m.urgent = true;
        m.color = Some(COLOR_RED);
        m.dedup_key = Some(format!("risk-high:{}", acct.id));
        v["alert"] = ctx.notify(m).await;
    }
    Ok(v)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<crate::output::Outcome> {
    let store = ctx.store().await?;
    let mut results = BTreeMap::new();
    for acct in accounts::selected(store, args.account_id).await? {
        let v = analyze_one(ctx, &acct)
            .await
            .unwrap_or_else(|e| json!({"status": "error", "error": format!("{e:#}")}));
        results.insert(acct.name.clone(), v);
    }
    crate::output::Outcome::from_results(json!({ "results": results }))
}
