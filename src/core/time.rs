//! Times on the command line: `YYYY-MM-DD`, RFC 3339, or milliseconds since the epoch; UTC.

use anyhow::{Result, bail};
use chrono::{DateTime, NaiveDate, Utc};

/// Parse a command-line time into ms since the epoch.
pub fn parse_time(s: &str) -> Result<i64> {
    let t = s.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        // Guard against seconds or microseconds given by mistake (and numbers too long
        // for any time).
        let v: i64 = t.parse().unwrap_or(i64::MAX);
        if !(100_000_000_000..=100_000_000_000_000).contains(&v) {
            bail!(
                "time {t:?}: expected milliseconds since the epoch (13 digits), e.g. 1704067200000"
            );
        }
        return Ok(v);
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_millis());
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc).timestamp_millis());
    }
    bail!(
        "time {t:?}: use YYYY-MM-DD, RFC 3339 (2024-01-31T12:00:00Z) or milliseconds since the epoch"
    )
}

/// A clap value parser for times.
pub fn time_arg(s: &str) -> Result<i64, String> {
    parse_time(s).map_err(|e| e.to_string())
}

/// Format ms since the epoch as RFC 3339 (UTC, seconds).
pub fn fmt_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Format ms since the epoch as RFC 3339 with milliseconds, `2017-07-11T17:27:07.299Z`
/// (UTC; what Discord expects as an embed timestamp).
pub fn fmt_ms_millis(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Start of the UTC day containing `ms`.
pub fn day_start(ms: i64) -> i64 {
    ms - ms.rem_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn formats() {
        assert_eq!(parse_time("2024-01-01").unwrap(), 1_704_067_200_000);
        assert_eq!(
            parse_time("2024-01-01T00:00:00Z").unwrap(),
            1_704_067_200_000
        );
        assert_eq!(
            parse_time("2024-01-01T02:00:00+02:00").unwrap(),
            1_704_067_200_000
        );
        assert_eq!(parse_time("1704067200000").unwrap(), 1_704_067_200_000);
        assert!(parse_time("1704067200").is_err());
        assert!(parse_time("yesterday").is_err());
        assert_eq!(fmt_ms(1_704_067_200_000), "2024-01-01T00:00:00Z");
        assert_eq!(fmt_ms_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt_ms_millis(1_499_794_027_299), "2017-07-11T17:27:07.299Z");
        assert_eq!(fmt_ms_millis(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        let e = parse_time("99999999999999999999999")
            .unwrap_err()
            .to_string();
        assert!(e.contains("milliseconds"), "{e}");
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary text never panics; an error names the input and the accepted forms.
        #[test]
        fn arbitrary_times_never_panic(t in "\\PC{0,40}") {
            match parse_time(&t) {
                Ok(_) => {}
                Err(e) => {
                    let m = e.to_string();
                    prop_assert!(m.contains("time") && (m.contains("YYYY-MM-DD") || m.contains("milliseconds")), "{}", m);
                }
            }
        }

        /// Times that look almost right (dates, RFC 3339, digits with one change) never panic.
        #[test]
        fn mutated_times_never_panic(ms in 0i64..4_102_444_800_000, pos in any::<prop::sample::Index>(), c in any::<char>(), form in 0u8..3) {
            let text = match form {
                0 => ms.to_string(),
                1 => fmt_ms(ms),
                _ => fmt_ms(ms)[..10].to_string(),
            };
            let mut chars: Vec<char> = text.chars().collect();
            let i = pos.index(chars.len());
            chars[i] = c;
            let _ = parse_time(&chars.into_iter().collect::<String>());
        }

        /// What fks prints (RFC 3339, whole seconds; or milliseconds) reads back.
        #[test]
        fn printed_times_read_back(ms in 100_000_000_000i64..4_102_444_800_000) {
            prop_assert_eq!(parse_time(&ms.to_string()).unwrap(), ms);
            prop_assert_eq!(parse_time(&fmt_ms(ms)).unwrap(), ms - ms.rem_euclid(1000));
            prop_assert_eq!(parse_time(&fmt_ms(ms)[..10]).unwrap(), day_start(ms));
        }
    }
}
