//! Target allocations given by hand (`rebalance-portfolio --targets FILE`): a JSON object
//! of symbol → fraction of the account's value, e.g. `{"BTCUSDT": 0.5, "ETHUSDT": 0.3}`.
//!
//! Checked before anything is planned: every key a symbol (spelled as `--symbol` takes
//! it, upper-cased), no symbol twice (also `BTCUSDT` and `btcusdt`, which a JSON object
//! would otherwise silently collapse to the last one), every fraction a number in [0, 1],
//! and the fractions summing to at most 1 (the rest stays in the quote currency).

use crate::core::market::Symbol;
use rust_decimal::Decimal;
use serde::de::{Deserializer, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetsError {
    #[error(
        "not a JSON object of symbol to fraction ({0}); expected {{\"BTCUSDT\": 0.5, \"ETHUSDT\": 0.3}}"
    )]
    Syntax(String),
    #[error("{key:?} is not a symbol: {reason}")]
    BadSymbol { key: String, reason: String },
    #[error("{symbol} is listed twice ({first:?} and {second:?}); list each symbol once")]
    Duplicate {
        symbol: String,
        first: String,
        second: String,
    },
    #[error("{symbol}: {value} is not a fraction between 0 and 1")]
    BadFraction { symbol: String, value: String },
    #[error(
        "the fractions sum to {0}, above 1: they are shares of the account's value (the rest stays in cash)"
    )]
    SumAboveOne(Decimal),
}

/// The entries of a JSON object in the order written, duplicates kept.
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, serde_json::Value>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A fraction written as a JSON number or a decimal string.
fn fraction(v: &serde_json::Value) -> Option<Decimal> {
    let text = match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

/// Parse and check a targets file's text.
pub fn parse(text: &str) -> Result<BTreeMap<Symbol, Decimal>, TargetsError> {
    let Entries(entries) =
        serde_json::from_str(text).map_err(|e| TargetsError::Syntax(e.to_string()))?;
    let mut out: BTreeMap<Symbol, Decimal> = BTreeMap::new();
    let mut spelled: BTreeMap<Symbol, String> = BTreeMap::new();
    let mut sum = Decimal::ZERO;
    for (key, value) in entries {
        let symbol = Symbol::from_str(&key).map_err(|e| TargetsError::BadSymbol {
            key: key.clone(),
            reason: format!("{e:#}"),
        })?;
        if let Some(first) = spelled.get(&symbol) {
            return Err(TargetsError::Duplicate {
                symbol: symbol.0,
                first: first.clone(),
                second: key,
            });
        }
        let f = fraction(&value)
            .filter(|f| *f >= Decimal::ZERO && *f <= Decimal::ONE)
            .ok_or_else(|| TargetsError::BadFraction {
                symbol: symbol.0.clone(),
                value: value.to_string(),
            })?;
        sum += f;
        spelled.insert(symbol.clone(), key);
        out.insert(symbol, f);
    }
    if sum > Decimal::ONE {
        return Err(TargetsError::SumAboveOne(sum.normalize()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn good_targets_parse() {
        let t = parse(r#"{"BTCUSDT": 0.5, "ethusdt": "0.3", "SOLUSDT": 0}"#).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[&Symbol("BTCUSDT".into())], d("0.5"));
        assert_eq!(t[&Symbol("ETHUSDT".into())], d("0.3"));
        assert_eq!(t[&Symbol("SOLUSDT".into())], Decimal::ZERO);
        assert!(parse("{}").unwrap().is_empty());
        // exactly 1 is allowed; 1e-1 notation too
        assert_eq!(
            parse(r#"{"BTCUSDT": 0.9, "ETHUSDT": 1e-1}"#).unwrap().len(),
            2
        );
    }

    #[test]
    fn bad_targets_are_refused_with_the_reason() {
        let e = parse(r#"{"BTCUSDT": 0.7, "ETHUSDT": 0.5}"#).unwrap_err();
        assert_eq!(e, TargetsError::SumAboveOne(d("1.2")));
        let e = parse(r#"{"BTCUSDT": 0.3, "BTCUSDT": 0.2}"#).unwrap_err();
        assert!(matches!(e, TargetsError::Duplicate { .. }), "{e}");
        let e = parse(r#"{"BTCUSDT": 0.3, "btcusdt": 0.2}"#).unwrap_err();
        assert!(e.to_string().contains("\"btcusdt\""), "{e}");
        for bad in [
            r#"{"BTCUSDT": -0.1}"#,
            r#"{"BTCUSDT": 1.5}"#,
            r#"{"BTCUSDT": "abc"}"#,
            r#"{"BTCUSDT": null}"#,
            r#"{"BTCUSDT": [0.5]}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(TargetsError::BadFraction { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            parse(r#"{"BTC/USDT": 0.5}"#),
            Err(TargetsError::BadSymbol { .. })
        ));
        for bad in ["", "[0.5]", "0.5", "{\"BTCUSDT\": 0.5", "null"] {
            assert!(matches!(parse(bad), Err(TargetsError::Syntax(_))), "{bad}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary text never panics; what is accepted obeys every rule.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            if let Ok(t) = parse(&text) {
                let sum: Decimal = t.values().sum();
                prop_assert!(sum <= Decimal::ONE);
            }
        }

        /// Valid files with one byte changed, removed or added: no panic, and anything
        /// accepted still obeys every rule.
        #[test]
        fn mutated_files_never_panic(
            weights in proptest::collection::vec(0u32..400, 1..5),
            pos in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            op in 0u8..3,
        ) {
            let syms = ["BTCUSDT", "ETHUSDT", "btcusdt", "SOLUSDT", "ADAUSDT"];
            let body: Vec<String> = weights
                .iter()
                .enumerate()
                .map(|(i, w)| format!("\"{}\": {}", syms[i], *w as f64 / 1000.0))
                .collect();
            let text = format!("{{{}}}", body.join(", "));
            let mut bytes = text.into_bytes();
            let i = pos.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
            let text = String::from_utf8_lossy(&bytes);
            match parse(&text) {
                Ok(t) => {
                    let sum: Decimal = t.values().sum();
                    prop_assert!(sum <= Decimal::ONE);
                    prop_assert!(t.values().all(|v| *v >= Decimal::ZERO && *v <= Decimal::ONE));
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        /// Fractions that sum to at most 1 round-trip through the file format.
        #[test]
        fn written_targets_read_back(weights in proptest::collection::vec(0u32..250, 0..4)) {
            let syms = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT"];
            let map: BTreeMap<String, Decimal> = weights
                .iter()
                .enumerate()
                .map(|(i, w)| (syms[i].to_string(), Decimal::new(*w as i64, 3)))
                .collect();
            let text = serde_json::to_string(&map).unwrap();
            let back = parse(&text).unwrap();
            prop_assert_eq!(back.len(), map.len());
            for (k, v) in &map {
                prop_assert_eq!(back[&Symbol(k.clone())], *v);
            }
        }
    }
}
