//! Number, date and text formatting shared by the renderers.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// Placeholder for an undefined figure.
pub const NONE: &str = "—";

/// Decimals for amounts in `quote`: 2 for fiat and stablecoins, 8 otherwise (BTC, ETH, BNB).
pub fn quote_decimals(quote: &str) -> u32 {
    const TWO: &[&str] = &[
        "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "USDP", "DAI", "USD", "EUR", "GBP", "TRY", "BRL",
        "JPY", "AUD",
    ];
    if TWO.iter().any(|q| q.eq_ignore_ascii_case(quote.trim())) {
        2
    } else {
        8
    }
}

/// `Decimal` to `f64` for charts and statistics (0 if out of range, which a Decimal is not).
pub fn dec_to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// Insert `,` every three digits into a string of ASCII digits.
fn group_digits(int: &str) -> String {
    let n = int.len();
    let mut out = String::with_capacity(n + n / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Group the integer part of a plain decimal string (`-1234.5` → `-1,234.5`).
fn group_number_str(s: &str) -> String {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", s),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut out = format!("{sign}{}", group_digits(int));
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Amount with thousands separators and exactly `dp` decimals, half away from zero:
/// `1234567.891` → `1,234,567.89`. Never prints `-0.00`.
pub fn amount(d: Decimal, dp: u32) -> String {
    let mut r = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    if r.is_zero() {
        r = Decimal::ZERO;
    }
    r.rescale(dp);
    group_number_str(&r.to_string())
}

/// [`amount`] with an explicit sign for non-zero values: `+12.50`, `-3.00`, `0.00`.
pub fn signed_amount(d: Decimal, dp: u32) -> String {
    let s = amount(d, dp);
    if d.round_dp(dp) > Decimal::ZERO {
        format!("+{s}")
    } else {
        s
    }
}

/// [`amount`] of an `f64` (non-finite values print as `—`; beyond Decimal's range, in
/// scientific notation).
pub fn amount_f64(x: f64, dp: u32) -> String {
    if !x.is_finite() {
        return NONE.to_string();
    }
    match Decimal::from_f64_retain(x) {
        Some(d) => amount(d, dp),
        None => format!("{x:.3e}"),
    }
}

/// [`signed_amount`] of an `f64`.
pub fn signed_amount_f64(x: f64, dp: u32) -> String {
    let s = amount_f64(x, dp);
    if x.is_finite() && !s.starts_with('-') && s.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        format!("+{s}")
    } else {
        s
    }
}

/// A quantity or price as given (trailing zeros dropped), integer part grouped:
/// `67000.01000000` → `67,000.01`.
pub fn plain(d: Decimal) -> String {
    group_number_str(&d.normalize().to_string())
}

/// Percent with two decimals and a sign: `+12.34%`; `—` for `None` or non-finite.
pub fn pct(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => {
            let s = amount_f64(v, 2);
            if s.starts_with('-') || s == "0.00" {
                format!("{s}%")
            } else {
                format!("+{s}%")
            }
        }
        _ => NONE.to_string(),
    }
}

/// Percent of a positive magnitude (drawdown, volatility, win rate): `12.34%`.
pub fn pct_plain(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{}%", amount_f64(v, 2)),
        _ => NONE.to_string(),
    }
}

/// A ratio with two decimals (`1.23`); `—` for `None`.
pub fn ratio(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => amount_f64(v, 2),
        _ => NONE.to_string(),
    }
}

/// `2024-05-01 14:03 UTC`.
pub fn datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Compact axis label: `950`, `12.5k`, `1.2M`, `3B`, `-4.1T`.
pub fn compact(x: f64) -> String {
    if !x.is_finite() {
        return NONE.to_string();
    }
    let a = x.abs();
    let (v, suffix) = if a >= 1e15 {
        return format!("{x:.1e}");
    } else if a >= 1e12 {
        (x / 1e12, "T")
    } else if a >= 1e9 {
        (x / 1e9, "B")
    } else if a >= 1e6 {
        (x / 1e6, "M")
    } else if a >= 1e4 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    let s = if suffix.is_empty() && a < 10.0 && a.fract() != 0.0 {
        format!("{v:.2}")
    } else if v.abs() < 100.0 && (v.fract().abs() > 1e-9) {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    };
    let s = if suffix.is_empty() {
        // group 4-digit integers: 9,500
        group_number_str(&s)
    } else {
        s
    };
    format!("{s}{suffix}")
}

pub use crate::core::text::truncate_chars;

/// `-`, `0` or `+` by sign, for choosing a colour.
pub fn sign_class(x: f64) -> &'static str {
    if x > 0.0 {
        "pos"
    } else if x < 0.0 {
        "neg"
    } else {
        "zero"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn amounts_have_separators_and_fixed_decimals() {
        assert_eq!(amount(d("1234567.891"), 2), "1,234,567.89");
        assert_eq!(amount(d("-1234.005"), 2), "-1,234.01");
        assert_eq!(amount(d("999.999"), 2), "1,000.00");
        assert_eq!(amount(d("0"), 2), "0.00");
        assert_eq!(amount(d("-0.001"), 2), "0.00");
        assert_eq!(amount(d("12"), 8), "12.00000000");
        assert_eq!(signed_amount(d("12.5"), 2), "+12.50");
        assert_eq!(signed_amount(d("-12.5"), 2), "-12.50");
        assert_eq!(signed_amount(d("0.001"), 2), "0.00");
        assert_eq!(amount_f64(1e20, 2), "100,000,000,000,000,000,000.00");
        assert_eq!(amount_f64(f64::NAN, 2), "—");
        assert_eq!(signed_amount_f64(-0.001, 2), "0.00");
        assert_eq!(signed_amount_f64(5.0, 2), "+5.00");
        assert_eq!(plain(d("67000.01000000")), "67,000.01");
        assert_eq!(plain(d("0.00100")), "0.001");
    }

    #[test]
    fn percents_and_ratios() {
        assert_eq!(pct(Some(12.345)), "+12.35%");
        assert_eq!(pct(Some(-0.5)), "-0.50%");
        assert_eq!(pct(Some(0.0)), "0.00%");
        assert_eq!(pct(None), "—");
        assert_eq!(pct_plain(Some(25.0)), "25.00%");
        assert_eq!(ratio(Some(1.234)), "1.23");
        assert_eq!(ratio(Some(f64::INFINITY)), "—");
    }

    #[test]
    fn compact_labels() {
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(9500.0), "9,500");
        assert_eq!(compact(12_500.0), "12.5k");
        assert_eq!(compact(1_200_000.0), "1.2M");
        assert_eq!(compact(-4_000_000_000_000.0), "-4T");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(compact(2e16), "2.0e16");
    }

    #[test]
    fn truncation_counts_characters() {}
}
