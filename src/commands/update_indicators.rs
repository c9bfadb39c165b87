//! `fks update-indicators`: compute RSI 14, MACD 12/26/9, Bollinger 20/2, ATR 14, SMA 20/50/200
//! and EMA 12/26 for new candles (TA-Lib's values) and cache them.

use super::{Ctx, Shard};
use crate::core::indicator_store::{self, UpdateResult};
use crate::core::market::{Symbol, Timeframe};
use crate::output::{EntityStatus, Outcome, Report, Status};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// One symbol's cache update, or why it failed.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SymbolUpdate {
    Updated(Box<UpdateResult>),
    Failed {
        status: EntityStatus,
        timeframe: Timeframe,
        error: String,
    },
}

impl SymbolUpdate {
    fn failed(timeframe: Timeframe, error: String) -> SymbolUpdate {
        SymbolUpdate::Failed {
            status: EntityStatus::Error,
            timeframe,
            error,
        }
    }

    fn status(&self) -> EntityStatus {
        match self {
            SymbolUpdate::Updated(u) => u.status,
            SymbolUpdate::Failed { status, .. } => *status,
        }
    }
}

/// The report of `fks update-indicators`.
#[derive(Debug, Serialize)]
pub struct IndicatorsRun {
    pub timeframe: Timeframe,
    pub results: BTreeMap<String, SymbolUpdate>,
}

impl Report for IndicatorsRun {
    fn status(&self) -> Status {
        Status::combine(self.results.values().map(|r| r.status().as_str()))
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Symbol (repeatable); default: every configured symbol.
    #[arg(long = "symbol")]
    pub symbols: Vec<Symbol>,
    /// Candle interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; default: market.timeframe).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// Recompute everything instead of only new candles.
    #[arg(long)]
    pub full: bool,
    /// Only this host's share of the symbols: K/N, such as 1/3 (a stable hash of the symbol).
    #[arg(long)]
    pub shard: Option<Shard>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let tf = args.timeframe.unwrap_or(ctx.settings.file.market.timeframe);
    let symbols = super::pick_symbols(ctx, &args.symbols, args.shard);
    let mut results = BTreeMap::new();
    for s in &symbols {
        let r = match indicator_store::update(store, s, tf, args.full, ctx.now_ms()).await {
            Ok(r) if r.computed == 0 && r.latest.is_none() => SymbolUpdate::failed(
                tf,
                format!("no {tf} candles stored for {s}: run sync-market-data first"),
            ),
            Ok(r) => SymbolUpdate::Updated(Box::new(r)),
            Err(e) => SymbolUpdate::failed(tf, format!("{e:#}")),
        };
        results.insert(s.0.clone(), r);
    }
    Outcome::from_report(&IndicatorsRun {
        timeframe: tf,
        results,
    })
}
