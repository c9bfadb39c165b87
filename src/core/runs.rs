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

static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Set this process's host identity (`FKS_HOST`): in containers and Kubernetes pods the
/// system host name changes every run, so each scheduled unit names itself.
pub fn set_host(name: &str) {
    let n = name.trim();
    if !n.is_empty() {
        let _ = HOST.set(n.to_string());
    }
}

/// This host's name in the journal and locks: `FKS_HOST`, else the system host name.
pub fn hostname() -> String {
    if let Some(h) = HOST.get() {
        return h.clone();
    }
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
    start_sharded(store, task, args, now_ms, me, None).await
}

/// Heartbeats of a running job, in wall-clock time.
pub const HEARTBEAT_EVERY_MS: i64 = 30_000;
/// A run on another host with no heartbeat for this long is taken as killed (when its
/// server session cannot tell: SQLite, or a Postgres role that cannot see other sessions).
pub const HEARTBEAT_STALE_MS: i64 = 10 * 60_000;

/// The wall clock in ms (heartbeats are real time, not the job's clock).
pub fn wall_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Record the start of a run of one shard (`K/N`); on Postgres with the server session
/// that runs it, so that its death is seen from every host.
pub async fn start_sharded(
    store: &Store,
    task: &str,
    args: &str,
    now_ms: i64,
    me: &Holder,
    shard: Option<&str>,
) -> Result<i64> {
    let session = match store.kind() {
        StoreKind::Postgres => Some(SESSION_SQL),
        StoreKind::Sqlite => None,
    };
    let sql = format!(
        "INSERT INTO task_runs (task, args, started_ms, status, host, pid, shard, heartbeat_ms, session) \
         VALUES (?, ?, ?, 'running', ?, ?, ?, ?, {}) RETURNING id",
        session
            .map(|s| format!("({s})"))
            .unwrap_or_else(|| "NULL".into())
    );
    store
        .query_one(
            &sql,
            vals![
                task,
                args,
                now_ms,
                me.host.as_str(),
                me.pid,
                shard,
                wall_now_ms()
            ],
        )
        .await?
        .int(0)
}

/// This connection's server session: `backend pid:backend start (ms)`.
const SESSION_SQL: &str = "SELECT pid::text || ':' || floor(extract(epoch FROM backend_start) * 1000)::bigint::text \
     FROM pg_stat_activity WHERE pid = pg_backend_pid()";

/// Say that a running job is alive (called every [`HEARTBEAT_EVERY_MS`] while it runs).
pub async fn heartbeat(store: &Store, id: i64) -> Result<()> {
    store
        .exec(
            "UPDATE task_runs SET heartbeat_ms = ? WHERE id = ? AND status = 'running'",
            vals![wall_now_ms(), id],
        )
        .await?;
    Ok(())
}

/// The runs still marked `running` whose process is gone: killed (SIGKILL, OOM, a host that
/// died). Decided, in order, by
/// - the pid, for a run of this host;
/// - on Postgres, the server session the run was recorded from: a job holds its connection
///   (and its advisory lock) until it ends, so a session that no longer exists means the
///   run died, on whatever host it was;
/// - else its heartbeat: none for [`HEARTBEAT_STALE_MS`].
///
/// Rows from before heartbeats existed are judged by pid only. The monitoring helpers (and
/// `fks runs` / `fks status`) call this to show such runs as `killed`.
pub async fn killed_runs(store: &Store) -> Result<std::collections::BTreeSet<i64>> {
    let me = Holder::current();
    let rows = store
        .query(
            "SELECT id, host, pid, session, heartbeat_ms FROM task_runs WHERE status = 'running'",
            &[],
        )
        .await?;
    let mut out = std::collections::BTreeSet::new();
    if rows.is_empty() {
        return Ok(out);
    }
    // Sessions the server shows: exact (pid:start) where visible, pid only where the role
    // may not see another role's session details.
    let (mut alive, mut opaque) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    if store.kind() == StoreKind::Postgres {
        for r in store
            .query(
                "SELECT pid::text, floor(extract(epoch FROM backend_start) * 1000)::bigint::text FROM pg_stat_activity",
                &[],
            )
            .await?
        {
            match r.opt_text(1)? {
                Some(start) => alive.insert(format!("{}:{start}", r.text(0)?)),
                None => opaque.insert(r.text(0)?),
            };
        }
    }
    let now = wall_now_ms();
    for r in rows {
        let (id, host, pid) = (r.int(0)?, r.text(1)?, r.int(2)?);
        let (session, beat) = (r.opt_text(3)?, r.opt_int(4)?);
        let dead = if host == me.host {
            !pid_alive(pid)
        } else if let Some(s) = session
            .as_deref()
            .filter(|_| store.kind() == StoreKind::Postgres)
        {
            let spid = s.split(':').next().unwrap_or("");
            if alive.contains(s) {
                false
            } else if opaque.contains(spid) {
                beat.is_some_and(|b| now - b > HEARTBEAT_STALE_MS)
            } else {
                true
            }
        } else {
            beat.is_some_and(|b| now - b > HEARTBEAT_STALE_MS)
        };
        if dead {
            out.insert(id);
        }
    }
    Ok(out)
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
    /// `K/N` for a run of one shard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
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
/// status`, the failure streaks and the dashboard all ask it, with the set from
/// [`killed_runs`] (runs killed on this host or on another one).
pub fn effective_status(
    status: String,
    id: i64,
    killed: &std::collections::BTreeSet<i64>,
) -> String {
    if status == "running" && killed.contains(&id) {
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
    let killed = killed_runs(store).await?;
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
        "SELECT id, task, status, started_ms, ended_ms, host, pid, args, error, shard FROM task_runs",
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
        let st = effective_status(r.text(2)?, r.int(0)?, &killed);
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
            shard: r.opt_text(9)?,
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
    let killed = killed_runs(store).await?;
    let since = now_ms - 7 * 86_400_000;
    let rows = store
        .query(
            "SELECT task, status, started_ms, ended_ms, id FROM task_runs WHERE started_ms >= ? AND started_ms <= ? ORDER BY started_ms",
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
        let st = effective_status(r.text(1)?, r.int(4)?, &killed);
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

/// The last run of one shard of a job (`fks status`).
#[derive(Debug, Clone, Serialize)]
pub struct ShardStatus {
    pub job: String,
    /// `K/N`.
    pub shard: String,
    pub host: Option<String>,
    pub last_run_ms: Option<i64>,
    pub last_status: Option<String>,
    /// Not run within twice the job's schedule (or never, while other shards of N ran).
    pub overdue: bool,
}

/// The last run seen from one host (`FKS_HOST` or the host name).
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub host: String,
    pub last_run_ms: i64,
    pub last_job: String,
    pub last_status: String,
    pub runs_24h: usize,
}

/// Every host's and every shard's last run over the last 7 days, and which shard is
/// overdue. The shards expected of a job are 1..N for the N of its latest sharded run.
pub async fn hosts_and_shards(
    store: &Store,
    now_ms: i64,
    schedule: &[(String, String)],
) -> Result<(Vec<HostStatus>, Vec<ShardStatus>)> {
    let killed = killed_runs(store).await?;
    let rows = store
        .query(
            "SELECT id, task, shard, host, status, started_ms FROM task_runs \
             WHERE started_ms >= ? AND started_ms <= ? ORDER BY started_ms, id",
            vals![now_ms - 7 * 86_400_000, now_ms],
        )
        .await?;
    let mut hosts: std::collections::BTreeMap<String, HostStatus> = Default::default();
    // (job, K/N) -> (host, started, status); job -> N of its latest sharded run.
    let mut last: std::collections::BTreeMap<(String, String), (String, i64, String)> =
        Default::default();
    let mut latest_n: std::collections::BTreeMap<String, u32> = Default::default();
    for r in rows {
        let (id, task, shard, host) = (r.int(0)?, r.text(1)?, r.opt_text(2)?, r.text(3)?);
        let (status, started) = (effective_status(r.text(4)?, id, &killed), r.int(5)?);
        let h = hosts.entry(host.clone()).or_insert_with(|| HostStatus {
            host: host.clone(),
            last_run_ms: started,
            last_job: task.clone(),
            last_status: status.clone(),
            runs_24h: 0,
        });
        h.last_run_ms = started;
        h.last_job = task.clone();
        h.last_status = status.clone();
        if started >= now_ms - 86_400_000 {
            h.runs_24h += 1;
        }
        if let Some(sh) = shard {
            if let Some(n) = sh.split_once('/').and_then(|(_, n)| n.parse::<u32>().ok()) {
                latest_n.insert(task.clone(), n);
            }
            last.insert((task, sh), (host, started, status));
        }
    }
    let mut shards = Vec::new();
    for (job, n) in latest_n {
        let interval = schedule
            .iter()
            .find(|(j, _)| j.split_whitespace().next() == Some(job.as_str()))
            .and_then(|(_, c)| crate::core::schedule::interval_minutes(c));
        for k in 1..=n {
            let sh = format!("{k}/{n}");
            let seen = last.get(&(job.clone(), sh.clone()));
            let overdue = match (seen, interval) {
                (None, _) => true,
                (Some((_, at, _)), Some(m)) => now_ms - at > 2 * (m as i64) * 60_000,
                (Some(_), None) => false,
            };
            shards.push(ShardStatus {
                job: job.clone(),
                shard: sh,
                host: seen.map(|s| s.0.clone()),
                last_run_ms: seen.map(|s| s.1),
                last_status: seen.map(|s| s.2.clone()),
                overdue,
            });
        }
    }
    Ok((hosts.into_values().collect(), shards))
}
