//! `fks import-klines`: load kline files (Binance's public dumps, or `fks candles` exports)
//! with the same upsert and gap rules as the sync, and the same candle rules.

use super::Ctx;
use crate::core::klines_file::{self, FileImport, ImportSpec};
use crate::core::market::{Symbol, Timeframe};
use crate::core::store::candles::{self, UpsertCounts};
use crate::output::Outcome;
use anyhow::Result;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV or ZIP files as published by Binance (monthly or daily klines), or CSV / JSON
    /// written by `fks candles`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Symbol the files hold, in Binance spelling (BTCUSDT).
    #[arg(long)]
    pub symbol: Symbol,
    /// Candle interval of the files (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w).
    #[arg(long)]
    pub timeframe: Timeframe,
    /// Import the valid rows of a file and list the invalid ones (default: a file with an
    /// invalid row is refused whole).
    #[arg(long)]
    pub skip_invalid: bool,
}

fn file_result(path: &str, r: Result<FileImport>, skip: bool) -> Value {
    match r {
        Err(e) => json!({"status": "error", "error": format!("{e:#}")}),
        Ok(f) if f.refused => {
            let first: Vec<String> = f
                .invalid_rows
                .iter()
                .take(3)
                .map(|b| b.to_string())
                .collect();
            let more = if f.invalid > first.len() as u64 {
                format!("; and {} more", f.invalid - first.len() as u64)
            } else {
                String::new()
            };
            json!({
                "status": "error",
                "rows": f.rows,
                "invalid": f.invalid,
                "invalid_rows": f.invalid_rows,
                "error": format!(
                    "{path}: {} invalid row{}, the file was not imported (use --skip-invalid to import the valid rows): {}{more}",
                    f.invalid,
                    if f.invalid == 1 { "" } else { "s" },
                    first.join("; ")
                ),
            })
        }
        Ok(f) => {
            let mut v = json!({
                "status": "success",
                "rows": f.rows,
                "inserted": f.counts.inserted,
                "updated": f.counts.updated,
                "unchanged": f.counts.unchanged,
            });
            if skip {
                v["skipped"] = json!(f.invalid);
                v["skipped_rows"] = json!(f.invalid_rows);
                if f.invalid > f.invalid_rows.len() as u64 {
                    v["skipped_rows_truncated"] = json!(true);
                }
            }
            v
        }
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let spec = ImportSpec {
        symbol: args.symbol.clone(),
        timeframe: args.timeframe,
        now_ms: ctx.now_ms(),
        skip_invalid: args.skip_invalid,
    };
    let mut results = BTreeMap::new();
    let mut total = UpsertCounts::default();
    let mut first_error = None;
    for f in &args.files {
        let key = f.display().to_string();
        let r = klines_file::import_file(store, f, &spec).await;
        if let Ok(fi) = &r
            && !fi.refused
        {
            total += fi.counts;
        }
        let v = file_result(&key, r, args.skip_invalid);
        if first_error.is_none()
            && let Some(e) = v.get("error").and_then(Value::as_str)
        {
            first_error = Some(e.to_string());
        }
        results.insert(key, v);
    }
    let gaps = candles::facts(store, &args.symbol, args.timeframe, ctx.now_ms())
        .await?
        .map(|f| f.gaps)
        .unwrap_or_default();
    let mut body = json!({
        "symbol": args.symbol, "timeframe": args.timeframe,
        "inserted": total.inserted, "updated": total.updated, "unchanged": total.unchanged,
        "gaps": gaps, "results": results,
    });
    if let Some(e) = first_error {
        // "N of M failed", as every job with per-entry work says it.
        let failed = results
            .values()
            .filter(|v| v.get("status").and_then(Value::as_str) == Some("error"))
            .count()
            .max(1);
        body["error"] = json!(format!("{failed} of {} failed: {e}", results.len()));
    }
    Outcome::from_results(body)
}
