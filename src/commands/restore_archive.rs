//! `fks restore-archive FILE...`: load archive files back into their tables (idempotent).
//! Only files the manifest knows (by checksum) unless `--unverified`; every row is validated.

use super::Ctx;
use crate::core::archive::{self, RestoreOptions};
use crate::output::{EntityStatus, Failure, Outcome, Report, Status};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// One file loaded back.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredFile {
    pub file: String,
    pub table: String,
    pub rows: u64,
    pub inserted: u64,
    pub verified: bool,
    pub sha256: String,
}

/// A file's result: restored (`status` last, after the file's figures) or failed.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FileResult {
    Restored {
        #[serde(flatten)]
        file: RestoredFile,
        status: EntityStatus,
    },
    Failed(Failure),
}

impl FileResult {
    fn status(&self) -> EntityStatus {
        match self {
            FileResult::Restored { status, .. } => *status,
            FileResult::Failed(f) => f.status,
        }
    }
}

/// The report of `fks restore-archive`.
#[derive(Debug, Serialize)]
pub struct RestoreRun {
    pub files: Vec<RestoredFile>,
    /// The files restored, as given.
    pub restored: Vec<String>,
    pub results: BTreeMap<String, FileResult>,
    /// The first file's error, when one failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report for RestoreRun {
    fn status(&self) -> Status {
        Status::combine(self.results.values().map(|r| r.status().as_str()))
    }
}
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Archive files written by archive-old-data.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also load files this store's manifest does not know (hand-made, changed or another
    /// store's); every row is still validated.
    #[arg(long)]
    pub unverified: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let opts = RestoreOptions {
        unverified: args.unverified,
        now_ms: ctx.now_ms(),
    };
    let mut run = RestoreRun {
        files: Vec::new(),
        restored: Vec::new(),
        results: BTreeMap::new(),
        error: None,
    };
    for f in &args.files {
        let key = f.display().to_string();
        match archive::restore(store, f, opts).await {
            Ok(r) => {
                run.restored.push(key.clone());
                let file = RestoredFile {
                    file: key.clone(),
                    table: r.table,
                    rows: r.rows,
                    inserted: r.inserted,
                    verified: r.verified,
                    sha256: r.sha256,
                };
                run.files.push(file.clone());
                let status = EntityStatus::Success;
                run.results
                    .insert(key, FileResult::Restored { file, status });
            }
            Err(e) => {
                let failure = Failure::new(&e);
                run.error.get_or_insert_with(|| failure.error.clone());
                run.results.insert(key, FileResult::Failed(failure));
            }
        }
    }
    Outcome::from_report(&run)
}
