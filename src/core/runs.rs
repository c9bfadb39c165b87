//! The run journal (every run of every job) and job locks.
//!
//! SQLite: a lock row with holder, host, pid and expiry; a lock whose holder process is gone
//! (same host) or whose expiry has passed is taken over. Postgres: a session advisory lock,
//! released by the server when the holding connection ends.

use crate::core::store::{Store, StoreKind};
use crate::vals;
use anyhow::Result;
use serde::Serialize;

/// Who is running: host and pid.
#[derive(Debug, Clone)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
}

impl Holder {
    pub fn current() -> Holder {
        Holder {
            host: hostname(),
            pid: std::process::id(),
        }
    }
    fn id(&self) -> String {
        format!("{}:{}", self.host, self.pid)
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether a process with this pid exists on this host (Linux: /proc). Unknown → assume alive.
pub fn pid_alive(pid: i64) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.exists() {
        return true;
    }
    // A zombie (killed but not yet reaped) is not alive for our purposes.
    match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[derive(Debug)]
pub struct JobLock {
    name: String,
    holder: String,
}

#[derive(Debug)]
pub enum LockResult {
    Acquired(JobLock),
    Held { holder: String, since_ms: i64 },
}

/// Try once to take the job's lock.
pub async fn try_lock(
    store: &Store,
    name: &str,
    ttl_ms: i64,
    now_ms: i64,
    me: &Holder,
) -> Result<LockResult> {
    match store.kind() {
        StoreKind::Postgres => {
            let got = store
                .query_one(
                    "SELECT pg_try_advisory_lock(hashtext(?)::bigint)",
                    vals![format!("fks:{name}")],
                )
                .await?
                .bool(0)?;
            if got {
                store
                    .exec(
                        "INSERT INTO locks (name, holder, host, pid, acquired_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?) \
                         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, host = excluded.host, pid = excluded.pid, \
                         acquired_ms = excluded.acquired_ms, expires_ms = excluded.expires_ms",
                        vals![name, me.id(), me.host.as_str(), me.pid, now_ms, now_ms + ttl_ms],
                    )
                    .await?;
                Ok(LockResult::Acquired(JobLock {
                    name: name.into(),
                    holder: me.id(),
                }))
            } else {
                let row = store
                    .query_opt(
                        "SELECT holder, acquired_ms FROM locks WHERE name = ?",
                        vals![name],
                    )
                    .await?;
                Ok(LockResult::Held {
                    holder: row
                        .as_ref()
                        .map(|r| r.text(0))
                        .transpose()?
                        .unwrap_or_else(|| "another session".into()),
                    since_ms: row.map(|r| r.int(1)).transpose()?.unwrap_or(now_ms),
                })
            }
        }
        StoreKind::Sqlite => {
            let tx = store.begin().await?;
            let row = tx
                .query_opt(
                    "SELECT holder, host, pid, acquired_ms, expires_ms FROM locks WHERE name = ?",
                    vals![name],
                )
                .await?;
            if let Some(r) = &row {
                let (holder, host, pid, since, expires) =
                    (r.text(0)?, r.text(1)?, r.int(2)?, r.int(3)?, r.int(4)?);
                let dead = host == me.host && !pid_alive(pid);
                if expires > now_ms && !dead {
                    tx.rollback().await?;
                    return Ok(LockResult::Held {
                        holder,
                        since_ms: since,
                    });
                }
                if dead {
                    tracing::warn!("taking over lock {name}: holder {holder} is no longer running");
                } else {
                    tracing::warn!("taking over lock {name}: held by {holder} past its expiry");
                }
            }
            tx.exec(
                "INSERT INTO locks (name, holder, host, pid, acquired_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, host = excluded.host, pid = excluded.pid, \
                 acquired_ms = excluded.acquired_ms, expires_ms = excluded.expires_ms",
                vals![name, me.id(), me.host.as_str(), me.pid, now_ms, now_ms + ttl_ms],
            )
            .await?;
            tx.commit().await?;
            Ok(LockResult::Acquired(JobLock {
                name: name.into(),
                holder: me.id(),
            }))
        }
    }
}

pub async fn release(store: &Store, lock: JobLock) -> Result<()> {
    store
        .exec(
            "DELETE FROM locks WHERE name = ? AND holder = ?",
            vals![lock.name.as_str(), lock.holder.as_str()],
        )
        .await?;
    if store.kind() == StoreKind::Postgres {
        store
            .query(
                "SELECT pg_advisory_unlock(hashtext(?)::bigint)",
                vals![format!("fks:{}", lock.name)],
            )
            .await?;
    }
    Ok(())
}

/// Record the start of a run; returns its id.
pub async fn start(store: &Store, task: &str, args: &str, now_ms: i64, me: &Holder) -> Result<i64> {
    store
        .query_one(
            "INSERT INTO task_runs (task, args, started_ms, status, host, pid) VALUES (?, ?, ?, 'running', ?, ?) RETURNING id",
            vals![task, args, now_ms, me.host.as_str(), me.pid],
        )
        .await?
        .int(0)
}

pub async fn finish(
    store: &Store,
    id: i64,
    status: &str,
    result: Option<&str>,
    error: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    store
        .exec(
            "UPDATE task_runs SET ended_ms = ?, status = ?, result = ?, error = ? WHERE id = ?",
            vals![now_ms, status, result, error, id],
        )
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub task: String,
    pub status: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub host: String,
    pub pid: i64,
    /// The command line after `fks` (secrets in URLs redacted), one string per argument.
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The journal keeps a run's arguments as a JSON array of strings; anything else (a row
/// written by hand) is one argument.
fn journal_args(stored: &str) -> Vec<String> {
    serde_json::from_str(stored).unwrap_or_else(|_| {
        if stored.is_empty() {
            Vec::new()
        } else {
            vec![stored.to_string()]
        }
    })
}

/// A run still marked `running` whose process is gone was killed: show it as such.
///
/// The one place that decides whether a run is `running` or `killed`: `fks runs`, `fks
/// status`, the failure streaks and the dashboard all ask it.
pub fn effective_status(status: String, host: &str, pid: i64, me: &Holder) -> String {
    if status == "running" && host == me.host && !pid_alive(pid) {
        "killed".into()
    } else {
        status
    }
}

/// Which runs `fks runs --status` asks for.
fn status_condition(status: Option<&str>) -> (Option<&'static str>, Option<String>, bool) {
    // (SQL condition, its parameter, whether rows must be filtered again after reading:
    // `killed` is a `running` row whose process is gone, so it is decided here, not in SQL)
    match status {
        None => (None, None, false),
        Some("failed") => (Some("status IN ('error', 'running')"), None, true),
        Some("killed") | Some("running") => (Some("status = 'running'"), None, true),
        Some(s) => (Some("status = ?"), Some(s.to_string()), false),
    }
}

/// The most recent runs, newest first: at most `limit` (0 gives none), only of `task` and
/// with `status` when given (`failed` = error or killed).
pub async fn list(
    store: &Store,
    task: Option<&str>,
    status: Option<&str>,
    limit: u32,
) -> Result<Vec<RunRow>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let me = Holder::current();
    // Conditions are added only for the filters given: a parameter that is only compared
    // with NULL ("param is null or task = param") has no type Postgres can infer (42P18).
    let mut conds: Vec<&str> = Vec::new();
    let mut params: Vec<crate::core::store::Value> = Vec::new();
    if let Some(t) = task {
        conds.push("task = ?");
        params.push(t.into());
    }
    let (cond, param, refilter) = status_condition(status);
    if let Some(c) = cond {
        conds.push(c);
    }
    if let Some(p) = param {
        params.push(p.into());
    }
    let mut sql = String::from(
        "SELECT id, task, status, started_ms, ended_ms, host, pid, args, error FROM task_runs",
    );
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY id DESC");
    if !refilter {
        sql.push_str(" LIMIT ?");
        params.push(i64::from(limit).into());
    }
    let rows = store.query(&sql, &params).await?;
    let mut out = Vec::new();
    for r in rows {
        let host = r.text(5)?;
        let pid = r.int(6)?;
        let st = effective_status(r.text(2)?, &host, pid, &me);
        let want = match status {
            None => true,
            Some("failed") => st == "error" || st == "killed",
            Some(s) => st == s,
        };
        if !want {
            continue;
        }
        let (started, ended) = (r.int(3)?, r.opt_int(4)?);
        out.push(RunRow {
            id: r.int(0)?,
            task: r.text(1)?,
            status: st,
            started_ms: started,
            ended_ms: ended,
            duration_ms: ended.map(|e| e - started),
            host,
            pid,
            args: journal_args(&r.text(7)?),
            error: r.opt_text(8)?,
        });
        if out.len() >= limit as usize {
            break;
        }
    }
    Ok(out)
}

/// Per-job health over the last 24 h and 7 days.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub last_run_ms: Option<i64>,
    pub last_status: Option<String>,
    pub runs_24h: usize,
    pub success_rate_24h: Option<f64>,
    pub median_duration_ms_24h: Option<i64>,
    pub runs_7d: usize,
    pub success_rate_7d: Option<f64>,
    pub median_duration_ms_7d: Option<i64>,
    pub schedule: Option<String>,
    pub overdue: bool,
}

pub async fn status(
    store: &Store,
    now_ms: i64,
    schedule: &[(String, String)],
) -> Result<std::collections::BTreeMap<String, JobStatus>> {
    let me = Holder::current();
    let since = now_ms - 7 * 86_400_000;
    let rows = store
        .query(
            "SELECT task, status, started_ms, ended_ms, host, pid FROM task_runs WHERE started_ms >= ? AND started_ms <= ? ORDER BY started_ms",
            vals![since, now_ms],
        )
        .await?;
    let last = store
        .query(
            "SELECT task, MAX(started_ms) FROM task_runs WHERE started_ms <= ? GROUP BY task",
            vals![now_ms],
        )
        .await?;
    let mut by_task: std::collections::BTreeMap<String, Vec<(String, i64, Option<i64>)>> =
        Default::default();
    for r in &rows {
        let st = effective_status(r.text(1)?, &r.text(4)?, r.int(5)?, &me);
        by_task
            .entry(r.text(0)?)
            .or_default()
            .push((st, r.int(2)?, r.opt_int(3)?));
    }
    let mut tasks: std::collections::BTreeSet<String> =
        last.iter().map(|r| r.text(0)).collect::<Result<_>>()?;
    for (job, _) in schedule {
        tasks.insert(job.split_whitespace().next().unwrap_or(job).to_string());
    }
    let mut out = std::collections::BTreeMap::new();
    for task in tasks {
        let runs = by_task.get(&task).cloned().unwrap_or_default();
        let window = |ms: i64| -> (usize, Option<f64>, Option<i64>) {
            let w: Vec<_> = runs
                .iter()
                .filter(|r| r.1 >= now_ms - ms && r.0 != "running")
                .collect();
            if w.is_empty() {
                return (0, None, None);
            }
            let ok = w
                .iter()
                .filter(|r| r.0 == "success" || r.0 == "skipped")
                .count();
            let mut d: Vec<i64> = w.iter().filter_map(|r| r.2.map(|e| e - r.1)).collect();
            d.sort_unstable();
            let med = if d.is_empty() {
                None
            } else {
                Some(d[d.len() / 2])
            };
            (w.len(), Some(100.0 * ok as f64 / w.len() as f64), med)
        };
        let (n24, s24, m24) = window(86_400_000);
        let (n7, s7, m7) = window(7 * 86_400_000);
        let last_run = last
            .iter()
            .find(|r| r.text(0).ok().as_deref() == Some(&task))
            .map(|r| r.int(1))
            .transpose()?;
        let last_status = runs.last().map(|r| r.0.clone());
        let sched = schedule
            .iter()
            .find(|(j, _)| j.split_whitespace().next() == Some(task.as_str()))
            .map(|(_, c)| c.clone());
        let overdue = match (&sched, last_run) {
            (Some(c), Some(l)) => crate::core::schedule::interval_minutes(c)
                .is_some_and(|m| now_ms - l > 2 * (m as i64) * 60_000),
            (Some(_), None) => true,
            _ => false,
        };
        out.insert(
            task,
            JobStatus {
                last_run_ms: last_run,
                last_status,
                runs_24h: n24,
                success_rate_24h: s24,
                median_duration_ms_24h: m24,
                runs_7d: n7,
                success_rate_7d: s7,
                median_duration_ms_7d: m7,
                schedule: sched,
                overdue,
            },
        );
    }
    Ok(out)
}
