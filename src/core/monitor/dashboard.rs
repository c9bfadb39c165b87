//! What the status page shows, read from the store: jobs, failures, queues, accounts and
//! strategies. [`load`] gathers it; [`super::page::render`] turns it into HTML.
//!
//! A section that cannot be read (a broken valuation, an unreadable journal entry) says so on
//! the page instead of failing the whole page: the page is most needed when things break.

use super::{shard_of, streaks};
use crate::core::accounts::{self, Account};
use crate::core::config::Settings;
use crate::core::exchange::binance::bans::{self, BanBook};
use crate::core::runs;
use crate::core::store::Store;
use crate::core::{balances, freshness, strategies, valuation};
use crate::vals;
use anyhow::{Context, Result};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

const DAY_MS: i64 = 86_400_000;
/// Most failures listed on the page.
pub const MAX_FAILURES: usize = 25;

/// One run as a point of a job's 7-day chart.
#[derive(Debug, Clone, Serialize)]
pub struct RunPoint {
    pub started_ms: i64,
    pub duration_ms: Option<i64>,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub status: String,
    pub started_ms: i64,
    pub duration_ms: Option<i64>,
    pub host: String,
    pub shard: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub task: String,
    pub schedule: Option<String>,
    pub last: Option<LastRun>,
    pub runs_24h: usize,
    pub success_rate_24h: Option<f64>,
    pub median_duration_ms_24h: Option<i64>,
    pub runs_7d: usize,
    pub success_rate_7d: Option<f64>,
    pub median_duration_ms_7d: Option<i64>,
    pub overdue: bool,
    /// Failed (and missed) runs in a row, for scheduled jobs.
    pub streak: u32,
    pub failing: bool,
    pub points: Vec<RunPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureRow {
    pub task: String,
    /// `error` or `killed`.
    pub status: String,
    pub started_ms: i64,
    pub host: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelQueue {
    pub channel: String,
    pub pending: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderRow {
    pub account: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub quantity: String,
    pub status: String,
    pub reason: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StaleRow {
    pub symbol: String,
    pub timeframe: String,
    pub status: String,
    pub age: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BanRow {
    pub host: String,
    pub status: u16,
    pub until_ms: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PositionLine {
    pub symbol: String,
    pub side: String,
    pub quantity: Decimal,
    pub mark: Option<Decimal>,
    pub market_value: Decimal,
    pub unrealized_pnl: Option<Decimal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountRow {
    pub name: String,
    pub kind: String,
    pub quote: String,
    pub equity: Option<Decimal>,
    pub daily_pnl: Option<Decimal>,
    pub as_of_ms: Option<i64>,
    pub positions: Vec<PositionLine>,
    pub risk_level: Option<String>,
    pub risk_ms: Option<i64>,
    /// Why the figures are missing (never synced, valuation error).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StrategyRow {
    pub name: String,
    pub kind: String,
    pub symbols: String,
    pub timeframe: String,
    /// The last validate-strategies verdict (`pass`, `fail`, `insufficient_data`).
    pub verdict: Option<String>,
    pub action: Option<String>,
    pub decided_ms: Option<i64>,
}

/// Everything on the page.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub generated_ms: i64,
    pub host: String,
    pub store: String,
    pub jobs: Vec<JobRow>,
    /// The latest failed and killed runs (at most [`MAX_FAILURES`]).
    pub failures: Vec<FailureRow>,
    /// All failed and killed runs of the last 7 days.
    pub failures_7d: usize,
    pub killed_7d: usize,
    pub outbox: Vec<ChannelQueue>,
    pub unresolved_orders: Vec<OrderRow>,
    pub stale: Vec<StaleRow>,
    pub bans: Vec<BanRow>,
    pub accounts: Vec<AccountRow>,
    pub strategies: Vec<StrategyRow>,
    /// Sections that could not be read, with why.
    pub notes: Vec<String>,
}

impl Dashboard {
    pub fn failing(&self) -> Vec<&str> {
        self.jobs
            .iter()
            .filter(|j| j.failing)
            .map(|j| j.task.as_str())
            .collect()
    }
    pub fn overdue(&self) -> Vec<&str> {
        self.jobs
            .iter()
            .filter(|j| j.overdue)
            .map(|j| j.task.as_str())
            .collect()
    }
}

/// Order statuses that are not final yet (reconciliation asks the exchange about them).
const UNRESOLVED: &[&str] = &[
    "new",
    "sent",
    "unknown",
    "new_on_exchange",
    "partially_filled",
];

/// Read everything the page shows as of `now_ms` (the run's clock); exchange back-offs are
/// in real time (`wall_ms`), as the exchange keeps them.
pub async fn load(
    store: &Store,
    settings: &Settings,
    schedule: &[(String, String)],
    now_ms: i64,
    wall_ms: i64,
) -> Result<Dashboard> {
    let mut notes = Vec::new();
    let (jobs, failures, failures_7d, killed_7d) =
        load_jobs(store, settings, schedule, now_ms).await?;
    let outbox = load_outbox(store)
        .await
        .unwrap_or_else(|e| note(&mut notes, "notifications", e));
    let unresolved_orders = load_orders(store)
        .await
        .unwrap_or_else(|e| note(&mut notes, "orders", e));
    let stale = load_stale(store, settings, now_ms)
        .await
        .unwrap_or_else(|e| note(&mut notes, "market data", e));
    let bans = load_bans(store, wall_ms)
        .await
        .unwrap_or_else(|e| note(&mut notes, "exchange back-offs", e));
    let accounts = load_accounts(store, now_ms)
        .await
        .unwrap_or_else(|e| note(&mut notes, "accounts", e));
    let strategies = load_strategies(store, now_ms)
        .await
        .unwrap_or_else(|e| note(&mut notes, "strategies", e));
    Ok(Dashboard {
        generated_ms: now_ms,
        host: runs::hostname(),
        store: crate::core::store::redact_url(&settings.database_url),
        jobs,
        failures,
        failures_7d,
        killed_7d,
        outbox,
        unresolved_orders,
        stale,
        bans,
        accounts,
        strategies,
        notes,
    })
}

fn note<T>(notes: &mut Vec<String>, what: &str, e: anyhow::Error) -> Vec<T> {
    notes.push(format!(
        "{what}: {}",
        crate::commands::one_line(&format!("{e:#}"))
    ));
    Vec::new()
}

async fn load_jobs(
    store: &Store,
    settings: &Settings,
    schedule: &[(String, String)],
    now_ms: i64,
) -> Result<(Vec<JobRow>, Vec<FailureRow>, usize, usize)> {
    let stats = runs::status(store, now_ms, schedule).await?;
    let health: BTreeMap<String, streaks::JobHealth> = streaks::load_health(
        store,
        schedule,
        now_ms,
        settings.file.monitor.failure_streak.max(3),
    )
    .await?
    .into_iter()
    .map(|h| (h.task.clone(), h))
    .collect();
    let killed_ids = runs::killed_runs(store).await?;
    let rows = store
        .query(
            "SELECT id, task, status, started_ms, ended_ms, host, pid, args, error FROM task_runs \
             WHERE started_ms >= ? AND started_ms <= ? ORDER BY started_ms, id",
            vals![now_ms - 7 * DAY_MS, now_ms],
        )
        .await
        .context("read the run journal")?;
    let mut points: BTreeMap<String, Vec<RunPoint>> = BTreeMap::new();
    let mut last: BTreeMap<String, LastRun> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut killed = 0;
    for r in &rows {
        let (task, host) = (r.text(1)?, r.text(5)?);
        let status = runs::effective_status(r.text(2)?, r.int(0)?, &killed_ids);
        let (started, ended) = (r.int(3)?, r.opt_int(4)?);
        let duration = ended.map(|e| e - started);
        if status == "killed" {
            killed += 1;
        }
        if status == "error" || status == "killed" {
            failures.push(FailureRow {
                task: task.clone(),
                status: status.clone(),
                started_ms: started,
                host: host.clone(),
                message: r
                    .opt_text(8)?
                    .map(|e| crate::commands::one_line(&e))
                    .unwrap_or_else(|| {
                        "the run stopped without finishing (process gone)".to_string()
                    }),
            });
        }
        let args: Vec<String> = serde_json::from_str(&r.text(7)?).unwrap_or_default();
        last.insert(
            task.clone(),
            LastRun {
                status: status.clone(),
                started_ms: started,
                duration_ms: duration,
                host,
                shard: shard_of(&args),
            },
        );
        points.entry(task).or_default().push(RunPoint {
            started_ms: started,
            duration_ms: duration,
            status,
        });
    }
    let failures_total = failures.len();
    failures.reverse();
    failures.truncate(MAX_FAILURES);
    let mut jobs: Vec<JobRow> = stats
        .into_iter()
        .map(|(task, s)| {
            let h = health.get(&task);
            let points = points.remove(&task).unwrap_or_default();
            // A job run by hand (not scheduled) is failing when its newest finished run failed.
            let trailing = points
                .iter()
                .rev()
                .filter(|p| p.status != "running" && p.status != "skipped")
                .take_while(|p| p.status == "error" || p.status == "killed")
                .count() as u32;
            JobRow {
                schedule: s.schedule,
                last: last.remove(&task),
                runs_24h: s.runs_24h,
                success_rate_24h: s.success_rate_24h,
                median_duration_ms_24h: s.median_duration_ms_24h,
                runs_7d: s.runs_7d,
                success_rate_7d: s.success_rate_7d,
                median_duration_ms_7d: s.median_duration_ms_7d,
                overdue: s.overdue,
                streak: h.map(|h| h.streak()).unwrap_or(trailing),
                failing: h.map(|h| h.failing()).unwrap_or(trailing > 0),
                points,
                task,
            }
        })
        .collect();
    // What needs a look first: failing jobs, then overdue ones, then by name.
    jobs.sort_by_key(|j| (!j.failing, !j.overdue, j.task.clone()));
    Ok((jobs, failures, failures_total, killed))
}

async fn load_outbox(store: &Store) -> Result<Vec<ChannelQueue>> {
    let mut by: BTreeMap<String, ChannelQueue> = BTreeMap::new();
    let mut add = |ch: String, st: &str, n: i64| {
        let q = by.entry(ch.clone()).or_insert(ChannelQueue {
            channel: ch,
            pending: 0,
            failed: 0,
        });
        if st == "failed" {
            q.failed += n;
        } else {
            q.pending += n;
        }
    };
    for r in store
        .query(
            "SELECT channel, status, COUNT(*) FROM notification_deliveries \
             WHERE status IN ('pending', 'failed') GROUP BY channel, status",
            &[],
        )
        .await?
    {
        add(r.text(0)?, &r.text(1)?, r.int(2)?);
    }
    // Messages no channel has tried yet (none configured, or not delivered since queued).
    for r in store
        .query(
            "SELECT COUNT(*) FROM notifications n WHERE n.status = 'pending' AND NOT EXISTS \
             (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = n.id)",
            &[],
        )
        .await?
    {
        let n = r.int(0)?;
        if n > 0 {
            add("(not yet tried)".into(), "pending", n);
        }
    }
    Ok(by.into_values().collect())
}

async fn load_orders(store: &Store) -> Result<Vec<OrderRow>> {
    let placeholders = vec!["?"; UNRESOLVED.len()].join(", ");
    let params: Vec<crate::core::store::Value> = UNRESOLVED.iter().map(|s| (*s).into()).collect();
    let rows = store
        .query(
            &format!(
                "SELECT a.name, o.client_order_id, o.symbol, o.side, o.quantity, o.status, o.reason, o.created_ms \
                 FROM orders o JOIN accounts a ON a.id = o.account_id WHERE o.status IN ({placeholders}) ORDER BY o.id"
            ),
            &params,
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(OrderRow {
                account: r.text(0)?,
                client_order_id: r.text(1)?,
                symbol: r.text(2)?,
                side: r.text(3)?,
                quantity: r.text(4)?,
                status: r.text(5)?,
                reason: r.text(6)?,
                created_ms: r.int(7)?,
            })
        })
        .collect()
}

async fn load_stale(store: &Store, settings: &Settings, now_ms: i64) -> Result<Vec<StaleRow>> {
    let rule = settings.file.market.freshness();
    let tf = settings.file.market.timeframe;
    let mut out = Vec::new();
    for sym in settings.symbols() {
        let f = freshness::of_candles(store, &rule, sym, tf, now_ms).await?;
        if !f.is_fresh() {
            out.push(StaleRow {
                symbol: sym.0.clone(),
                timeframe: tf.to_string(),
                status: serde_json::to_value(&f.status)?
                    .as_str()
                    .unwrap_or("stale")
                    .to_string(),
                age: f.age.clone(),
                reason: f.reason.clone().unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

async fn load_bans(store: &Store, wall_ms: i64) -> Result<Vec<BanRow>> {
    let book = BanBook::new();
    bans::load(store, &book, wall_ms).await?;
    Ok(book
        .all_in_force(wall_ms)
        .into_iter()
        .map(|(host, b)| BanRow {
            host,
            status: b.status,
            until_ms: b.until_ms,
            reason: b.reason,
        })
        .collect())
}

/// The newest entry for `name` in the `results` of the last runs of `task` that finished.
async fn last_result_entry(
    store: &Store,
    task: &str,
    name: &str,
    now_ms: i64,
) -> Result<Option<(serde_json::Value, i64)>> {
    let rows = store
        .query(
            "SELECT result, started_ms FROM task_runs WHERE task = ? AND started_ms <= ? \
             AND status IN ('success', 'partial') AND result IS NOT NULL ORDER BY started_ms DESC LIMIT 20",
            vals![task, now_ms],
        )
        .await?;
    for r in &rows {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.text(0)?) else {
            continue;
        };
        if let Some(e) = v.get("results").and_then(|m| m.get(name)) {
            return Ok(Some((e.clone(), r.int(1)?)));
        }
    }
    Ok(None)
}

async fn load_accounts(store: &Store, now_ms: i64) -> Result<Vec<AccountRow>> {
    let mut out = Vec::new();
    for acct in accounts::list(store, true).await? {
        out.push(account_row(store, &acct, now_ms).await?);
    }
    Ok(out)
}

async fn account_row(store: &Store, acct: &Account, now_ms: i64) -> Result<AccountRow> {
    let mut row = AccountRow {
        name: acct.name.clone(),
        kind: acct.kind.as_str().to_string(),
        quote: acct.quote.clone(),
        equity: None,
        daily_pnl: None,
        as_of_ms: None,
        positions: Vec::new(),
        risk_level: None,
        risk_ms: None,
        note: None,
    };
    // The one valuation every job uses; a failure is shown, not fatal.
    match valuation::load_stored_or_live(store, acct, now_ms).await {
        Ok(Some(v)) => {
            let start = balances::equity_at_day_start(store, acct.id, now_ms).await?;
            row.daily_pnl = start.map(|s| v.equity - s);
            row.equity = Some(v.equity);
            row.as_of_ms = Some(v.as_of_ms);
            row.positions = v
                .positions
                .iter()
                .map(|p| PositionLine {
                    symbol: p.symbol.0.clone(),
                    side: p.side.as_str().to_string(),
                    quantity: p.quantity,
                    mark: p.mark(),
                    market_value: p.market_value,
                    unrealized_pnl: p.unrealized_pnl,
                })
                .collect();
        }
        Ok(None) => row.note = Some("no balance snapshot yet: run sync-account-balance".into()),
        Err(e) => row.note = Some(crate::commands::one_line(&format!("{e:#}"))),
    }
    if let Some((e, at)) = last_result_entry(store, "analyze-risk", &acct.name, now_ms).await? {
        row.risk_level = e
            .get("risk_level")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        row.risk_ms = Some(at);
    }
    Ok(row)
}

async fn load_strategies(store: &Store, now_ms: i64) -> Result<Vec<StrategyRow>> {
    let mut out = Vec::new();
    for s in strategies::list(store, true).await? {
        let last = last_result_entry(store, "validate-strategies", &s.name, now_ms).await?;
        let text = |k: &str| {
            last.as_ref()
                .and_then(|(e, _)| e.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        out.push(StrategyRow {
            kind: serde_json::to_value(&s.spec)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                .unwrap_or_default(),
            symbols: s
                .symbols
                .iter()
                .map(|x| x.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            timeframe: s.timeframe.to_string(),
            verdict: text("verdict"),
            action: text("action"),
            decided_ms: last.as_ref().map(|(_, t)| *t),
            name: s.name,
        });
    }
    Ok(out)
}
