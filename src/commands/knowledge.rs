//! `fks knowledge stats|update|rebuild`: what the knowledge base holds.

use super::Ctx;
use crate::core::knowledge;
use crate::core::market::Timeframe;
use crate::output::{Outcome, Status};
use crate::vals;
use anyhow::Result;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Snapshots, outcomes, signals and documents it holds.
    Stats,
    /// Add snapshots for new candles and outcomes that became known.
    Update {
        /// Candle interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; default: market.timeframe).
        #[arg(long)]
        timeframe: Option<Timeframe>,
    },
    /// Full-text search over the documents (backtests, resolved signals, closed trades).
    Search {
        /// Words that must all appear.
        query: String,
        /// Only documents about this symbol.
        #[arg(long)]
        symbol: Option<crate::core::market::Symbol>,
        /// Show at most this many documents.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Drop and rebuild every snapshot from the stored candles.
    Rebuild {
        /// Candle interval (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; default: market.timeframe).
        #[arg(long)]
        timeframe: Option<Timeframe>,
    },
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let horizon = ctx.settings.file.intelligence.horizon;
    let (tf, rebuild) = match args.action {
        Action::Stats => {
            crate::core::documents::sync(store).await?;
            return Outcome::new(Status::Success, knowledge::stats(store).await?);
        }
        Action::Search {
            query,
            symbol,
            limit,
        } => {
            crate::core::documents::sync(store).await?;
            let docs = crate::core::documents::search(
                store,
                Some(&query),
                symbol.as_ref(),
                Some(ctx.now_ms()),
                limit,
            )
            .await?;
            return Outcome::new(
                Status::Success,
                json!({ "count": docs.len(), "documents": docs }),
            );
        }
        Action::Update { timeframe } => (timeframe, false),
        Action::Rebuild { timeframe } => (timeframe, true),
    };
    let tf = tf.unwrap_or(ctx.settings.file.market.timeframe);
    if rebuild {
        store
            .exec(
                "DELETE FROM knowledge_states WHERE timeframe = ?",
                vals![tf],
            )
            .await?;
    }
    let symbols: Vec<String> = store
        .query(
            "SELECT DISTINCT symbol FROM candles WHERE timeframe = ? ORDER BY symbol",
            vals![tf],
        )
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_>>()?;
    let mut written = serde_json::Map::new();
    for s in &symbols {
        let sym = crate::core::market::Symbol(s.clone());
        let series = knowledge::Series::load(store, &sym, tf, ctx.now_ms()).await?;
        let n = knowledge::update(store, &series, &sym, tf, horizon).await?;
        written.insert(s.clone(), json!(n));
    }
    Outcome::new(
        Status::Success,
        json!({ "timeframe": tf, "rebuilt": rebuild, "written": written, "stats": knowledge::stats(store).await? }),
    )
}
