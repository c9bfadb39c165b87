//! `fks runs`: the run journal.

use super::Ctx;
use crate::core::runs;
use crate::core::time::fmt_ms;
use crate::output::{Outcome, Status, new_table};
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only runs of this job (e.g. sync-market-data).
    #[arg(long)]
    pub task: Option<String>,
    /// Only runs with this status: success, partial, error, skipped, running, killed, or failed (error or killed).
    #[arg(long, value_parser = ["success", "partial", "error", "skipped", "running", "killed", "failed"])]
    pub status: Option<String>,
    /// Show at most this many runs, newest first (0 shows none).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let rows = runs::list(
        store,
        args.task.as_deref(),
        args.status.as_deref(),
        args.limit,
    )
    .await?;
    let mut t = new_table();
    t.set_header(vec![
        "id", "task", "status", "started", "duration", "host:pid", "error",
    ]);
    for r in &rows {
        t.add_row(vec![
            r.id.to_string(),
            r.task.clone(),
            r.status.clone(),
            fmt_ms(r.started_ms),
            r.duration_ms
                .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                .unwrap_or_else(|| "-".into()),
            format!("{}:{}", r.host, r.pid),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    Ok(Outcome::new(
        Status::Success,
        serde_json::json!({ "count": rows.len(), "runs": rows }),
    )?
    .with_table(t))
}
