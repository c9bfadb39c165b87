//! `fks analyze-risk`: exposure, unrealized PnL, concentration, value-at-risk and a risk level
//! per account; HIGH sends an alert (with a cool-down).

use super::Ctx;
use crate::core::accounts::{self, Account, money};
use crate::core::json_num::InCurrency;
use crate::core::market::Symbol;
use crate::core::notify::{COLOR_RED, MessageKind};
use crate::core::outbox::NewMessage;
use crate::core::risk::{self, AccountFigures, RiskPosition, RiskReport};
use crate::core::store::{Store, candles};
use crate::core::valuation;
use crate::output::{EntityStatus, Failure, Outcome, Report, Section, Status, new_table};
use anyhow::Result;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One account's risk, as `analyze-risk` reports it.
#[derive(Debug, Serialize)]
pub struct AccountRisk {
    /// `partial` when a position could not be priced (the level is then `UNKNOWN`).
    pub status: EntityStatus,
    /// The rounded [`RiskReport`] in the account's currency (its own `status` is `state`),
    /// `equity` from the account's valuation.
    #[serde(flatten)]
    pub figures: Map<String, Value>,
    /// The risk report's status: `success`, `zero_balance`, `no_positions`, `unpriced`.
    pub state: &'static str,
    pub valuation: Value,
    /// The freshness verdicts of the positions that could not be priced.
    pub unpriced_positions: Vec<Value>,
    /// The UNKNOWN or HIGH alert, when one was sent (or held by its cool-down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<Value>,
    /// The report the figures were written from (for the table view).
    #[serde(skip)]
    pub report: RiskReport,
    /// The account's quote currency.
    #[serde(skip)]
    pub quote: String,
}

/// An account analyzed, or why it could not be.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AccountResult {
    Analyzed(Box<AccountRisk>),
    Failed(Failure),
}

impl AccountResult {
    fn status(&self) -> EntityStatus {
        match self {
            AccountResult::Analyzed(a) => a.status,
            AccountResult::Failed(f) => f.status,
        }
    }
}

/// The report of `fks analyze-risk`: one entry per account, by name.
#[derive(Debug, Serialize)]
pub struct RiskRun {
    pub results: BTreeMap<String, AccountResult>,
}

/// An amount in a currency, at the currency's precision.
fn amount(x: Option<f64>, quote: &str) -> String {
    match x {
        Some(x) => format!(
            "{:.*} {quote}",
            crate::core::json_num::currency_dp(quote) as usize,
            x
        ),
        None => "-".into(),
    }
}

fn pct(x: Option<f64>, scale: f64) -> String {
    x.map(|x| format!("{:.1}%", x * scale))
        .unwrap_or_else(|| "-".into())
}

impl Report for RiskRun {
    fn status(&self) -> Status {
        Status::combine(self.results.values().map(|r| r.status().as_str()))
    }

    /// The accounts first (level, equity, exposure, PnL, VaR), then each account's positions,
    /// largest first.
    fn table_view(&self) -> Vec<Section> {
        let mut accounts = new_table();
        accounts.set_header(vec![
            "account",
            "status",
            "risk level",
            "equity",
            "exposure",
            "unrealized PnL",
            "VaR 95% 1d",
            "warnings",
        ]);
        let mut sections = Vec::new();
        for (name, r) in &self.results {
            let a = match r {
                AccountResult::Analyzed(a) => a,
                AccountResult::Failed(f) => {
                    accounts.add_row(vec![
                        name.clone(),
                        f.status.as_str().into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        f.error.clone(),
                    ]);
                    continue;
                }
            };
            let rep = &a.report;
            accounts.add_row(vec![
                name.clone(),
                a.status.as_str().into(),
                rep.risk_level.into(),
                amount(Some(rep.equity), &a.quote),
                pct(rep.exposure_ratio, 100.0),
                amount(Some(rep.unrealized_pnl), &a.quote),
                amount(rep.portfolio_var_95_1d, &a.quote),
                rep.warnings.join("; "),
            ]);
            if !rep.positions.is_empty() {
                sections.push((format!("positions: {name}"), positions_table(a)));
            }
        }
        sections.insert(0, ("accounts".into(), accounts));
        sections
    }
}

/// One account's positions, the largest first: value, share of equity, PnL, VaR.
pub fn positions_table(a: &AccountRisk) -> comfy_table::Table {
    let mut ps: Vec<_> = a.report.positions.iter().collect();
    ps.sort_by(|x, y| {
        y.value
            .unwrap_or(-1.0)
            .total_cmp(&x.value.unwrap_or(-1.0))
            .then_with(|| x.symbol.cmp(&y.symbol))
    });
    let mut t = new_table();
    t.set_header(vec![
        "symbol",
        "side",
        "value",
        "of equity",
        "unrealized PnL",
        "VaR 95% 1d",
        "note",
    ]);
    for p in ps {
        t.add_row(vec![
            p.symbol.clone(),
            p.side.as_str().to_string(),
            amount(p.value, &a.quote),
            pct(p.concentration_pct, 1.0),
            amount(p.unrealized_pnl, &a.quote),
            amount(p.var_95_1d, &a.quote),
            if p.value.is_none() {
                "unpriced".into()
            } else if p.concentration_warning {
                "concentrated".into()
            } else {
                String::new()
            },
        ]);
    }
    t
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub account: super::flags::AccountFilter,
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

async fn analyze_one(ctx: &Ctx, acct: &Account) -> Result<AccountRisk> {
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
    let rounded = risk::rounded(report.clone());
    let mut figures = match serde_json::to_value(InCurrency(&acct.quote, &rounded))? {
        Value::Object(m) => m,
        other => anyhow::bail!("a risk report serialized as {other}"),
    };
    figures.shift_remove("status");
    figures.insert("equity".into(), money(valued.equity, &acct.quote));
    let mut v = AccountRisk {
        // Not fully priced: UNKNOWN, an alert, and the account (so the run) is partial.
        status: if unpriced.is_empty() {
            EntityStatus::Success
        } else {
            EntityStatus::Partial
        },
        figures,
        state: report.status,
        valuation: valued.summary_json(),
        unpriced_positions: unpriced,
        alert: None,
        report: rounded,
        quote: acct.quote.clone(),
    };
    let unpriced = &v.unpriced_positions;
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
        v.alert = Some(ctx.notify(m).await);
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
        v.alert = Some(ctx.notify(m).await);
    }
    Ok(v)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<crate::output::Outcome> {
    let store = ctx.store().await?;
    let mut results = BTreeMap::new();
    for acct in accounts::selected(store, args.account.account_id).await? {
        let r = match analyze_one(ctx, &acct).await {
            Ok(a) => AccountResult::Analyzed(Box::new(a)),
            Err(e) => AccountResult::Failed(Failure::new(&e)),
        };
        results.insert(acct.name.clone(), r);
    }
    Outcome::from_report(&RiskRun { results })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::positions::PositionSide;
    use crate::core::risk::PositionRisk;

    fn position(symbol: &str, value: Option<f64>, conc: Option<f64>, warn: bool) -> PositionRisk {
        PositionRisk {
            symbol: symbol.into(),
            side: PositionSide::Long,
            value,
            unrealized_pnl: value.map(|v| v / 10.0),
            concentration_pct: conc,
            concentration_warning: warn,
            var_95_1d: value.map(|v| v / 20.0),
            var_method: "historical",
        }
    }

    fn account() -> AccountRisk {
        let report = RiskReport {
            status: "unpriced",
            risk_level: "UNKNOWN",
            risk_level_reason: Some("SOLUSDT has no fresh price".into()),
            priced_risk_level: Some("HIGH"),
            balance: 10_000.0,
            equity: 10_500.0,
            total_position_value: 8_000.0,
            exposure_ratio: Some(0.7619),
            unrealized_pnl: 500.0,
            unrealized_pnl_pct: Some(5.0),
            positions: vec![
                position("ETHUSDT", Some(2_000.0), Some(19.05), false),
                position("SOLUSDT", None, None, false),
                position("BTCUSDT", Some(6_000.0), Some(57.14), true),
            ],
            unpriced: vec!["SOLUSDT".into()],
            warnings: vec!["BTCUSDT is 57.1% of the equity (limit 40%)".into()],
            portfolio_var_95_1d: Some(310.25),
            var_method: "historical".into(),
        };
        AccountRisk {
            status: EntityStatus::Partial,
            figures: Map::new(),
            state: report.status,
            valuation: Value::Null,
            unpriced_positions: Vec::new(),
            alert: None,
            report,
            quote: "USDT".into(),
        }
    }

    #[test]
    fn the_positions_table_shows_the_largest_first_with_key_figures() {
        let t = positions_table(&account()).to_string();
        let lines: Vec<&str> = t.lines().collect();
        let header = lines
            .iter()
            .find(|l| l.contains("symbol"))
            .expect("a header");
        // Key figures first: symbol, side, value, share of equity.
        let at = |h: &str| header.find(h).unwrap_or_else(|| panic!("{h} in {header}"));
        assert!(at("symbol") < at("side") && at("side") < at("value"));
        assert!(at("value") < at("of equity") && at("of equity") < at("unrealized PnL"));
        let row = |sym: &str| {
            lines
                .iter()
                .position(|l| l.contains(sym))
                .unwrap_or_else(|| panic!("{sym} in\n{t}"))
        };
        // Largest first, the unpriced position last.
        assert!(
            row("BTCUSDT") < row("ETHUSDT") && row("ETHUSDT") < row("SOLUSDT"),
            "{t}"
        );
        let btc = lines[row("BTCUSDT")];
        for cell in [
            "LONG",
            "6000.00 USDT",
            "57.1%",
            "600.00 USDT",
            "300.00 USDT",
            "concentrated",
        ] {
            assert!(btc.contains(cell), "{cell} in {btc}");
        }
        assert!(lines[row("SOLUSDT")].contains("unpriced"), "{t}");
    }

    #[test]
    fn the_table_view_lists_accounts_then_their_positions() {
        let run = RiskRun {
            results: BTreeMap::from([
                (
                    "Paper".to_string(),
                    AccountResult::Analyzed(Box::new(account())),
                ),
                (
                    "Broken".to_string(),
                    AccountResult::Failed(Failure::new(&anyhow::anyhow!("no such store"))),
                ),
            ]),
        };
        assert_eq!(run.status(), Status::Partial);
        let sections = run.table_view();
        let titles: Vec<&str> = sections.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(titles, ["accounts", "positions: Paper"]);
        let accounts = sections[0].1.to_string();
        assert!(
            accounts.contains("UNKNOWN") && accounts.contains("76.2%"),
            "{accounts}"
        );
        assert!(accounts.contains("no such store"), "{accounts}");
        // The JSON: status first, the failed account as {status, error}.
        let o = Outcome::from_report(&run).unwrap();
        let j = o.to_json("analyze-risk");
        assert_eq!(
            j["results"]["Broken"],
            serde_json::json!({"status": "error", "error": "no such store"})
        );
        assert_eq!(j["results"]["Paper"]["status"], "partial");
        assert_eq!(j["results"]["Paper"]["state"], "unpriced");
        let text =
            String::from_utf8(o.render("analyze-risk", crate::output::Format::Table)).unwrap();
        assert!(
            text.contains("positions: Paper") && !text.contains("[3 items]"),
            "{text}"
        );
    }
}
