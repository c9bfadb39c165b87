//! `fks archive-old-data`: move data older than the cut-off into verified gzip CSV archives,
//! then delete it from the store. A dry run unless `--execute`.

use super::Ctx;
use crate::core::archive;
use crate::core::store::StoreKind;
use crate::output::Outcome;
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep this many days; older rows are archived.
    #[arg(long, default_value_t = 365)]
    pub days_to_keep: u32,
    /// Write the archives and delete the rows (default: only count them).
    #[arg(long)]
    pub execute: bool,
    /// Where archive files go (default: `archives/` beside the store, or ./archives).
    #[arg(long)]
    pub archive_dir: Option<PathBuf>,
    /// Reclaim space afterwards (SQLite VACUUM / Postgres VACUUM ANALYZE).
    #[arg(long)]
    pub vacuum: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    let cutoff = now - args.days_to_keep as i64 * 86_400_000;
    let dir = args.archive_dir.clone().unwrap_or_else(|| {
        store
            .sqlite_path()
            .and_then(|p| p.parent())
            .map(|p| p.join("archives"))
            .unwrap_or_else(|| PathBuf::from("archives"))
    });
    let mut results = BTreeMap::new();
    let mut orphans = Vec::new();
    if args.execute {
        orphans = archive::remove_orphans(store, &dir).await?;
    }
    let mut total_rows = 0;
    for t in archive::tables() {
        let plan = archive::plan(store, t, cutoff).await?;
        let rows: i64 = plan.iter().map(|m| m.rows).sum();
        total_rows += rows;
        if !args.execute {
            results.insert(
                t.name.to_string(),
                json!({"status": "success", "rows": rows, "months": plan}),
            );
            continue;
        }
        let mut files = Vec::new();
        let mut error = None;
        for m in &plan {
            match archive::archive_month(store, t, m, &dir, now).await {
                Ok(f) => files.push(f),
                Err(e) => {
                    error = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        let mut v = json!({"status": if error.is_some() { "error" } else { "success" }, "rows": rows, "files": files});
        if let Some(e) = error {
            v["error"] = json!(e);
        }
        results.insert(t.name.to_string(), v);
    }
    if args.execute && args.vacuum {
        match store.kind() {
            StoreKind::Sqlite => store.exec("VACUUM", &[]).await?,
            StoreKind::Postgres => store.exec("VACUUM ANALYZE", &[]).await?,
        };
    }
    Outcome::from_results(json!({
        "dry_run": !args.execute,
        "cutoff": crate::core::time::fmt_ms(cutoff),
        "archive_dir": dir.display().to_string(),
        "rows": total_rows,
        "orphans_removed": orphans,
        "results": results,
    }))
}
