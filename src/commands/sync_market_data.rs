//! `fks sync-market-data`: fetch closed OHLCV candles from Binance into the store.

use super::{Ctx, Shard};
use crate::core::exchange::venue::{KlinePages, MarketData};
use crate::core::market::{Symbol, Timeframe};
use crate::core::sync::{self, KlineSource, SyncRequest};
use crate::output::Outcome;
use anyhow::Result;
use futures_util::StreamExt;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Symbol to sync (repeatable); default: every configured symbol.
    #[arg(long = "symbol")]
    pub symbols: Vec<Symbol>,
    /// Candle interval (default: market.timeframe from config, 1h).
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// Closed candles to fetch on the first sync of a pair (default: market.initial_limit, 500).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Fetch everything from this time (YYYY-MM-DD, RFC 3339 or ms), also before stored data.
    #[arg(long, value_parser = crate::core::time::time_arg)]
    pub since: Option<i64>,
    /// Take a deterministic share K of N of the symbols (for several hosts on one Postgres).
    #[arg(long)]
    pub shard: Option<Shard>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let tf = args.timeframe.unwrap_or(ctx.settings.file.market.timeframe);
    let limit = args.limit.unwrap_or(ctx.settings.file.market.initial_limit);
    let symbols = super::pick_symbols(ctx, &args.symbols, args.shard);
    let now = ctx.now_ms();
    if let Some(since) = args.since
        && since > now
    {
        return Err(super::usage(format!(
            "--since {} is after now ({}): no candle has opened then yet; check the year",
            crate::core::time::fmt_ms(since),
            crate::core::time::fmt_ms(now)
        )));
    }
    let mut results = BTreeMap::new();

    let venue = ctx.market_venue()?;
    // A ban or back-off is in force (recorded by this or another fks job): send nothing and
    // say until when, rather than extend it.
    if let Some(ban) = venue.ban_in_force() {
        let msg = ban.to_string();
        for s in &symbols {
            results.insert(
                s.0.clone(),
                json!({"status": "error", "timeframe": tf, "error": msg}),
            );
        }
        return Outcome::from_results(json!({
            "timeframe": tf,
            "symbols": symbols.len(),
            "banned_until": ban.banned_until_ms(),
            "results": results,
        }));
    }
    let src = KlinePages(&venue);
    let progress = ctx.progress_enabled().then(indicatif::MultiProgress::new);
    let step = tf.millis();
    let outcomes: Vec<(Symbol, Result<sync::SyncResult>)> =
        futures_util::stream::iter(symbols.iter().cloned())
            .map(|symbol| {
                let src = &src;
                let progress = &progress;
                async move {
                    let req = SyncRequest {
                        symbol: symbol.clone(),
                        timeframe: tf,
                        limit,
                        since: args.since,
                    };
                    let last =
                        crate::core::store::candles::last_open_time(store, &symbol, tf).await;
                    let anchor =
                        crate::core::store::candles::first_open_time(store, &symbol, tf).await;
                    let bar = match (&last, &anchor, progress) {
                        (Ok(last), Ok(anchor), Some(mp)) => {
                            let (start, end) = sync::plan(&req, *last, *anchor, now);
                            let total = ((end - start) / step + 1).max(0) as u64;
                            (total > src.max_limit() as u64).then(|| {
                                let b = mp.add(indicatif::ProgressBar::new(total));
                                b.set_style(
                                    indicatif::ProgressStyle::with_template(
                                        "{prefix:>10} [{bar:30}] {pos}/{len} candles {eta}",
                                    )
                                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                                    .progress_chars("=> "),
                                );
                                b.set_prefix(symbol.0.clone());
                                b
                            })
                        }
                        _ => None,
                    };
                    let r = sync::sync_symbol(store, src, &req, now, |n| {
                        if let Some(b) = &bar {
                            b.set_position(n);
                        }
                    })
                    .await;
                    if let Some(b) = bar {
                        b.finish_and_clear();
                    }
                    (symbol, r)
                }
            })
            .buffer_unordered(ctx.settings.file.exchange.max_parallel.max(1))
            .collect()
            .await;

    for (symbol, r) in outcomes {
        match r {
            Ok(res) => {
                results.insert(symbol.0.clone(), serde_json::to_value(res)?);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                sync::record_failure(store, &symbol, tf, now, &msg).await?;
                let gaps = crate::core::store::candles::gaps(store, &symbol, tf)
                    .await
                    .unwrap_or_default();
                results.insert(
                    symbol.0.clone(),
                    json!({"status": "error", "timeframe": tf, "error": msg, "gaps": gaps}),
                );
            }
        }
    }
    // A ban or back-off met during the run is stored by the job runner, for every job.
    let mut body = json!({
        "timeframe": tf,
        "symbols": symbols.len(),
        "used_weight": venue.used_weight(),
        "results": results,
    });
    if let Some(until) = venue.banned_until_ms() {
        body["banned_until"] = json!(until);
    }
    Outcome::from_results(body)
}
