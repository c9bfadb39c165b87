//! `fks analyze-risk`: exposure, unrealized PnL, concentration, value-at-risk and a risk level
//! per account; HIGH sends an alert (with a cool-down).

use super::Ctx;
use crate::core::accounts::{self, Account, money};
use crate::core::market::Symbol;
use crate::core::notify::{COLOR_RED, MessageKind};
use crate::core::outbox::NewMessage;
use crate::core::risk::{self, AccountFigures, RiskPosition};
use crate::core::store::{Store, candles};
use crate::core::valuation;
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
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
    // The one valuation: paper from the store, exchange accounts as last synced.
    let valued = valuation::load(store, acct, ctx.now_ms()).await?;
    let max_age = ctx.settings.file.market.max_price_age_secs as i64 * 1000;
    let mut rp = Vec::new();
    // Spot assets without a quote market are not part of the valued account (listed in
    // `valuation.unpriced`); every other position counts, priced or not.
    let spot = valued.kind == crate::core::accounts::AccountKind::BinanceSpot;
    for p in valued
        .positions
        .iter()
        .filter(|p| !(spot && p.price.is_none()))
    {
        let fresh = p.price_time.is_some_and(|t| ctx.now_ms() - t <= max_age);
        let (daily_returns, daily_atr) = history(ctx, store, &p.symbol, cfg.var_days).await?;
        rp.push(RiskPosition {
            daily_returns,
            daily_atr,
            ..RiskPosition::from_marked(p, fresh)
        });
    }
    let report = risk::analyze(AccountFigures::of(&valued), &rp, cfg);
    let mut v = serde_json::to_value(risk::rounded(report.clone()))?;
    v["status"] = json!("success");
    v["state"] = json!(report.status);
    v["equity"] = money(valued.equity, &acct.quote);
    v["valuation"] = valued.summary_json();
    if report.risk_level == "HIGH" {
        let mut m = NewMessage::new(
            MessageKind::Alert,
            format!("HIGH risk on {}", acct.name),
            format!(
                "Exposure {} of equity, unrealized PnL {:.2} {} ({}).{}",
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
