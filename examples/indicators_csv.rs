//! Prints the standard indicator set for a candle CSV, for comparing with TA-Lib
//! (`tests/golden/indicators/check_real_data.py` runs it).
//!
//! Usage: `cargo run --release --example indicators_csv -- CANDLES.csv [--stream]`
//! Input columns: `open_time,open,high,low,close,volume` (a header line first).
//! Output: `IndicatorRow::CSV_HEADER` and one line per candle. With `--stream`, the
//! rows come from an `IndicatorState` saved to JSON and reloaded after every candle.

use anyhow::{Context, bail};
use fks::core::indicators::{IndicatorRow, IndicatorState, compute_all};
use fks::core::market::Bar;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        bail!("usage: indicators_csv CANDLES.csv [--stream]");
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let mut bars = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 6 {
            bail!("{path}:{}: expected 6 columns", i + 1);
        }
        let num = |k: usize| -> anyhow::Result<f64> {
            f[k].trim()
                .parse::<f64>()
                .with_context(|| format!("{path}:{}: column {}", i + 1, k + 1))
        };
        bars.push(Bar {
            open_time: f[0]
                .trim()
                .parse()
                .with_context(|| format!("{path}:{}: open_time", i + 1))?,
            open: num(1)?,
            high: num(2)?,
            low: num(3)?,
            close: num(4)?,
            volume: num(5)?,
        });
    }
    let rows: Vec<IndicatorRow> = if args.iter().any(|a| a == "--stream") {
        let mut json = serde_json::to_string(&IndicatorState::new())?;
        let mut rows = Vec::with_capacity(bars.len());
        for b in &bars {
            let mut state: IndicatorState = serde_json::from_str(&json)?;
            rows.push(state.try_update(b)?);
            json = serde_json::to_string(&state)?;
        }
        rows
    } else {
        compute_all(&bars)
    };
    let mut out = String::with_capacity(rows.len() * 200);
    out.push_str(IndicatorRow::CSV_HEADER);
    out.push('\n');
    for r in &rows {
        out.push_str(&r.csv_line());
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}
