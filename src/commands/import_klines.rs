//! `fks import-klines`: load kline files (Binance's public dumps, or `fks candles` exports)
//! with the same upsert and gap rules as the sync, and the same candle rules.

use super::Ctx;
use crate::core::klines_file::{self, BadRow, FileImport, ImportSpec};
use crate::core::market::{Gap, Symbol, Timeframe};
use crate::core::store::candles::{self, UpsertCounts};
use crate::output::{EntityStatus, Failure, Outcome, Report, Status};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One file's import.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FileResult {
    /// Unreadable.
    Failed(Failure),
    /// Refused whole for its invalid rows (without `--skip-invalid`).
    Refused {
        status: EntityStatus,
        rows: u64,
        invalid: u64,
        invalid_rows: Vec<BadRow>,
        error: String,
    },
    Imported {
        status: EntityStatus,
        rows: u64,
        inserted: u64,
        updated: u64,
        unchanged: u64,
        /// With `--skip-invalid`: the invalid rows left out.
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped_rows: Option<Vec<BadRow>>,
        /// Only when `skipped_rows` lists the first of them.
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped_rows_truncated: Option<bool>,
    },
}

impl FileResult {
    fn status(&self) -> EntityStatus {
        match self {
            FileResult::Failed(f) => f.status,
            FileResult::Refused { status, .. } | FileResult::Imported { status, .. } => *status,
        }
    }

    fn error(&self) -> Option<&str> {
        match self {
            FileResult::Failed(f) => Some(&f.error),
            FileResult::Refused { error, .. } => Some(error),
            FileResult::Imported { .. } => None,
        }
    }
}

/// The report of `fks import-klines`.
#[derive(Debug, Serialize)]
pub struct ImportRun {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// The series' gaps after the import.
    pub gaps: Vec<Gap>,
    pub results: BTreeMap<String, FileResult>,
    /// "N of M failed: first reason", when a file failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report for ImportRun {
    fn status(&self) -> Status {
        Status::combine(self.results.values().map(|r| r.status().as_str()))
    }
}

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

fn file_result(path: &str, r: Result<FileImport>, skip: bool) -> FileResult {
    match r {
        Err(e) => FileResult::Failed(Failure::new(&e)),
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
            FileResult::Refused {
                status: EntityStatus::Error,
                rows: f.rows,
                invalid: f.invalid,
                error: format!(
                    "{path}: {} invalid row{}, the file was not imported (use --skip-invalid to import the valid rows): {}{more}",
                    f.invalid,
                    if f.invalid == 1 { "" } else { "s" },
                    first.join("; ")
                ),
                invalid_rows: f.invalid_rows,
            }
        }
        Ok(f) => {
            let truncated = f.invalid > f.invalid_rows.len() as u64;
            FileResult::Imported {
                status: EntityStatus::Success,
                rows: f.rows,
                inserted: f.counts.inserted,
                updated: f.counts.updated,
                unchanged: f.counts.unchanged,
                skipped: skip.then_some(f.invalid),
                skipped_rows: skip.then_some(f.invalid_rows),
                skipped_rows_truncated: (skip && truncated).then_some(true),
            }
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
            && let Some(e) = v.error()
        {
            first_error = Some(e.to_string());
        }
        results.insert(key, v);
    }
    let gaps = candles::facts(store, &args.symbol, args.timeframe, ctx.now_ms())
        .await?
        .map(|f| f.gaps)
        .unwrap_or_default();
    // "N of M failed", as every job with per-entry work says it.
    let error = first_error.map(|e| {
        let failed = results
            .values()
            .filter(|v| v.status() == EntityStatus::Error)
            .count()
            .max(1);
        format!("{failed} of {} failed: {e}", results.len())
    });
    Outcome::from_report(&ImportRun {
        symbol: args.symbol,
        timeframe: args.timeframe,
        inserted: total.inserted,
        updated: total.updated,
        unchanged: total.unchanged,
        gaps,
        results,
        error,
    })
}
