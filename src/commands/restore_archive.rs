//! `fks restore-archive FILE`: load an archive file back into its table (idempotent).

use super::Ctx;
use crate::core::archive;
use crate::output::{Outcome, Status};
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Archive files written by archive-old-data.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let mut out = Vec::new();
    for f in &args.files {
        let (table, rows, inserted) = archive::restore(store, f).await?;
        out.push(serde_json::json!({"file": f.display().to_string(), "table": table, "rows": rows, "inserted": inserted}));
    }
    Outcome::new(Status::Success, serde_json::json!({ "files": out }))
}
