//! `fks analyze-risk`: exposure, unrealized PnL, concentration, value-at-risk and a risk level
//! per account; HIGH sends an alert (with a cool-down).

use super::Ctx;
use crate::core::accounts::{self, Account, money};
use crate::core::json_num::InCurrency;
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
    // Only candles closed by the clock.
    let to = crate::core::freshness::last_closed_open(tf, now);
    let bars = candles::bars(
        store,
        symbol,
        tf,
        Some(now - (days as i64 + 1) * 86_400_000),
        Some(to),
    )
    .await?;
    let mut rets = BTreeMap::new();
    for i in per_day..bars.len() {
        let (a, b) = (bars[i - per_day].close, bars[i].close);
        if a > 0.0 {
            rets.insert(bars[i].open_time, b / a - 1.0);
        }
    }
    let atr = crate::core::indicator_store::latest_at(store, symbol, tf, Some(to))
        .await?
        .and_then(|r| r.atr14)
        .map(|a| a * (per_day as f64).sqrt());
    Ok((rets, atr))
}

async fn analyze_one(ctx: &Ctx, acct: &Account) -> Result<serde_json::Value> {
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.risk;
    // The one valuation: paper from the store, exchange accounts as last synced (the
    // snapshot at or before the clock).
    let now = ctx.now_ms();
    let valued = valuation::load(store, acct, now).await?;
    // The freshness rule, judged by the configured timeframe's limit: a stale price does not
    // price a position.
    let tf = ctx.settings.file.market.timeframe;
    let rule = ctx.settings.file.market.freshness();
    let mut rp = Vec::new();
    let mut unpriced = Vec::new();
    // Spot assets without a quote market are not part of the valued account (listed in
    // `valuation.unpriced`); every other position counts, priced or not.
    let spot = crate::core::exchange::venue::profile(valued.kind).spot_balances;
    for p in valued
        .positions
        .iter()
        .filter(|p| !(spot && p.price.is_none()))
    {
        let fresh = rule.check_close(&p.symbol, tf, p.price.and(p.price_time), now);
        if !fresh.is_fresh() {
            unpriced.push(fresh.to_json());
        }
        let (daily_returns, daily_atr) = history(ctx, store, &p.symbol, cfg.var_days).await?;
        rp.push(RiskPosition {
            daily_returns,
            daily_atr,
            ..RiskPosition::from_marked(p, fresh.is_fresh())
        });
    }
    let report = risk::analyze(AccountFigures::of(&valued), &rp, cfg);
    let mut v = serde_json::to_value(InCurrency(&acct.quote, &risk::rounded(report.clone())))?;
    // Not fully priced: UNKNOWN, an alert, and the account (so the run) is partial.
    v["status"] = json!(if unpriced.is_empty() {
        "success"
    } else {
        "partial"
    });
    v["state"] = json!(report.status);
    v["equity"] = money(valued.equity, &acct.quote);
    v["valuation"] = valued.summary_json();
    v["unpriced_positions"] = json!(unpriced);
    if report.risk_level == "UNKNOWN" {
        let mut m = NewMessage::new(
            MessageKind::Alert,
            format!("Risk UNKNOWN on {}", acct.name),
            format!(
                "{} Prices: {}.",
                report.risk_level_reason.clone().unwrap_or_default(),
                unpriced
                    .iter()
                    .map(|u| format!(
                        "{} {}",
                        u["symbol"].as_str().unwrap_or("?"),
                        match u["age"].as_str() {
                            Some(a) => format!("last price {a} old"),
                            None => "no price".into(),
                        }
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        m.urgent = true;
        m.color = Some(COLOR_RED);
        m.dedup_key = Some(format!("risk-unknown:{}", acct.id));
        v["alert"] = ctx.notify(m).await;
    }
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
