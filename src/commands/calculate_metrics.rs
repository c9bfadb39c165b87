//! `fks calculate-metrics`: return, Sharpe, Sortino, volatility, drawdown, trades and win rate
//! per account over a period, from balance history (last snapshot of each UTC day; missing
//! days carried forward and reported) and fills. Stored per account and date.

use super::Ctx;
use crate::core::accounts;
use crate::core::json_num::InCurrency;
use crate::core::report::Period;
use crate::core::reporting;
use crate::core::valuation;
use crate::vals;
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub account: super::flags::AccountFilter,
    /// Days up to and including today (UTC).
    #[arg(long, default_value_t = 30)]
    pub period_days: u32,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<crate::output::Outcome> {
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    let period = Period::last_days(now, args.period_days.max(1)).until(now);
    let date = crate::core::time::fmt_ms(now)[..10].to_string();
    let mut results = BTreeMap::new();
    for acct in accounts::selected(store, args.account.account_id).await? {
        let r: Result<serde_json::Value> = async {
            let metrics = reporting::account_metrics(store, &acct, period).await?;
            let mut m = serde_json::to_value(InCurrency(&acct.quote, &metrics))?;
            let status = m["status"].as_str().unwrap_or("success").to_string();
            // The full curve is for reports; keep the stored and printed result compact.
            if let Some(o) = m.as_object_mut() {
                o.remove("equity_curve");
            }
            store
                .exec(
                    "INSERT INTO account_metrics (account_id, date, period_days, status, metrics, created_ms) VALUES (?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (account_id, date, period_days) DO UPDATE SET status = excluded.status, metrics = excluded.metrics, created_ms = excluded.created_ms",
                    vals![acct.id, date.as_str(), args.period_days, status.as_str(), m.to_string(), now],
                )
                .await?;
            m["metrics_status"] = json!(status);
            m["status"] = json!("success");
            m["account_id"] = json!(acct.id);
            // The account's equity now, from the one valuation (the metrics above come from the
            // balance history, which sync-account-balance writes from the same valuation).
            let valued = valuation::load_stored_or_live(store, &acct, now).await?;
            m["equity"] = valued
                .as_ref()
                .map_or(serde_json::Value::Null, |v| accounts::money(v.equity, &acct.quote));
            m["valuation"] = valued
                .as_ref()
                .map_or(serde_json::Value::Null, |v| v.summary_json());
            // Marks judged by the freshness rule, as analyze-risk judges them: a stale price
            // makes `equity` a figure of the past, so it is marked (with the prices and their
            // times) and the account is partial (exit 3). The metrics above come from the
            // stored history and stand.
            let market = &ctx.settings.file.market;
            let stale = valued.as_ref().map_or_else(Vec::new, |v| {
                crate::core::freshness::stale_marks(v, &market.freshness(), market.timeframe, now)
            });
            if !stale.is_empty() {
                let note = format!(
                    "equity is not current: it rests on stale prices ({})",
                    crate::core::freshness::describe_stale_marks(&stale)
                );
                match m.get_mut("notes").and_then(|n| n.as_array_mut()) {
                    Some(n) => n.push(json!(note)),
                    None => m["notes"] = json!([note]),
                }
                m["status"] = json!("partial");
                m["stale_prices"] = json!(stale);
            }
            Ok(m)
        }
        .await;
        results.insert(
            acct.name.clone(),
            r.unwrap_or_else(|e| json!({"status": "error", "error": format!("{e:#}")})),
        );
    }
    crate::output::Outcome::from_results(json!({
        "period_days": args.period_days,
        "from": crate::core::time::fmt_ms(period.from_ms),
        "to": crate::core::time::fmt_ms(period.to_ms),
        "results": results,
    }))
}
