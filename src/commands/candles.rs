//! `fks candles`: export stored candles as CSV or JSON; `fks import-klines` reads both back.

use super::Ctx;
use crate::core::market::Symbol;
use crate::core::store::candles;
use crate::core::time::time_arg;
use crate::output::Outcome;
use anyhow::Result;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Symbol whose candles to export (BTCUSDT).
    #[arg(long)]
    pub symbol: Symbol,
    #[command(flatten)]
    pub timeframe: super::flags::TimeframeFlag,
    /// First open time (YYYY-MM-DD, RFC 3339 or ms).
    #[arg(long, value_parser = time_arg)]
    pub from: Option<i64>,
    /// Last open time (inclusive).
    #[arg(long, value_parser = time_arg)]
    pub to: Option<i64>,
    /// csv (header open_time,open,high,low,close,volume) or json (an array of objects);
    /// both can be loaded back with import-klines.
    #[arg(long = "as", value_enum, default_value = "csv")]
    pub export: ExportFormat,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let tf = args
        .timeframe
        .timeframe
        .unwrap_or(ctx.settings.file.market.timeframe);
    let how = match args.export {
        ExportFormat::Csv => candles::ExportAs::Csv,
        ExportFormat::Json => candles::ExportAs::Json,
    };
    let mut out = Vec::new();
    let store = ctx.store().await?;
    candles::export(store, &args.symbol, tf, args.from, args.to, how, &mut out).await?;
    Ok(Outcome::raw(out))
}
