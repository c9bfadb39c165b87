//! `fks list-data`: per symbol and timeframe, candle count, first and last open time, gaps.

use super::Ctx;
use crate::core::store::candles;
use crate::core::time::fmt_ms;
use crate::output::{Outcome, Status, new_table};
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(ctx: &Ctx, _args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let mut series = Vec::new();
    let mut t = new_table();
    t.set_header(vec![
        "symbol",
        "timeframe",
        "candles",
        "first",
        "last",
        "gaps",
        "missing",
    ]);
    for s in candles::series_facts(store, ctx.now_ms()).await? {
        let gaps = s.gaps;
        let missing: u64 = gaps.iter().map(|g| g.missing).sum();
        t.add_row(vec![
            s.symbol.clone(),
            s.timeframe.clone(),
            s.candles.to_string(),
            fmt_ms(s.first_open_time),
            fmt_ms(s.last_open_time),
            gaps.len().to_string(),
            missing.to_string(),
        ]);
        series.push(serde_json::json!({
            "symbol": s.symbol, "timeframe": s.timeframe, "candles": s.candles,
            "first_open_time": s.first_open_time, "last_open_time": s.last_open_time,
            "gaps": gaps, "missing_candles": missing,
        }));
    }
    Ok(Outcome::new(Status::Success, serde_json::json!({ "series": series }))?.with_table(t))
}
