//! The default schedule of every job (DESIGN.md's job table) and cron helpers.

/// (job, cron expression). Minute, hour, day of month, month, day of week; UTC.
pub const DEFAULT_SCHEDULE: &[(&str, &str)] = &[
    ("sync-market-data", "*/5 * * * *"),
    ("sync-account-balance", "*/15 * * * *"),
    ("update-positions", "*/5 * * * *"),
    ("generate-signals", "*/15 * * * *"),
    ("evaluate-signals", "30 7 * * *"),
    ("generate-daily-rag-signals", "0 8 * * *"),
    ("update-indicators", "*/30 * * * *"),
    ("analyze-risk", "*/30 * * * *"),
    ("run-backtest", "0 0 * * *"),
    ("optimize-portfolio", "0 6 * * *"),
    ("check-stop-loss", "*/5 * * * *"),
    ("run-strategies", "1 * * * *"),
    ("calculate-metrics", "0 23 * * *"),
    ("generate-report --report-type daily", "30 23 * * *"),
    ("generate-report --report-type weekly", "0 8 * * 1"),
    ("validate-strategies", "0 1 * * *"),
    ("fetch-news", "0 * * * *"),
    ("archive-old-data --execute", "0 3 * * *"),
    ("send-notifications", "* * * * *"),
    ("dashboard", "* * * * *"),
];

/// Roughly how often a cron expression fires, in minutes (for "overdue" checks in `fks status`).
/// Understands the forms fks writes: `*`, `*/N`, and fixed values.
pub fn interval_minutes(expr: &str) -> Option<u64> {
    let f: Vec<&str> = expr.split_whitespace().collect();
    if f.len() != 5 {
        return None;
    }
    let every = |s: &str| -> Option<u64> {
        if s == "*" {
            Some(1)
        } else {
            s.strip_prefix("*/").and_then(|n| n.parse().ok())
        }
    };
    if f[4] != "*" {
        return Some(7 * 24 * 60);
    }
    if f[2] != "*" {
        return Some(31 * 24 * 60);
    }
    if let Some(h) = every(f[1]) {
        if let Some(m) = every(f[0]) {
            return Some(if h == 1 { m } else { h * 60 });
        }
        return Some(h * 60);
    }
    Some(24 * 60)
}

/// Check a five-field cron expression's shape (numbers, `*`, `*/N`, lists and ranges).
pub fn validate(expr: &str) -> Result<(), String> {
    let f: Vec<&str> = expr.split_whitespace().collect();
    if f.len() != 5 {
        return Err(format!(
            "{expr:?}: a cron expression has 5 fields (minute hour day month weekday)"
        ));
    }
    let ok = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '/' | ',' | '-'))
    };
    match f.iter().find(|s| !ok(s)) {
        Some(bad) => Err(format!("{expr:?}: field {bad:?} is not a cron field")),
        None => Ok(()),
    }
}

/// The systemd `OnCalendar=` form of a five-field cron expression (UTC):
/// `*/5 * * * *` → `*-*-* *:00/5:00 UTC`, `0 8 * * 1` → `Mon *-*-* 08:00:00 UTC`.
/// Lists and ranges carry over; a step on the weekday, or cron's "day of month OR
/// weekday" when both are restricted, has no OnCalendar form and is refused.
pub fn to_on_calendar(expr: &str) -> Result<String, String> {
    validate(expr)?;
    let f: Vec<&str> = expr.split_whitespace().collect();
    let field = |s: &str, what: &str| -> Result<String, String> {
        if s == "*" {
            return Ok("*".into());
        }
        let part = |p: &str| -> Result<String, String> {
            let num = |n: &str| -> Result<String, String> {
                n.parse::<u32>()
                    .map(|v| format!("{v:02}"))
                    .map_err(|_| format!("{expr:?}: {what} {p:?} is not a number"))
            };
            if let Some(step) = p.strip_prefix("*/") {
                let first = if what == "day" || what == "month" {
                    "01"
                } else {
                    "00"
                };
                return Ok(format!(
                    "{first}/{}",
                    step.parse::<u32>()
                        .map_err(|_| format!("{expr:?}: bad step {p:?}"))?
                ));
            }
            if let Some((range, step)) = p.split_once('/') {
                let (a, b) = range
                    .split_once('-')
                    .ok_or_else(|| format!("{expr:?}: bad step {p:?}"))?;
                return Ok(format!("{}..{}/{}", num(a)?, num(b)?, step));
            }
            if let Some((a, b)) = p.split_once('-') {
                return Ok(format!("{}..{}", num(a)?, num(b)?));
            }
            num(p)
        };
        Ok(s.split(',')
            .map(part)
            .collect::<Result<Vec<_>, _>>()?
            .join(","))
    };
    let (min, hour, dom, mon, dow) = (
        field(f[0], "minute")?,
        field(f[1], "hour")?,
        field(f[2], "day")?,
        field(f[3], "month")?,
        f[4],
    );
    if dow != "*" && f[2] != "*" {
        return Err(format!(
            "{expr:?}: day of month and weekday both set (cron runs on either) has no OnCalendar form"
        ));
    }
    const DAYS: [&str; 8] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let day = |d: &str| -> Result<&str, String> {
        d.parse::<usize>()
            .ok()
            .and_then(|i| DAYS.get(i).copied())
            .ok_or_else(|| format!("{expr:?}: weekday {d:?} is not 0-7"))
    };
    let weekdays = if dow == "*" {
        String::new()
    } else {
        let mut parts = Vec::new();
        for p in dow.split(',') {
            if p.contains('/') || p.contains('*') {
                return Err(format!("{expr:?}: a weekday step has no OnCalendar form"));
            }
            parts.push(match p.split_once('-') {
                Some((a, b)) => format!("{}..{}", day(a)?, day(b)?),
                None => day(p)?.to_string(),
            });
        }
        format!("{} ", parts.join(","))
    };
    Ok(format!("{weekdays}*-{mon}-{dom} {hour}:{min}:00 UTC"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_calendar() {
        assert_eq!(
            to_on_calendar("*/5 * * * *").unwrap(),
            "*-*-* *:00/5:00 UTC"
        );
        assert_eq!(to_on_calendar("* * * * *").unwrap(), "*-*-* *:*:00 UTC");
        assert_eq!(to_on_calendar("0 * * * *").unwrap(), "*-*-* *:00:00 UTC");
        assert_eq!(to_on_calendar("30 23 * * *").unwrap(), "*-*-* 23:30:00 UTC");
        assert_eq!(
            to_on_calendar("0 8 * * 1").unwrap(),
            "Mon *-*-* 08:00:00 UTC"
        );
        assert_eq!(
            to_on_calendar("0,30 9-17 1 */2 *").unwrap(),
            "*-01/2-01 09..17:00,30:00 UTC"
        );
        assert_eq!(
            to_on_calendar("0 8 * * 1-5").unwrap(),
            "Mon..Fri *-*-* 08:00:00 UTC"
        );
        assert!(to_on_calendar("0 8 1 * 1").is_err());
        assert!(to_on_calendar("0 8 * * */2").is_err());
    }
    #[test]
    fn intervals() {
        assert_eq!(interval_minutes("*/5 * * * *"), Some(5));
        assert_eq!(interval_minutes("0 * * * *"), Some(60));
        assert_eq!(interval_minutes("30 23 * * *"), Some(1440));
        assert_eq!(interval_minutes("0 8 * * 1"), Some(10080));
        assert!(validate("*/5 * * *").is_err());
        assert!(validate("*/5 * * * *").is_ok());
    }
}
