//! `fks dashboard`: write the status page (one self-contained HTML file) that cron rewrites
//! every minute: jobs, failures, queues, accounts and strategies.

use super::Ctx;
use crate::core::exchange::binance::bans;
use crate::core::monitor::{dashboard, page};
use crate::output::{Outcome, Status, new_table};
use anyhow::{Context, Result};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write the page here (default: the config's monitor.dashboard_path, else ./dashboard.html).
    /// The file is replaced whole, so a web server never serves half a page.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    if !dir.is_dir() {
        return Err(super::usage(format!(
            "--output {}: the folder {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .ok_or_else(|| super::usage(format!("--output {}: not a file name", path.display())))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("replace {}", path.display())
    })
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let path = args
        .output
        .unwrap_or_else(|| PathBuf::from(&ctx.settings.file.monitor.dashboard_path));
    if path.is_dir() {
        return Err(super::usage(format!(
            "--output {}: is a folder; give a file name such as {}/dashboard.html",
            path.display(),
            path.display()
        )));
    }
    let schedule = super::active_schedule(ctx);
    let d = dashboard::load(
        store,
        &ctx.settings,
        &schedule,
        ctx.now_ms(),
        bans::wall_now_ms(),
    )
    .await?;
    let html = page::render(&d);
    write_atomically(&path, html.as_bytes())?;
    let failing = d.failing();
    let overdue = d.overdue();
    let mut t = new_table();
    t.set_header(vec!["page", "jobs", "failing", "overdue", "failures 7d"]);
    t.add_row(vec![
        path.display().to_string(),
        d.jobs.len().to_string(),
        failing.join(", "),
        overdue.join(", "),
        d.failures_7d.to_string(),
    ]);
    Ok(Outcome::new(
        Status::Success,
        json!({
            "output": path.display().to_string(),
            "bytes": html.len(),
            "jobs": d.jobs.len(),
            "failing": failing,
            "overdue": overdue,
            "failures_7d": d.failures_7d,
            "killed_7d": d.killed_7d,
            "accounts": d.accounts.len(),
            "notes": d.notes,
        }),
    )?
    .with_table(t))
}
