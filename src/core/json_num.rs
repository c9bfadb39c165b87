//! How numbers are written in every job's JSON: one rule, one place (the README's "Numbers in
//! the JSON" has the full table; `tests/cli/contract.rs` checks every job against it).
//!
//! | kind | JSON | rounding |
//! |---|---|---|
//! | money (an amount of a currency) | number | the currency's precision ([`currency_dp`]) |
//! | quantity, exchange price | string, exact decimal | none: as the exchange (or the paper exchange) wrote it; a computed price or size at most 8 decimals |
//! | fraction, percentage, basis points, statistic | number | none |
//! | count, id, time in ms, duration | integer | — |
//!
//! Never `-0` (a zero is `0`), never NaN or infinity (`null`). Report types use the newtypes
//! ([`Money`], [`Num`], [`DecNum`], [`PriceStr`], [`QtyStr`]) as field types or inside
//! `json!`, or the `serialize_with` functions below on `f64` / `Decimal` fields; quantities and
//! exchange prices held as `Decimal` serialize as exact strings by default (rust_decimal's
//! `serde-with-str`).

use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// Decimals of an amount in `currency`: 2 for US dollars, euros and the dollar stablecoins, 8
/// for everything else (BTC, ETH, BNB …).
pub fn currency_dp(currency: &str) -> u32 {
    match currency {
        "USDT" | "USDC" | "USD" | "BUSD" | "FDUSD" | "TUSD" | "EUR" => 2,
        _ => 8,
    }
}

/// An amount of money in a currency: the exact amount, written as a JSON number rounded to
/// the currency's precision (half away from zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    amount: Decimal,
    dp: u32,
}

impl Money {
    pub fn new(amount: Decimal, currency: &str) -> Money {
        Money {
            amount,
            dp: currency_dp(currency),
        }
    }

    /// An `f64` amount (statistics); `None` when it is NaN, infinite or beyond `Decimal`.
    pub fn from_f64(amount: f64, currency: &str) -> Option<Money> {
        decimal_of(amount).map(|d| Money::new(d, currency))
    }

    pub fn opt(amount: Option<Decimal>, currency: &str) -> Option<Money> {
        amount.map(|a| Money::new(a, currency))
    }

    /// The exact amount.
    pub fn amount(self) -> Decimal {
        self.amount
    }

    /// The amount as written: rounded to the currency's precision, never a negative zero.
    pub fn rounded(self) -> Decimal {
        round_money(self.amount, self.dp)
    }
}

fn round_money(d: Decimal, dp: u32) -> Decimal {
    let r = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    if r.is_zero() { Decimal::ZERO } else { r }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        dec_number(&self.rounded(), s)
    }
}

thread_local! {
    /// Decimals of the currency of the value being serialized (see [`InCurrency`]).
    static CURRENCY_DP: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// Serializes `value` with `currency` as the currency of its money fields: the `Decimal`
/// fields marked `serialize_with = "json_num::money_in"` (shared domain types such as a
/// rebalance plan or a position, whose amounts are in the currency of the account or symbol
/// they belong to) are rounded to its precision. Serialization is depth-first on one thread,
/// so the currency holds exactly for `value`'s subtree; an inner `InCurrency` overrides it.
pub struct InCurrency<'a, T: ?Sized>(pub &'a str, pub &'a T);

impl<T: Serialize + ?Sized> Serialize for InCurrency<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Restore(Option<u32>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENCY_DP.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(CURRENCY_DP.with(|c| c.replace(Some(currency_dp(self.0)))));
        self.1.serialize(s)
    }
}

/// `Decimal` money in the currency of the enclosing [`InCurrency`] → JSON number rounded to
/// its precision. Outside any `InCurrency` it keeps 8 decimals (the most any currency has), so
/// nothing is lost; the output contract test finds the missing currency.
pub fn money_in<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    let dp = CURRENCY_DP.with(|c| c.get()).unwrap_or(8);
    dec_number(&round_money(*d, dp), s)
}

/// `f64` money (statistics over an account's history) in the currency of the enclosing
/// [`InCurrency`]; `null` for NaN and infinities.
pub fn money_f64_in<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    match decimal_of(*x) {
        Some(d) => money_in(&d, s),
        None => s.serialize_none(),
    }
}

pub fn money_f64_in_opt<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(x) => money_f64_in(x, s),
        None => s.serialize_none(),
    }
}

pub fn money_in_opt<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => money_in(d, s),
        None => s.serialize_none(),
    }
}

/// An amount as a JSON value (for `json!` bodies): a number rounded to the currency's precision.
pub fn money(amount: Decimal, currency: &str) -> serde_json::Value {
    serde_json::to_value(Money::new(amount, currency)).unwrap_or(serde_json::Value::Null)
}

/// An `f64` amount as a JSON value; `null` when it is NaN or infinite.
pub fn money_f64(amount: f64, currency: &str) -> serde_json::Value {
    serde_json::to_value(Money::from_f64(amount, currency)).unwrap_or(serde_json::Value::Null)
}

/// A fraction, percentage, basis points or statistic held as `f64`: a JSON number, `0` for a
/// negative zero, `null` for NaN and infinities.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        number(&self.0, s)
    }
}

/// A fraction or percentage held as `Decimal` (allocations, fee rates): a JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DecNum(pub Decimal);

impl Serialize for DecNum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        dec_number(&self.0, s)
    }
}

/// A price computed in `f64` (a signal's entry or stop): an exact decimal string of at most 8
/// decimals, like the exchange's own prices; `null` for NaN and infinities.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct PriceStr(pub f64);

impl Serialize for PriceStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        price_f64(&self.0, s)
    }
}

/// A quantity computed in `f64` (a suggested size): an exact decimal string, rounded down to 8
/// decimals (never more than was sized); `null` for NaN and infinities.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct QtyStr(pub f64);

impl Serialize for QtyStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match decimal_of(self.0) {
            Some(d) => s.collect_str(&plain(
                d.round_dp_with_strategy(8, RoundingStrategy::ToZero),
            )),
            None => s.serialize_none(),
        }
    }
}

fn decimal_of(x: f64) -> Option<Decimal> {
    if !x.is_finite() {
        return None;
    }
    format!("{x}")
        .parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_f64(x))
}

/// A decimal without trailing zeros and without a negative zero.
fn plain(d: Decimal) -> Decimal {
    let d = d.normalize();
    if d.is_zero() { Decimal::ZERO } else { d }
}

/// The exact decimal string of a computed `f64` price (at most 8 decimals, no trailing zeros).
pub fn price_string(x: f64) -> Option<String> {
    decimal_of(x).map(|d| plain(d.round_dp(8)).to_string())
}

// ---------------------------------------------------------------------------------------------
// `#[serde(serialize_with = "...")]` functions, for fields of report types.

/// `f64` → JSON number (`0` for `-0`, `null` for NaN and infinities).
pub fn number<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if !x.is_finite() {
        s.serialize_none()
    } else if *x == 0.0 {
        s.serialize_f64(0.0)
    } else {
        s.serialize_f64(*x)
    }
}

pub fn number_opt<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(x) => number(x, s),
        None => s.serialize_none(),
    }
}

/// `Decimal` → JSON number (fractions, fee rates, amounts already rounded).
pub fn dec_number<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    match d.to_f64() {
        Some(x) => number(&x, s),
        None => s.serialize_none(),
    }
}

pub fn dec_number_opt<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => dec_number(d, s),
        None => s.serialize_none(),
    }
}

/// A map of fractions (allocations by symbol) → an object of JSON numbers.
pub fn dec_number_map<S: Serializer, K: Serialize + Ord>(
    m: &BTreeMap<K, Decimal>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter().map(|(k, v)| (k, DecNum(*v))))
}

/// A computed `f64` price → exact decimal string (see [`PriceStr`]).
pub fn price_f64<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    match price_string(*x) {
        Some(p) => s.serialize_str(&p),
        None => s.serialize_none(),
    }
}

pub fn price_f64_opt<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(x) => price_f64(x, s),
        None => s.serialize_none(),
    }
}

pub fn price_f64_vec<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(xs.iter().map(|x| PriceStr(*x)))
}

/// Replaces every negative zero in a JSON tree by `0`: the last guard of "never `-0`", for
/// numbers that reached a body without these helpers.
pub fn scrub_negative_zero(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n)
            if n.as_f64().is_some_and(|x| x == 0.0 && x.is_sign_negative()) =>
        {
            *n = serde_json::Number::from(0);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(scrub_negative_zero),
        serde_json::Value::Object(m) => m.values_mut().for_each(scrub_negative_zero),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn money_is_a_number_rounded_to_its_currency() {
        assert_eq!(money(d("9922.1697729932984"), "USDT"), json!(9922.17));
        assert_eq!(
            money(d("0.005"), "USDT"),
            json!(0.01),
            "half away from zero"
        );
        assert_eq!(money(d("-0.005"), "USDT"), json!(-0.01));
        assert_eq!(money(d("0.000123456789"), "BTC"), json!(0.00012346));
        assert_eq!(money(d("10000"), "USDC").to_string(), "10000.0");
        assert_eq!(money_f64(f64::NAN, "USDT"), json!(null));
        assert_eq!(money_f64(12307.64707758092, "USDT"), json!(12307.65));
        let m = Money::new(d("1.9549230741"), "USDT");
        assert_eq!((m.amount(), m.rounded()), (d("1.9549230741"), d("1.95")));
    }

    #[test]
    fn money_fields_take_the_currency_of_their_subtree() {
        #[derive(Serialize)]
        struct Fill {
            #[serde(serialize_with = "money_in")]
            fee: Decimal,
        }
        let f = Fill {
            fee: d("0.000123456789"),
        };
        assert_eq!(json!(InCurrency("USDT", &f)), json!({"fee": 0.0}));
        assert_eq!(json!(InCurrency("BNB", &f)), json!({"fee": 0.00012346}));
        // Nested: the inner currency wins inside, the outer one is back after it.
        #[derive(Serialize)]
        struct Outer<'a> {
            a: InCurrency<'a, Fill>,
            b: Fill,
        }
        let outer = Outer {
            a: InCurrency("BTC", &f),
            b: Fill { fee: d("2.345") },
        };
        let v = json!(InCurrency("USDT", &outer));
        assert_eq!(v, json!({"a": {"fee": 0.00012346}, "b": {"fee": 2.35}}));
        assert_eq!(
            json!(&f),
            json!({"fee": 0.00012346}),
            "no currency: 8 decimals"
        );
    }

    #[test]
    fn no_negative_zero_anywhere() {
        for v in [
            money(d("-0.004"), "USDT"),
            money_f64(-0.0, "USDT"),
            json!(Num(-0.0)),
            json!(DecNum(d("-0.000"))),
        ] {
            assert_eq!(v.to_string(), "0.0", "{v}");
        }
        assert_eq!(json!(PriceStr(-0.0)), json!("0"));
        let mut v = json!({"a": [-0.0, 1.5], "b": {"c": -0.0}});
        scrub_negative_zero(&mut v);
        assert_eq!(v.to_string(), r#"{"a":[0,1.5],"b":{"c":0}}"#);
    }

    #[test]
    fn computed_prices_and_sizes_are_exact_strings() {
        assert_eq!(json!(PriceStr(1592.5589020949042)), json!("1592.55890209"));
        assert_eq!(json!(PriceStr(63062.58)), json!("63062.58"));
        assert_eq!(json!(PriceStr(f64::INFINITY)), json!(null));
        assert_eq!(json!(QtyStr(0.06594312648338964)), json!("0.06594312"));
        assert_eq!(json!(QtyStr(2.0)), json!("2"));
        assert_eq!(json!(Num(f64::NAN)), json!(null));
        assert_eq!(json!(DecNum(d("0.197065"))), json!(0.197065));
    }

    proptest! {
        /// Any amount in any currency: a finite JSON number, within half a unit of the last
        /// decimal of the amount, with at most the currency's decimals, never -0.
        #[test]
        fn money_round_trips_within_its_precision(
            units in -10_000_000_000_000i64..10_000_000_000_000i64,
            scale in 0u32..12,
            cur in prop::sample::select(vec!["USDT", "USD", "BTC", "ETH", "BNB", "EUR"]),
        ) {
            let amount = Decimal::new(units, scale);
            let v = money(amount, cur);
            let text = v.to_string();
            prop_assert!(!text.starts_with("-0") || text.starts_with("-0."), "{text}");
            prop_assert!(text != "-0.0", "{text}");
            let x = v.as_f64().unwrap();
            let dp = currency_dp(cur);
            let back = Decimal::from_str_exact(&format!("{x}")).unwrap();
            prop_assert!(back.scale() <= dp, "{text} has more than {dp} decimals");
            let unit = Decimal::new(5, dp + 1);
            prop_assert!((back - amount).abs() <= unit, "{amount} → {text}");
        }

        /// Any f64 price: a plain decimal string (no exponent, at most 8 decimals) or null.
        #[test]
        fn computed_prices_are_plain_decimals(x in proptest::num::f64::ANY) {
            match price_string(x) {
                Some(s) => {
                    prop_assert!(x.is_finite());
                    let p = Decimal::from_str_exact(&s).unwrap();
                    prop_assert!(p.scale() <= 8 && !s.contains('e') && s != "-0", "{s}");
                }
                None => prop_assert!(!x.is_finite() || x.abs() > 7.9e28),
            }
        }
    }
}
