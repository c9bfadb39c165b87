//! `fks status`: per job, last run, success rate and median duration over 24 h and 7 days,
//! and jobs that have not run within twice their schedule.

use super::Ctx;
use crate::core::runs;
use crate::core::time::fmt_ms;
use crate::output::{Outcome, Status, new_table};
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit 1, saying why, when a scheduled job is failing (its newest run failed or was
    /// killed) or overdue; for external monitors (healthcheck pingers, Nagios, probes).
    /// Not journaled, so it never counts toward a failure streak.
    #[arg(long)]
    pub check: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let schedule = super::active_schedule(ctx);
    let jobs = runs::status(store, ctx.now_ms(), &schedule).await?;
    let (hosts, shards) = runs::hosts_and_shards(store, ctx.now_ms(), &schedule).await?;
    let overdue_shards: Vec<String> = shards
        .iter()
        .filter(|s| s.overdue)
        .map(|s| format!("{} {}", s.job, s.shard))
        .collect();
    let (status, problems) = if args.check {
        let health = crate::core::monitor::streaks::load_health(
            store,
            &schedule,
            ctx.now_ms(),
            ctx.settings.file.monitor.failure_streak.max(1),
        )
        .await?;
        let mut problems: Vec<String> = health.iter().flat_map(|h| h.problems()).collect();
        // A shard that stopped running while the others go on leaves the job's own last
        // run fresh: it is a problem of its own.
        problems.extend(overdue_shards.iter().map(|s| format!("shard {s} overdue")));
        let st = if problems.is_empty() {
            Status::Success
        } else {
            Status::Error
        };
        (st, Some(problems))
    } else {
        (Status::Success, None)
    };
    let overdue: Vec<&String> = jobs
        .iter()
        .filter(|(_, j)| j.overdue)
        .map(|(k, _)| k)
        .collect();
    let pct = |v: Option<f64>| v.map(|p| format!("{p:.0}%")).unwrap_or_else(|| "-".into());
    let secs = |v: Option<i64>| {
        v.map(|d| format!("{:.1}s", d as f64 / 1000.0))
            .unwrap_or_else(|| "-".into())
    };
    let mut t = new_table();
    t.set_header(vec![
        "job",
        "last run",
        "last status",
        "24h runs",
        "24h ok",
        "24h median",
        "7d runs",
        "7d ok",
        "overdue",
    ]);
    for (name, j) in &jobs {
        t.add_row(vec![
            name.clone(),
            j.last_run_ms.map(fmt_ms).unwrap_or_else(|| "never".into()),
            j.last_status.clone().unwrap_or_else(|| "-".into()),
            j.runs_24h.to_string(),
            pct(j.success_rate_24h),
            secs(j.median_duration_ms_24h),
            j.runs_7d.to_string(),
            pct(j.success_rate_7d),
            if j.overdue {
                "yes".into()
            } else {
                String::new()
            },
        ]);
    }
    for s in &shards {
        t.add_row(vec![
            format!("{} {}", s.job, s.shard),
            s.last_run_ms.map(fmt_ms).unwrap_or_else(|| "never".into()),
            s.last_status.clone().unwrap_or_else(|| "-".into()),
            String::new(),
            String::new(),
            format!("host {}", s.host.as_deref().unwrap_or("-")),
            String::new(),
            String::new(),
            if s.overdue {
                "yes".into()
            } else {
                String::new()
            },
        ]);
    }
    let mut body = serde_json::json!({
        "overdue": overdue,
        "overdue_shards": overdue_shards,
        "jobs": jobs,
        "shards": shards,
        "hosts": hosts,
    });
    if let Some(p) = problems {
        if !p.is_empty() {
            body["error"] = serde_json::json!(format!("{} problem(s): {}", p.len(), p.join("; ")));
        }
        body["problems"] = serde_json::json!(p);
    }
    Ok(Outcome::new(status, body)?.with_table(t))
}
