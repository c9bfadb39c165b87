//! Exact k-nearest-neighbour search over market-state snapshots.
//!
//! Brute force over a flat `Vec<f32>` (row-major, `dims` floats per snapshot), split into
//! chunks scanned in parallel with rayon; each chunk keeps bounded max-heaps, which are
//! merged at the end. The distance is Euclidean on the (already normalised) vectors. The
//! result is exact and deterministic: candidates are ordered by `(distance², row)`, a total
//! order, so ties and thread scheduling cannot change the answer.
//!
//! The filter is only evaluated for rows whose distance would enter the current top k,
//! so an "as of" filter costs almost nothing.

use super::features::{D, Outcome};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;

/// What the index keeps beside each vector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The caller's id for the symbol (e.g. the store's `symbols.id`).
    pub symbol: u32,
    /// Open time of the snapshot's candle, ms UTC.
    pub open_time: i64,
    /// When the outcome became known: close time of the candle `horizon` bars later, ms
    /// UTC. An "as of T" query keeps rows with `known_at <= T`.
    pub known_at: i64,
    pub outcome: Outcome,
}

/// One retrieved snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Neighbour {
    /// Row number in the index (insertion order).
    pub row: usize,
    /// Euclidean distance to the query.
    pub dist: f32,
    /// Whether the row has the preferred symbol.
    pub same_symbol: bool,
}

/// Snapshots, `dims` floats each, with their metadata.
#[derive(Debug, Clone)]
pub struct KnnIndex {
    dims: usize,
    data: Vec<f32>,
    meta: Vec<SnapshotMeta>,
}

/// Rows per parallel chunk: large enough to amortise rayon, small enough to balance.
const CHUNK_ROWS: usize = 16_384;

impl KnnIndex {
    /// An empty index for `dims`-dimensional vectors (usually [`D`]).
    pub fn new(dims: usize) -> Self {
        assert!(dims > 0, "a snapshot has at least one feature");
        KnnIndex {
            dims,
            data: Vec::new(),
            meta: Vec::new(),
        }
    }

    pub fn with_capacity(dims: usize, rows: usize) -> Self {
        let mut idx = Self::new(dims);
        idx.data.reserve(rows * dims);
        idx.meta.reserve(rows);
        idx
    }

    /// Build from a flat row-major buffer; `None` when the lengths do not agree.
    pub fn from_parts(dims: usize, data: Vec<f32>, meta: Vec<SnapshotMeta>) -> Option<Self> {
        (dims > 0 && data.len() == meta.len() * dims).then_some(KnnIndex { dims, data, meta })
    }

    /// Append one snapshot.
    ///
    /// # Panics
    /// When `v.len() != dims` (a programming error, not input).
    pub fn push(&mut self, v: &[f32], meta: SnapshotMeta) {
        assert_eq!(v.len(), self.dims, "snapshot has the index's dimension");
        self.data.extend_from_slice(v);
        self.meta.push(meta);
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn len(&self) -> usize {
        self.meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    pub fn meta(&self, row: usize) -> &SnapshotMeta {
        &self.meta[row]
    }

    pub fn vector(&self, row: usize) -> &[f32] {
        &self.data[row * self.dims..(row + 1) * self.dims]
    }

    /// The `k` nearest rows to `q` among those for which `filter` is true.
    ///
    /// With `prefer_symbol = Some(s)`: the `k` nearest rows of symbol `s` are taken first;
    /// if there are fewer than `k` of them, the rest is filled with the nearest rows of
    /// other symbols. The result lists the same-symbol rows first (nearest first), then the
    /// others (nearest first). With `None`: the `k` nearest rows of any symbol, nearest
    /// first. Rows with a non-finite distance are never returned.
    ///
    /// # Panics
    /// When `q.len() != dims`.
    pub fn query<F>(
        &self,
        q: &[f32],
        k: usize,
        filter: F,
        prefer_symbol: Option<u32>,
    ) -> Vec<Neighbour>
    where
        F: Fn(&SnapshotMeta) -> bool + Sync,
    {
        assert_eq!(q.len(), self.dims, "query has the index's dimension");
        if k == 0 || self.is_empty() {
            return Vec::new();
        }
        let chunk = CHUNK_ROWS * self.dims;
        let partial: Vec<(Vec<Cand>, Vec<Cand>)> = self
            .data
            .par_chunks(chunk)
            .enumerate()
            .map(|(c, block)| {
                let first_row = c * CHUNK_ROWS;
                let mut scan = Scan::new(k, prefer_symbol, &self.meta, &filter);
                if self.dims == D {
                    let q: &[f32; D] = q.try_into().expect("dims == D");
                    for (j, v) in block.chunks_exact(D).enumerate() {
                        let v: &[f32; D] = v.try_into().expect("chunks_exact(D)");
                        scan.offer(first_row + j, dist2_fixed(q, v));
                    }
                } else {
                    for (j, v) in block.chunks_exact(self.dims).enumerate() {
                        scan.offer(first_row + j, dist2(q, v));
                    }
                }
                (scan.same.into_vec(), scan.other.into_vec())
            })
            .collect();

        let mut same: Vec<Cand> = Vec::new();
        let mut other: Vec<Cand> = Vec::new();
        for (s, o) in partial {
            same.extend(s);
            other.extend(o);
        }
        same.sort_unstable();
        same.truncate(k);
        other.sort_unstable();
        other.truncate(k - same.len());
        same.into_iter()
            .map(|c| (c, true))
            .chain(other.into_iter().map(|c| (c, false)))
            .map(|(c, is_same)| Neighbour {
                row: c.row,
                dist: c.d2.sqrt(),
                same_symbol: is_same && prefer_symbol.is_some(),
            })
            .collect()
    }
}

/// A candidate: ordered by squared distance, then row (a total order: no NaN gets here).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cand {
    d2: f32,
    row: usize,
}

impl Eq for Cand {}

impl Ord for Cand {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.d2.total_cmp(&o.d2).then(self.row.cmp(&o.row))
    }
}

impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Per-chunk state: two bounded max-heaps (preferred symbol, others).
struct Scan<'a, F> {
    k: usize,
    prefer: Option<u32>,
    meta: &'a [SnapshotMeta],
    filter: &'a F,
    same: BinaryHeap<Cand>,
    other: BinaryHeap<Cand>,
}

impl<'a, F: Fn(&SnapshotMeta) -> bool> Scan<'a, F> {
    fn new(k: usize, prefer: Option<u32>, meta: &'a [SnapshotMeta], filter: &'a F) -> Self {
        Scan {
            k,
            prefer,
            meta,
            filter,
            same: BinaryHeap::with_capacity(k + 1),
            other: BinaryHeap::with_capacity(k + 1),
        }
    }

    fn bound(h: &BinaryHeap<Cand>, k: usize) -> f32 {
        if h.len() < k {
            f32::INFINITY
        } else {
            h.peek().map_or(f32::INFINITY, |c| c.d2)
        }
    }

    #[inline(always)]
    fn offer(&mut self, row: usize, d2: f32) {
        // Rows come in increasing order within a chunk, so a tie never beats the heap top.
        let worst_same = Self::bound(&self.same, self.k);
        let worst_other = if self.prefer.is_some() {
            Self::bound(&self.other, self.k)
        } else {
            f32::NEG_INFINITY
        };
        if !(d2 < worst_same || d2 < worst_other) {
            return; // also drops NaN
        }
        let m = &self.meta[row];
        if !(self.filter)(m) {
            return;
        }
        let (heap, worst) = match self.prefer {
            Some(s) if m.symbol != s => (&mut self.other, worst_other),
            _ => (&mut self.same, worst_same),
        };
        if d2 < worst {
            heap.push(Cand { d2, row });
            if heap.len() > self.k {
                heap.pop();
            }
        }
    }
}

#[inline(always)]
fn dist2_fixed<const N: usize>(a: &[f32; N], b: &[f32; N]) -> f32 {
    let mut s = 0.0f32;
    for i in 0..N {
        let d = a[i] - b[i];
        s += d * d;
    }
    s
}

#[inline(always)]
fn dist2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::intelligence::testkit::Rng;

    fn outcome(ret: f64) -> Outcome {
        Outcome {
            ret,
            max_adverse: 0.0,
            max_favorable: 0.0,
        }
    }

    fn random_index(n: usize, dims: usize, symbols: u32, seed: u64) -> KnnIndex {
        let mut rng = Rng(seed);
        let mut idx = KnnIndex::with_capacity(dims, n);
        for r in 0..n {
            let v: Vec<f32> = (0..dims).map(|_| rng.normal() as f32).collect();
            idx.push(
                &v,
                SnapshotMeta {
                    symbol: (rng.next_u64() % symbols as u64) as u32,
                    open_time: r as i64,
                    known_at: r as i64 + 10,
                    outcome: outcome(0.0),
                },
            );
        }
        idx
    }

    fn naive(
        idx: &KnnIndex,
        q: &[f32],
        k: usize,
        keep: impl Fn(&SnapshotMeta) -> bool,
    ) -> Vec<usize> {
        let mut all: Vec<(f32, usize)> = (0..idx.len())
            .filter(|&r| keep(idx.meta(r)))
            .map(|r| (dist2(q, idx.vector(r)), r))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.into_iter().take(k).map(|x| x.1).collect()
    }

    #[test]
    fn query_matches_a_naive_sort_on_random_data() {
        // more than one chunk, and both the fixed-D and the generic path
        for dims in [D, 7] {
            let idx = random_index(40_000, dims, 3, 42 + dims as u64);
            let mut rng = Rng(7);
            for _ in 0..5 {
                let q: Vec<f32> = (0..dims).map(|_| rng.normal() as f32).collect();
                let got: Vec<usize> = idx
                    .query(&q, 25, |_| true, None)
                    .iter()
                    .map(|n| n.row)
                    .collect();
                assert_eq!(got, naive(&idx, &q, 25, |_| true));
                let got = idx.query(&q, 25, |_| true, None);
                for w in got.windows(2) {
                    assert!(w[0].dist <= w[1].dist);
                }
                assert!((got[0].dist - dist2(&q, idx.vector(got[0].row)).sqrt()).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn same_symbol_comes_first_then_others_fill_up() {
        let idx = random_index(20_000, D, 4, 9);
        let q = [0.1f32; D];
        let got = idx.query(&q, 30, |_| true, Some(2));
        assert_eq!(got.len(), 30);
        assert!(
            got.iter()
                .all(|n| n.same_symbol && idx.meta(n.row).symbol == 2)
        );
        let want: Vec<usize> = naive(&idx, &q, 30, |m| m.symbol == 2);
        assert_eq!(got.iter().map(|n| n.row).collect::<Vec<_>>(), want);

        // only 5 rows of symbol 2 pass the filter: 5 same, then the 25 nearest others
        let few = |m: &SnapshotMeta| m.symbol != 2 || m.open_time < 40;
        let got = idx.query(&q, 30, few, Some(2));
        let same: Vec<usize> = got
            .iter()
            .filter(|n| n.same_symbol)
            .map(|n| n.row)
            .collect();
        let n_same = naive(&idx, &q, 1000, |m| m.symbol == 2 && m.open_time < 40);
        assert_eq!(same, n_same);
        assert!(same.len() < 30);
        let others: Vec<usize> = got[same.len()..].iter().map(|n| n.row).collect();
        assert_eq!(others, naive(&idx, &q, 30 - same.len(), |m| m.symbol != 2));
        assert!(got[..same.len()].iter().all(|n| n.same_symbol));
        assert!(got[same.len()..].iter().all(|n| !n.same_symbol));
    }

    #[test]
    fn the_filter_excludes_future_snapshots() {
        let idx = random_index(5_000, D, 1, 3);
        let q = [0.0f32; D];
        let as_of = 2_000;
        let got = idx.query(&q, 50, |m| m.known_at <= as_of, Some(0));
        assert_eq!(got.len(), 50);
        assert!(got.iter().all(|n| idx.meta(n.row).known_at <= as_of));
        assert_eq!(
            got.iter().map(|n| n.row).collect::<Vec<_>>(),
            naive(&idx, &q, 50, |m| m.known_at <= as_of)
        );
        // an exact copy of the query in the future is not found
        let mut idx = idx;
        idx.push(
            &q,
            SnapshotMeta {
                symbol: 0,
                open_time: 9_999,
                known_at: 10_000,
                outcome: outcome(0.0),
            },
        );
        let got = idx.query(&q, 1, |m| m.known_at <= as_of, None);
        assert_ne!(got[0].row, idx.len() - 1);
        let got = idx.query(&q, 1, |_| true, None);
        assert_eq!(got[0].row, idx.len() - 1);
        assert_eq!(got[0].dist, 0.0);
    }

    #[test]
    fn small_and_empty_cases() {
        let idx = KnnIndex::new(D);
        assert!(idx.query(&[0.0; D], 5, |_| true, None).is_empty());
        let idx = random_index(3, D, 1, 1);
        assert_eq!(idx.query(&[0.0; D], 10, |_| true, Some(0)).len(), 3);
        assert!(idx.query(&[0.0; D], 0, |_| true, None).is_empty());
        assert!(KnnIndex::from_parts(D, vec![0.0; 11], vec![]).is_none());
    }
}
