//! Summation with four independent accumulators: the same result up to rounding as a
//! plain loop, but not bound by the latency of one long chain of additions (grids sum
//! millions of returns).

/// `Σ f(x)` over `xs`.
#[inline]
pub(crate) fn sum_by(xs: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = xs.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        acc[0] += f(c[0]);
        acc[1] += f(c[1]);
        acc[2] += f(c[2]);
        acc[3] += f(c[3]);
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for &x in rest {
        s += f(x);
    }
    s
}
