//! Stop-loss and trailing-stop evaluation for one position at one price.
//!
//! - A LONG triggers when price <= stop; a SHORT when price >= stop (equality triggers).
//! - A trailing stop follows the best price since the position opened: LONG
//!   `high_water × (1 − pct)` or `high_water − k × ATR`; SHORT `low_water × (1 + pct)` or
//!   `low_water + k × ATR`. With no stored mark, the mark starts at the entry price (the
//!   position's best price is at least its entry); `fks position stop` may store the current
//!   price as the mark to trail from "now" instead.
//! - The trailing level is a ratchet, stored in `trailing_stop`: a LONG's never moves down and
//!   a SHORT's never moves up, even when ATR widens. Changing or clearing the trailing rule
//!   should clear the stored marks and ratchet (the command that sets the stop does that).
//! - The effective stop is the tighter of the fixed stop and the trailing level: the max for a
//!   LONG, the min for a SHORT.
//! - A price older than `max_age_ms` is never used to trigger and moves no mark: `stale`.
//! - An ATR trailing stop with no ATR still checks the fixed stop and the stored ratchet; if
//!   neither triggers the status is `no_atr` so the gap is visible.

use super::PositionSide;
use crate::core::market::Symbol;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How a trailing stop follows the price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trailing {
    /// A fraction of the mark: `0.05` = 5 % below the high-water mark (LONG). Must be in (0, 1);
    /// a CLI taking `--trailing-pct 5` divides by 100.
    Pct(Decimal),
    /// `multiple × ATR` below the high-water mark (LONG). `multiple` must be > 0.
    Atr { multiple: Decimal },
}

/// A position's stop as stored: the fixed level, the trailing rule and its persisted state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopSpec {
    pub stop_price: Option<Decimal>,
    pub trailing: Option<Trailing>,
    /// Highest fresh price seen since the trailing stop was set (LONG).
    pub high_water: Option<Decimal>,
    /// Lowest fresh price seen (SHORT).
    pub low_water: Option<Decimal>,
    /// The trailing level reached so far (the ratchet).
    pub trailing_stop: Option<Decimal>,
}

impl StopSpec {
    /// The stop as jobs print it (the output contract): prices as exact decimal strings, a
    /// trailing percentage as a number in percent (`{"pct": 5}` for `--trailing-pct 5`), an
    /// ATR multiple as a number. The stored form (this type's serde) keeps the fraction,
    /// `{"pct": "0.05"}`.
    pub fn to_report_json(&self) -> serde_json::Value {
        use crate::core::json_num::DecNum;
        let trailing = self.trailing.map(|t| match t {
            Trailing::Pct(p) => serde_json::json!({"pct": DecNum(p * Decimal::ONE_HUNDRED)}),
            Trailing::Atr { multiple } => {
                serde_json::json!({"atr": {"multiple": DecNum(multiple)}})
            }
        });
        serde_json::json!({
            "stop_price": self.stop_price,
            "trailing": trailing,
            "high_water": self.high_water,
            "low_water": self.low_water,
            "trailing_stop": self.trailing_stop,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopStatus {
    Triggered,
    NotTriggered,
    /// The price is older than allowed; not used.
    Stale,
    /// The position has no stop.
    NoStop,
    /// ATR trailing stop, no ATR available; fixed stop and ratchet checked, not triggered.
    NoAtr,
    /// The spec or the price cannot be used (e.g. trailing pct outside (0, 1), price <= 0).
    Invalid,
}

/// The result of [`evaluate_stop`]. `new_*` are what to persist (equal to the input when
/// nothing moved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopCheck {
    pub status: StopStatus,
    /// The level the price was compared with.
    pub effective_stop: Option<Decimal>,
    pub fixed_stop: Option<Decimal>,
    /// The trailing level in force (when stale: from the stored marks, and not persisted).
    pub trailing_stop: Option<Decimal>,
    pub new_high_water: Option<Decimal>,
    pub new_low_water: Option<Decimal>,
    pub new_trailing_stop: Option<Decimal>,
    pub price: Decimal,
    pub price_age_ms: i64,
    /// How far the price is from the stop, in percent of the price, positive while not
    /// triggered: LONG (price − stop) / price × 100, SHORT (stop − price) / price × 100.
    #[serde(serialize_with = "crate::core::json_num::dec_number_opt")]
    pub distance_pct: Option<Decimal>,
    /// Why the status is `stale`, `no_atr` or `invalid`.
    pub message: Option<String>,
}

impl StopCheck {
    /// Whether the stored marks should be written back.
    pub fn marks_changed(&self, spec: &StopSpec) -> bool {
        self.new_high_water != spec.high_water
            || self.new_low_water != spec.low_water
            || self.new_trailing_stop != spec.trailing_stop
    }
}

fn tighter(side: PositionSide, a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
    match (a, b) {
        (Some(a), Some(b)) => Some(match side {
            PositionSide::Long => a.max(b),
            PositionSide::Short => a.min(b),
        }),
        (a, b) => a.or(b),
    }
}

/// The trailing level for a mark; `Err(())` when an ATR rule has no ATR.
fn trail_level(
    side: PositionSide,
    rule: Trailing,
    mark: Decimal,
    atr: Option<Decimal>,
) -> Result<Option<Decimal>, ()> {
    let level = match (rule, side) {
        (Trailing::Pct(p), PositionSide::Long) => mark * (Decimal::ONE - p),
        (Trailing::Pct(p), PositionSide::Short) => mark * (Decimal::ONE + p),
        (Trailing::Atr { multiple }, _) => {
            let a = atr.filter(|a| *a > Decimal::ZERO).ok_or(())?;
            match side {
                PositionSide::Long => mark - multiple * a,
                PositionSide::Short => mark + multiple * a,
            }
        }
    };
    // A LONG stop at or below zero can never trigger; treat it as no level.
    Ok((level > Decimal::ZERO).then(|| level.normalize()))
}

fn triggers(side: PositionSide, price: Decimal, stop: Decimal) -> bool {
    match side {
        PositionSide::Long => price <= stop,
        PositionSide::Short => price >= stop,
    }
}

fn distance_pct(side: PositionSide, price: Decimal, stop: Decimal) -> Decimal {
    let d = match side {
        PositionSide::Long => price - stop,
        PositionSide::Short => stop - price,
    };
    (d / price * Decimal::ONE_HUNDRED).round_dp(4).normalize()
}

/// Evaluate one position's stop at `price` (observed at `price_time_ms`; now is `now_ms`).
/// Pure: the caller persists `new_high_water`, `new_low_water` and `new_trailing_stop`.
#[allow(clippy::too_many_arguments)] // the signature; every argument is a plain value
pub fn evaluate_stop(
    side: PositionSide,
    entry: Decimal,
    spec: &StopSpec,
    price: Decimal,
    price_time_ms: i64,
    now_ms: i64,
    max_age_ms: i64,
    atr: Option<Decimal>,
) -> StopCheck {
    let fixed = spec
        .stop_price
        .filter(|p| *p > Decimal::ZERO)
        .map(|p| p.normalize());
    let price_age_ms = now_ms.saturating_sub(price_time_ms);
    let mut check = StopCheck {
        status: StopStatus::NotTriggered,
        effective_stop: None,
        fixed_stop: fixed,
        trailing_stop: spec.trailing_stop,
        new_high_water: spec.high_water,
        new_low_water: spec.low_water,
        new_trailing_stop: spec.trailing_stop,
        price,
        price_age_ms,
        distance_pct: None,
        message: None,
    };
    let invalid = |mut c: StopCheck, msg: String| {
        c.status = StopStatus::Invalid;
        c.message = Some(msg);
        c
    };

    if fixed.is_none() && spec.trailing.is_none() {
        check.status = StopStatus::NoStop;
        return check;
    }
    match spec.trailing {
        Some(Trailing::Pct(p)) if p <= Decimal::ZERO || p >= Decimal::ONE => {
            return invalid(
                check,
                format!("trailing pct {p} must be a fraction between 0 and 1 (0.05 = 5 %)"),
            );
        }
        Some(Trailing::Atr { multiple }) if multiple <= Decimal::ZERO => {
            return invalid(
                check,
                format!("trailing ATR multiple {multiple} must be above 0"),
            );
        }
        _ => {}
    }
    if price <= Decimal::ZERO {
        return invalid(check, format!("price {price} is not usable"));
    }

    let stale = price_age_ms > max_age_ms;
    // The mark after this price: moved only by a fresh price, only in the position's favour.
    let start = if entry > Decimal::ZERO { entry } else { price };
    let (mark, new_hw, new_lw) = match side {
        PositionSide::Long => {
            let old = spec.high_water.unwrap_or(start);
            let m = if stale { old } else { old.max(price) };
            (
                m,
                if stale { spec.high_water } else { Some(m) },
                spec.low_water,
            )
        }
        PositionSide::Short => {
            let old = spec.low_water.unwrap_or(start);
            let m = if stale { old } else { old.min(price) };
            (
                m,
                spec.high_water,
                if stale { spec.low_water } else { Some(m) },
            )
        }
    };

    let mut no_atr = false;
    let trailing = match spec.trailing {
        None => None,
        Some(rule) => {
            let level = match trail_level(side, rule, mark, atr) {
                Ok(l) => l,
                Err(()) => {
                    no_atr = true;
                    None
                }
            };
            // The ratchet: never looser than what was reached before.
            tighter(side, spec.trailing_stop, level)
        }
    };
    let effective = tighter(side, fixed, trailing);
    check.effective_stop = effective;
    check.trailing_stop = trailing;
    check.distance_pct = effective.map(|s| distance_pct(side, price, s));

    if stale {
        check.status = StopStatus::Stale;
        check.message = Some(format!(
            "price is {price_age_ms} ms old (allowed {max_age_ms} ms); not used to trigger or to move the marks"
        ));
        return check;
    }
    check.new_high_water = new_hw.map(|d| d.normalize());
    check.new_low_water = new_lw.map(|d| d.normalize());
    check.new_trailing_stop = trailing;

    check.status = match effective {
        Some(stop) if triggers(side, price, stop) => StopStatus::Triggered,
        _ if no_atr => {
            check.message = Some(
                "no ATR available for the ATR trailing stop; only the fixed stop and the last trailing level were checked"
                    .to_string(),
            );
            StopStatus::NoAtr
        }
        _ => StopStatus::NotTriggered,
    };
    check
}

/// The dedup key of a stop-loss alert: one alert per position side and trigger level, so a stop
/// that stays triggered does not page every run, and a changed stop (or a new trailing level)
/// alerts again. The level is normalized (`100.0` and `100` give the same key).
pub fn alert_key(
    account_id: i64,
    symbol: &Symbol,
    side: PositionSide,
    stop_price: Decimal,
) -> String {
    format!(
        "stop-loss:{account_id}:{symbol}:{}:{}",
        side.as_str(),
        stop_price.normalize()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::execution::test_support::{d, sym};

    const NOW: i64 = 1_700_000_000_000;
    const MAX_AGE: i64 = 300_000;

    fn fixed(stop: &str) -> StopSpec {
        StopSpec {
            stop_price: Some(d(stop)),
            ..StopSpec::default()
        }
    }

    fn at(side: PositionSide, spec: &StopSpec, price: &str) -> StopCheck {
        evaluate_stop(
            side,
            d("100"),
            spec,
            d(price),
            NOW - 1_000,
            NOW,
            MAX_AGE,
            None,
        )
    }

    /// Feed prices one after another, persisting the marks as the command would.
    fn walk(
        side: PositionSide,
        mut spec: StopSpec,
        prices: &[(&str, Option<&str>)],
    ) -> Vec<StopCheck> {
        prices
            .iter()
            .map(|(p, atr)| {
                let c = evaluate_stop(side, d("100"), &spec, d(p), NOW, NOW, MAX_AGE, atr.map(d));
                spec.high_water = c.new_high_water;
                spec.low_water = c.new_low_water;
                spec.trailing_stop = c.new_trailing_stop;
                c
            })
            .collect()
    }

    #[test]
    fn long_triggers_at_exactly_the_stop() {
        let spec = fixed("95");
        assert_eq!(
            at(PositionSide::Long, &spec, "95.01").status,
            StopStatus::NotTriggered
        );
        let c = at(PositionSide::Long, &spec, "95");
        assert_eq!(c.status, StopStatus::Triggered);
        assert_eq!(c.effective_stop, Some(d("95")));
        assert_eq!(c.distance_pct, Some(d("0")));
        assert_eq!(
            at(PositionSide::Long, &spec, "90").status,
            StopStatus::Triggered
        );
        assert_eq!(
            at(PositionSide::Long, &spec, "100").distance_pct,
            Some(d("5"))
        );
    }

    #[test]
    fn short_triggers_at_exactly_the_stop() {
        let spec = fixed("105");
        assert_eq!(
            at(PositionSide::Short, &spec, "104.99").status,
            StopStatus::NotTriggered
        );
        assert_eq!(
            at(PositionSide::Short, &spec, "105").status,
            StopStatus::Triggered
        );
        assert_eq!(
            at(PositionSide::Short, &spec, "110").status,
            StopStatus::Triggered
        );
        assert_eq!(
            at(PositionSide::Short, &spec, "100").distance_pct,
            Some(d("5"))
        );
    }

    #[test]
    fn trailing_pct_long_follows_the_high_and_never_moves_down() {
        let spec = StopSpec {
            stop_price: Some(d("85")),
            trailing: Some(Trailing::Pct(d("0.1"))),
            ..StopSpec::default()
        };
        let c = walk(
            PositionSide::Long,
            spec,
            &[
                ("100", None),
                ("120", None),
                ("110", None),
                ("108.01", None),
                ("108", None),
            ],
        );
        let stops: Vec<_> = c.iter().map(|c| c.effective_stop.unwrap()).collect();
        assert_eq!(stops, vec![d("90"), d("108"), d("108"), d("108"), d("108")]);
        let highs: Vec<_> = c.iter().map(|c| c.new_high_water.unwrap()).collect();
        assert_eq!(
            highs,
            vec![d("100"), d("120"), d("120"), d("120"), d("120")]
        );
        let status: Vec<_> = c.iter().map(|c| c.status).collect();
        assert_eq!(
            status,
            vec![
                StopStatus::NotTriggered,
                StopStatus::NotTriggered,
                StopStatus::NotTriggered,
                StopStatus::NotTriggered,
                StopStatus::Triggered
            ]
        );
        // the fixed stop wins while it is tighter
        let spec = StopSpec {
            stop_price: Some(d("95")),
            trailing: Some(Trailing::Pct(d("0.1"))),
            ..StopSpec::default()
        };
        assert_eq!(
            at(PositionSide::Long, &spec, "100").effective_stop,
            Some(d("95"))
        );
    }

    #[test]
    fn trailing_pct_short_follows_the_low_and_never_moves_up() {
        let spec = StopSpec {
            trailing: Some(Trailing::Pct(d("0.1"))),
            ..StopSpec::default()
        };
        let c = walk(
            PositionSide::Short,
            spec,
            &[
                ("100", None),
                ("80", None),
                ("85", None),
                ("87.99", None),
                ("88", None),
            ],
        );
        let stops: Vec<_> = c.iter().map(|c| c.effective_stop.unwrap()).collect();
        assert_eq!(stops, vec![d("110"), d("88"), d("88"), d("88"), d("88")]);
        let lows: Vec<_> = c.iter().map(|c| c.new_low_water.unwrap()).collect();
        assert_eq!(lows, vec![d("100"), d("80"), d("80"), d("80"), d("80")]);
        assert_eq!(c[3].status, StopStatus::NotTriggered);
        assert_eq!(c[4].status, StopStatus::Triggered);
        assert!(c.iter().all(|c| c.new_high_water.is_none()));
    }

    #[test]
    fn trailing_atr_ratchets_even_when_atr_widens() {
        let spec = StopSpec {
            trailing: Some(Trailing::Atr { multiple: d("2") }),
            ..StopSpec::default()
        };
        // LONG: 120 − 2×5 = 110; ATR doubles → 120 − 20 = 100, but the ratchet keeps 110
        let c = walk(
            PositionSide::Long,
            spec.clone(),
            &[("120", Some("5")), ("111", Some("10")), ("110", Some("10"))],
        );
        assert_eq!(c[0].effective_stop, Some(d("110")));
        assert_eq!(c[1].effective_stop, Some(d("110")));
        assert_eq!(c[1].status, StopStatus::NotTriggered);
        assert_eq!(c[2].status, StopStatus::Triggered);
        // SHORT: 80 + 2×5 = 90; ATR doubles → 100, the ratchet keeps 90
        let c = walk(
            PositionSide::Short,
            spec,
            &[("80", Some("5")), ("89", Some("10")), ("90", Some("10"))],
        );
        assert_eq!(c[0].effective_stop, Some(d("90")));
        assert_eq!(c[1].effective_stop, Some(d("90")));
        assert_eq!(c[1].status, StopStatus::NotTriggered);
        assert_eq!(c[2].status, StopStatus::Triggered);
    }

    #[test]
    fn water_marks_and_trailing_levels_never_move_against_the_position() {
        let mut x: u64 = 99;
        for side in [PositionSide::Long, PositionSide::Short] {
            for rule in [
                Trailing::Pct(d("0.03")),
                Trailing::Atr { multiple: d("1.5") },
            ] {
                let mut spec = StopSpec {
                    trailing: Some(rule),
                    ..StopSpec::default()
                };
                let mut price = d("100");
                for _ in 0..500 {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    price = (price + Decimal::new((x >> 40) as i64 % 401 - 200, 2)).max(d("1"));
                    let atr = Decimal::new(1 + (x >> 20) as i64 % 500, 2);
                    let c =
                        evaluate_stop(side, d("100"), &spec, price, NOW, NOW, MAX_AGE, Some(atr));
                    match side {
                        PositionSide::Long => {
                            assert!(c.new_high_water >= spec.high_water);
                            assert!(c.new_trailing_stop >= spec.trailing_stop);
                        }
                        PositionSide::Short => {
                            let le = |a: Option<Decimal>, b: Option<Decimal>| b.is_none() || a <= b;
                            assert!(le(c.new_low_water, spec.low_water));
                            assert!(le(c.new_trailing_stop, spec.trailing_stop));
                        }
                    }
                    spec.high_water = c.new_high_water;
                    spec.low_water = c.new_low_water;
                    spec.trailing_stop = c.new_trailing_stop;
                }
            }
        }
    }

    #[test]
    fn a_stale_price_never_triggers_and_moves_nothing() {
        let spec = StopSpec {
            stop_price: Some(d("95")),
            trailing: Some(Trailing::Pct(d("0.1"))),
            high_water: Some(d("120")),
            trailing_stop: Some(d("108")),
            ..StopSpec::default()
        };
        let old = NOW - MAX_AGE - 1;
        let c = evaluate_stop(
            PositionSide::Long,
            d("100"),
            &spec,
            d("50"),
            old,
            NOW,
            MAX_AGE,
            None,
        );
        assert_eq!(c.status, StopStatus::Stale);
        assert_eq!(c.effective_stop, Some(d("108")));
        assert!(!c.marks_changed(&spec));
        assert!(c.message.as_deref().unwrap().contains("300001 ms old"));
        // a stale high does not lift the mark either
        let c = evaluate_stop(
            PositionSide::Long,
            d("100"),
            &spec,
            d("200"),
            old,
            NOW,
            MAX_AGE,
            None,
        );
        assert_eq!(
            (c.status, c.new_high_water),
            (StopStatus::Stale, Some(d("120")))
        );
        assert_eq!(
            c.effective_stop,
            Some(d("108")),
            "the reported level ignores the stale price"
        );
        let c = evaluate_stop(
            PositionSide::Short,
            d("100"),
            &fixed("105"),
            d("200"),
            old,
            NOW,
            MAX_AGE,
            None,
        );
        assert_eq!(c.status, StopStatus::Stale);
        // exactly max_age old is still fresh
        let c = evaluate_stop(
            PositionSide::Long,
            d("100"),
            &spec,
            d("50"),
            NOW - MAX_AGE,
            NOW,
            MAX_AGE,
            None,
        );
        assert_eq!(c.status, StopStatus::Triggered);
    }

    #[test]
    fn missing_atr_still_checks_the_fixed_stop() {
        let spec = StopSpec {
            stop_price: Some(d("90")),
            trailing: Some(Trailing::Atr { multiple: d("2") }),
            ..StopSpec::default()
        };
        let c = at(PositionSide::Long, &spec, "95");
        assert_eq!(
            (c.status, c.effective_stop),
            (StopStatus::NoAtr, Some(d("90")))
        );
        assert_eq!(
            at(PositionSide::Long, &spec, "90").status,
            StopStatus::Triggered
        );
        let only_atr = StopSpec {
            trailing: Some(Trailing::Atr { multiple: d("2") }),
            ..StopSpec::default()
        };
        let c = at(PositionSide::Long, &only_atr, "1");
        assert_eq!((c.status, c.effective_stop), (StopStatus::NoAtr, None));
    }

    #[test]
    fn no_stop_and_invalid_specs_are_reported() {
        assert_eq!(
            at(PositionSide::Long, &StopSpec::default(), "1").status,
            StopStatus::NoStop
        );
        let pct_as_percent = StopSpec {
            trailing: Some(Trailing::Pct(d("5"))),
            ..StopSpec::default()
        };
        assert_eq!(
            at(PositionSide::Long, &pct_as_percent, "100").status,
            StopStatus::Invalid
        );
        assert_eq!(
            at(PositionSide::Long, &fixed("95"), "0").status,
            StopStatus::Invalid
        );
        let spec = StopSpec {
            trailing: Some(Trailing::Pct(d("0.05"))),
            ..fixed("95")
        };
        assert_eq!(
            spec.to_report_json(),
            serde_json::json!({"stop_price": "95", "trailing": {"pct": 5.0}, "high_water": null,
                "low_water": null, "trailing_stop": null}),
            "a trailing percentage is printed in percent, as --trailing-pct takes it"
        );
        let atr = StopSpec {
            trailing: Some(Trailing::Atr { multiple: d("1.5") }),
            ..Default::default()
        };
        assert_eq!(
            atr.to_report_json()["trailing"],
            serde_json::json!({"atr": {"multiple": 1.5}})
        );
        let json = serde_json::to_value(at(PositionSide::Long, &fixed("95"), "95")).unwrap();
        assert_eq!(json["status"], "triggered");
        assert_eq!(json["effective_stop"], "95");
    }

    #[test]
    fn alert_key_is_stable_and_changes_with_the_stop() {
        let btc = sym("BTCUSDT");
        let k = alert_key(1, &btc, PositionSide::Long, d("40000"));
        assert_eq!(k, "stop-loss:1:BTCUSDT:LONG:40000");
        assert_eq!(alert_key(1, &btc, PositionSide::Long, d("40000.00")), k);
        assert_ne!(alert_key(1, &btc, PositionSide::Long, d("40000.01")), k);
        assert_ne!(alert_key(1, &btc, PositionSide::Short, d("40000")), k);
        assert_ne!(alert_key(2, &btc, PositionSide::Long, d("40000")), k);
        assert_ne!(
            alert_key(1, &sym("ETHUSDT"), PositionSide::Long, d("40000")),
            k
        );
    }
}
