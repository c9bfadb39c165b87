//! The default schedule of every job (DESIGN.md's job table) and cron helpers.

/// (job, cron expression). Minute, hour, day of month, month, day of week; UTC.
pub const DEFAULT_SCHEDULE: &[(&str, &str)] = &[
    ("sync-market-data", "*/5 * * * *"),
    ("sync-account-balance", "*/15 * * * *"),
    ("update-positions", "*/5 * * * *"),
    ("generate-signals", "*/15 * * * *"),
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

#[cfg(test)]
mod tests {
    use super::*;
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
