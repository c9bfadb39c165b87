//! `fks generate-report`: account summary, the period's metrics, recent trades, open
//! positions, PnL by symbol, alerts and job failures; as JSON, a table, Markdown or a
//! self-contained HTML page; delivered to the configured channels (Discord: an embed with the
//! equity chart attached as PNG).

use super::Ctx;
use crate::core::accounts;
use crate::core::json_num::{InCurrency, Money};
use crate::core::notify::MessageKind;
use crate::core::outbox::NewMessage;
use crate::core::report::{self, Period, ReportType};
use crate::core::reporting;
use crate::output::{Outcome, new_table};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    Daily,
    Weekly,
    Monthly,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub account: super::flags::AccountFilter,
    /// daily, weekly or monthly: the period the report covers.
    #[arg(long, value_enum, default_value = "daily")]
    pub report_type: Kind,
    /// Write the report: `.md` for Markdown, `.html` for a self-contained page.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Do not send the report to the notification channels.
    #[arg(long)]
    pub no_deliver: bool,
}

fn output_path(base: &Path, acct_name: &str, many: bool) -> PathBuf {
    if !many {
        return base.to_path_buf();
    }
    let slug: String = acct_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "report".into());
    let ext = base
        .extension()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    base.with_file_name(format!("{stem}-{slug}.{ext}"))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    let (kind, days) = match args.report_type {
        Kind::Daily => (ReportType::Daily, 1),
        Kind::Weekly => (ReportType::Weekly, 7),
        Kind::Monthly => (ReportType::Monthly, 30),
    };
    if let Some(o) = &args.output {
        match o.extension().and_then(|e| e.to_str()) {
            Some("md") | Some("html") | Some("htm") => {}
            _ => bail!(
                "--output {}: use a .md (Markdown) or .html file name",
                o.display()
            ),
        }
    }
    let period = Period::last_days(now, days).until(now);
    let list = accounts::selected(store, args.account.account_id).await?;
    let many = list.len() > 1;
    let mut results = BTreeMap::new();
    let mut table = new_table();
    table.set_header(vec![
        "account",
        "equity",
        "period PnL",
        "return",
        "max DD",
        "trades",
        "open positions",
        "file",
    ]);
    for acct in &list {
        let r: Result<serde_json::Value> = async {
            let market = &ctx.settings.file.market;
            let rule = market.freshness();
            let prices = reporting::PriceRule {
                rule: &rule,
                timeframe: market.timeframe,
            };
            let data = reporting::build(store, acct, kind, period, now, &prices).await?;
            let mut file = None;
            if let Some(base) = &args.output {
                let path = output_path(base, &acct.name, many);
                let text = if path.extension().is_some_and(|e| e == "md") {
                    report::render_markdown(&data)
                } else {
                    report::render_html(&data)
                };
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
                file = Some(path.display().to_string());
            }
            let mut delivery = serde_json::Value::Null;
            if !args.no_deliver && ctx.settings.file.notifications.any() {
                let png = report::render_equity_png(&data, 1200, 700)?;
                let dir = store
                    .sqlite_path()
                    .and_then(|p| p.parent())
                    .map(|p| p.join("reports"))
                    .unwrap_or_else(|| std::env::temp_dir().join("fks-reports"));
                std::fs::create_dir_all(&dir)?;
                let png_path =
                    dir.join(format!("equity-{}-{}-{}.png", acct.id, kind.as_str(), now));
                std::fs::write(&png_path, png)?;
                let s = report::discord_summary(&data);
                let mut m = NewMessage::new(MessageKind::Report, s.title, s.description);
                m.fields = s.fields;
                m.color = Some(s.color);
                m.attachment_path = Some(png_path.display().to_string());
                // One report per account, kind and UTC day it is made for: a retried or
                // doubled cron line does not send it twice within the period.
                m.dedup_key = Some(format!(
                    "report:{}:{}:{}",
                    acct.id,
                    kind.as_str(),
                    &crate::core::time::fmt_ms(now)[..10]
                ));
                m.cooldown_ms = Some(i64::from(days) * 86_400_000);
                delivery = ctx.notify(m).await;
            }
            let mut v = serde_json::to_value(InCurrency(&acct.quote, &data))?;
            if let Some(o) = v.get_mut("metrics").and_then(|m| m.as_object_mut()) {
                o.remove("equity_curve");
                o.remove("daily");
            }
            table.add_row(vec![
                acct.name.clone(),
                Money::new(data.summary.equity, &acct.quote)
                    .rounded()
                    .to_string(),
                Money::from_f64(data.period_pnl(), &acct.quote)
                    .map_or_else(|| "-".into(), |m| m.rounded().to_string()),
                data.metrics
                    .total_return_pct
                    .map(|x| format!("{x:.2}%"))
                    .unwrap_or_else(|| "-".into()),
                data.metrics
                    .max_drawdown_pct
                    .map(|x| format!("{x:.2}%"))
                    .unwrap_or_else(|| "-".into()),
                data.metrics.total_trades.to_string(),
                data.open_positions.len().to_string(),
                file.clone().unwrap_or_default(),
            ]);
            // Stale prices: the report is made and delivered with its warning, and the
            // account is partial (exit 3), as analyze-risk's UNKNOWN.
            v["status"] = json!(if data.stale_prices.is_empty() {
                "success"
            } else {
                "partial"
            });
            // The summary's equity as every account job prints it (crate::core::valuation).
            v["equity"] = accounts::money(data.summary.equity, &acct.quote);
            v["file"] = json!(file);
            v["delivery"] = delivery;
            Ok(v)
        }
        .await;
        results.insert(
            acct.name.clone(),
            r.unwrap_or_else(|e| json!({"status": "error", "error": format!("{e:#}")})),
        );
    }
    Ok(
        Outcome::from_results(json!({ "report_type": kind, "results": results }))?
            .with_table(table),
    )
}
