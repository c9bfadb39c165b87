//! Binance public kline dump files (data.binance.vision): monthly or daily CSV files, zipped or
//! not, 12 columns, with or without a header row. Newer spot files give times in microseconds.

use crate::core::market::{Candle, Timeframe};
use crate::core::store::value::parse_decimal;
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::Path;

/// Read every candle of a dump file (`.csv` or `.zip` holding CSV files).
pub fn read_file(path: &Path, tf: Timeframe) -> Result<Vec<Candle>> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    if bytes.starts_with(b"PK\x03\x04") {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .with_context(|| format!("{}: not a readable zip archive", path.display()))?;
        let mut out = Vec::new();
        for i in 0..zip.len() {
            let mut f = zip
                .by_index(i)
                .with_context(|| format!("{}: zip entry {i}", path.display()))?;
            let name = f
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| format!("entry {i}"));
            if f.is_dir() || !name.to_ascii_lowercase().ends_with(".csv") {
                continue;
            }
            let mut text = String::new();
            f.read_to_string(&mut text)
                .with_context(|| format!("{}: read {name}", path.display()))?;
            out.extend(
                parse_csv(&text, tf).with_context(|| format!("{} ({name})", path.display()))?,
            );
        }
        if out.is_empty() {
            bail!("{}: the zip archive holds no CSV rows", path.display());
        }
        Ok(out)
    } else {
        let text = String::from_utf8(bytes)
            .with_context(|| format!("{}: not a text file", path.display()))?;
        parse_csv(&text, tf).with_context(|| path.display().to_string())
    }
}

/// Times in microseconds (16 digits) become milliseconds.
fn to_ms(t: i64) -> i64 {
    if t >= 100_000_000_000_000 {
        t / 1000
    } else {
        t
    }
}

pub fn parse_csv(text: &str, tf: Timeframe) -> Result<Vec<Candle>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 1;
        let rec = rec.with_context(|| format!("line {line}: bad CSV"))?;
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let first = rec.get(0).unwrap_or("").trim();
        if line == 1 && first.parse::<i64>().is_err() {
            continue; // header row
        }
        if rec.len() < 7 {
            bail!(
                "line {line}: expected 12 columns (open_time, open, high, low, close, volume, close_time, ...), found {}",
                rec.len()
            );
        }
        let field = |j: usize| rec.get(j).unwrap_or("").trim();
        let open_time = to_ms(
            field(0)
                .parse::<i64>()
                .with_context(|| format!("line {line}: open time {:?}", field(0)))?,
        );
        let close_time = to_ms(
            field(6)
                .parse::<i64>()
                .with_context(|| format!("line {line}: close time {:?}", field(6)))?,
        );
        let span = close_time - open_time + 1;
        if span != tf.millis() {
            bail!(
                "line {line}: the candle spans {} ms but --timeframe {tf} is {} ms; is this file of another interval?",
                span,
                tf.millis()
            );
        }
        let dec = |j: usize, what: &str| {
            parse_decimal(field(j)).with_context(|| format!("line {line}: {what}"))
        };
        let c = Candle {
            open_time,
            open: dec(1, "open")?,
            high: dec(2, "high")?,
            low: dec(3, "low")?,
            close: dec(4, "close")?,
            volume: dec(5, "volume")?,
        };
        if c.high < c.low {
            bail!("line {line}: high {} is below low {}", c.high, c.low);
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW_MS: &str = "1704067200000,42283.58000000,42554.57000000,42261.02000000,42475.23000000,1271.68108000,1704070799999,53957248.97378980,47134,682.57581000,28957416.81963520,0\n";
    const ROW_US: &str = "1735689600000000,93576.00000000,94509.42000000,93489.03000000,94401.14000000,755.99010000,1735693199999999,71177578.47758150,110235,420.79970000,39620358.15524600,0\n";

    #[test]
    fn ms_and_us_with_and_without_header() {
        let c = parse_csv(ROW_MS, Timeframe::H1).unwrap();
        assert_eq!(c[0].open_time, 1_704_067_200_000);
        assert_eq!(c[0].close.to_string(), "42475.23000000");
        let hdr = format!(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n{ROW_US}"
        );
        let c = parse_csv(&hdr, Timeframe::H1).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].open_time, 1_735_689_600_000);
    }

    #[test]
    fn wrong_interval_and_garbage_are_errors() {
        let e = parse_csv(ROW_MS, Timeframe::M5).unwrap_err();
        assert!(format!("{e:#}").contains("timeframe"), "{e:#}");
        let e = parse_csv("1704067200000,abc,1,1,1,1,1704070799999\n", Timeframe::H1).unwrap_err();
        assert!(format!("{e:#}").contains("line 1"), "{e:#}");
    }
}
