//! Failure streaks of the scheduled jobs, the alert they send, and the "recovered" message.
//!
//! A streak counts, newest first, the finished runs of a job that failed (`error`, or
//! `killed`: a run whose process is gone, as [`runs::effective_status`] decides) before its
//! last success, plus the scheduled runs it missed once it is overdue (not started within
//! twice its interval, as `fks status` says). Skipped runs (lock held) count neither way.
//! A job that never ran sends no alert (a fresh install would page for every job), but
//! `fks status --check` reports it as overdue.
//!
//! At `[monitor] failure_streak` in a row (default 3) one urgent alert goes through the outbox
//! with the last error; it is repeated at most once per `failure_cooldown_minutes` while the job
//! keeps failing; the first success after an alert sends a "recovered" message. The state (when
//! the alert went out) is kept in the store's `kv` table under `monitor.failure_alert@<job>`.

use super::{MonitorConfig, task_of};
use crate::core::notify::{COLOR_GREEN, COLOR_RED, MessageKind, NotifyConfig};
use crate::core::outbox::{self, NewMessage};
use crate::core::runs;
use crate::core::store::Store;
use crate::core::time::fmt_ms;
use crate::vals;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `kv` key prefix of the alert state of a job.
pub const KV_PREFIX: &str = "monitor.failure_alert@";

/// One finished or running journal row, with its effective status.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFact {
    pub id: i64,
    /// `success`, `partial`, `error`, `killed` or `running` (skipped rows are left out).
    pub status: String,
    pub started_ms: i64,
    pub error: Option<String>,
}

/// How a scheduled job is doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobHealth {
    pub task: String,
    /// The job's schedule (the most frequent when it has several entries).
    pub schedule: Option<String>,
    /// Consecutive failed runs, newest first, before the last success.
    pub failures: u32,
    /// Scheduled runs missed since the last start (0 unless overdue).
    pub missed: u32,
    /// The status of the newest finished run (`success`, `partial`, `error`, `killed`).
    pub last_status: Option<String>,
    /// When the newest run (of any status) started.
    pub last_run_ms: Option<i64>,
    /// The error of the newest failed run.
    pub last_error: Option<String>,
    /// The journal id of the oldest failed run of the streak (None: no failed run).
    pub streak_first_id: Option<i64>,
    pub overdue: bool,
}

impl JobHealth {
    /// Failures and missed runs in a row.
    pub fn streak(&self) -> u32 {
        self.failures + self.missed
    }

    /// Whether its newest finished run failed.
    pub fn failing(&self) -> bool {
        matches!(self.last_status.as_deref(), Some("error" | "killed"))
    }

    /// Why `fks status --check` fails because of this job, if it does.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.failing() {
            out.push(format!(
                "{} is failing: last run {} ({} in a row){}",
                self.task,
                self.last_status.as_deref().unwrap_or("error"),
                self.failures,
                self.last_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        if self.overdue {
            let sched = self.schedule.as_deref().unwrap_or("?");
            out.push(match self.last_run_ms {
                Some(t) => format!(
                    "{} is overdue: last started {}, schedule \"{sched}\"",
                    self.task,
                    fmt_ms(t)
                ),
                None => format!(
                    "{} is overdue: it never ran (schedule \"{sched}\")",
                    self.task
                ),
            });
        }
        out
    }
}

/// How a job is doing, from its newest runs (newest first) and the time its newest run of any
/// status started. Pure.
pub fn health_of(
    task: &str,
    schedule: Option<&str>,
    newest_first: &[RunFact],
    last_started: Option<i64>,
    now_ms: i64,
) -> JobHealth {
    let finished: Vec<&RunFact> = newest_first
        .iter()
        .filter(|r| r.status != "running")
        .collect();
    let failed_prefix: Vec<&&RunFact> = finished
        .iter()
        .take_while(|r| r.status == "error" || r.status == "killed")
        .collect();
    let failures = failed_prefix.len() as u32;
    let streak_first_id = failed_prefix.last().map(|r| r.id);
    let last_error = finished
        .iter()
        .find(|r| r.status == "error" || r.status == "killed")
        .map(|r| {
            r.error
                .clone()
                .unwrap_or_else(|| format!("run {} was {}", r.id, r.status))
        });
    let interval_ms = schedule
        .and_then(crate::core::schedule::interval_minutes)
        .map(|m| (m as i64).max(1) * 60_000);
    let (overdue, missed) = match (interval_ms, last_started) {
        (Some(i), Some(l)) if now_ms - l > 2 * i => (true, ((now_ms - l) / i - 1).max(1) as u32),
        (Some(_), None) => (true, 0),
        _ => (false, 0),
    };
    JobHealth {
        task: task.to_string(),
        schedule: schedule.map(str::to_string),
        failures,
        missed,
        last_status: finished.first().map(|r| r.status.clone()),
        last_run_ms: last_started,
        last_error,
        streak_first_id,
        overdue,
    }
}

/// Per job of the schedule, the most frequent of its entries' expressions.
pub fn scheduled_tasks(schedule: &[(String, String)]) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (entry, expr) in schedule {
        let every = crate::core::schedule::interval_minutes(expr).unwrap_or(u64::MAX);
        let task = task_of(entry).to_string();
        let keep = out.get(&task).is_some_and(|old| {
            crate::core::schedule::interval_minutes(old).unwrap_or(u64::MAX) <= every
        });
        if !keep {
            out.insert(task, expr.clone());
        }
    }
    out
}

/// The health of every scheduled job as of `now_ms` (runs started after it are not seen).
/// `depth` bounds how many runs per job are read.
pub async fn load_health(
    store: &Store,
    schedule: &[(String, String)],
    now_ms: i64,
    depth: u32,
) -> Result<Vec<JobHealth>> {
    let killed = runs::killed_runs(store).await?;
    let mut out = Vec::new();
    for (task, expr) in scheduled_tasks(schedule) {
        let rows = store
            .query(
                "SELECT id, status, started_ms, host, pid, error FROM task_runs \
                 WHERE task = ? AND started_ms <= ? AND status <> 'skipped' \
                 ORDER BY started_ms DESC, id DESC LIMIT ?",
                vals![task.as_str(), now_ms, i64::from(depth.max(1)) + 5],
            )
            .await
            .with_context(|| format!("read the journal of {task}"))?;
        let mut facts = Vec::with_capacity(rows.len());
        for r in &rows {
            facts.push(RunFact {
                id: r.int(0)?,
                status: runs::effective_status(r.text(1)?, r.int(0)?, &killed),
                started_ms: r.int(2)?,
                error: r.opt_text(5)?,
            });
        }
        let last = store
            .query_one(
                "SELECT MAX(started_ms) FROM task_runs WHERE task = ? AND started_ms <= ?",
                vals![task.as_str(), now_ms],
            )
            .await?
            .opt_int(0)?;
        out.push(health_of(&task, Some(&expr), &facts, last, now_ms));
    }
    Ok(out)
}

/// When the alert of a failing job went out (stored in `kv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertState {
    pub alerted_ms: i64,
    pub streak: u32,
}

/// What to do about one job now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send (or repeat, after the cool-down) the failure alert.
    Alert,
    /// The job succeeded after an alert: say so and forget the alert.
    Recovered,
}

/// Pure: the alert decision for a job's health and its stored alert state.
pub fn decide(
    h: &JobHealth,
    state: Option<&AlertState>,
    cfg: &MonitorConfig,
    now_ms: i64,
) -> Option<Decision> {
    if cfg.failure_streak == 0 {
        return None;
    }
    if h.streak() >= cfg.failure_streak {
        return match state {
            Some(s) if now_ms - s.alerted_ms < cfg.cooldown_ms() => None,
            _ => Some(Decision::Alert),
        };
    }
    let succeeded = matches!(h.last_status.as_deref(), Some("success" | "partial"));
    (state.is_some() && succeeded && !h.overdue).then_some(Decision::Recovered)
}

/// The failure alert of a job.
pub fn alert_message(h: &JobHealth, cfg: &MonitorConfig) -> NewMessage {
    let why = match (h.failures, h.missed) {
        (f, 0) => format!("{f} failed runs in a row"),
        (0, m) => format!("{m} scheduled runs missed"),
        (f, m) => format!("{f} failed runs and {m} missed runs in a row"),
    };
    let mut body = format!("{} is failing: {why}.", h.task);
    if let Some(e) = &h.last_error {
        body.push_str(&format!("\nLast error: {e}"));
    }
    let mut m = NewMessage::new(MessageKind::Alert, format!("{} is failing", h.task), body);
    m.urgent = true;
    m.color = Some(COLOR_RED);
    // One key per streak (its first failed run, else its last start): a new streak alerts at
    // once; two runs checking at the same moment queue it once.
    let streak = h
        .streak_first_id
        .map(|id| format!("run{id}"))
        .unwrap_or_else(|| format!("since{}", h.last_run_ms.unwrap_or(0)));
    m.dedup_key = Some(format!("job-failing:{}:{streak}", h.task));
    m.cooldown_ms = Some(cfg.cooldown_ms());
    m.fields = vec![
        ("Job".into(), h.task.clone()),
        ("In a row".into(), h.streak().to_string()),
        (
            "Last run".into(),
            h.last_run_ms.map(fmt_ms).unwrap_or_else(|| "never".into()),
        ),
    ];
    if let Some(s) = &h.schedule {
        m.fields.push(("Schedule".into(), s.clone()));
    }
    m
}

/// The "recovered" message after an alert.
pub fn recovered_message(h: &JobHealth, state: &AlertState) -> NewMessage {
    let mut m = NewMessage::new(
        MessageKind::Alert,
        format!("{} recovered", h.task),
        format!(
            "{} succeeded again (last run {}) after the failure alert of {}.",
            h.task,
            h.last_run_ms.map(fmt_ms).unwrap_or_else(|| "?".into()),
            fmt_ms(state.alerted_ms)
        ),
    );
    m.color = Some(COLOR_GREEN);
    m.dedup_key = Some(format!("job-recovered:{}:{}", h.task, state.alerted_ms));
    m
}

/// One message queued by [`check`].
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    pub job: String,
    /// `failing` or `recovered`.
    pub kind: &'static str,
    pub notification_id: i64,
    /// The outbox status: `pending`, or `suppressed` when another run queued it just before.
    pub status: &'static str,
}

/// Check every scheduled job's streak and queue the alerts and "recovered" messages due.
/// Delivery is the caller's (the outbox keeps what is queued).
pub async fn check(
    store: &Store,
    notify: &NotifyConfig,
    cfg: &MonitorConfig,
    schedule: &[(String, String)],
    now_ms: i64,
) -> Result<Vec<Queued>> {
    if cfg.failure_streak == 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for h in load_health(store, schedule, now_ms, cfg.failure_streak).await? {
        let key = format!("{KV_PREFIX}{}", h.task);
        let state = store
            .kv_get(&key)
            .await?
            .and_then(|v| serde_json::from_str::<AlertState>(&v).ok());
        match decide(&h, state.as_ref(), cfg, now_ms) {
            None => {}
            Some(Decision::Alert) => {
                let q = outbox::enqueue(store, notify, &alert_message(&h, cfg), now_ms).await?;
                let s = AlertState {
                    alerted_ms: now_ms,
                    streak: h.streak(),
                };
                store
                    .kv_set(&key, &serde_json::to_string(&s)?, now_ms)
                    .await?;
                out.push(Queued {
                    job: h.task.clone(),
                    kind: "failing",
                    notification_id: q.id,
                    status: q.status,
                });
            }
            Some(Decision::Recovered) => {
                let s = state.expect("decide gives Recovered only with a state");
                let q = outbox::enqueue(store, notify, &recovered_message(&h, &s), now_ms).await?;
                store
                    .exec("DELETE FROM kv WHERE key = ?", vals![key.as_str()])
                    .await?;
                out.push(Queued {
                    job: h.task.clone(),
                    kind: "recovered",
                    notification_id: q.id,
                    status: q.status,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: i64, status: &str, started_ms: i64) -> RunFact {
        RunFact {
            id,
            status: status.into(),
            started_ms,
            error: (status == "error").then(|| format!("boom {id}")),
        }
    }

    const MIN: i64 = 60_000;

    #[test]
    fn failures_count_until_the_last_success_and_running_rows_are_left_out() {
        let runs = [
            run(5, "running", 50 * MIN),
            run(4, "error", 40 * MIN),
            run(3, "killed", 30 * MIN),
            run(2, "error", 20 * MIN),
            run(1, "success", 10 * MIN),
        ];
        let h = health_of("j", Some("*/10 * * * *"), &runs, Some(50 * MIN), 55 * MIN);
        assert_eq!(h.failures, 3);
        assert_eq!(h.missed, 0);
        assert!(!h.overdue);
        assert!(h.failing());
        assert_eq!(h.last_error.as_deref(), Some("boom 4"));
        assert_eq!(h.last_status.as_deref(), Some("error"));
    }

    #[test]
    fn missed_runs_count_once_overdue() {
        let runs = [run(1, "success", 0)];
        // every 10 min; 45 min after the last start: overdue (> 20 min), 3 runs missed.
        let h = health_of("j", Some("*/10 * * * *"), &runs, Some(0), 45 * MIN);
        assert!(h.overdue);
        assert_eq!((h.failures, h.missed, h.streak()), (0, 3, 3));
        assert!(!h.failing());
        assert_eq!(h.problems().len(), 1, "{:?}", h.problems());
        // 15 min: not overdue yet.
        let h = health_of("j", Some("*/10 * * * *"), &runs, Some(0), 15 * MIN);
        assert_eq!((h.overdue, h.missed), (false, 0));
        // never ran: overdue for --check, but no streak (no alert on a fresh install).
        let h = health_of("j", Some("*/10 * * * *"), &[], None, 15 * MIN);
        assert!(h.overdue);
        assert_eq!(h.streak(), 0);
        assert!(h.problems()[0].contains("never ran"), "{:?}", h.problems());
    }

    #[test]
    fn one_alert_then_quiet_under_the_cooldown_then_recovered() {
        let cfg = MonitorConfig {
            failure_streak: 3,
            failure_cooldown_minutes: 60,
            ..Default::default()
        };
        let two = [run(2, "error", 2 * MIN), run(1, "error", MIN)];
        let h = health_of("j", None, &two, Some(2 * MIN), 3 * MIN);
        assert_eq!(decide(&h, None, &cfg, 3 * MIN), None, "2 < 3 in a row");
        let three = [
            run(3, "killed", 3 * MIN),
            run(2, "error", 2 * MIN),
            run(1, "error", MIN),
        ];
        let h = health_of("j", None, &three, Some(3 * MIN), 4 * MIN);
        assert_eq!(decide(&h, None, &cfg, 4 * MIN), Some(Decision::Alert));
        let st = AlertState {
            alerted_ms: 4 * MIN,
            streak: 3,
        };
        assert_eq!(decide(&h, Some(&st), &cfg, 30 * MIN), None, "cool-down");
        assert_eq!(
            decide(&h, Some(&st), &cfg, 64 * MIN),
            Some(Decision::Alert),
            "repeated after the cool-down"
        );
        let ok = [run(4, "success", 70 * MIN), run(3, "killed", 3 * MIN)];
        let h = health_of("j", None, &ok, Some(70 * MIN), 71 * MIN);
        assert_eq!(
            decide(&h, Some(&st), &cfg, 71 * MIN),
            Some(Decision::Recovered)
        );
        assert_eq!(decide(&h, None, &cfg, 71 * MIN), None, "nothing to recover");
        let off = MonitorConfig {
            failure_streak: 0,
            ..cfg
        };
        let h = health_of("j", None, &three, Some(3 * MIN), 4 * MIN);
        assert_eq!(decide(&h, None, &off, 4 * MIN), None);
    }

    #[test]
    fn alert_carries_the_last_error_and_a_dedup_key() {
        let h = health_of(
            "sync-market-data",
            Some("*/5 * * * *"),
            &[run(9, "error", 0)],
            Some(0),
            MIN,
        );
        let m = alert_message(&h, &MonitorConfig::default());
        assert!(m.body.contains("boom 9"), "{}", m.body);
        assert!(m.urgent);
        assert_eq!(
            m.dedup_key.as_deref(),
            Some("job-failing:sync-market-data:run9")
        );
        assert_eq!(m.cooldown_ms, Some(360 * MIN));
    }

    #[test]
    fn the_most_frequent_entry_of_a_job_is_its_schedule() {
        let s = scheduled_tasks(&[
            (
                "generate-report --report-type weekly".into(),
                "0 8 * * 1".into(),
            ),
            (
                "generate-report --report-type daily".into(),
                "30 23 * * *".into(),
            ),
        ]);
        assert_eq!(s["generate-report"], "30 23 * * *");
    }
}
