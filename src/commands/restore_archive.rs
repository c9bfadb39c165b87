//! `fks restore-archive FILE...`: load archive files back into their tables (idempotent).
//! Only files the manifest knows (by checksum) unless `--unverified`; every row is validated.

use super::Ctx;
use crate::core::archive::{self, RestoreOptions};
use crate::output::Outcome;
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;
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
    let mut files = Vec::new();
    let mut restored = Vec::new();
    let mut results = BTreeMap::new();
    let mut first_error = None;
    for f in &args.files {
        let key = f.display().to_string();
        match archive::restore(store, f, opts).await {
            Ok(r) => {
                restored.push(key.clone());
                let v = json!({
                    "file": key, "table": r.table, "rows": r.rows, "inserted": r.inserted,
                    "verified": r.verified, "sha256": r.sha256,
                });
                files.push(v.clone());
                let mut v = v;
                v["status"] = json!("success");
                results.insert(key, v);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                first_error.get_or_insert_with(|| msg.clone());
                results.insert(key, json!({"status": "error", "error": msg}));
            }
        }
    }
    let mut body = json!({ "files": files, "restored": restored, "results": results });
    if let Some(e) = first_error {
        body["error"] = json!(e);
    }
    Outcome::from_results(body)
}
