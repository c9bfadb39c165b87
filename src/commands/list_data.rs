//! `fks list-data`: per symbol and timeframe, candle count, first and last open time, gaps.

use super::Ctx;
use crate::core::market::Gap;
use crate::core::store::candles;
use crate::core::time::fmt_ms;
use crate::output::{Outcome, Report, Section, Status, new_table};
use anyhow::Result;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {}

/// One stored series: its span and its gaps.
#[derive(Debug, Serialize)]
pub struct Series {
    pub symbol: String,
    pub timeframe: String,
    pub candles: i64,
    pub first_open_time: i64,
    pub last_open_time: i64,
    pub gaps: Vec<Gap>,
    pub missing_candles: u64,
}

/// The report of `fks list-data`.
#[derive(Debug, Serialize)]
pub struct DataList {
    pub series: Vec<Series>,
}

impl Report for DataList {
    fn status(&self) -> Status {
        Status::Success
    }

    /// One row per series: its span, its gaps and the candles they miss.
    fn table_view(&self) -> Vec<Section> {
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
        for s in &self.series {
            t.add_row(vec![
                s.symbol.clone(),
                s.timeframe.clone(),
                s.candles.to_string(),
                fmt_ms(s.first_open_time),
                fmt_ms(s.last_open_time),
                s.gaps.len().to_string(),
                s.missing_candles.to_string(),
            ]);
        }
        vec![(String::new(), t)]
    }
}

pub async fn run(ctx: &Ctx, _args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let mut series = Vec::new();
    for s in candles::series_facts(store, ctx.now_ms()).await? {
        let gaps = s.gaps;
        let missing_candles: u64 = gaps.iter().map(|g| g.missing).sum();
        series.push(Series {
            symbol: s.symbol,
            timeframe: s.timeframe,
            candles: s.candles,
            first_open_time: s.first_open_time,
            last_open_time: s.last_open_time,
            gaps,
            missing_candles,
        });
    }
    Outcome::from_report(&DataList { series })
}
