//! Sharpe ratio of periodic returns.

use super::sum::sum_by;

/// Annualised Sharpe ratio: `mean(r - rf) / sd(r - rf) * sqrt(periods_per_year)`, with the
/// SAMPLE standard deviation (n - 1) over every return given (include flat periods).
/// `risk_free_per_period` is the risk-free return of one period (0 by default).
///
/// `None` when there are fewer than two returns or the returns have no variance (a flat
/// curve): the ratio is undefined there, not 0 or infinite.
pub fn sharpe_ratio(
    returns: &[f64],
    periods_per_year: f64,
    risk_free_per_period: f64,
) -> Option<f64> {
    let n = returns.len();
    if n < 2 {
        return None;
    }
    // the variance of r - rf is that of r
    let raw_mean = sum_by(returns, |r| r) / n as f64;
    let var = sum_by(returns, |r| (r - raw_mean) * (r - raw_mean)) / (n - 1) as f64;
    let mean = raw_mean - risk_free_per_period;
    let sd = var.sqrt();
    if sd == 0.0 || !sd.is_finite() {
        return None;
    }
    Some(mean / sd * periods_per_year.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // mean 0.01, deviations ±0.02 → sample var = 4*0.0004/3, sd = 0.023094...
        let r = [0.03, -0.01, 0.03, -0.01];
        let s = sharpe_ratio(&r, 1.0, 0.0).unwrap();
        assert!((s - 0.01 / (0.0016f64 / 3.0).sqrt()).abs() < 1e-12, "{s}");
        let a = sharpe_ratio(&r, 365.0, 0.0).unwrap();
        assert!((a - s * 365f64.sqrt()).abs() < 1e-12);
        // risk-free shifts the mean only
        let rf = sharpe_ratio(&r, 1.0, 0.01).unwrap();
        assert!(rf.abs() < 1e-12);
    }

    #[test]
    fn zero_variance_and_short_series_are_undefined() {
        assert_eq!(sharpe_ratio(&[0.0; 10], 365.0, 0.0), None);
        assert_eq!(sharpe_ratio(&[], 365.0, 0.0), None);
        assert_eq!(sharpe_ratio(&[0.05], 365.0, 0.0), None);
    }
}
