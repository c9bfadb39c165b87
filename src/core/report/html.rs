//! The report as one self-contained HTML page: inline CSS, inline SVG charts, no external
//! fonts, scripts or images; light and dark themes follow `prefers-color-scheme`.

use std::fmt::Write;

use rust_decimal::Decimal;

use super::format::{self as f, NONE};
use super::svg::{drawdown_svg, equity_svg};
use super::{EventRow, MAX_EVENTS, MAX_TRADES, MetricsStatus, ReportData};

/// Escape text for HTML content and attribute values (`& < > " '`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page style (light and dark), shared with the status page (`fks dashboard`).
pub(crate) const CSS: &str = r#"
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1f2328;--muted:#656d76;--card:#f6f8fa;--border:#d0d7de;--grid:#e4e8ec;--accent:#0969da;--pos:#1a7f37;--neg:#cf222e;--warn-bg:#fff8c5;--warn-border:#d4a72c}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8d96a0;--card:#161b22;--border:#30363d;--grid:#262c36;--accent:#4493f8;--pos:#3fb950;--neg:#f85149;--warn-bg:#2e2a1a;--warn-border:#9e6a03}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:28px 20px 48px}
header h1{font-size:1.7rem;line-height:1.25;margin:0 0 4px;word-break:break-word}
.sub{color:var(--muted);margin:0}
.sub span+span::before{content:" · "}
h2{font-size:1.15rem;margin:36px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--border)}
h2 .count{color:var(--muted);font-weight:400}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px;margin-top:24px}
.kpi{background:var(--card);border:1px solid var(--border);border-radius:10px;padding:12px 14px}
.kpi .label{color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.04em}
.kpi .value{font-size:1.35rem;font-weight:650;font-variant-numeric:tabular-nums;margin-top:2px;word-break:break-all}
.kpi .detail{color:var(--muted);font-size:.85rem;font-variant-numeric:tabular-nums}
.card{background:var(--card);border:1px solid var(--border);border-radius:10px;padding:14px 14px 8px;margin-bottom:14px}
.card h3{font-size:.95rem;margin:0 0 6px;font-weight:600}
.card h3 small{color:var(--muted);font-weight:400}
.chart-scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
.chart{display:block;width:100%;min-width:600px;height:auto}
.banner{background:var(--warn-bg);border:1px solid var(--warn-border);border-radius:10px;padding:10px 14px;margin-top:20px}
.banner p{margin:2px 0}
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid var(--border);border-radius:10px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:7px 12px;text-align:left;white-space:nowrap;border-bottom:1px solid var(--border)}
tr:last-child td{border-bottom:0}
th{background:var(--card);font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);font-weight:600}
td.num,th.num{text-align:right}
td.msg{white-space:normal;min-width:16em;word-break:break-word}
tbody tr:hover{background:var(--card)}
tfoot td{font-weight:650;border-top:2px solid var(--border)}
.metrics{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:14px;align-items:start}
.pos{color:var(--pos)}.neg{color:var(--neg)}.zero,.muted{color:var(--muted)}
.badge{display:inline-block;padding:0 7px;border-radius:999px;font-size:.78rem;font-weight:650;border:1px solid currentColor}
.empty{color:var(--muted);font-style:italic;margin:6px 0}
footer{margin-top:40px;color:var(--muted);font-size:.85rem}
footer p{margin:4px 0}
.chart-grid{stroke:var(--grid)}.chart-tick{stroke:var(--border)}.chart-axis,.chart-baseline{stroke:var(--muted)}
.chart-muted{fill:var(--muted)}.chart-value{stroke:var(--card)}.chart-frame{stroke:var(--border)}
.chart-line{stroke:var(--accent)}.chart-area,.chart-line-dot,.chart-line-text{fill:var(--accent)}
.chart-dd-line{stroke:var(--neg)}.chart-dd-area,.chart-dd-line-dot,.chart-dd-line-text{fill:var(--neg)}
@media (max-width:600px){main{padding:18px 12px 36px}header h1{font-size:1.35rem}th,td{padding:6px 8px}}
"#;

fn signed_td(out: &mut String, d: Option<Decimal>, dp: u32) {
    match d {
        Some(d) => {
            let _ = write!(
                out,
                r#"<td class="num {}">{}</td>"#,
                f::sign_class(f::dec_to_f64(d)),
                escape(&f::signed_amount(d, dp))
            );
        }
        None => {
            let _ = write!(out, r#"<td class="num muted">{NONE}</td>"#);
        }
    }
}

pub(crate) fn kpi(out: &mut String, label: &str, value: &str, class: &str, detail: &str) {
    let _ = write!(
        out,
        r#"<div class="kpi"><div class="label">{}</div><div class="value {class}">{}</div><div class="detail">{}</div></div>"#,
        escape(label),
        escape(value),
        escape(detail)
    );
}

fn side_badge(side: &str) -> String {
    let up = side.to_ascii_uppercase();
    let class = match up.as_str() {
        "BUY" | "LONG" => "pos",
        "SELL" | "SHORT" => "neg",
        _ => "muted",
    };
    format!(r#"<span class="badge {class}">{}</span>"#, escape(side))
}

pub(crate) fn thead(out: &mut String, cols: &[(&str, bool)]) {
    out.push_str("<thead><tr>");
    for (c, num) in cols {
        let _ = write!(
            out,
            r#"<th{}>{}</th>"#,
            if *num { r#" class="num""# } else { "" },
            escape(c)
        );
    }
    out.push_str("</tr></thead>");
}

fn events(out: &mut String, id: &str, title: &str, rows: &[EventRow], empty: &str) {
    let _ = write!(
        out,
        r#"<section id="{id}"><h2>{} <span class="count">({})</span></h2>"#,
        escape(title),
        rows.len()
    );
    if rows.is_empty() {
        let _ = write!(out, r#"<p class="empty">{}</p></section>"#, escape(empty));
        return;
    }
    out.push_str(r#"<div class="table-wrap"><table>"#);
    thead(out, &[("Time", false), ("Task", false), ("Message", false)]);
    out.push_str("<tbody>");
    for e in rows.iter().take(MAX_EVENTS) {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td class="msg">{}</td></tr>"#,
            escape(&f::datetime(e.time)),
            escape(&e.task),
            escape(&e.message)
        );
    }
    out.push_str("</tbody></table></div>");
    if rows.len() > MAX_EVENTS {
        let _ = write!(
            out,
            r#"<p class="empty">… and {} more.</p>"#,
            rows.len() - MAX_EVENTS
        );
    }
    out.push_str("</section>");
}

/// Render the report as one self-contained HTML page. All text from the data is escaped.
pub fn render_html(r: &ReportData) -> String {
    let dp = r.dp();
    let q = &r.account.quote;
    let m = &r.metrics;
    let title = r.title();
    let mut out = String::with_capacity(64 * 1024);

    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="fks">
<title>{} · {}</title>
<style>{CSS}</style>
</head>
<body>
<main>
"#,
        escape(&title),
        escape(&r.period_label())
    );

    // header
    let _ = write!(
        out,
        r#"<header><h1>{}</h1><p class="sub"><span>{}</span><span>{} account · {}</span><span>generated {}</span></p></header>"#,
        escape(&title),
        escape(&r.period_label()),
        escape(&r.account.kind),
        escape(q),
        escape(&f::datetime(r.generated_at))
    );

    for w in &r.warnings {
        let _ = write!(
            out,
            r#"<div class="banner" role="alert"><p><strong>Warning</strong></p><p>{}</p></div>"#,
            escape(w)
        );
    }

    // status banner
    if m.status != MetricsStatus::Success || !m.notes.is_empty() {
        let _ = write!(
            out,
            r#"<div class="banner" role="note"><p><strong>{}</strong></p>"#,
            if m.status == MetricsStatus::Success {
                "Note".to_string()
            } else {
                format!("Metrics status: {}", m.status.as_str())
            }
        );
        for n in &m.notes {
            let _ = write!(out, "<p>{}</p>", escape(n));
        }
        out.push_str("</div>");
    }

    // KPIs
    let s = &r.summary;
    let pnl = r.period_pnl();
    out.push_str(r#"<section class="kpis" aria-label="Summary">"#);
    kpi(
        &mut out,
        "Equity",
        &f::amount(s.equity, dp),
        "",
        &format!("{q} · balance {}", f::amount(s.balance, dp)),
    );
    kpi(
        &mut out,
        "Period PnL",
        &f::signed_amount_f64(pnl, dp),
        f::sign_class(pnl),
        &format!("total return {}", f::pct(m.total_return_pct)),
    );
    kpi(
        &mut out,
        "Realized PnL",
        &f::signed_amount(s.realized_pnl, dp),
        f::sign_class(f::dec_to_f64(s.realized_pnl)),
        &format!(
            "{} trades · win rate {}",
            m.total_trades,
            f::pct_plain(m.win_rate_pct)
        ),
    );
    kpi(
        &mut out,
        "Unrealized PnL",
        &f::signed_amount(s.unrealized_pnl, dp),
        f::sign_class(f::dec_to_f64(s.unrealized_pnl)),
        &format!("{} open positions", r.open_positions.len()),
    );
    kpi(
        &mut out,
        "Max drawdown",
        &f::pct_plain(m.max_drawdown_pct),
        if m.max_drawdown_pct.unwrap_or(0.0) > 0.0 {
            "neg"
        } else {
            ""
        },
        &format!("intraday {}", f::pct_plain(m.max_intraday_drawdown_pct)),
    );
    kpi(
        &mut out,
        "Sharpe",
        &f::ratio(m.sharpe),
        "",
        &format!("Sortino {}", f::ratio(m.sortino)),
    );
    out.push_str("</section>");

    // charts
    let eq: Vec<(i64, f64)> = m
        .equity_curve
        .iter()
        .map(|p| (p.time_ms, p.equity))
        .collect();
    let dd: Vec<(i64, f64)> = m
        .equity_curve
        .iter()
        .map(|p| (p.time_ms, p.drawdown_pct))
        .collect();
    let _ = write!(
        out,
        r#"<section id="charts"><h2>Equity and drawdown</h2><div class="card"><h3>Equity <small>({} · every balance snapshot · dashed: start)</small></h3><div class="chart-scroll">{}</div></div><div class="card"><h3>Drawdown <small>(% below the running peak)</small></h3><div class="chart-scroll">{}</div></div></section>"#,
        escape(q),
        equity_svg(
            &eq,
            m.start_equity,
            &format!("Equity curve of {}", r.account.name)
        ),
        drawdown_svg(&dd, &format!("Drawdown of {}", r.account.name))
    );

    // summary + metrics tables
    out.push_str(r#"<section id="metrics"><h2>Summary and metrics</h2><div class="metrics">"#);
    out.push_str(r#"<div class="table-wrap"><table class="summary">"#);
    thead(
        &mut out,
        &[("Account", false), (&format!("Amount ({q})"), true)],
    );
    out.push_str("<tbody>");
    for (label, v, signed) in [
        ("Balance", s.balance, false),
        ("Equity", s.equity, false),
        ("Unrealized PnL", s.unrealized_pnl, true),
        ("Realized PnL (period)", s.realized_pnl, true),
        ("Daily PnL", s.daily_pnl, true),
        ("Cumulative PnL", s.cumulative_pnl, true),
    ] {
        let _ = write!(out, "<tr><td>{}</td>", escape(label));
        if signed {
            signed_td(&mut out, Some(v), dp);
        } else {
            let _ = write!(out, r#"<td class="num">{}</td>"#, escape(&f::amount(v, dp)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");

    let day = |d: Option<super::DayReturn>| match d {
        Some(d) => (
            format!("{} ({})", f::pct(Some(d.return_pct)), d.date),
            f::sign_class(d.return_pct),
        ),
        None => (NONE.to_string(), "muted"),
    };
    let pct_row = |x: Option<f64>| (f::pct(x), x.map_or("muted", f::sign_class));
    let plain_row = |s: String| {
        let c = if s == NONE { "muted" } else { "" };
        (s, c)
    };
    let rows: Vec<(&str, (String, &str))> = vec![
        ("Total return", pct_row(m.total_return_pct)),
        ("Average daily return", pct_row(m.average_daily_return_pct)),
        ("Sharpe (daily, ×√365)", plain_row(f::ratio(m.sharpe))),
        ("Sortino (daily, ×√365)", plain_row(f::ratio(m.sortino))),
        (
            "Volatility (annualised)",
            plain_row(f::pct_plain(m.volatility_pct)),
        ),
        (
            "Max drawdown (day closes)",
            plain_row(f::pct_plain(m.max_drawdown_pct)),
        ),
        (
            "Max drawdown (intraday)",
            plain_row(f::pct_plain(m.max_intraday_drawdown_pct)),
        ),
        (
            "Trades (winning)",
            plain_row(format!("{} ({})", m.total_trades, m.winning_trades)),
        ),
        ("Win rate", plain_row(f::pct_plain(m.win_rate_pct))),
        ("Profit factor", plain_row(f::ratio(m.profit_factor))),
        ("Fills", plain_row(m.fills.to_string())),
        ("Best day", day(m.best_day)),
        ("Worst day", day(m.worst_day)),
        (
            "Days with data (missing)",
            plain_row(format!("{} ({})", m.days, m.missing_days.len())),
        ),
    ];
    out.push_str(r#"<div class="table-wrap"><table class="metrics-table">"#);
    thead(&mut out, &[("Metric", false), ("Value", true)]);
    out.push_str("<tbody>");
    for (label, (value, class)) in rows {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="num {class}">{}</td></tr>"#,
            escape(label),
            escape(&value)
        );
    }
    out.push_str("</tbody></table></div></div></section>");

    // trades
    let shown = r.recent_trades.len().min(MAX_TRADES);
    let _ = write!(
        out,
        r#"<section id="trades"><h2>Recent trades <span class="count">(last {shown})</span></h2>"#
    );
    if shown == 0 {
        out.push_str(r#"<p class="empty">No trades.</p>"#);
    } else {
        out.push_str(r#"<div class="table-wrap"><table class="trades">"#);
        thead(
            &mut out,
            &[
                ("Time", false),
                ("Symbol", false),
                ("Side", false),
                ("Qty", true),
                ("Price", true),
                ("Fee", true),
                (&format!("Realized PnL ({q})"), true),
            ],
        );
        out.push_str("<tbody>");
        for t in r.recent_trades.iter().take(MAX_TRADES) {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{} {}</td>"#,
                escape(&f::datetime(t.time)),
                escape(t.symbol.as_str()),
                side_badge(&t.side),
                escape(&f::plain(t.qty)),
                escape(&f::plain(t.price)),
                escape(&f::plain(t.fee.amount())),
                escape(&t.fee_asset)
            );
            signed_td(&mut out, t.realized_pnl, dp);
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</section>");

    // positions
    let _ = write!(
        out,
        r#"<section id="positions"><h2>Open positions <span class="count">({})</span></h2>"#,
        r.open_positions.len()
    );
    if r.open_positions.is_empty() {
        out.push_str(r#"<p class="empty">No open positions.</p>"#);
    } else {
        out.push_str(r#"<div class="table-wrap"><table class="positions">"#);
        thead(
            &mut out,
            &[
                ("Symbol", false),
                ("Side", false),
                ("Qty", true),
                ("Entry", true),
                ("Current", true),
                (&format!("Unrealized PnL ({q})"), true),
                ("PnL %", true),
            ],
        );
        out.push_str("<tbody>");
        for p in &r.open_positions {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>"#,
                escape(p.symbol.as_str()),
                side_badge(&p.side),
                escape(&f::plain(p.qty)),
                escape(&f::plain(p.entry_price)),
                escape(&f::plain(p.current_price))
            );
            signed_td(&mut out, Some(p.unrealized_pnl), dp);
            let _ = write!(
                out,
                r#"<td class="num {}">{}</td></tr>"#,
                f::sign_class(p.pnl_pct),
                escape(&f::pct(Some(p.pnl_pct)))
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</section>");

    // pnl by symbol
    out.push_str(r#"<section id="pnl"><h2>PnL by symbol</h2>"#);
    if r.pnl_by_symbol.is_empty() {
        out.push_str(r#"<p class="empty">No PnL in the period.</p>"#);
    } else {
        out.push_str(r#"<div class="table-wrap"><table class="pnl">"#);
        thead(
            &mut out,
            &[
                ("Symbol", false),
                (&format!("Realized ({q})"), true),
                (&format!("Unrealized ({q})"), true),
                (&format!("Total ({q})"), true),
            ],
        );
        out.push_str("<tbody>");
        let (mut re, mut un) = (Decimal::ZERO, Decimal::ZERO);
        for p in &r.pnl_by_symbol {
            re += p.realized_pnl;
            un += p.unrealized_pnl;
            let _ = write!(out, "<tr><td>{}</td>", escape(p.symbol.as_str()));
            signed_td(&mut out, Some(p.realized_pnl), dp);
            signed_td(&mut out, Some(p.unrealized_pnl), dp);
            signed_td(&mut out, Some(p.total()), dp);
            out.push_str("</tr>");
        }
        out.push_str("</tbody><tfoot><tr><td>Total</td>");
        signed_td(&mut out, Some(re), dp);
        signed_td(&mut out, Some(un), dp);
        signed_td(&mut out, Some(re + un), dp);
        out.push_str("</tr></tfoot></table></div>");
    }
    out.push_str("</section>");

    events(&mut out, "alerts", "Recent alerts", &r.alerts, "No alerts.");
    events(
        &mut out,
        "failures",
        "Job failures",
        &r.job_failures,
        "No failed jobs.",
    );

    out.push_str(
        r#"<footer><p>Returns are daily, from the last balance snapshot of each UTC day; a day without a snapshot carries the previous equity forward and is reported as missing. Sharpe and Sortino use daily returns annualised with √365 (risk-free 0); volatility is the annualised standard deviation of daily returns; max drawdown is measured on day closes and, intraday, on every snapshot.</p><p>Generated by fks.</p></footer>
</main>
</body>
</html>
"#,
    );
    out
}
