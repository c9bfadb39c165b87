//! `fks archive-old-data`: move data older than the cut-off into verified gzip CSV archives,
//! then delete it from the store. A dry run unless `--execute`.

use super::Ctx;
use crate::core::archive::{self, ArchivedFile, CleanupKept, MonthCount};
use crate::core::store::StoreKind;
use crate::core::store::identity;
use crate::output::{EntityStatus, Outcome, Report, Status};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One table: what a dry run would archive, or what was archived.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum TableResult {
    Planned {
        status: EntityStatus,
        rows: i64,
        months: Vec<MonthCount>,
    },
    Archived {
        status: EntityStatus,
        rows: i64,
        files: Vec<ArchivedFile>,
        /// Why the table's archiving stopped (its files before stand).
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

impl TableResult {
    fn status(&self) -> EntityStatus {
        match self {
            TableResult::Planned { status, .. } | TableResult::Archived { status, .. } => *status,
        }
    }
}

/// The report of `fks archive-old-data`.
#[derive(Debug, Serialize)]
pub struct ArchiveRun {
    pub dry_run: bool,
    pub cutoff: String,
    pub archive_dir: String,
    pub rows: i64,
    pub orphans_removed: Vec<String>,
    pub orphans_kept: Vec<CleanupKept>,
    pub results: BTreeMap<String, TableResult>,
    /// With `--execute`: the store's id, in the archive files' names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// The first table's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report for ArchiveRun {
    fn status(&self) -> Status {
        Status::combine(self.results.values().map(|r| r.status().as_str()))
    }
}

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
    let mut cleanup = archive::Cleanup::default();
    let mut target = None;
    if args.execute {
        let store_id = identity::store_id(store, now).await?;
        let t = archive::Target::new(&dir, store_id).context("prepare the archive folder")?;
        // Only this store's own unfinished files, never anything else in the folder.
        cleanup = archive::cleanup_pending(store, &t.store_id).await?;
        target = Some(t);
    }
    let mut total_rows = 0;
    let mut first_error = None;
    for t in archive::tables() {
        let plan = archive::plan(store, t, cutoff).await?;
        let rows: i64 = plan.iter().map(|m| m.rows).sum();
        total_rows += rows;
        let Some(target) = &target else {
            let status = EntityStatus::Success;
            let months = plan;
            results.insert(
                t.name.to_string(),
                TableResult::Planned {
                    status,
                    rows,
                    months,
                },
            );
            continue;
        };
        let mut files = Vec::new();
        let mut error = None;
        for m in &plan {
            match archive::archive_month(store, t, m, target, now).await {
                Ok(f) => files.push(f),
                Err(e) => {
                    error = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        if let Some(e) = &error {
            first_error.get_or_insert_with(|| format!("{}: {e}", t.name));
        }
        let status = if error.is_some() {
            EntityStatus::Error
        } else {
            EntityStatus::Success
        };
        results.insert(
            t.name.to_string(),
            TableResult::Archived {
                status,
                rows,
                files,
                error,
            },
        );
    }
    if args.execute && args.vacuum {
        match store.kind() {
            StoreKind::Sqlite => store.exec("VACUUM", &[]).await?,
            StoreKind::Postgres => store.exec("VACUUM ANALYZE", &[]).await?,
        };
    }
    Outcome::from_report(&ArchiveRun {
        dry_run: !args.execute,
        cutoff: crate::core::time::fmt_ms(cutoff),
        archive_dir: target.as_ref().map_or_else(
            || dir.display().to_string(),
            |t| t.dir.display().to_string(),
        ),
        rows: total_rows,
        orphans_removed: cleanup.removed,
        orphans_kept: cleanup.kept,
        results,
        store_id: target.map(|t| t.store_id),
        error: first_error,
    })
}
