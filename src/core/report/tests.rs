//! Rendering tests: a sample report through every renderer.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

use super::*;
use crate::core::market::Symbol;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}
fn t(day: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, day, h, 0, 0).unwrap()
}
fn sym(s: &str) -> Symbol {
    Symbol(s.to_string())
}

const EVIL: &str = r#"<script>alert("x")</script> & 'Co' | *bold*"#;

/// 7 days of snapshots every 6 h with a dip, 12 trades, 3 positions, 4 symbols.
fn sample() -> ReportData {
    let mut snaps = Vec::new();
    for day in 1..=7u32 {
        for h in [0u32, 6, 12, 18] {
            let i = f64::from((day - 1) * 4 + h / 6);
            let e = 10_000.0 + 40.0 * i
                - if (10.0..16.0).contains(&i) {
                    600.0
                } else {
                    0.0
                };
            snaps.push(EquitySnapshot {
                time_ms: t(day, h).timestamp_millis(),
                equity: e,
            });
        }
    }
    let trades: Vec<ClosedTrade> = (0..12)
        .map(|i| ClosedTrade {
            time_ms: t(1 + i % 7, 9).timestamp_millis(),
            symbol: "BTCUSDT".into(),
            pnl: if i % 3 == 0 { -25.0 } else { 40.0 },
            pnl_pct: None,
        })
        .collect();
    let period = Period::days(
        NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        NaiveDate::from_ymd_opt(2024, 5, 7).unwrap(),
    );
    let metrics = compute_account_metrics(&snaps, &trades, 24, period);
    ReportData {
        report_type: ReportType::Weekly,
        period_from: t(1, 0),
        period_to: t(7, 23),
        generated_at: t(7, 23),
        account: AccountInfo {
            id: Some(1),
            name: EVIL.to_string(),
            kind: "paper".into(),
            quote: "USDT".into(),
        },
        summary: Summary {
            balance: d("10712.345"),
            equity: d("11240.5"),
            unrealized_pnl: d("528.155"),
            realized_pnl: d("230"),
            daily_pnl: d("-12.5"),
            cumulative_pnl: d("1240.5"),
        },
        metrics,
        recent_trades: (0..12)
            .map(|i| TradeRow {
                time: t(7, 12) - chrono::Duration::hours(i),
                symbol: sym(if i % 2 == 0 { "BTCUSDT" } else { "ETHUSDT" }),
                side: if i % 2 == 0 {
                    "BUY".into()
                } else {
                    "SELL".into()
                },
                qty: d("0.01500000"),
                price: d("67000.01000000"),
                fee: crate::core::json_num::Money::new(d("1.005"), "USDT"),
                fee_asset: "USDT".into(),
                realized_pnl: if i % 3 == 0 { None } else { Some(d("-12.345")) },
            })
            .collect(),
        open_positions: vec![
            PositionRow {
                symbol: sym("BTCUSDT"),
                side: "LONG".into(),
                qty: d("0.1"),
                entry_price: d("65000"),
                current_price: d("67000"),
                unrealized_pnl: d("200"),
                pnl_pct: 3.0769,
            },
            PositionRow {
                symbol: sym("ETHUSDT"),
                side: "SHORT".into(),
                qty: d("2"),
                entry_price: d("3000"),
                current_price: d("3100"),
                unrealized_pnl: d("-200"),
                pnl_pct: -3.3333,
            },
            PositionRow {
                symbol: sym("SOLUSDT"),
                side: "LONG".into(),
                qty: d("10"),
                entry_price: d("150"),
                current_price: d("150"),
                unrealized_pnl: d("0"),
                pnl_pct: 0.0,
            },
        ],
        pnl_by_symbol: vec![
            SymbolPnl {
                symbol: sym("BTCUSDT"),
                realized_pnl: d("300"),
                unrealized_pnl: d("200"),
            },
            SymbolPnl {
                symbol: sym("ETHUSDT"),
                realized_pnl: d("-70"),
                unrealized_pnl: d("-200"),
            },
            SymbolPnl {
                symbol: sym("SOLUSDT"),
                realized_pnl: d("0"),
                unrealized_pnl: d("0"),
            },
            SymbolPnl {
                symbol: sym("BNBUSDT"),
                realized_pnl: d("1234567.891"),
                unrealized_pnl: d("0"),
            },
        ],
        alerts: vec![
            EventRow {
                time: t(5, 3),
                task: "analyze-risk".into(),
                message: "risk HIGH: exposure 92% <of equity>".into(),
            },
            EventRow {
                time: t(6, 3),
                task: "check-stop-loss".into(),
                message: "stop hit on ETHUSDT".into(),
            },
        ],
        job_failures: vec![EventRow {
            time: t(6, 4),
            task: "sync-market-data".into(),
            message: "binance rejected /api/v3/klines: -1121 Invalid symbol.".into(),
        }],
        stale_prices: Vec::new(),
        warnings: Vec::new(),
    }
}

/// A minimal well-formedness check of our own HTML: every tag closes in order (void
/// elements excepted), attributes are quoted, `<` and `&` in text are escaped, raw-text
/// `<style>` is skipped. Returns the first problem.
fn check_well_formed(html: &str) -> Result<(), String> {
    const VOID: &[&str] = &[
        "meta", "br", "hr", "img", "input", "link", "area", "base", "col", "wbr",
    ];
    let b = html.as_bytes();
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => {
                if html[i..].starts_with("<!DOCTYPE html>") {
                    i += "<!DOCTYPE html>".len();
                    continue;
                }
                if html[i..].starts_with("<!--") {
                    i += html[i..].find("-->").ok_or("unclosed comment")? + 3;
                    continue;
                }
                let end = i + html[i..].find('>').ok_or(format!("unclosed tag at {i}"))?;
                let inner = &html[i + 1..end];
                // a quoted attribute may not contain '>' in our output; check quotes balance
                if !inner.matches('"').count().is_multiple_of(2) {
                    return Err(format!("unbalanced quotes in <{inner}>"));
                }
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match stack.pop() {
                        Some(open) if open == name => {}
                        other => return Err(format!("</{name}> closes {other:?} at {i}")),
                    }
                } else {
                    let self_closing = inner.ends_with('/');
                    let name: String = inner
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .collect::<String>()
                        .to_ascii_lowercase();
                    if name.is_empty() {
                        return Err(format!("bad tag <{inner}> at {i}"));
                    }
                    // attributes: name="value" pairs only
                    let attrs = inner[name.len()..].trim_end_matches('/');
                    let mut rest = attrs.trim();
                    while !rest.is_empty() {
                        let eq = rest
                            .find('=')
                            .ok_or(format!("attribute without value in <{inner}>"))?;
                        if !rest[eq + 1..].starts_with('"') {
                            return Err(format!("unquoted attribute in <{inner}>"));
                        }
                        let close = rest[eq + 2..].find('"').ok_or("unterminated attribute")?;
                        rest = rest[eq + 2 + close + 1..].trim_start();
                    }
                    if name == "style" {
                        let close = html[end..].find("</style>").ok_or("unclosed style")?;
                        i = end + close + "</style>".len();
                        continue;
                    }
                    if !self_closing && !VOID.contains(&name.as_str()) {
                        stack.push(name);
                    }
                }
                i = end + 1;
            }
            b'&' => {
                let semi = html[i..].find(';').ok_or(format!("bare & at {i}"))?;
                let ent = &html[i + 1..i + semi];
                if ent.is_empty()
                    || ent.len() > 8
                    || !ent.chars().all(|c| c.is_ascii_alphanumeric() || c == '#')
                {
                    return Err(format!(
                        "bare & at {i}: {:?}",
                        &html[i..(i + 12).min(html.len())]
                    ));
                }
                i += semi + 1;
            }
            b'>' => return Err(format!("stray > at {i}")),
            _ => i += 1,
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed: {stack:?}"))
    }
}

/// The `<tr>` rows inside `<tbody>` of the table whose opening tag is `open`.
fn body_rows(html: &str, open: &str) -> usize {
    let start = html.find(open).unwrap_or_else(|| panic!("no {open}"));
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    let body = &table[table.find("<tbody>").unwrap()..table.find("</tbody>").unwrap()];
    body.matches("<tr>").count()
}

#[test]
fn the_checker_catches_broken_html() {
    assert!(check_well_formed("<html><body><p>x</p></body></html>").is_ok());
    assert!(check_well_formed("<html><body><p>x</body></html>").is_err());
    assert!(check_well_formed("<p>a < b</p>").is_err());
    assert!(check_well_formed("<p>a & b</p>").is_err());
    assert!(check_well_formed("<p class=x>a</p>").is_err());
    assert!(check_well_formed(r#"<svg><path d="M0,0"/></svg><meta charset="utf-8">"#).is_ok());
}

#[test]
fn html_is_well_formed_self_contained_and_complete() {
    let r = sample();
    let html = render_html(&r);
    check_well_formed(&html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.contains(r#"<meta charset="utf-8">"#));
    assert!(html.contains("<title>Weekly report: &lt;script&gt;"));
    assert!(html.contains("prefers-color-scheme:dark"));
    // two inline charts with data
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains(r#"class="chart-line""#) && html.contains(r#"class="chart-dd-line""#));
    // tables: 10 of 12 trades, 3 positions, 4 symbols (+ total), 2 alerts, 1 failure
    assert_eq!(body_rows(&html, r#"<table class="trades">"#), 10);
    assert_eq!(body_rows(&html, r#"<table class="positions">"#), 3);
    assert_eq!(body_rows(&html, r#"<table class="pnl">"#), 4);
    assert_eq!(body_rows(&html, r#"<table class="summary">"#), 6);
    assert_eq!(body_rows(&html, r#"<table class="metrics-table">"#), 14);
    let alerts = &html[html.find(r#"<section id="alerts">"#).unwrap()..];
    assert_eq!(body_rows(alerts, "<table>"), 2);
    let failures = &html[html.find(r#"<section id="failures">"#).unwrap()..];
    assert_eq!(body_rows(failures, "<table>"), 1);
    // amounts: separators, two decimals, signs and colours
    assert!(html.contains(">11,240.50<"));
    assert!(html.contains(r#"<td class="num pos">+1,234,567.89</td>"#));
    assert!(html.contains(r#"<td class="num neg">-12.35</td>"#));
    assert!(html.contains(">67,000.01<"));
    // nothing external
    for bad in ["<script", "<link", "src=", "url(", "@import", "https://"] {
        assert!(!html.to_ascii_lowercase().contains(bad), "found {bad}");
    }
    assert_eq!(html.matches("http://").count(), 2, "only the SVG namespace");
    // the account name is escaped wherever it appears
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Co&#39;"));
    assert!(html.contains("risk HIGH: exposure 92% &lt;of equity&gt;"));
}

#[test]
fn html_without_history_shows_no_data_and_stays_well_formed() {
    let mut r = sample();
    r.metrics = compute_account_metrics(
        &[],
        &[],
        0,
        Period::days(r.period_from.date_naive(), r.period_to.date_naive()),
    );
    r.recent_trades.clear();
    r.open_positions.clear();
    r.pnl_by_symbol.clear();
    r.alerts.clear();
    r.job_failures.clear();
    let html = render_html(&r);
    check_well_formed(&html).unwrap();
    assert_eq!(html.matches("No balance history in this period").count(), 2);
    assert!(html.contains("Metrics status: no_history"));
    assert!(html.contains("No trades.") && html.contains("No open positions."));
    assert!(!html.contains("NaN") && !html.contains("inf"));
}

#[test]
fn edge_series_render_finite_svg() {
    let mk = |pts: &[(i64, f64)]| -> ReportData {
        let mut r = sample();
        let snaps: Vec<EquitySnapshot> = pts
            .iter()
            .map(|&(t, e)| EquitySnapshot {
                time_ms: t,
                equity: e,
            })
            .collect();
        r.metrics = compute_account_metrics(
            &snaps,
            &[],
            0,
            Period {
                from_ms: 0,
                to_ms: 40 * 86_400_000,
            },
        );
        r
    };
    let day = 86_400_000;
    for pts in [
        vec![(day, 1000.0)],                                      // one point
        vec![(day, 500.0), (2 * day, 500.0), (3 * day, 500.0)],   // flat
        vec![(day, 100.0), (2 * day, -40.0), (3 * day, -80.0)],   // negative equity
        vec![(day, 3e14), (2 * day, 9e14), (3 * day, 1e15)],      // huge
        vec![(day, 0.001), (2 * day, 0.0012), (3 * day, 0.0009)], // tiny
    ] {
        let html = render_html(&mk(&pts));
        check_well_formed(&html).unwrap_or_else(|e| panic!("{pts:?}: {e}"));
        assert!(!html.contains("NaN") && !html.contains("inf"), "{pts:?}");
        assert_eq!(html.matches("<svg").count(), 2);
        let png = render_equity_png(&mk(&pts), 600, 400).unwrap();
        assert!(png.len() > 1024, "{pts:?}");
    }
}

#[test]
fn markdown_has_tables_and_escapes_text() {
    let md = render_markdown(&sample());
    assert!(md.starts_with(
        "# Weekly report: &lt;script&gt;alert(\"x\")&lt;/script&gt; &amp; 'Co' \\| \\*bold\\*\n"
    ));
    assert!(!md.contains("<script"));
    let section = |title: &str| -> Vec<&str> {
        let s = &md[md.find(title).unwrap()..];
        let s = &s[s.find("\n|").unwrap() + 1..];
        s.lines().take_while(|l| l.starts_with('|')).collect()
    };
    assert_eq!(section("## Recent trades").len(), 2 + 10);
    assert_eq!(section("## Open positions").len(), 2 + 3);
    assert_eq!(section("## PnL by symbol").len(), 2 + 4 + 1);
    assert_eq!(section("## Recent alerts").len(), 2 + 2);
    assert_eq!(section("## Job failures").len(), 2 + 1);
    // every row of a table has as many cells as its header
    for title in [
        "## Summary",
        "## Metrics\n",
        "## Recent trades",
        "## Open positions",
        "## PnL by symbol",
    ] {
        let rows = section(title);
        let cells = |l: &str| l.replace("\\|", "").matches('|').count();
        assert!(
            rows.iter().all(|l| cells(l) == cells(rows[0])),
            "{title}: {rows:#?}"
        );
    }
    assert!(md.contains("| Equity | 11,240.50 |"));
    assert!(md.contains("| Unrealized PnL | +528.16 |"));
    assert!(md.contains("| **Total** | **+1,234,797.89** |"));
    assert!(md.contains("risk HIGH: exposure 92% &lt;of equity&gt;"));
    assert!(md.contains("| ---: |"));
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[test]
fn png_has_the_requested_size_and_decodes() {
    let png = render_equity_png(&sample(), 1200, 700).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    assert_eq!((be_u32(&png[16..20]), be_u32(&png[20..24])), (1200, 700));
    assert!(
        png.len() > 1024 && png.len() < 10 * 1024 * 1024,
        "{} bytes",
        png.len()
    );
    let dec = ::png::Decoder::new(std::io::Cursor::new(&png));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 700));
    // not blank: the curve's blue is somewhere
    assert!(buf.chunks(3).any(|p| p == [9, 105, 218]));
}

#[test]
fn png_without_history_is_a_no_data_image() {
    let mut r = sample();
    r.metrics = compute_account_metrics(
        &[],
        &[],
        0,
        Period {
            from_ms: 0,
            to_ms: 1,
        },
    );
    let png = render_equity_png(&r, 800, 450).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!((be_u32(&png[16..20]), be_u32(&png[20..24])), (800, 450));
    assert!(png.len() > 1024);
}

#[test]
fn png_rejects_absurd_sizes() {
    assert!(render_equity_png(&sample(), 0, 700).is_err());
    assert!(render_equity_png(&sample(), 1200, 100_000).is_err());
}

#[test]
fn discord_colour_follows_the_period_pnl() {
    let mut r = sample();
    let s = discord_summary(&r);
    assert!(r.period_pnl() >= 0.0);
    assert_eq!(s.color, discord::GREEN);
    assert!(s.title.starts_with("Weekly report: "));
    assert!(
        s.fields
            .iter()
            .any(|(n, v)| n == "Equity" && v == "11,240.50 USDT")
    );
    assert!(s.fields.iter().any(|(n, _)| n == "Open positions (3)"));
    r.metrics.equity_change = Some(-0.01);
    assert_eq!(discord_summary(&r).color, discord::RED);
    // without history: the realized PnL decides
    r.metrics.equity_change = None;
    r.summary.realized_pnl = d("-1");
    assert_eq!(discord_summary(&r).color, discord::RED);
    r.summary.realized_pnl = d("0");
    assert_eq!(discord_summary(&r).color, discord::GREEN);
}

#[test]
fn discord_summary_stays_within_limits() {
    let mut r = sample();
    r.account.name = "N".repeat(1000);
    r.alerts = (0..200)
        .map(|i| EventRow {
            time: t(6, 1),
            task: format!("task-{i}"),
            message: "m".repeat(3000),
        })
        .collect();
    r.job_failures = r.alerts.clone();
    r.open_positions = (0..300).map(|_| r.open_positions[0].clone()).collect();
    r.metrics.notes = vec!["x".repeat(5000)];
    let s = discord_summary(&r);
    assert!(s.title.chars().count() <= discord::TITLE_MAX);
    assert!(s.description.chars().count() <= discord::DESCRIPTION_MAX);
    assert!(s.fields.len() <= discord::FIELDS_MAX);
    for (n, v) in &s.fields {
        assert!(n.chars().count() <= discord::FIELD_NAME_MAX);
        assert!(
            !v.is_empty() && v.chars().count() <= discord::FIELD_VALUE_MAX,
            "{n}"
        );
    }
    assert!(
        s.total_chars() <= discord::EMBED_TOTAL_MAX,
        "{}",
        s.total_chars()
    );
    let alerts = s.fields.iter().find(|(n, _)| n == "Alerts (200)");
    if let Some((_, v)) = alerts {
        assert!(v.ends_with("more"), "{v}");
    }
}

#[test]
fn report_data_follows_the_output_contract() {
    // Money as numbers rounded to the quote (USDT: 2 decimals, half away from zero);
    // quantities and prices as the exact decimal strings they were stored as.
    let v = serde_json::to_value(crate::core::json_num::InCurrency("USDT", &sample())).unwrap();
    assert_eq!(v["report_type"], "weekly");
    assert_eq!(v["summary"]["equity"], 11240.5);
    assert_eq!(v["metrics"]["status"], "success");
    let t = &v["recent_trades"][1];
    assert_eq!(t["symbol"], "ETHUSDT");
    assert_eq!(
        (&t["qty"], &t["price"]),
        (
            &serde_json::json!("0.01500000"),
            &serde_json::json!("67000.01000000")
        )
    );
    assert_eq!(t["fee"], 1.01, "1.005 USDT rounds half away from zero");
    assert_eq!(t["realized_pnl"], -12.35);
    assert!(v["open_positions"][0]["unrealized_pnl"].is_number(), "{v}");
    assert!(v["pnl_by_symbol"][0]["realized_pnl"].is_number(), "{v}");
}

#[test]
fn a_stale_price_warning_comes_first_in_every_rendering() {
    let mut r = sample();
    r.warnings =
        vec!["prices are stale: BTCUSDT 42000 at 2024-05-07T11:00:00Z (3d 2h old) <b>".into()];
    let html = render_html(&r);
    check_well_formed(&html).unwrap();
    let w = html.find("prices are stale").expect("warning in the page");
    assert!(
        w < html.find("aria-label=\"Summary\"").unwrap(),
        "before the summary"
    );
    assert!(html.contains("&lt;b&gt;"), "escaped");
    let md = render_markdown(&r);
    let w = md
        .find("**Warning:** prices are stale")
        .expect("warning in Markdown");
    assert!(w < md.find("## Summary").unwrap());
    let s = discord_summary(&r);
    assert!(
        s.description.contains("**Warning:** prices are stale"),
        "{}",
        s.description
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["warnings"][0], r.warnings[0]);
    // Without a warning nothing is added.
    let plain = sample();
    assert!(!render_html(&plain).contains("role=\"alert\""));
    assert!(
        serde_json::to_value(&plain)
            .unwrap()
            .get("warnings")
            .is_none()
    );
}
