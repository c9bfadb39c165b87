//! Statistics over closed trades (pnl after both fees).

/// Percentage of trades with `pnl > 0` (after fees). `None` with no trades.
pub fn win_rate_pct(pnls: &[f64]) -> Option<f64> {
    if pnls.is_empty() {
        return None;
    }
    Some(pnls.iter().filter(|p| **p > 0.0).count() as f64 / pnls.len() as f64 * 100.0)
}

/// Gross profit / gross loss. `None` (JSON `null`) when there is no losing trade: the ratio
/// is unbounded (or 0/0 with no trades at all), and JSON has no infinity.
pub fn profit_factor(pnls: &[f64]) -> Option<f64> {
    // Folded from +0.0: `Sum` for floats starts at -0.0, so no winning trade gave -0.
    let profit: f64 = pnls.iter().filter(|p| **p > 0.0).fold(0.0, |a, p| a + p);
    let loss: f64 = -pnls.iter().filter(|p| **p < 0.0).sum::<f64>();
    (loss > 0.0).then(|| profit / loss)
}

/// Arithmetic mean of the trades' returns in percent. `None` with no trades.
pub fn average_pct(returns_pct: &[f64]) -> Option<f64> {
    (!returns_pct.is_empty()).then(|| returns_pct.iter().sum::<f64>() / returns_pct.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        let p = [10.0, -5.0, 0.0, 20.0, -10.0];
        assert_eq!(win_rate_pct(&p), Some(40.0));
        assert_eq!(profit_factor(&p), Some(2.0));
        assert_eq!(average_pct(&[1.0, 2.0, -6.0]), Some(-1.0));
    }

    #[test]
    fn only_losses_give_a_profit_factor_of_plus_zero() {
        let pf = profit_factor(&[-5.0, -1.0]).unwrap();
        assert!(pf == 0.0 && pf.is_sign_positive(), "{pf:?}");
    }

    #[test]
    fn edge_cases_are_none() {
        assert_eq!(win_rate_pct(&[]), None);
        assert_eq!(profit_factor(&[]), None);
        assert_eq!(profit_factor(&[1.0, 2.0]), None);
        assert_eq!(profit_factor(&[-1.0]), Some(0.0));
        assert_eq!(average_pct(&[]), None);
    }
}
