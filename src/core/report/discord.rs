//! The report's Discord embed: title, description, fields and colour, within Discord's
//! limits (<https://discord.com/developers/docs/resources/message#embed-object-embed-limits>).

use std::fmt::Write;

use serde::Serialize;

use super::format::{self as f, truncate_chars};
use super::{MetricsStatus, ReportData};

/// Discord embed limits (characters).
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
/// Sum of title, description, field names and values (and footer/author, unused here).
pub const EMBED_TOTAL_MAX: usize = 6000;

/// Embed colour when the period's PnL is >= 0.
pub const GREEN: u32 = 0x2E_A0_43;
/// Embed colour when it is < 0.
pub const RED: u32 = 0xCF_22_2E;

/// Lines listed per list field (positions, alerts, failures).
const LIST_LINES: usize = 10;

/// What the embed shows. `fields` are `(name, value)`; single-line values suit
/// `inline: true`, multi-line ones (lists) read better full width.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscordSummary {
    pub title: String,
    pub description: String,
    pub fields: Vec<(String, String)>,
    pub color: u32,
}

impl DiscordSummary {
    /// Characters Discord counts toward [`EMBED_TOTAL_MAX`].
    pub fn total_chars(&self) -> usize {
        self.title.chars().count()
            + self.description.chars().count()
            + self
                .fields
                .iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum::<usize>()
    }
}

/// Discord markdown: backslash the characters that would format text.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '`' | '~' | '|' | '>' | '[' | ']' | '#'
        ) {
            out.push('\\');
        }
        out.push(if c == '\n' || c == '\r' { ' ' } else { c });
    }
    out
}

/// Join lines into a field value of at most [`FIELD_VALUE_MAX`] characters, ending with
/// `… and N more` when lines had to be left out.
fn list_value(lines: &[String], total: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for l in lines.iter().take(LIST_LINES) {
        let l = truncate_chars(l, 200);
        // room for this line plus a possible "… and N more" tail
        if out.chars().count() + l.chars().count() + 1 + 24 > FIELD_VALUE_MAX {
            break;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&l);
        used += 1;
    }
    if used < total {
        let _ = write!(out, "\n… and {} more", total - used);
    }
    out
}

/// Build the embed for a report: colour green if [`ReportData::period_pnl`] >= 0, else
/// red; every piece cut to Discord's limits.
pub fn discord_summary(r: &ReportData) -> DiscordSummary {
    let dp = r.dp();
    let q = &r.account.quote;
    let m = &r.metrics;
    let s = &r.summary;
    let pnl = r.period_pnl();

    let mut description = format!(
        "{} · {} account · {}",
        r.period_label(),
        md(&r.account.kind),
        md(q)
    );
    for w in &r.warnings {
        let _ = write!(description, "\n**Warning:** {}", md(w));
    }
    if m.status != MetricsStatus::Success {
        let _ = write!(description, "\nMetrics status: `{}`", m.status.as_str());
    }
    for n in &m.notes {
        let _ = write!(description, "\n{}", md(n));
    }

    let mut fields: Vec<(String, String)> = vec![
        (
            "Equity".into(),
            format!("{} {}", f::amount(s.equity, dp), md(q)),
        ),
        (
            "Period PnL".into(),
            format!(
                "{} {} ({})",
                f::signed_amount_f64(pnl, dp),
                md(q),
                f::pct(m.total_return_pct)
            ),
        ),
        (
            "Realized / unrealized".into(),
            format!(
                "{} / {}",
                f::signed_amount(s.realized_pnl, dp),
                f::signed_amount(s.unrealized_pnl, dp)
            ),
        ),
        ("Max drawdown".into(), f::pct_plain(m.max_drawdown_pct)),
        (
            "Sharpe / Sortino".into(),
            format!("{} / {}", f::ratio(m.sharpe), f::ratio(m.sortino)),
        ),
        (
            "Trades".into(),
            format!(
                "{} · win rate {}",
                m.total_trades,
                f::pct_plain(m.win_rate_pct)
            ),
        ),
    ];
    if let (Some(b), Some(w)) = (m.best_day, m.worst_day) {
        fields.push((
            "Best / worst day".into(),
            format!(
                "{} ({}) / {} ({})",
                f::pct(Some(b.return_pct)),
                b.date,
                f::pct(Some(w.return_pct)),
                w.date
            ),
        ));
    }
    if !r.open_positions.is_empty() {
        let lines: Vec<String> = r
            .open_positions
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} ({})",
                    md(p.symbol.as_str()),
                    md(&p.side),
                    f::signed_amount(p.unrealized_pnl, dp),
                    f::pct(Some(p.pnl_pct))
                )
            })
            .collect();
        fields.push((
            format!("Open positions ({})", r.open_positions.len()),
            list_value(&lines, lines.len()),
        ));
    }
    for (name, rows) in [("Alerts", &r.alerts), ("Job failures", &r.job_failures)] {
        if rows.is_empty() {
            continue;
        }
        let lines: Vec<String> = rows
            .iter()
            .map(|e| {
                format!(
                    "{} **{}**: {}",
                    e.time.format("%m-%d %H:%M"),
                    md(&e.task),
                    md(&e.message)
                )
            })
            .collect();
        fields.push((
            format!("{name} ({})", rows.len()),
            list_value(&lines, lines.len()),
        ));
    }

    let mut out = DiscordSummary {
        title: truncate_chars(&r.title(), TITLE_MAX),
        description: truncate_chars(&description, DESCRIPTION_MAX),
        fields: fields
            .into_iter()
            .take(FIELDS_MAX)
            .map(|(n, v)| {
                let v = if v.trim().is_empty() {
                    "—".to_string()
                } else {
                    v
                };
                (
                    truncate_chars(&n, FIELD_NAME_MAX),
                    truncate_chars(&v, FIELD_VALUE_MAX),
                )
            })
            .collect(),
        color: if pnl >= 0.0 { GREEN } else { RED },
    };
    // the whole embed: shorten the description first, then drop trailing fields
    while out.total_chars() > EMBED_TOTAL_MAX {
        let over = out.total_chars() - EMBED_TOTAL_MAX;
        let dlen = out.description.chars().count();
        if dlen > 200 {
            out.description = truncate_chars(&out.description, (dlen - over).max(200));
        } else if out.fields.len() > 1 {
            out.fields.pop();
        } else {
            break;
        }
    }
    out
}
