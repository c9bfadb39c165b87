//! Golden tests against TA-Lib (files made by `tests/golden/indicators/make_golden.py`),
//! streaming == batch, long-run exactness, edge cases, and the real candles in
//! `../shared/data` when they are there.

use super::*;
use crate::core::market::Bar;

/// Golden series: name and CSV text (columns listed in `make_golden.py`).
const GOLDEN: [(&str, &str); 6] = [
    (
        "random_walk",
        include_str!("../../../tests/golden/indicators/random_walk.csv"),
    ),
    (
        "flat_run",
        include_str!("../../../tests/golden/indicators/flat_run.csv"),
    ),
    (
        "jumps",
        include_str!("../../../tests/golden/indicators/jumps.csv"),
    ),
    (
        "high_level",
        include_str!("../../../tests/golden/indicators/high_level.csv"),
    ),
    (
        "tiny_price",
        include_str!("../../../tests/golden/indicators/tiny_price.csv"),
    ),
    (
        "short",
        include_str!("../../../tests/golden/indicators/short.csv"),
    ),
];

/// Relative tolerance against TA-Lib.
const REL_TOL: f64 = 1e-9;

struct Golden {
    header: Vec<String>,
    cols: Vec<Vec<f64>>,
}

impl Golden {
    fn parse(text: &str) -> Golden {
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .expect("golden file has a header")
            .split(',')
            .map(str::to_owned)
            .collect();
        let mut cols = vec![Vec::new(); header.len()];
        for (ln, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "line {}", ln + 2);
            for (col, cell) in cols.iter_mut().zip(cells) {
                col.push(if cell.is_empty() {
                    f64::NAN
                } else {
                    cell.parse().expect("a float")
                });
            }
        }
        Golden { header, cols }
    }

    fn col(&self, name: &str) -> &[f64] {
        let i = self
            .header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        &self.cols[i]
    }

    fn bars(&self) -> Vec<Bar> {
        let (h, l, c) = (self.col("high"), self.col("low"), self.col("close"));
        (0..c.len())
            .map(|i| Bar {
                open_time: 1_700_000_000_000 + i as i64 * 300_000,
                open: if i == 0 { c[0] } else { c[i - 1] },
                high: h[i],
                low: l[i],
                close: c[i],
                volume: 1.0,
            })
            .collect()
    }
}

/// Largest |x| of a series (its scale), ignoring NaN.
fn scale(x: &[f64]) -> f64 {
    x.iter()
        .filter(|v| v.is_finite())
        .fold(0.0, |m, v| m.max(v.abs()))
}

/// Compares one indicator with TA-Lib: identical NaN positions (so the same warm-up)
/// and `|ours - talib| <= 1e-9 * max(|talib|, floor)`, where the floor (for values
/// near zero, such as a MACD crossing) is `min(1, 1e-3 * scale)` of the quantity the
/// indicator is made from. Returns the largest error relative to `max(|talib|, floor)`.
fn check(series: &str, name: &str, ours: &[f64], talib: &[f64], scale: f64) -> f64 {
    assert_eq!(ours.len(), talib.len(), "{series}/{name}: length");
    let floor = (1e-3 * scale).min(1.0);
    let mut worst = 0.0_f64;
    for (i, (&a, &b)) in ours.iter().zip(talib).enumerate() {
        assert_eq!(
            a.is_nan(),
            b.is_nan(),
            "{series}/{name}[{i}]: ours {a}, TA-Lib {b} (warm-up differs)"
        );
        if b.is_nan() {
            continue;
        }
        let err = (a - b).abs() / b.abs().max(floor);
        assert!(
            err <= REL_TOL,
            "{series}/{name}[{i}]: ours {a:e}, TA-Lib {b:e}, relative error {err:e}"
        );
        worst = worst.max(err);
    }
    worst
}

#[test]
fn golden_files_match_talib() {
    let mut report = String::new();
    for (series, text) in GOLDEN {
        let g = Golden::parse(text);
        let (h, l, c) = (g.col("high"), g.col("low"), g.col("close"));
        let p = scale(c);
        let m = macd(c, 12, 26, 9);
        let bb = bbands(c, 20, 2.0);
        let results = [
            ("rsi14", rsi(c, 14), 100.0),
            ("macd", m.macd, p),
            ("macd_signal", m.signal, p),
            ("macd_hist", m.hist, p),
            ("bb_upper", bb.upper, p),
            ("bb_middle", bb.middle, p),
            ("bb_lower", bb.lower, p),
            ("atr14", atr(h, l, c, 14), p),
            ("sma20", sma(c, 20), p),
            ("sma50", sma(c, 50), p),
            ("sma200", sma(c, 200), p),
            ("ema12", ema(c, 12), p),
            ("ema26", ema(c, 26), p),
        ];
        report.push_str(&format!("{series:>12}:"));
        for (name, ours, sc) in &results {
            let worst = check(series, name, ours, g.col(name), *sc);
            report.push_str(&format!(" {name}={worst:.1e}"));
        }
        report.push('\n');
    }
    println!("max error vs TA-Lib per series and indicator:\n{report}");
}

#[test]
fn golden_warmups_are_talib_lookbacks() {
    let g = Golden::parse(GOLDEN[0].1);
    let kinds = [
        ("rsi14", IndicatorKind::Rsi(14)),
        (
            "macd",
            IndicatorKind::Macd {
                fast: 12,
                slow: 26,
                signal: 9,
            },
        ),
        ("bb_upper", IndicatorKind::Bbands(20)),
        ("atr14", IndicatorKind::Atr(14)),
        ("sma20", IndicatorKind::Sma(20)),
        ("sma50", IndicatorKind::Sma(50)),
        ("sma200", IndicatorKind::Sma(200)),
        ("ema12", IndicatorKind::Ema(12)),
        ("ema26", IndicatorKind::Ema(26)),
    ];
    for (name, kind) in kinds {
        let col = g.col(name);
        let prefix = col.iter().take_while(|v| v.is_nan()).count();
        assert_eq!(lookback(kind), prefix, "{name}");
        assert!(col[prefix..].iter().all(|v| v.is_finite()), "{name}");
    }
    assert_eq!(IndicatorKind::STANDARD.len(), kinds.len());
}

/// Our Bollinger width is the exact population standard deviation, also where
/// TA-Lib's arithmetic cannot be (1e5 moving by 1e-4), and exactly 0 when flat.
#[test]
fn stddev_is_exact() {
    for (series, text) in GOLDEN {
        let g = Golden::parse(text);
        let ours = stddev(g.col("close"), 20);
        for (i, (&a, &e)) in ours.iter().zip(g.col("bb_sd_exact")).enumerate() {
            assert_eq!(a.is_nan(), e.is_nan(), "{series}[{i}]");
            if e == 0.0 {
                assert_eq!(a, 0.0, "{series}[{i}]: flat window must have width 0");
            } else if !e.is_nan() {
                let err = (a - e).abs() / e;
                assert!(
                    err <= 1e-11,
                    "{series}[{i}]: {a:e} vs exact {e:e} ({err:e})"
                );
            }
        }
    }
}

/// Feeds `bars` to a state in chunks of varying size, saving it to JSON and loading
/// it back between chunks, as `update-indicators` does between runs.
fn stream_with_reloads(bars: &[Bar]) -> Vec<IndicatorRow> {
    let mut rows = Vec::with_capacity(bars.len());
    let mut json = serde_json::to_string(&IndicatorState::new()).expect("serialise");
    let mut i = 0;
    let mut chunk = 1;
    while i < bars.len() {
        let mut state: IndicatorState = serde_json::from_str(&json).expect("deserialise");
        assert!(state.is_current());
        let end = (i + chunk).min(bars.len());
        for b in &bars[i..end] {
            rows.push(state.try_update(b).expect("increasing times"));
        }
        json = serde_json::to_string(&state).expect("serialise");
        i = end;
        chunk = chunk % 13 + 1;
    }
    rows
}

/// Bitwise equality of a row field with a batch value (None <=> NaN).
fn same(field: Option<f64>, batch: f64, what: &str, i: usize) {
    match field {
        None => assert!(batch.is_nan(), "{what}[{i}]: stream None, batch {batch}"),
        Some(v) => assert_eq!(
            v.to_bits(),
            batch.to_bits(),
            "{what}[{i}]: stream {v:e}, batch {batch:e}"
        ),
    }
}

/// Streamed rows against the batch functions, bit for bit.
fn assert_rows_match_batch(bars: &[Bar], rows: &[IndicatorRow], what: &str) {
    let h: Vec<f64> = bars.iter().map(|b| b.high).collect();
    let l: Vec<f64> = bars.iter().map(|b| b.low).collect();
    let c: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let m = macd(&c, 12, 26, 9);
    let bb = bbands(&c, 20, 2.0);
    let batch: [(&str, Vec<f64>); 13] = [
        ("rsi14", rsi(&c, 14)),
        ("macd", m.macd),
        ("macd_signal", m.signal),
        ("macd_hist", m.hist),
        ("bb_upper", bb.upper),
        ("bb_middle", bb.middle),
        ("bb_lower", bb.lower),
        ("atr14", atr(&h, &l, &c, 14)),
        ("sma20", sma(&c, 20)),
        ("sma50", sma(&c, 50)),
        ("sma200", sma(&c, 200)),
        ("ema12", ema(&c, 12)),
        ("ema26", ema(&c, 26)),
    ];
    assert_eq!(rows.len(), bars.len());
    for (i, (row, bar)) in rows.iter().zip(bars).enumerate() {
        assert_eq!(row.open_time, bar.open_time);
        for (v, (name, col)) in row.values().into_iter().zip(&batch) {
            same(v, col[i], &format!("{what}/{name}"), i);
        }
    }
}

#[test]
fn streaming_equals_batch_on_golden_series() {
    for (series, text) in GOLDEN {
        let bars = Golden::parse(text).bars();
        let streamed = stream_with_reloads(&bars);
        assert_rows_match_batch(&bars, &streamed, series);
        assert_eq!(compute_all(&bars), streamed, "{series}: compute_all");
    }
}

/// Deterministic noise in [-0.5, 0.5) (xorshift64).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

/// A long series at 1e5 moving by multiples of 1e-4, ending in a flat run.
fn long_high_level(n: usize, flat: usize) -> Vec<Bar> {
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    let mut ticks: i64 = 1_000_000_000; // price in units of 1e-4
    let mut out = Vec::with_capacity(n + flat);
    for i in 0..n + flat {
        let prev = ticks as f64 * 1e-4;
        if i < n {
            ticks += (noise.next() * 7.0).round() as i64;
        }
        let close = ticks as f64 * 1e-4;
        let wick = if i < n { 2e-4 } else { 0.0 };
        out.push(Bar {
            open_time: i as i64 * 60_000,
            open: prev,
            high: prev.max(close) + wick,
            low: prev.min(close) - wick,
            close,
            volume: 1.0,
        });
    }
    out
}

/// Exact mean and population standard deviation of a window (for the checks).
fn exact_mean_sd(w: &[f64]) -> (f64, f64) {
    // Shift by the first value (exact for nearby prices), then sum in f64: the
    // shifted values are multiples of 1e-4 below 1, so these sums are accurate to
    // far below the test tolerance.
    let a = w[0];
    let n = w.len() as f64;
    let m1 = w.iter().map(|v| v - a).sum::<f64>() / n;
    let var = w.iter().map(|v| (v - a - m1).powi(2)).sum::<f64>() / n;
    (a + m1, var.sqrt())
}

#[test]
fn long_runs_do_not_drift_and_flat_windows_are_exact() {
    let n = 120_000;
    let bars = long_high_level(n, 210);
    let rows = stream_with_reloads(&bars);
    assert_rows_match_batch(&bars, &rows, "long");
    let c: Vec<f64> = bars.iter().map(|b| b.close).collect();
    for i in (250..n).step_by(997) {
        let row = rows[i];
        let (m200, _) = exact_mean_sd(&c[i + 1 - 200..=i]);
        let (m20, sd20) = exact_mean_sd(&c[i + 1 - 20..=i]);
        let sma200 = row.sma200.expect("sma200");
        let sma20 = row.sma20.expect("sma20");
        assert!((sma200 - m200).abs() <= 1e-15 * m200, "sma200[{i}] drifted");
        assert!((sma20 - m20).abs() <= 1e-15 * m20, "sma20[{i}] drifted");
        let width = row.bb_upper.expect("upper") - sma20;
        // width is 2 sd; the subtraction at 1e5 costs ~1.5e-11 absolute
        assert!((width - 2.0 * sd20).abs() <= 4e-11, "bb width[{i}]");
    }
    // The series ends with 210 identical closes: exact means, zero width.
    let last = rows.last().expect("rows");
    let flat = *c.last().expect("closes");
    assert_eq!(last.sma200, Some(flat));
    assert_eq!(last.sma50, Some(flat));
    assert_eq!(last.bb_middle, Some(flat));
    assert_eq!(last.bb_upper, Some(flat));
    assert_eq!(last.bb_lower, Some(flat));
    let sd = stddev(&c, 20);
    assert!(sd[n + 19..].iter().all(|&v| v == 0.0));
}

#[test]
fn flat_series_gives_rsi_zero_and_zero_width() {
    let x = vec![42.125; 60];
    let r = rsi(&x, 14);
    assert!(r[..14].iter().all(|v| v.is_nan()));
    assert!(r[14..].iter().all(|&v| v == 0.0));
    let b = bbands(&x, 20, 2.0);
    for i in 19..60 {
        assert_eq!(
            (b.upper[i], b.middle[i], b.lower[i]),
            (42.125, 42.125, 42.125)
        );
    }
    let a = atr(&x, &x, &x, 14);
    assert!(a[14..].iter().all(|&v| v == 0.0));
    let m = macd(&x, 12, 26, 9);
    assert!(m.macd[33..].iter().all(|&v| v == 0.0));
    assert!(m.hist[33..].iter().all(|&v| v == 0.0));
}

#[test]
fn hand_computed_values() {
    let x: Vec<f64> = (1..=30).map(f64::from).collect();
    assert_eq!(sma(&x, 3)[2], 2.0);
    assert_eq!(sma(&x, 3)[29], 29.0);
    // EMA(3): seed mean(1,2,3) = 2, then (4 - 2) * 0.5 + 2 = 3.
    let e = ema(&x, 3);
    assert_eq!((e[2], e[3]), (2.0, 3.0));
    // Only gains: RSI 100.
    assert_eq!(rsi(&x, 14)[14], 100.0);
    // Population sd of 1..=4 is sqrt(1.25).
    assert_eq!(stddev(&[1.0, 2.0, 3.0, 4.0], 4)[3], 1.25_f64.sqrt());
    // TR with a gap: |prev close - high| dominates.
    let a = atr(&[10.0, 20.0], &[9.0, 19.0], &[10.0, 19.5], 1);
    assert_eq!(a[1], 10.0);
}

#[test]
fn macd_uses_talib_seeding_not_standalone_emas() {
    let mut noise = Noise(7);
    let x: Vec<f64> = (0..80)
        .map(|i| 50.0 + i as f64 * 0.1 + noise.next())
        .collect();
    let m = macd(&x, 12, 26, 9);
    let e12 = ema(&x, 12);
    let e26 = ema(&x, 26);
    // The standalone EMA 12 is seeded at bar 11; TA-Lib's MACD seeds its fast EMA
    // at bar 25 with the mean of bars 14..=25, so they differ.
    assert!((m.macd[33] - (e12[33] - e26[33])).abs() > 1e-9);
    let mut fast = x[14..26].iter().sum::<f64>() / 12.0;
    let k = 2.0 / 13.0;
    for &v in &x[26..=33] {
        fast = (v - fast) * k + fast;
    }
    assert!((m.macd[33] - (fast - e26[33])).abs() < 1e-12);
    // fast > slow is swapped.
    let swapped = macd(&x, 26, 12, 9);
    let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&swapped.macd), bits(&m.macd));
    assert_eq!(bits(&swapped.hist), bits(&m.hist));
}

#[test]
fn degenerate_inputs_do_not_panic() {
    let empty: [f64; 0] = [];
    assert!(sma(&empty, 20).is_empty());
    assert!(rsi(&empty, 14).is_empty());
    assert!(macd(&empty, 12, 26, 9).macd.is_empty());
    assert!(compute_all(&[]).is_empty());
    let x = [1.0, 2.0, 3.0];
    assert!(sma(&x, 0).iter().all(|v| v.is_nan()));
    assert!(ema(&x, 0).iter().all(|v| v.is_nan()));
    assert!(rsi(&x, 0).iter().all(|v| v.is_nan()));
    assert!(bbands(&x, 0, 2.0).upper.iter().all(|v| v.is_nan()));
    assert!(atr(&x, &x, &x, 0).iter().all(|v| v.is_nan()));
    assert!(macd(&x, 0, 26, 9).signal.iter().all(|v| v.is_nan()));
    // Shorter than the lookback: all NaN.
    assert!(rsi(&x, 3).iter().all(|v| v.is_nan()));
    assert!(sma(&x, 4).iter().all(|v| v.is_nan()));
    // Period 1 is the identity for the averages; ATR(1) is the true range.
    assert_eq!(sma(&x, 1), x.to_vec());
    assert_eq!(ema(&x, 1), x.to_vec());
    // Mismatched ATR inputs: output follows `close`, computed on the common prefix.
    let a = atr(&[2.0, 3.0], &[1.0, 2.0], &[1.5, 2.5, 3.5, 4.5], 1);
    assert_eq!(a.len(), 4);
    assert_eq!(a[1], 1.5); // max(3 - 2, |1.5 - 3|, |1.5 - 2|)
    assert!(a[2].is_nan() && a[3].is_nan());
    // NaN inputs: windows recover once the NaN has left, rows say None, no panic.
    let mut y: Vec<f64> = (0..100).map(|i| 10.0 + (i % 7) as f64).collect();
    y[30] = f64::NAN;
    let s = sma(&y, 20);
    assert!(s[30..50].iter().all(|v| v.is_nan()));
    assert!(s[50..].iter().all(|v| v.is_finite()));
    assert_eq!(s[50..], sma(&y[31..], 20)[19..]);
    let bars: Vec<Bar> = y
        .iter()
        .enumerate()
        .map(|(i, &c)| Bar {
            open_time: i as i64,
            open: c,
            high: c,
            low: c,
            close: c,
            volume: 0.0,
        })
        .collect();
    let rows = stream_with_reloads(&bars);
    assert_eq!(rows[60].rsi14, None);
    assert!(rows[60].sma20.is_some());
    assert_rows_match_batch(&bars, &rows, "nan");
}

#[test]
fn state_rejects_old_candles_and_round_trips_non_finite_values() {
    let mut st = IndicatorState::new();
    let bar = |t: i64, c: f64| Bar {
        open_time: t,
        open: c,
        high: c,
        low: c,
        close: c,
        volume: 0.0,
    };
    st.try_update(&bar(10, 1.0)).expect("first");
    assert!(st.try_update(&bar(10, 1.0)).is_err());
    assert!(st.try_update(&bar(5, 1.0)).is_err());
    assert_eq!((st.bars_seen(), st.last_open_time()), (1, Some(10)));
    st.update(&bar(20, f64::NAN));
    st.update(&bar(30, f64::INFINITY));
    let json = serde_json::to_string(&st).expect("serialise");
    assert!(json.contains("\"NaN\"") && json.contains("\"inf\""));
    let back: IndicatorState = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(serde_json::to_string(&back).expect("serialise"), json);
    assert_eq!(back.version(), STATE_VERSION);
    // A damaged state is refused, not indexed out of bounds.
    let damaged = json.replacen("\"head\":0", "\"head\":999", 1);
    assert_ne!(damaged, json);
    let mut bad: IndicatorState = serde_json::from_str(&damaged).expect("deserialise");
    assert!(!bad.is_current());
    assert!(bad.try_update(&bar(40, 1.0)).is_err());
}

#[test]
fn csv_line_matches_header() {
    let bars = Golden::parse(GOLDEN[0].1).bars();
    let rows = compute_all(&bars);
    let cols = IndicatorRow::CSV_HEADER.split(',').count();
    let warm = rows[0].csv_line();
    assert_eq!(warm.split(',').count(), cols);
    assert!(warm.ends_with(",,,,,,,,,,,,,"));
    let line = rows[250].csv_line();
    let cells: Vec<&str> = line.split(',').collect();
    assert_eq!(cells.len(), cols);
    assert_eq!(cells[1].parse::<f64>().ok(), rows[250].rsi14);
    assert_eq!(cells[13].parse::<f64>().ok(), rows[250].ema26);
}

/// Reads `open_time,open,high,low,close,volume` candles.
fn read_candles(path: &std::path::Path) -> Vec<Bar> {
    let text = std::fs::read_to_string(path).expect("readable candles");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<f64> = l
                .split(',')
                .map(|c| c.trim().parse::<f64>().expect("number"))
                .collect();
            Bar {
                open_time: f[0] as i64,
                open: f[1],
                high: f[2],
                low: f[3],
                close: f[4],
                volume: f[5],
            }
        })
        .collect()
}

/// On the real candles in `../shared/data` (or `$FKS_SHARED_DATA`), if present:
/// streaming == batch and the basic invariants. The comparison with TA-Lib on these
/// files is `tests/golden/indicators/check_real_data.py` (Python, not run here).
#[test]
fn real_candles_if_present() {
    let dir = std::env::var_os("FKS_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipped: no real candles at {}", dir.display());
        return;
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    for path in &files {
        let bars = read_candles(path);
        let name = path.display().to_string();
        let rows = stream_with_reloads(&bars);
        assert_rows_match_batch(&bars, &rows, &name);
        assert_eq!(compute_all(&bars), rows);
        for (i, r) in rows.iter().enumerate() {
            if let (Some(u), Some(m), Some(l)) = (r.bb_upper, r.bb_middle, r.bb_lower) {
                assert!(l <= m && m <= u, "{name}[{i}]: bands out of order");
            }
            if let Some(v) = r.rsi14 {
                assert!((0.0..=100.0).contains(&v), "{name}[{i}]: rsi {v}");
            }
            if let Some(v) = r.atr14 {
                assert!(v >= 0.0, "{name}[{i}]: atr {v}");
            }
            if i >= 199 {
                assert!(r.sma200.is_some() && r.macd_hist.is_some(), "{name}[{i}]");
            }
        }
        println!("{name}: {} candles, streaming == batch", bars.len());
    }
    assert!(!files.is_empty(), "no csv in {}", dir.display());
}

/// A state saved and loaded after every candle is always `is_current` (also at the
/// block boundaries of the windows and the blocked recurrences).
#[test]
fn state_is_current_after_every_candle() {
    let mut st = IndicatorState::new();
    for i in 0..700 {
        let c = 10.0 + (i % 7) as f64 + if i == 333 { f64::NAN } else { 0.0 };
        st.update(&Bar {
            open_time: i,
            open: c,
            high: c + 0.5,
            low: c - 0.5,
            close: c,
            volume: 0.0,
        });
        let json = serde_json::to_string(&st).expect("serialise");
        let back: IndicatorState = serde_json::from_str(&json).expect("deserialise");
        assert!(back.is_current(), "after candle {i}");
    }
}

/// Equal bits, or both NaN (or `None` and NaN).
fn same_value(stream: Option<f64>, batch: f64, what: &str) {
    match stream {
        Some(v) if !(v.is_nan() && batch.is_nan()) => {
            assert_eq!(
                v.to_bits(),
                batch.to_bits(),
                "{what}: stream {v:e}, batch {batch:e}"
            )
        }
        Some(_) => {}
        None => assert!(batch.is_nan(), "{what}: stream None, batch {batch:e}"),
    }
}

/// The batch loops (blocks, chunks, pairs of window blocks, restarts after a
/// non-finite value) against the one-value kernels, bit for bit, for many periods and
/// lengths around the block, chunk and segment sizes, with NaN and infinite inputs.
#[test]
fn batch_equals_stream_for_any_period_and_length() {
    use super::kernels::{
        AtrKernel, BlockWindow, Ema, MacdKernel, RsiKernel, window_mean, window_stats,
    };
    let mut noise = Noise(99);
    for len in [
        0, 1, 2, 3, 7, 8, 9, 31, 64, 255, 256, 257, 258, 300, 523, 1100,
    ] {
        for bad in [
            None,
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
        ] {
            let mut c: Vec<f64> = (0..len)
                .map(|i| 50.0 + (i as f64 * 0.05).sin() * 5.0 + noise.next())
                .collect();
            if let Some(b) = bad {
                for p in [len / 3, len / 3 + 1, len / 2 + 7, len - len.min(5)] {
                    if p < len {
                        c[p] = b;
                    }
                }
            }
            let h: Vec<f64> = c.iter().map(|v| v + 0.5 + noise.next()).collect();
            let l: Vec<f64> = c.iter().map(|v| v - 0.5 + noise.next()).collect();
            for n in [1, 2, 3, 5, 8, 9, 13, 20, 50, 64] {
                let ctx = |name: &str, i: usize| format!("{name}({n}) len {len} bad {bad:?} [{i}]");
                let inv_n = 1.0 / n as f64;
                let (s, sd, bb) = (sma(&c, n), stddev(&c, n), bbands(&c, n, 1.5));
                let (e, r, a) = (ema(&c, n), rsi(&c, n), atr(&h, &l, &c, n));
                let m = macd(&c, n, 2 * n + 1, 3);
                let mut ws = BlockWindow::new(n, false);
                let mut wv = BlockWindow::new(n, true);
                let mut ke = Ema::new(n, 0);
                let mut kr = RsiKernel::new(n);
                let mut ka = AtrKernel::new(n);
                let mut km = MacdKernel::new(n, 2 * n + 1, 3);
                for i in 0..len {
                    let x = c[i];
                    let sv = ws.push(x).map(|(an, s1, _)| window_mean(an, s1, inv_n));
                    same_value(sv, s[i], &ctx("sma", i));
                    let st = wv
                        .push(x)
                        .map(|(an, s1, s2)| window_stats(an, s1, s2, inv_n));
                    same_value(st.map(|v| v.1.sqrt()), sd[i], &ctx("stddev", i));
                    same_value(st.map(|v| v.0), bb.middle[i], &ctx("bb middle", i));
                    same_value(
                        st.map(|v| v.0 + v.1.sqrt() * 1.5),
                        bb.upper[i],
                        &ctx("bb upper", i),
                    );
                    same_value(
                        st.map(|v| v.0 - v.1.sqrt() * 1.5),
                        bb.lower[i],
                        &ctx("bb lower", i),
                    );
                    same_value(ke.push(x), e[i], &ctx("ema", i));
                    same_value(kr.push(x), r[i], &ctx("rsi", i));
                    same_value(ka.push(h[i], l[i], x), a[i], &ctx("atr", i));
                    let mv = km.push(x);
                    same_value(mv.map(|v| v.0), m.macd[i], &ctx("macd", i));
                    same_value(mv.map(|v| v.1), m.signal[i], &ctx("macd signal", i));
                    same_value(mv.map(|v| v.2), m.hist[i], &ctx("macd hist", i));
                }
            }
        }
    }
}

/// The columnar set is the batch functions (and so the stream) bit for bit, also
/// when recomputed into a reused set of another length.
#[test]
fn standard_set_equals_batch_functions() {
    let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    let mut reused = StandardSet::default();
    for (series, text) in GOLDEN {
        let bars = Golden::parse(text).bars();
        let h: Vec<f64> = bars.iter().map(|b| b.high).collect();
        let l: Vec<f64> = bars.iter().map(|b| b.low).collect();
        let c: Vec<f64> = bars.iter().map(|b| b.close).collect();
        let set = compute_standard_set(&bars);
        reused.compute_into(&bars);
        let columns = |s: &StandardSet| {
            [
                &s.rsi14,
                &s.macd,
                &s.macd_signal,
                &s.macd_hist,
                &s.bb_upper,
                &s.bb_middle,
                &s.bb_lower,
                &s.atr14,
                &s.sma20,
                &s.sma50,
                &s.sma200,
                &s.ema12,
                &s.ema26,
            ]
            .map(|c| bits(c))
        };
        assert_eq!(columns(&set), columns(&reused), "{series}: reused set");
        assert_eq!(set.len(), bars.len());
        let m = macd(&c, 12, 26, 9);
        let bb = bbands(&c, 20, 2.0);
        let pairs: [(&str, &[f64], Vec<f64>); 13] = [
            ("rsi14", &set.rsi14, rsi(&c, 14)),
            ("macd", &set.macd, m.macd),
            ("macd_signal", &set.macd_signal, m.signal),
            ("macd_hist", &set.macd_hist, m.hist),
            ("bb_upper", &set.bb_upper, bb.upper),
            ("bb_middle", &set.bb_middle, bb.middle),
            ("bb_lower", &set.bb_lower, bb.lower),
            ("atr14", &set.atr14, atr(&h, &l, &c, 14)),
            ("sma20", &set.sma20, sma(&c, 20)),
            ("sma50", &set.sma50, sma(&c, 50)),
            ("sma200", &set.sma200, sma(&c, 200)),
            ("ema12", &set.ema12, ema(&c, 12)),
            ("ema26", &set.ema26, ema(&c, 26)),
        ];
        for (name, ours, batch) in pairs {
            assert_eq!(bits(ours), bits(&batch), "{series}/{name}");
        }
    }
    assert!(compute_standard_set(&[]).is_empty());
}
