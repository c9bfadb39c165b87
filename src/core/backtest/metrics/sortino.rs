//! Sortino ratio of periodic returns.

use super::sum::sum_by;

/// Annualised Sortino ratio: `mean(r - t) / sqrt(mean(min(r - t, 0)^2)) * sqrt(periods_per_year)`,
/// where the downside mean is over ALL returns (zeros for the periods above the target
/// count in the denominator's average), as vectorbt/empyrical define it. `target_per_period`
/// is the required return of one period (0 by default).
///
/// `None` when there are no returns or none below the target (no downside: undefined).
pub fn sortino_ratio(
    returns: &[f64],
    periods_per_year: f64,
    target_per_period: f64,
) -> Option<f64> {
    let n = returns.len();
    if n == 0 {
        return None;
    }
    let sum = sum_by(returns, |r| r - target_per_period);
    let down = sum_by(returns, |r| {
        let x = (r - target_per_period).min(0.0);
        x * x
    });
    let dd = (down / n as f64).sqrt();
    if dd == 0.0 || !dd.is_finite() {
        return None;
    }
    Some(sum / n as f64 / dd * periods_per_year.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // mean = 0.01; downside: (0.0001 + 0.0004) / 4 = 0.000125
        let r = [0.04, -0.01, 0.03, -0.02];
        let s = sortino_ratio(&r, 4.0, 0.0).unwrap();
        assert!((s - 0.01 / 0.000125f64.sqrt() * 2.0).abs() < 1e-12, "{s}");
    }

    #[test]
    fn no_downside_is_undefined() {
        assert_eq!(sortino_ratio(&[0.01, 0.0, 0.02], 365.0, 0.0), None);
        assert_eq!(sortino_ratio(&[], 365.0, 0.0), None);
        assert_eq!(sortino_ratio(&[0.0, 0.0], 365.0, 0.0), None);
    }
}
