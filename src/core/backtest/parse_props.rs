//! Property tests of the parsers of `--params` and `--grid` (outside input): arbitrary and
//! mutated text never panics, errors say something, and what is accepted is valid.

use super::optimize::Grid;
use super::strategy::{StrategyKind, StrategySpec};
use proptest::prelude::*;

const KINDS: [StrategyKind; 5] = [
    StrategyKind::SmaCross,
    StrategyKind::EmaCross,
    StrategyKind::RsiReversion,
    StrategyKind::MacdCross,
    StrategyKind::BollingerReversion,
];

/// Pieces a person (or a fuzzer) would put in a spec.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("fast".to_string()),
        Just("slow".to_string()),
        Just("signal".to_string()),
        Just("period".to_string()),
        Just("lower".to_string()),
        Just("upper".to_string()),
        Just("k".to_string()),
        Just("stop_loss".to_string()),
        Just("take_profit".to_string()),
        Just("atr_period".to_string()),
        Just("direction".to_string()),
        Just("long_short".to_string()),
        Just("=".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("%".to_string()),
        Just("atr".to_string()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-".to_string()),
        Just("1e308".to_string()),
        Just("1e-9".to_string()),
        (-1_000_000i64..1_000_000).prop_map(|v| v.to_string()),
        (-1000.0f64..1000.0).prop_map(|v| v.to_string()),
        "\\PC{0,4}",
    ]
}

fn spec_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(token(), 0..12).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn params_never_panic_and_accepted_specs_are_valid(kind in 0usize..5, text in spec_text()) {
        let k = KINDS[kind];
        match StrategySpec::parse(k.as_str(), &text) {
            Ok(spec) => {
                prop_assert!(spec.validate().is_ok());
                prop_assert!(spec.params.values().all(|v| v.is_finite()));
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn params_from_arbitrary_text_never_panic(name in "\\PC{0,20}", text in "\\PC{0,60}") {
        let _ = StrategySpec::parse(&name, &text);
    }

    /// A grid never panics, never lists more values than it counts (no huge allocation is
    /// needed to refuse one), and every value of an accepted grid is within the bounds.
    #[test]
    fn grids_never_panic_and_accepted_ranges_are_in_bounds(kind in 0usize..5, text in spec_text()) {
        let k = KINDS[kind];
        match Grid::parse(k, &text) {
            Ok(g) => {
                for d in k.params() {
                    let r = g.ranges[d.name];
                    prop_assert!(r.start >= d.min && r.end <= d.max, "{:?} {:?}", d, r);
                    prop_assert!(!r.is_empty());
                    if r.len() <= 10_000 {
                        let vals = r.values();
                        prop_assert_eq!(vals.len(), r.len());
                        prop_assert!(vals.iter().all(|v| *v >= d.min && *v <= d.max));
                    }
                }
                // check() tries at most 2^3 corners whatever the grid's size
                let _ = g.check(&StrategySpec::default_for(k));
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Specs that were accepted print and parse back to the same spec.
    #[test]
    fn accepted_params_round_trip(kind in 0usize..5, text in spec_text()) {
        let k = KINDS[kind];
        if let Ok(spec) = StrategySpec::parse(k.as_str(), &text) {
            let kv: Vec<String> = spec.params.iter().map(|(n, v)| format!("{n}={v}")).collect();
            let mut again = StrategySpec::parse(k.as_str(), &kv.join(",")).unwrap();
            again.stop_loss = spec.stop_loss;
            again.take_profit = spec.take_profit;
            again.direction = spec.direction;
            again.atr_period = spec.atr_period;
            prop_assert_eq!(again, spec);
        }
    }
}

#[test]
fn grid_bounds_and_emptiness_are_checked_without_listing_values() {
    // 1e15 values would not fit in memory: refused by the bounds, counted not listed.
    assert!(Grid::parse(StrategyKind::SmaCross, "fast=2:1e15:1").is_err());
    assert!(Grid::parse(StrategyKind::SmaCross, "fast=2:1000000:1").is_err());
    let g = Grid::parse(StrategyKind::SmaCross, "fast=2:100000:1,slow=2:100000:1").unwrap();
    assert!(
        g.check(&StrategySpec::default_for(StrategyKind::SmaCross))
            .is_ok()
    );
    let g = Grid::parse(StrategyKind::SmaCross, "fast=30:40:5,slow=5:10:5").unwrap();
    assert!(
        g.check(&StrategySpec::default_for(StrategyKind::SmaCross))
            .is_err()
    );
    // macd: fast 10..12 against slow 8..20 has valid combinations (fast 10, slow 20)
    let g = Grid::parse(StrategyKind::MacdCross, "fast=10:12:1,slow=8:20:1").unwrap();
    assert!(
        g.check(&StrategySpec::default_for(StrategyKind::MacdCross))
            .is_ok()
    );
    let g = Grid::parse(StrategyKind::BollingerReversion, "k=0:0:1").unwrap();
    assert!(
        g.check(&StrategySpec::default_for(StrategyKind::BollingerReversion))
            .is_err()
    );
    assert!(Grid::parse(StrategyKind::SmaCross, "fast=2.5:10:1").is_err());
    assert!(Grid::parse(StrategyKind::RsiReversion, "lower=10.5:20:0.5").is_ok());
}
