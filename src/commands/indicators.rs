//! `fks indicators`: export the indicator cache as CSV or JSON.

use super::Ctx;
use crate::core::indicator_store;
use crate::core::indicators::IndicatorRow;
use crate::core::market::Symbol;
use crate::core::time::time_arg;
use crate::output::Outcome;
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Symbol to export (BTCUSDT).
    #[arg(long)]
    pub symbol: Symbol,
    #[command(flatten)]
    pub timeframe: super::flags::TimeframeFlag,
    /// First open time (YYYY-MM-DD, RFC 3339 or milliseconds, UTC).
    #[arg(long, value_parser = time_arg)]
    pub from: Option<i64>,
    /// Last open time, inclusive (YYYY-MM-DD, RFC 3339 or milliseconds, UTC).
    #[arg(long, value_parser = time_arg)]
    pub to: Option<i64>,
    /// csv (empty cells during warm-up) or json.
    #[arg(long = "as", value_enum, default_value = "csv")]
    pub export: super::candles::ExportFormat,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let tf = args
        .timeframe
        .timeframe
        .unwrap_or(ctx.settings.file.market.timeframe);
    let rows =
        indicator_store::range(ctx.store().await?, &args.symbol, tf, args.from, args.to).await?;
    let mut out = Vec::with_capacity(rows.len() * 200);
    match args.export {
        super::candles::ExportFormat::Csv => {
            out.extend_from_slice(IndicatorRow::CSV_HEADER.as_bytes());
            out.push(b'\n');
            for r in &rows {
                out.extend_from_slice(r.csv_line().as_bytes());
                out.push(b'\n');
            }
        }
        super::candles::ExportFormat::Json => {
            serde_json::to_writer(&mut out, &rows)?;
            out.push(b'\n');
        }
    }
    Ok(Outcome::raw(out))
}
