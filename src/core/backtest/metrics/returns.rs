//! Per-period simple returns of an equity curve.

/// `out[i] = equity[i] / equity[i-1] - 1`, with `equity[-1] = initial`, so there is one
/// return per equity point (the first relative to the starting value, as vectorbt does).
/// A return after a non-positive value is 0 (the account is gone; nothing can change).
pub fn simple_returns_into(initial: f64, equity: &[f64], out: &mut Vec<f64>) {
    out.clear();
    out.reserve(equity.len());
    let mut prev = initial;
    for &e in equity {
        out.push(if prev > 0.0 { e / prev - 1.0 } else { 0.0 });
        prev = e;
    }
}

/// [`simple_returns_into`] into a new vector.
pub fn simple_returns(initial: f64, equity: &[f64]) -> Vec<f64> {
    let mut v = Vec::new();
    simple_returns_into(initial, equity, &mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_return_is_relative_to_the_start() {
        assert_eq!(
            simple_returns(100.0, &[110.0, 99.0]),
            vec![0.10000000000000009, -0.09999999999999998]
        );
        assert!(simple_returns(100.0, &[]).is_empty());
        assert_eq!(simple_returns(100.0, &[0.0, 5.0]), vec![-1.0, 0.0]);
    }
}
