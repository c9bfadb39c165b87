//! `fks import-klines`: load Binance's public kline dump files with the same upsert and gap rules.

use super::Ctx;
use crate::core::klines_file;
use crate::core::market::{Symbol, Timeframe};
use crate::core::store::candles::{self, UpsertCounts};
use crate::output::Outcome;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV or ZIP files as published by Binance (monthly or daily klines).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Symbol the files hold, in Binance spelling (BTCUSDT).
    #[arg(long)]
    pub symbol: Symbol,
    /// Candle interval of the files (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w).
    #[arg(long)]
    pub timeframe: Timeframe,
}

#[derive(Debug, Serialize)]
struct FileResult {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<usize>,
    #[serde(flatten)]
    counts: UpsertCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let mut results = BTreeMap::new();
    let mut total = UpsertCounts::default();
    for f in &args.files {
        let key = f.display().to_string();
        let res: Result<(usize, UpsertCounts)> = async {
            let rows = klines_file::read_file(f, args.timeframe)?;
            let tx = store.begin().await?;
            let mut counts = UpsertCounts::default();
            for chunk in rows.chunks(50_000) {
                counts += candles::upsert(&tx, &args.symbol, args.timeframe, chunk).await?;
            }
            tx.commit().await.context("commit import")?;
            Ok((rows.len(), counts))
        }
        .await;
        match res {
            Ok((n, c)) => {
                total += c;
                results.insert(
                    key,
                    FileResult {
                        status: "success",
                        rows: Some(n),
                        counts: c,
                        error: None,
                    },
                );
            }
            Err(e) => {
                results.insert(
                    key,
                    FileResult {
                        status: "error",
                        rows: None,
                        counts: UpsertCounts::default(),
                        error: Some(format!("{e:#}")),
                    },
                );
            }
        }
    }
    let gaps = candles::gaps(store, &args.symbol, args.timeframe).await?;
    Outcome::from_results(serde_json::json!({
        "symbol": args.symbol, "timeframe": args.timeframe,
        "inserted": total.inserted, "updated": total.updated, "unchanged": total.unchanged,
        "gaps": gaps, "results": results,
    }))
}
