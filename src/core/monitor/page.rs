//! The status page as one self-contained HTML document: the report's style (light and dark,
//! readable on a phone), its escaping and table helpers, and a small inline SVG chart per job.
//! Pure: [`Dashboard`] in, HTML out. Every text that comes from the store is escaped.

use super::dashboard::{Dashboard, JobRow, RunPoint};
use crate::core::report::format::{self as f, NONE};
use crate::core::report::html::{CSS, escape, kpi, thead};
use rust_decimal::Decimal;
use std::fmt::Write;

const HOUR_MS: i64 = 3_600_000;
const WEEK_MS: i64 = 7 * 24 * HOUR_MS;
/// Seconds after which a browser that keeps the page open reloads it (cron rewrites it
/// every minute).
pub const REFRESH_SECS: u32 = 60;

const EXTRA_CSS: &str = r#"
main{max-width:1500px}
.warn{color:#9a6700}@media (prefers-color-scheme:dark){.warn{color:#d29922}}
.banner.bad{border-color:var(--neg)}
.runs{display:block;width:240px;height:36px}
.run-ok{fill:var(--pos)}.run-fail{fill:var(--neg)}.run-partial{fill:#bf8700}.run-other{fill:var(--muted)}
.run-axis{stroke:var(--border)}
td.small{font-size:.85rem;color:var(--muted)}
section .table-wrap+h3{margin-top:18px}
h3.sub-h{font-size:.95rem;margin:18px 0 8px}
"#;

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(f::datetime)
        .unwrap_or_else(|| ms.to_string())
}

fn secs(ms: Option<i64>) -> String {
    match ms {
        Some(d) if d < 60_000 => format!("{:.1} s", d as f64 / 1000.0),
        Some(d) => format!("{:.1} min", d as f64 / 60_000.0),
        None => NONE.into(),
    }
}

fn rate(r: Option<f64>) -> String {
    r.map(|p| format!("{p:.0}%")).unwrap_or_else(|| NONE.into())
}

fn status_class(status: &str) -> &'static str {
    match status {
        "success" => "pos",
        "error" | "killed" => "neg",
        "partial" => "warn",
        _ => "muted",
    }
}

fn badge(status: &str) -> String {
    format!(
        r#"<span class="badge {}">{}</span>"#,
        status_class(status),
        escape(status)
    )
}

fn money(d: Decimal, quote: &str) -> String {
    format!(
        "{} {}",
        f::amount(d, f::quote_decimals(quote)),
        escape(quote)
    )
}

fn section_open(out: &mut String, id: &str, title: &str, count: Option<usize>) {
    let _ = write!(out, r#"<section id="{id}"><h2>{}"#, escape(title));
    if let Some(n) = count {
        let _ = write!(out, r#" <span class="count">({n})</span>"#);
    }
    out.push_str("</h2>");
}

fn empty(out: &mut String, text: &str) {
    let _ = write!(out, r#"<p class="empty">{}</p>"#, escape(text));
}

fn td(out: &mut String, text: &str) {
    let _ = write!(out, "<td>{}</td>", escape(text));
}

fn td_num(out: &mut String, text: &str) {
    let _ = write!(out, r#"<td class="num">{}</td>"#, escape(text));
}

/// The chart of a job's last 7 days: one bar per hour with runs, as tall as the longest run
/// of that hour (relative to the job's longest); its red top is the share of the hour's runs
/// that failed, the rest green (amber when one was partial).
pub fn runs_svg(points: &[RunPoint], now_ms: i64, task: &str) -> String {
    const W: f64 = 240.0;
    const H: f64 = 36.0;
    let buckets = (WEEK_MS / HOUR_MS) as usize;
    let start = now_ms - WEEK_MS;
    // (longest duration, worst outcome rank among runs that did not fail, runs, failures)
    let mut b: Vec<(i64, u8, usize, usize)> = vec![(0, 0, 0, 0); buckets];
    for p in points {
        if p.started_ms < start || p.started_ms > now_ms {
            continue;
        }
        let i = (((p.started_ms - start) / HOUR_MS) as usize).min(buckets - 1);
        let failed = matches!(p.status.as_str(), "error" | "killed");
        let rank = match p.status.as_str() {
            "partial" => 2,
            "success" => 1,
            _ => 0,
        };
        let e = &mut b[i];
        e.0 = e.0.max(p.duration_ms.unwrap_or(0));
        e.1 = e.1.max(rank);
        e.2 += 1;
        if failed {
            e.3 += 1;
        }
    }
    let longest = b.iter().map(|e| e.0).max().unwrap_or(0).max(1) as f64;
    let bw = W / buckets as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg class="runs" viewBox="0 0 {W} {H}" width="240" height="36" role="img" aria-label="{0}" xmlns="http://www.w3.org/2000/svg"><title>{0}</title><line class="run-axis" x1="0" y1="{H}" x2="{W}" y2="{H}" stroke="#d0d7de"/>"##,
        escape(&format!("{task}: runs of the last 7 days"))
    );
    for (i, e) in b.iter().enumerate() {
        if e.2 == 0 {
            continue;
        }
        let h = (e.0 as f64 / longest * (H - 2.0)).max(3.0);
        // The bar's colour is the hour's outcome without its failures (green success, amber
        // partial); its red top is the share of the hour's runs that failed.
        let base = match e.1 {
            2 => "run-partial",
            1 => "run-ok",
            _ => "run-other",
        };
        let red = if e.3 == 0 {
            0.0
        } else {
            (h * e.3 as f64 / e.2 as f64).max(1.5)
        };
        let x = i as f64 * bw;
        let w = bw.max(1.0);
        let _ = write!(
            out,
            r#"<g><title>{}</title>"#,
            escape(&format!(
                "{}: {} runs, {} failed, longest {}",
                time(start + i as i64 * HOUR_MS),
                e.2,
                e.3,
                secs(Some(e.0))
            ))
        );
        if red < h {
            let _ = write!(
                out,
                r#"<rect class="{base}" x="{x:.2}" y="{:.2}" width="{w:.2}" height="{:.2}"/>"#,
                H - h + red,
                h - red
            );
        }
        if red > 0.0 {
            let _ = write!(
                out,
                r#"<rect class="run-fail" x="{x:.2}" y="{:.2}" width="{w:.2}" height="{:.2}"/>"#,
                H - h,
                red.min(h)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

fn jobs_section(out: &mut String, d: &Dashboard) {
    section_open(out, "jobs", "Jobs", Some(d.jobs.len()));
    if d.jobs.is_empty() {
        empty(out, "No job has run and none is scheduled.");
        out.push_str("</section>");
        return;
    }
    out.push_str(r#"<div class="table-wrap"><table>"#);
    thead(
        out,
        &[
            ("Job", false),
            ("Health", false),
            ("Last 7 days", false),
            ("Last run", false),
            ("Status", false),
            ("Took", true),
            ("Host / shard", false),
            ("24 h runs", true),
            ("24 h ok", true),
            ("24 h median", true),
            ("7 d runs", true),
            ("7 d ok", true),
            ("7 d median", true),
            ("Schedule", false),
        ],
    );
    out.push_str("<tbody>");
    for j in &d.jobs {
        job_row(out, j, d.generated_ms);
    }
    out.push_str("</tbody></table></div></section>");
}

fn job_row(out: &mut String, j: &JobRow, now_ms: i64) {
    let _ = write!(out, r#"<tr id="job-{}">"#, escape(&j.task));
    let _ = write!(out, "<td><strong>{}</strong></td>", escape(&j.task));
    let mut health = Vec::new();
    if j.failing {
        health.push(format!(
            r#"<span class="badge neg">failing · {} in a row</span>"#,
            j.streak
        ));
    }
    if j.overdue {
        health.push(r#"<span class="badge warn">overdue</span>"#.to_string());
    }
    if health.is_empty() {
        health.push(r#"<span class="badge pos">ok</span>"#.to_string());
    }
    let _ = write!(out, "<td>{}</td>", health.join(" "));
    let _ = write!(out, "<td>{}</td>", runs_svg(&j.points, now_ms, &j.task));
    match &j.last {
        Some(l) => {
            td(out, &time(l.started_ms));
            let _ = write!(out, "<td>{}</td>", badge(&l.status));
            td_num(out, &secs(l.duration_ms));
            let host = match &l.shard {
                Some(s) => format!("{} · shard {s}", l.host),
                None => l.host.clone(),
            };
            td(out, &host);
        }
        None => {
            td(out, "never (7 days)");
            let _ = write!(out, r#"<td class="muted">{NONE}</td>"#);
            td_num(out, NONE);
            td(out, NONE);
        }
    }
    td_num(out, &j.runs_24h.to_string());
    td_num(out, &rate(j.success_rate_24h));
    td_num(out, &secs(j.median_duration_ms_24h));
    td_num(out, &j.runs_7d.to_string());
    td_num(out, &rate(j.success_rate_7d));
    td_num(out, &secs(j.median_duration_ms_7d));
    let _ = write!(
        out,
        r#"<td class="small">{}</td>"#,
        escape(j.schedule.as_deref().unwrap_or("not scheduled"))
    );
    out.push_str("</tr>");
}

fn failures_section(out: &mut String, d: &Dashboard) {
    section_open(
        out,
        "failures",
        "Failures, last 7 days",
        Some(d.failures_7d),
    );
    if d.failures.is_empty() {
        empty(out, "No failed or killed run in the last 7 days.");
        out.push_str("</section>");
        return;
    }
    let shown = if d.failures.len() < d.failures_7d {
        format!("the latest {} of {}", d.failures.len(), d.failures_7d)
    } else {
        "latest first".to_string()
    };
    let _ = write!(
        out,
        r#"<p class="sub">{}; {} killed (the process was gone before the run finished). <code>fks runs --status failed</code> lists them all.</p>"#,
        escape(&shown),
        d.killed_7d
    );
    out.push_str(r#"<div class="table-wrap"><table>"#);
    thead(
        out,
        &[
            ("Time", false),
            ("Job", false),
            ("Status", false),
            ("Host", false),
            ("Error", false),
        ],
    );
    out.push_str("<tbody>");
    for r in &d.failures {
        out.push_str("<tr>");
        td(out, &time(r.started_ms));
        td(out, &r.task);
        let _ = write!(out, "<td>{}</td>", badge(&r.status));
        td(out, &r.host);
        let _ = write!(
            out,
            r#"<td class="msg">{}</td></tr>"#,
            escape(&f::truncate_chars(&r.message, 400))
        );
    }
    out.push_str("</tbody></table></div></section>");
}

fn queues_section(out: &mut String, d: &Dashboard) {
    section_open(out, "queues", "Queues", None);
    out.push_str(r#"<h3 class="sub-h">Notifications not delivered</h3>"#);
    if d.outbox.is_empty() {
        empty(out, "Nothing pending or failed.");
    } else {
        out.push_str(r#"<div class="table-wrap"><table>"#);
        thead(
            out,
            &[("Channel", false), ("Pending", true), ("Failed", true)],
        );
        out.push_str("<tbody>");
        for q in &d.outbox {
            out.push_str("<tr>");
            td(out, &q.channel);
            td_num(out, &q.pending.to_string());
            let _ = write!(
                out,
                r#"<td class="num {}">{}</td></tr>"#,
                if q.failed > 0 { "neg" } else { "" },
                q.failed
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str(r#"<h3 class="sub-h">Orders journaled, not resolved</h3>"#);
    if d.unresolved_orders.is_empty() {
        empty(out, "None: every journaled order has a final status.");
    } else {
        out.push_str(r#"<div class="table-wrap"><table>"#);
        thead(
            out,
            &[
                ("Created", false),
                ("Account", false),
                ("Symbol", false),
                ("Side", false),
                ("Quantity", true),
                ("Status", false),
                ("Reason", false),
                ("Client order id", false),
            ],
        );
        out.push_str("<tbody>");
        for o in &d.unresolved_orders {
            out.push_str("<tr>");
            td(out, &time(o.created_ms));
            td(out, &o.account);
            td(out, &o.symbol);
            td(out, &o.side);
            td_num(out, &o.quantity);
            let _ = write!(out, "<td>{}</td>", badge(&o.status));
            td(out, &o.reason);
            let _ = write!(
                out,
                r#"<td class="small">{}</td></tr>"#,
                escape(&o.client_order_id)
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str(r#"<h3 class="sub-h">Stale market data</h3>"#);
    if d.stale.is_empty() {
        empty(out, "Every configured symbol has fresh candles.");
    } else {
        out.push_str(r#"<div class="table-wrap"><table>"#);
        thead(
            out,
            &[
                ("Symbol", false),
                ("Timeframe", false),
                ("State", false),
                ("Age", true),
                ("Why", false),
            ],
        );
        out.push_str("<tbody>");
        for s in &d.stale {
            out.push_str("<tr>");
            td(out, &s.symbol);
            td(out, &s.timeframe);
            let _ = write!(
                out,
                r#"<td><span class="badge warn">{}</span></td>"#,
                escape(&s.status)
            );
            td_num(out, s.age.as_deref().unwrap_or(NONE));
            let _ = write!(out, r#"<td class="msg">{}</td></tr>"#, escape(&s.reason));
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str(r#"<h3 class="sub-h">Exchange back-off or ban</h3>"#);
    if d.bans.is_empty() {
        empty(out, "None in force.");
    } else {
        out.push_str(r#"<div class="table-wrap"><table>"#);
        thead(
            out,
            &[
                ("Host", false),
                ("HTTP", true),
                ("Until", false),
                ("Why", false),
            ],
        );
        out.push_str("<tbody>");
        for b in &d.bans {
            out.push_str("<tr>");
            td(out, if b.host == "*" { "every host" } else { &b.host });
            let _ = write!(out, r#"<td class="num neg">{}</td>"#, b.status);
            td(out, &time(b.until_ms));
            let _ = write!(out, r#"<td class="msg">{}</td></tr>"#, escape(&b.reason));
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</section>");
}

fn accounts_section(out: &mut String, d: &Dashboard) {
    section_open(out, "accounts", "Accounts", Some(d.accounts.len()));
    if d.accounts.is_empty() {
        empty(out, "No active account.");
        out.push_str("</section>");
        return;
    }
    out.push_str(r#"<div class="table-wrap"><table>"#);
    thead(
        out,
        &[
            ("Account", false),
            ("Kind", false),
            ("Equity", true),
            ("Daily PnL", true),
            ("Positions", true),
            ("Risk", false),
            ("As of", false),
        ],
    );
    out.push_str("<tbody>");
    for a in &d.accounts {
        out.push_str("<tr>");
        let _ = write!(out, "<td><strong>{}</strong></td>", escape(&a.name));
        td(out, &a.kind);
        match a.equity {
            Some(e) => td_num(out, &money(e, &a.quote)),
            None => td_num(out, NONE),
        }
        match a.daily_pnl {
            Some(p) => {
                let _ = write!(
                    out,
                    r#"<td class="num {}">{} {}</td>"#,
                    f::sign_class(f::dec_to_f64(p)),
                    escape(&f::signed_amount(p, f::quote_decimals(&a.quote))),
                    escape(&a.quote)
                );
            }
            None => td_num(out, NONE),
        }
        td_num(out, &a.positions.len().to_string());
        match &a.risk_level {
            Some(r) => {
                let class = match r.as_str() {
                    "HIGH" => "neg",
                    "MEDIUM" => "warn",
                    "LOW" => "pos",
                    _ => "muted",
                };
                let _ = write!(
                    out,
                    r#"<td><span class="badge {class}">{}</span> <span class="muted">{}</span></td>"#,
                    escape(r),
                    escape(&a.risk_ms.map(time).unwrap_or_default())
                );
            }
            None => td(out, NONE),
        }
        match (&a.note, a.as_of_ms) {
            (Some(n), _) => {
                let _ = write!(out, r#"<td class="msg warn">{}</td>"#, escape(n));
            }
            (None, Some(t)) => td(out, &time(t)),
            (None, None) => td(out, NONE),
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    let open: Vec<_> = d
        .accounts
        .iter()
        .flat_map(|a| a.positions.iter().map(move |p| (a, p)))
        .collect();
    let _ = write!(
        out,
        r#"<h3 class="sub-h">Open positions <span class="count">({})</span></h3>"#,
        open.len()
    );
    if open.is_empty() {
        empty(out, "No open position.");
    } else {
        out.push_str(r#"<div class="table-wrap"><table>"#);
        thead(
            out,
            &[
                ("Account", false),
                ("Symbol", false),
                ("Side", false),
                ("Quantity", true),
                ("Mark", true),
                ("Value", true),
                ("Unrealized PnL", true),
            ],
        );
        out.push_str("<tbody>");
        for (a, p) in open {
            out.push_str("<tr>");
            td(out, &a.name);
            td(out, &p.symbol);
            let _ = write!(
                out,
                r#"<td><span class="badge {}">{}</span></td>"#,
                if p.side == "LONG" { "pos" } else { "neg" },
                escape(&p.side)
            );
            td_num(out, &f::plain(p.quantity));
            td_num(out, &p.mark.map(f::plain).unwrap_or_else(|| NONE.into()));
            td_num(out, &money(p.market_value, &a.quote));
            match p.unrealized_pnl {
                Some(u) => {
                    let _ = write!(
                        out,
                        r#"<td class="num {}">{}</td>"#,
                        f::sign_class(f::dec_to_f64(u)),
                        escape(&f::signed_amount(u, f::quote_decimals(&a.quote)))
                    );
                }
                None => td_num(out, NONE),
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</section>");
}

fn strategies_section(out: &mut String, d: &Dashboard) {
    section_open(
        out,
        "strategies",
        "Strategies enabled",
        Some(d.strategies.len()),
    );
    if d.strategies.is_empty() {
        empty(out, "No enabled strategy.");
    } else {
        out.push_str(r#"<div class="table-wrap"><table>"#);
        thead(
            out,
            &[
                ("Strategy", false),
                ("Kind", false),
                ("Symbols", false),
                ("Timeframe", false),
                ("Last validation", false),
                ("Action", false),
                ("When", false),
            ],
        );
        out.push_str("<tbody>");
        for s in &d.strategies {
            out.push_str("<tr>");
            let _ = write!(out, "<td><strong>{}</strong></td>", escape(&s.name));
            td(out, &s.kind);
            td(out, &s.symbols);
            td(out, &s.timeframe);
            match &s.verdict {
                Some(v) => {
                    let class = match v.as_str() {
                        "pass" => "pos",
                        "fail" => "neg",
                        _ => "muted",
                    };
                    let _ = write!(
                        out,
                        r#"<td><span class="badge {class}">{}</span></td>"#,
                        escape(v)
                    );
                }
                None => td(out, "not validated yet"),
            }
            td(out, s.action.as_deref().unwrap_or(NONE));
            td(out, &s.decided_ms.map(time).unwrap_or_else(|| NONE.into()));
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
    }
    empty(
        out,
        "Strategies do not place orders yet, so there is no live-against-backtest divergence to show.",
    );
    out.push_str("</section>");
}

/// The whole page.
pub fn render(d: &Dashboard) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let failing = d.failing();
    let overdue = d.overdue();
    let title = if failing.is_empty() && overdue.is_empty() {
        "fks status: ok".to_string()
    } else {
        format!(
            "fks status: {} failing, {} overdue",
            failing.len(),
            overdue.len()
        )
    };
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta http-equiv="refresh" content="{REFRESH_SECS}"><meta name="robots" content="noindex,nofollow"><meta name="color-scheme" content="light dark"><title>{}</title><style>{CSS}{EXTRA_CSS}</style></head><body><main>"#,
        escape(&title)
    );
    let _ = write!(
        out,
        r#"<header><h1>{}</h1><p class="sub"><span>generated {}</span><span>{}</span><span>{}</span></p></header>"#,
        escape(&title),
        escape(&time(d.generated_ms)),
        escape(&d.host),
        escape(&d.store)
    );
    if !failing.is_empty() || !overdue.is_empty() {
        out.push_str(r#"<div class="banner bad" id="problems">"#);
        if !failing.is_empty() {
            let _ = write!(
                out,
                "<p><strong>Failing:</strong> {}</p>",
                escape(&failing.join(", "))
            );
        }
        if !overdue.is_empty() {
            let _ = write!(
                out,
                "<p><strong>Overdue:</strong> {}</p>",
                escape(&overdue.join(", "))
            );
        }
        out.push_str("</div>");
    }
    for n in &d.notes {
        let _ = write!(
            out,
            r#"<div class="banner"><p>Could not read {}</p></div>"#,
            escape(n)
        );
    }
    out.push_str(r#"<div class="kpis">"#);
    let pending: i64 = d.outbox.iter().map(|q| q.pending).sum();
    let failed: i64 = d.outbox.iter().map(|q| q.failed).sum();
    let cls = |bad: bool| if bad { "neg" } else { "" };
    kpi(
        &mut out,
        "Jobs",
        &d.jobs.len().to_string(),
        "",
        "journaled or scheduled",
    );
    kpi(
        &mut out,
        "Failing",
        &failing.len().to_string(),
        cls(!failing.is_empty()),
        "newest run failed",
    );
    kpi(
        &mut out,
        "Overdue",
        &overdue.len().to_string(),
        cls(!overdue.is_empty()),
        "not run within twice the schedule",
    );
    kpi(
        &mut out,
        "Failures 7 d",
        &d.failures_7d.to_string(),
        cls(d.failures_7d > 0),
        &format!("{} killed", d.killed_7d),
    );
    kpi(
        &mut out,
        "Outbox",
        &format!("{pending} pending"),
        cls(failed > 0),
        &format!("{failed} failed"),
    );
    kpi(
        &mut out,
        "Orders unresolved",
        &d.unresolved_orders.len().to_string(),
        cls(!d.unresolved_orders.is_empty()),
        "journaled, no final status",
    );
    kpi(
        &mut out,
        "Stale symbols",
        &d.stale.len().to_string(),
        cls(!d.stale.is_empty()),
        "candles older than the limit",
    );
    for a in &d.accounts {
        kpi(
            &mut out,
            &format!("Equity {}", a.name),
            &a.equity
                .map(|e| money(e, &a.quote))
                .unwrap_or_else(|| NONE.into()),
            "",
            &a.daily_pnl
                .map(|p| {
                    format!(
                        "today {} {}",
                        f::signed_amount(p, f::quote_decimals(&a.quote)),
                        a.quote
                    )
                })
                .unwrap_or_else(|| "today —".into()),
        );
    }
    out.push_str("</div>");
    accounts_section(&mut out, d);
    jobs_section(&mut out, d);
    failures_section(&mut out, d);
    queues_section(&mut out, d);
    strategies_section(&mut out, d);
    let _ = write!(
        out,
        r#"<footer><p>Written by <code>fks dashboard</code>; it reloads every {REFRESH_SECS} s. Times are UTC.</p><p>This page shows account balances and positions: serve it only behind access control.</p></footer></main></body></html>"#
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::monitor::dashboard::*;

    fn sample() -> Dashboard {
        let now = 1_700_000_000_000;
        Dashboard {
            generated_ms: now,
            host: "host<1>".into(),
            store: "sqlite:///x/fks.db".into(),
            jobs: vec![JobRow {
                task: "sync-market-data".into(),
                schedule: Some("*/5 * * * *".into()),
                last: Some(LastRun {
                    status: "error".into(),
                    started_ms: now - 60_000,
                    duration_ms: Some(1500),
                    host: "h1".into(),
                    shard: Some("1/2".into()),
                }),
                runs_24h: 3,
                success_rate_24h: Some(33.3),
                median_duration_ms_24h: Some(1500),
                runs_7d: 3,
                success_rate_7d: Some(33.3),
                median_duration_ms_7d: Some(1500),
                overdue: false,
                streak: 2,
                failing: true,
                points: vec![
                    RunPoint {
                        started_ms: now - 3 * HOUR_MS,
                        duration_ms: Some(1000),
                        status: "success".into(),
                    },
                    RunPoint {
                        started_ms: now - 60_000,
                        duration_ms: Some(1500),
                        status: "error".into(),
                    },
                ],
            }],
            failures: vec![FailureRow {
                task: "sync-market-data".into(),
                status: "error".into(),
                started_ms: now - 60_000,
                host: "h1".into(),
                message: "<script>alert('x')</script> & \"quoted\"".into(),
            }],
            failures_7d: 1,
            killed_7d: 0,
            outbox: vec![ChannelQueue {
                channel: "discord".into(),
                pending: 2,
                failed: 1,
            }],
            unresolved_orders: vec![],
            stale: vec![],
            bans: vec![BanRow {
                host: "api.binance.com:443".into(),
                status: 418,
                until_ms: now + HOUR_MS,
                reason: "HTTP 418".into(),
            }],
            accounts: vec![AccountRow {
                name: "main <acct>".into(),
                kind: "paper".into(),
                quote: "USDT".into(),
                equity: Some(Decimal::new(1234567, 2)),
                daily_pnl: Some(Decimal::new(-1250, 2)),
                as_of_ms: Some(now),
                positions: vec![],
                risk_level: Some("HIGH".into()),
                risk_ms: Some(now),
                note: None,
            }],
            strategies: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn page_is_self_contained_and_escapes_everything() {
        let html = render(&sample());
        assert!(html.starts_with("<!DOCTYPE html>"));
        for bad in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
            assert!(!html.contains(bad), "page contains {bad}");
        }
        assert!(
            html.contains(
                "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;"
            )
        );
        assert!(html.contains("main &lt;acct&gt;"));
        assert!(html.contains("host&lt;1&gt;"));
        assert!(html.contains("prefers-color-scheme:dark"));
        assert!(html.contains("width=device-width"));
        assert!(html.contains("12,345.67 USDT"), "equity");
        assert!(html.contains("-12.50"), "daily PnL");
        assert!(html.contains("failing · 2 in a row"));
        assert!(html.contains("h1 · shard 1/2"));
        assert!(html.contains("HIGH"));
        assert!(html.contains("api.binance.com:443"));
        assert!(html.contains("serve it only behind access control"));
        // Tags balance: every section and table closed.
        for tag in ["section", "table", "div", "svg", "tr"] {
            let open = html.matches(&format!("<{tag}")).count()
                - if tag == "tr" {
                    html.matches("<track").count()
                } else {
                    0
                };
            let close = html.matches(&format!("</{tag}>")).count();
            assert_eq!(open, close, "<{tag}> opened {open}, closed {close}");
        }
    }

    #[test]
    fn failures_count_all_of_the_week_and_list_the_latest() {
        let mut d = sample();
        d.failures_7d = 40;
        let html = render(&d);
        assert!(html.contains("the latest 1 of 40"), "{html}");
        assert!(html.contains(r#"<div class="value neg">40</div>"#));
    }

    #[test]
    fn chart_buckets_by_hour_and_shows_the_failed_share_in_red() {
        let now = 1_700_000_000_000;
        let pts = vec![
            RunPoint {
                started_ms: now - 30 * 60_000,
                duration_ms: Some(10),
                status: "success".into(),
            },
            RunPoint {
                started_ms: now - 20 * 60_000,
                duration_ms: Some(20),
                status: "error".into(),
            },
            RunPoint {
                started_ms: now - 5 * HOUR_MS,
                duration_ms: Some(5),
                status: "success".into(),
            },
            // outside the 7 days: ignored
            RunPoint {
                started_ms: now - 8 * 24 * HOUR_MS,
                duration_ms: Some(5),
                status: "error".into(),
            },
        ];
        let svg = runs_svg(&pts, now, "j<1>");
        // Two hours with runs: one half failed (green and red parts), one all green.
        assert_eq!(svg.matches("<g>").count(), 2, "{svg}");
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert_eq!(svg.matches("run-fail").count(), 1);
        assert_eq!(svg.matches("class=\"run-ok\"").count(), 2);
        assert!(svg.contains("2 runs, 1 failed"));
        assert!(svg.contains("j&lt;1&gt;"));
        assert!(runs_svg(&[], now, "j").contains("</svg>"));
    }
}
