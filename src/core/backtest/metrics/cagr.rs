//! Compound annual growth rate.

/// Milliseconds in a 365-day year.
pub const YEAR_MS: f64 = 365.0 * 86_400_000.0;

/// `((end / start)^(1 / years) - 1) * 100`. `None` when `years <= 0`, `start <= 0` or
/// `end < 0` (the rate is undefined); `-100` when everything was lost.
pub fn cagr_pct(start: f64, end: f64, years: f64) -> Option<f64> {
    if !(years > 0.0 && start > 0.0 && end >= 0.0) {
        return None;
    }
    let v = ((end / start).powf(1.0 / years) - 1.0) * 100.0;
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        assert!((cagr_pct(100.0, 121.0, 2.0).unwrap() - 10.0).abs() < 1e-9);
        assert!((cagr_pct(100.0, 110.0, 0.5).unwrap() - 21.0).abs() < 1e-9);
        assert_eq!(cagr_pct(100.0, 0.0, 1.0), Some(-100.0));
        assert_eq!(cagr_pct(100.0, 110.0, 0.0), None);
        assert_eq!(cagr_pct(100.0, -5.0, 1.0), None);
    }
}
