//! Drawdown of an equity curve.

/// Largest peak-to-trough fall of `equity`, as a positive percentage of the peak
/// (`25.0` = the curve fell 25% below its running maximum). 0 for an empty or never-falling
/// curve. Peaks are the curve's own points; a curve whose first point is below the
/// starting capital should be given with that capital prepended.
pub fn max_drawdown_pct(equity: &[f64]) -> f64 {
    let mut peak = f64::NEG_INFINITY;
    let mut worst = 0.0f64;
    for &e in equity {
        peak = peak.max(e);
        // branch-free; with a non-positive peak this is negative or NaN, which max ignores
        worst = worst.max((peak - e) / peak);
    }
    worst * 100.0
}

/// Drawdown at every point, as positive percentages (for charts).
pub fn drawdown_pct_series(equity: &[f64]) -> Vec<f64> {
    let mut peak = f64::NEG_INFINITY;
    equity
        .iter()
        .map(|&e| {
            peak = peak.max(e);
            if peak > 0.0 {
                (peak - e) / peak * 100.0
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawdown_that_recovers() {
        // peak 120 → trough 90 (25%), recovers to 130, then a smaller 10% dip
        let e = [100.0, 120.0, 90.0, 130.0, 117.0];
        assert!((max_drawdown_pct(&e) - 25.0).abs() < 1e-12);
        let s = drawdown_pct_series(&e);
        assert!((s[2] - 25.0).abs() < 1e-12 && s[3] == 0.0 && (s[4] - 10.0).abs() < 1e-12);
    }

    #[test]
    fn drawdown_that_does_not_recover() {
        let e = [100.0, 110.0, 100.0, 80.0, 88.0];
        assert!((max_drawdown_pct(&e) - (30.0 / 110.0 * 100.0)).abs() < 1e-12);
    }

    #[test]
    fn empty_and_rising_curves_have_none() {
        assert_eq!(max_drawdown_pct(&[]), 0.0);
        assert_eq!(max_drawdown_pct(&[1.0, 2.0, 3.0]), 0.0);
    }
}
