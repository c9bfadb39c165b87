//! Watching fks itself: failure streaks of the scheduled jobs (alerts through the outbox and
//! `fks status --check`) and the status page (`fks dashboard`).
//!
//! Whether a run still marked `running` was killed is decided by one function,
//! [`crate::core::runs::effective_status`] over [`crate::core::runs::killed_runs`] (pid on
//! this host, the Postgres session or the heartbeat for runs of other hosts), so the streaks,
//! the dashboard, `fks runs` and `fks status` agree on every host.

pub mod dashboard;
pub mod page;
pub mod streaks;

use serde::{Deserialize, Serialize};

/// `[monitor]` in fks.toml.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// A scheduled job that fails (an error, a killed run or a missed run) this many times in
    /// a row sends one alert; 0 turns failure alerts off.
    pub failure_streak: u32,
    /// While a job keeps failing, its alert is repeated at most once per this many minutes.
    pub failure_cooldown_minutes: u64,
    /// Where `fks dashboard` writes the status page when --output is not given (relative to
    /// the folder fks runs in).
    pub dashboard_path: String,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            failure_streak: 3,
            failure_cooldown_minutes: 360,
            dashboard_path: "dashboard.html".into(),
        }
    }
}

impl MonitorConfig {
    pub fn cooldown_ms(&self) -> i64 {
        (self.failure_cooldown_minutes as i64).saturating_mul(60_000)
    }
}

/// The job a schedule entry runs (`generate-report --report-type daily` → `generate-report`).
pub fn task_of(entry: &str) -> &str {
    entry.split_whitespace().next().unwrap_or(entry)
}

/// The `--shard K/N` a run was started with, from its journaled arguments.
pub fn shard_of(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--shard" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--shard=") {
            return Some(v.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_and_task_from_arguments() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            shard_of(&a(&["sync-market-data", "--shard", "2/3"])),
            Some("2/3".into())
        );
        assert_eq!(shard_of(&a(&["x", "--shard=1/2"])), Some("1/2".into()));
        assert_eq!(shard_of(&a(&["x"])), None);
        assert_eq!(
            task_of("generate-report --report-type daily"),
            "generate-report"
        );
    }
}
