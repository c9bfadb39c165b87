//! The report as GitHub-flavoured Markdown.

use std::fmt::Write;

use super::format::{self as f, NONE};
use super::{EventRow, MAX_EVENTS, MAX_TRADES, MetricsStatus, ReportData};

/// Column alignment.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Escape text for a Markdown table cell or line: Markdown punctuation is backslashed,
/// `<`/`>`/`&` become entities (so a name like `<script>` stays text), newlines become spaces.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

fn table(out: &mut String, headers: &[(&str, Align)], rows: &[Vec<String>]) {
    out.push('|');
    for (h, _) in headers {
        let _ = write!(out, " {h} |");
    }
    out.push_str("\n|");
    for (_, a) in headers {
        out.push_str(match a {
            Align::Left => " --- |",
            Align::Right => " ---: |",
        });
    }
    out.push('\n');
    for r in rows {
        out.push('|');
        for c in r {
            let _ = write!(out, " {c} |");
        }
        out.push('\n');
    }
    out.push('\n');
}

fn events(out: &mut String, title: &str, rows: &[EventRow], empty: &str) {
    let _ = writeln!(out, "## {title} ({})\n", rows.len());
    if rows.is_empty() {
        let _ = writeln!(out, "_{empty}_\n");
        return;
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .take(MAX_EVENTS)
        .map(|e| vec![f::datetime(e.time), escape(&e.task), escape(&e.message)])
        .collect();
    table(
        out,
        &[
            ("Time", Align::Left),
            ("Task", Align::Left),
            ("Message", Align::Left),
        ],
        &body,
    );
    if rows.len() > MAX_EVENTS {
        let _ = writeln!(out, "_… and {} more._\n", rows.len() - MAX_EVENTS);
    }
}

/// Render the report as GitHub-flavoured Markdown (tables, no HTML). All text from the
/// data is escaped.
pub fn render_markdown(r: &ReportData) -> String {
    let mut out = String::new();
    header(&mut out, r);
    summary(&mut out, r);
    metrics(&mut out, r);
    trades(&mut out, r);
    positions(&mut out, r);
    pnl_by_symbol(&mut out, r);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// The title, the period line and the warnings.
fn header(out: &mut String, r: &ReportData) {
    let q = escape(&r.account.quote);
    let _ = writeln!(out, "# {}\n", escape(&r.title()));
    let _ = writeln!(
        out,
        "**Period:** {} · **Account:** {} ({}, {}) · **Generated:** {}\n",
        r.period_label(),
        escape(&r.account.name),
        escape(&r.account.kind),
        q,
        f::datetime(r.generated_at)
    );

    for w in &r.warnings {
        let _ = writeln!(out, "> **Warning:** {}\n", escape(w));
    }
}

/// Balance, equity and PnL.
fn summary(out: &mut String, r: &ReportData) {
    use Align::{Left, Right};
    let dp = r.dp();
    let q = escape(&r.account.quote);
    let m = &r.metrics;
    // summary
    let s = &r.summary;
    let _ = writeln!(out, "## Summary\n");
    table(
        out,
        &[("", Left), (&format!("Amount ({q})"), Right)],
        &[
            vec!["Balance".into(), f::amount(s.balance, dp)],
            vec!["Equity".into(), f::amount(s.equity, dp)],
            vec![
                "Unrealized PnL".into(),
                f::signed_amount(s.unrealized_pnl, dp),
            ],
            vec![
                "Realized PnL (period)".into(),
                f::signed_amount(s.realized_pnl, dp),
            ],
            vec![
                "Period PnL (equity change)".into(),
                match m.equity_change {
                    Some(x) => f::signed_amount_f64(x, dp),
                    None => NONE.into(),
                },
            ],
            vec!["Daily PnL".into(), f::signed_amount(s.daily_pnl, dp)],
            vec![
                "Cumulative PnL".into(),
                f::signed_amount(s.cumulative_pnl, dp),
            ],
        ],
    );
}

/// Return, risk and trade statistics.
fn metrics(out: &mut String, r: &ReportData) {
    use Align::{Left, Right};
    let m = &r.metrics;
    // metrics
    let _ = writeln!(out, "## Metrics\n");
    if m.status != MetricsStatus::Success || !m.notes.is_empty() {
        let _ = writeln!(out, "> **Status:** `{}`  ", m.status.as_str());
        for n in &m.notes {
            let _ = writeln!(out, "> {}  ", escape(n));
        }
        out.push('\n');
    }
    let day = |d: Option<super::DayReturn>| match d {
        Some(d) => format!("{} ({})", f::pct(Some(d.return_pct)), d.date),
        None => NONE.into(),
    };
    table(
        out,
        &[("Metric", Left), ("Value", Right)],
        &[
            vec!["Total return".into(), f::pct(m.total_return_pct)],
            vec![
                "Average daily return".into(),
                f::pct(m.average_daily_return_pct),
            ],
            vec!["Sharpe (daily, ×√365)".into(), f::ratio(m.sharpe)],
            vec!["Sortino (daily, ×√365)".into(), f::ratio(m.sortino)],
            vec![
                "Volatility (annualised)".into(),
                f::pct_plain(m.volatility_pct),
            ],
            vec![
                "Max drawdown (day closes)".into(),
                f::pct_plain(m.max_drawdown_pct),
            ],
            vec![
                "Max drawdown (intraday)".into(),
                f::pct_plain(m.max_intraday_drawdown_pct),
            ],
            vec![
                "Trades (winning)".into(),
                format!("{} ({})", m.total_trades, m.winning_trades),
            ],
            vec!["Win rate".into(), f::pct_plain(m.win_rate_pct)],
            vec!["Profit factor".into(), f::ratio(m.profit_factor)],
            vec!["Fills".into(), m.fills.to_string()],
            vec!["Best day".into(), day(m.best_day)],
            vec!["Worst day".into(), day(m.worst_day)],
            vec![
                "Days with data (missing)".into(),
                format!("{} ({})", m.days, m.missing_days.len()),
            ],
        ],
    );
}

/// The most recent trades.
fn trades(out: &mut String, r: &ReportData) {
    use Align::{Left, Right};
    let dp = r.dp();
    let q = escape(&r.account.quote);
    // trades
    let shown = r.recent_trades.len().min(MAX_TRADES);
    let _ = writeln!(out, "## Recent trades (last {shown})\n");
    if shown == 0 {
        let _ = writeln!(out, "_No trades._\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .recent_trades
            .iter()
            .take(MAX_TRADES)
            .map(|t| {
                vec![
                    f::datetime(t.time),
                    escape(t.symbol.as_str()),
                    escape(&t.side),
                    f::plain(t.qty),
                    f::plain(t.price),
                    format!("{} {}", f::plain(t.fee.amount()), escape(&t.fee_asset)),
                    t.realized_pnl
                        .map_or(NONE.into(), |p| f::signed_amount(p, dp)),
                ]
            })
            .collect();
        table(
            out,
            &[
                ("Time", Left),
                ("Symbol", Left),
                ("Side", Left),
                ("Qty", Right),
                ("Price", Right),
                ("Fee", Right),
                (&format!("Realized PnL ({q})"), Right),
            ],
            &rows,
        );
    }
}

/// Open positions.
fn positions(out: &mut String, r: &ReportData) {
    use Align::{Left, Right};
    let dp = r.dp();
    let q = escape(&r.account.quote);
    // positions
    let _ = writeln!(out, "## Open positions ({})\n", r.open_positions.len());
    if r.open_positions.is_empty() {
        let _ = writeln!(out, "_No open positions._\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .open_positions
            .iter()
            .map(|p| {
                vec![
                    escape(p.symbol.as_str()),
                    escape(&p.side),
                    f::plain(p.qty),
                    f::plain(p.entry_price),
                    f::plain(p.current_price),
                    f::signed_amount(p.unrealized_pnl, dp),
                    f::pct(Some(p.pnl_pct)),
                ]
            })
            .collect();
        table(
            out,
            &[
                ("Symbol", Left),
                ("Side", Left),
                ("Qty", Right),
                ("Entry", Right),
                ("Current", Right),
                (&format!("Unrealized PnL ({q})"), Right),
                ("PnL %", Right),
            ],
            &rows,
        );
    }
}

/// Realized and unrealized PnL per symbol.
fn pnl_by_symbol(out: &mut String, r: &ReportData) {
    use Align::{Left, Right};
    let dp = r.dp();
    let q = escape(&r.account.quote);
    // pnl by symbol
    let _ = writeln!(out, "## PnL by symbol\n");
    if r.pnl_by_symbol.is_empty() {
        let _ = writeln!(out, "_No PnL in the period._\n");
    } else {
        let mut rows: Vec<Vec<String>> = r
            .pnl_by_symbol
            .iter()
            .map(|p| {
                vec![
                    escape(p.symbol.as_str()),
                    f::signed_amount(p.realized_pnl, dp),
                    f::signed_amount(p.unrealized_pnl, dp),
                    f::signed_amount(p.total(), dp),
                ]
            })
            .collect();
        let (re, un) = r
            .pnl_by_symbol
            .iter()
            .fold(Default::default(), |(a, b), p| {
                (a + p.realized_pnl, b + p.unrealized_pnl)
            });
        let (re, un): (rust_decimal::Decimal, rust_decimal::Decimal) = (re, un);
        rows.push(vec![
            "**Total**".into(),
            format!("**{}**", f::signed_amount(re, dp)),
            format!("**{}**", f::signed_amount(un, dp)),
            format!("**{}**", f::signed_amount(re + un, dp)),
        ]);
        table(
            out,
            &[
                ("Symbol", Left),
                (&format!("Realized ({q})"), Right),
                (&format!("Unrealized ({q})"), Right),
                (&format!("Total ({q})"), Right),
            ],
            &rows,
        );
    }

    events(out, "Recent alerts", &r.alerts, "No alerts.");
    events(out, "Job failures", &r.job_failures, "No failed jobs.");
}
