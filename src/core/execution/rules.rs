//! Exchange trading rules (Binance `exchangeInfo` filters): rounding quantities and prices, and
//! checking an order against `LOT_SIZE`, `MARKET_LOT_SIZE`, `PRICE_FILTER` and
//! `NOTIONAL`/`MIN_NOTIONAL` before it is sent, so the exchange never has to answer
//! `-1013 Filter failure`. Everything is exact decimal arithmetic.
//!
//! Rounding directions:
//! - quantities are always rounded **down** (toward zero) to a multiple of `stepSize`: fks
//!   never trades more than it decided to, and never sells more than it holds;
//! - prices are rounded to a multiple of `tickSize` in the direction that is never worse for
//!   fks: a BUY limit rounds **down** (never pays more than asked), a SELL limit rounds **up**
//!   (never receives less than asked).
//!
//! Quantity rules for MARKET orders: Binance checks `LOT_SIZE` on every order and
//! `MARKET_LOT_SIZE` additionally on MARKET orders. Spot usually publishes a `MARKET_LOT_SIZE`
//! with `minQty = 0` and `stepSize = 0` (only `maxQty` set), futures publish a full one. So for
//! a MARKET order the rules of both filters apply, a zero in `MARKET_LOT_SIZE` meaning "no
//! rule": the larger minimum, the smaller maximum, and the `MARKET_LOT_SIZE` step when it has
//! one (the coarser step when both have one), otherwise the `LOT_SIZE` step.

use super::{LotSize, Side, SymbolInfo};
use crate::core::market::Symbol;
use rust_decimal::Decimal;
use serde::Serialize;

/// Round `qty` down to a multiple of `step` (toward zero, so never up), exactly.
/// `step <= 0` means the exchange gave no step: the quantity is returned unchanged.
/// The result is normalized (`0.00100` → `0.001`).
pub fn round_qty_down(qty: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return qty.normalize();
    }
    let rounded = match qty.checked_rem(step) {
        Some(rem) => qty - rem,
        // Only when the two scales cannot be aligned in 96 bits; fall back on division.
        None => (qty / step).trunc() * step,
    };
    // `rem` is exact, so this never fires; it keeps the "never up" promise even if it were not.
    let rounded = if rounded.abs() > qty.abs() {
        if qty.is_sign_negative() {
            rounded + step
        } else {
            rounded - step
        }
    } else {
        rounded
    };
    rounded.normalize()
}

/// Round `price` to a multiple of `tick`: down for a BUY (never pay more than asked), up for a
/// SELL (never receive less than asked). `tick <= 0` returns the price unchanged.
pub fn round_price(price: Decimal, tick: Decimal, side: Side) -> Decimal {
    if tick <= Decimal::ZERO {
        return price.normalize();
    }
    let down = round_qty_down(price, tick);
    let rounded = match side {
        Side::Buy => down,
        Side::Sell if down == price => down,
        Side::Sell => down + tick,
    };
    rounded.normalize()
}

/// A quantity as the exchange wants it written: exact, no trailing zeros, no exponent
/// (`0.00100000` → `0.001`, `5.0` → `5`).
pub fn format_qty(qty: Decimal) -> String {
    qty.normalize().to_string()
}

/// The quantity rules that apply to an order: `LOT_SIZE`, combined with `MARKET_LOT_SIZE` for
/// MARKET orders (see the module documentation). `None` when the symbol publishes neither.
pub fn quantity_rules(info: &SymbolInfo, is_market: bool) -> Option<QtyRules> {
    let market = if is_market {
        info.market_lot_size
    } else {
        None
    };
    let lot = info.lot_size;
    if lot.is_none() && market.is_none() {
        return None;
    }
    let positive = |d: Decimal| (d > Decimal::ZERO).then_some(d);
    let pick_max = |a: Option<Decimal>, b: Option<Decimal>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let pick_min = |a: Option<Decimal>, b: Option<Decimal>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let part =
        |l: Option<LotSize>, f: fn(&LotSize) -> Decimal| l.as_ref().map(f).and_then(positive);
    let lot_step = part(lot, |l| l.step_size);
    let market_step = part(market, |l| l.step_size);
    Some(QtyRules {
        min_qty: pick_max(part(lot, |l| l.min_qty), part(market, |l| l.min_qty)),
        max_qty: pick_min(part(lot, |l| l.max_qty), part(market, |l| l.max_qty)),
        step: pick_max(lot_step, market_step).unwrap_or(Decimal::ZERO),
        lot_step,
        market_step,
        market_max_applies: match (part(market, |l| l.max_qty), part(lot, |l| l.max_qty)) {
            (Some(m), Some(l)) => m < l,
            (Some(_), None) => true,
            _ => false,
        },
    })
}

/// Quantity rules after combining the filters; `None`/zero means "no rule".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QtyRules {
    pub min_qty: Option<Decimal>,
    pub max_qty: Option<Decimal>,
    /// The step quantities are rounded down to (0 = none).
    pub step: Decimal,
    pub lot_step: Option<Decimal>,
    pub market_step: Option<Decimal>,
    /// The maximum comes from `MARKET_LOT_SIZE` (for the message).
    pub market_max_applies: bool,
}

/// An order that passed every exchange rule fks knows, ready for the journal and the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidOrder {
    pub symbol: Symbol,
    pub side: Side,
    /// Rounded down to the step, normalized.
    pub quantity: Decimal,
    /// The limit price rounded to the tick; `None` for MARKET orders.
    pub price: Option<Decimal>,
    /// The price the notional was estimated with (the limit price for LIMIT orders).
    pub est_price: Decimal,
    /// `quantity × est_price`.
    pub notional: Decimal,
    pub is_market: bool,
}

impl ValidOrder {
    /// The `quantity` request parameter.
    pub fn quantity_str(&self) -> String {
        format_qty(self.quantity)
    }
    /// The `price` request parameter (LIMIT orders).
    pub fn price_str(&self) -> Option<String> {
        self.price.map(format_qty)
    }
}

/// Why an order is not placed. Serialized as `{"code": "below_min_notional", ...fields}`:
/// exchange rule values (`min`, `max`, `step` …), quantities and prices as exact decimal
/// strings, amounts (`notional`, `cap`, `cash`) as money in the enclosing
/// `json_num::InCurrency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum SkipReason {
    /// The symbol's status is not `TRADING` (`BREAK`, `HALT` …).
    NotTrading {
        status: String,
    },
    /// No usable price (zero or negative) to size or check the order.
    InvalidPrice {
        price: Decimal,
    },
    /// The requested quantity was zero or negative.
    NothingToTrade,
    /// The quantity is zero once rounded down to the step.
    ZeroAfterRounding {
        quantity: Decimal,
        step: Decimal,
    },
    BelowMinQty {
        quantity: Decimal,
        min: Decimal,
    },
    AboveMaxQty {
        quantity: Decimal,
        max: Decimal,
    },
    /// `LOT_SIZE` and `MARKET_LOT_SIZE` steps with no common multiple at this quantity.
    StepMismatch {
        quantity: Decimal,
        lot_step: Decimal,
        market_step: Decimal,
    },
    PriceOutOfRange {
        price: Decimal,
        min: Decimal,
        max: Decimal,
    },
    BelowMinNotional {
        #[serde(serialize_with = "crate::core::json_num::money_in")]
        notional: Decimal,
        min: Decimal,
    },
    AboveMaxNotional {
        #[serde(serialize_with = "crate::core::json_num::money_in")]
        notional: Decimal,
        max: Decimal,
    },
    /// Refused by fks's per-order notional cap (`trading.max_order_notional`).
    AboveOrderCap {
        #[serde(serialize_with = "crate::core::json_num::money_in")]
        notional: Decimal,
        #[serde(serialize_with = "crate::core::json_num::money_in")]
        cap: Decimal,
    },
    /// The run's notional cap (`trading.max_run_notional`) would be exceeded; no more orders.
    RunCapReached {
        #[serde(serialize_with = "crate::core::json_num::money_in")]
        notional: Decimal,
        #[serde(serialize_with = "crate::core::json_num::money_in")]
        run_notional: Decimal,
        #[serde(serialize_with = "crate::core::json_num::money_in")]
        cap: Decimal,
    },
    /// No free quote balance left for this buy after fees.
    InsufficientCash {
        #[serde(serialize_with = "crate::core::json_num::money_in")]
        cash: Decimal,
    },
    /// A target names a symbol with no price or exchange rules loaded.
    NoMarketData,
}

impl SkipReason {
    /// The `code` written in JSON.
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::NotTrading { .. } => "not_trading",
            SkipReason::InvalidPrice { .. } => "invalid_price",
            SkipReason::NothingToTrade => "nothing_to_trade",
            SkipReason::ZeroAfterRounding { .. } => "zero_after_rounding",
            SkipReason::BelowMinQty { .. } => "below_min_qty",
            SkipReason::AboveMaxQty { .. } => "above_max_qty",
            SkipReason::StepMismatch { .. } => "step_mismatch",
            SkipReason::PriceOutOfRange { .. } => "price_out_of_range",
            SkipReason::BelowMinNotional { .. } => "below_min_notional",
            SkipReason::AboveMaxNotional { .. } => "above_max_notional",
            SkipReason::AboveOrderCap { .. } => "above_order_cap",
            SkipReason::RunCapReached { .. } => "run_cap_reached",
            SkipReason::InsufficientCash { .. } => "insufficient_cash",
            SkipReason::NoMarketData => "no_market_data",
        }
    }
}

/// An order that must not be sent, with a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Skip {
    pub reason: SkipReason,
    /// e.g. `BTCUSDT: notional 4.20 USDT is below the exchange minimum 5 USDT`
    pub message: String,
}

/// A value taken from the exchange's rules, written as the exchange means it (`5`, `0.00001`).
pub(crate) fn fmt_rule(d: Decimal) -> String {
    d.normalize().to_string()
}

/// A computed amount: at most 8 decimals, at least 2 (`4.2` → `4.20`).
pub(crate) fn fmt_amount(d: Decimal) -> String {
    let d = d.round_dp(8).normalize();
    if d.scale() < 2 {
        let mut d = d;
        d.rescale(2);
        d.to_string()
    } else {
        d.to_string()
    }
}

fn skip(reason: SkipReason, message: String) -> Skip {
    Skip { reason, message }
}

/// Check one order against the symbol's rules. The quantity is rounded down to the step first
/// (so a raw `value / price` may be passed); for LIMIT orders (`is_market = false`) `est_price`
/// is the limit price and is rounded to the tick ([`round_price`]). MARKET orders are checked at
/// `est_price` (the exchange uses its average price, which can differ a little).
///
/// Checks, in order: status `TRADING`, a positive price, quantity rules ([`quantity_rules`]),
/// price filter (LIMIT only; a zero bound disables it, as on Binance), minimum and maximum
/// notional (`quantity × price`; applied to MARKET orders too, the conservative reading of
/// `applyMinToMarket`).
pub fn validate_order(
    info: &SymbolInfo,
    side: Side,
    qty: Decimal,
    est_price: Decimal,
    is_market: bool,
) -> Result<ValidOrder, Skip> {
    let sym = &info.symbol;
    let base = &info.base_asset;
    let quote = &info.quote_asset;
    if !info.is_trading() {
        return Err(skip(
            SkipReason::NotTrading {
                status: info.status.clone(),
            },
            format!(
                "{sym}: symbol status is {}, not TRADING; no order until the exchange reopens it",
                info.status
            ),
        ));
    }
    if est_price <= Decimal::ZERO {
        return Err(skip(
            SkipReason::InvalidPrice { price: est_price },
            format!("{sym}: no usable price ({est_price}); the order cannot be sized or checked"),
        ));
    }
    if qty <= Decimal::ZERO {
        return Err(skip(
            SkipReason::NothingToTrade,
            format!("{sym}: quantity {} is nothing to trade", fmt_rule(qty)),
        ));
    }

    let rules = quantity_rules(info, is_market);
    let step = rules.map(|r| r.step).unwrap_or(Decimal::ZERO);
    let quantity = round_qty_down(qty, step);
    if quantity <= Decimal::ZERO {
        return Err(skip(
            SkipReason::ZeroAfterRounding {
                quantity: qty.normalize(),
                step: step.normalize(),
            },
            format!(
                "{sym}: quantity {} {base} rounds down to 0 at the exchange step {}",
                fmt_rule(qty),
                fmt_rule(step)
            ),
        ));
    }
    if let Some(r) = rules {
        if let (Some(a), Some(b)) = (r.lot_step, r.market_step)
            && (quantity % a != Decimal::ZERO || quantity % b != Decimal::ZERO)
        {
            return Err(skip(
                SkipReason::StepMismatch {
                    quantity,
                    lot_step: a.normalize(),
                    market_step: b.normalize(),
                },
                format!(
                    "{sym}: quantity {} {base} is not a multiple of both LOT_SIZE step {} and MARKET_LOT_SIZE step {}",
                    fmt_rule(quantity),
                    fmt_rule(a),
                    fmt_rule(b)
                ),
            ));
        }
        if let Some(min) = r.min_qty
            && quantity < min
        {
            return Err(skip(
                SkipReason::BelowMinQty {
                    quantity,
                    min: min.normalize(),
                },
                format!(
                    "{sym}: quantity {} {base} is below the exchange minimum {} {base}",
                    fmt_rule(quantity),
                    fmt_rule(min)
                ),
            ));
        }
        if let Some(max) = r.max_qty
            && quantity > max
        {
            let which = if r.market_max_applies {
                " for market orders"
            } else {
                ""
            };
            return Err(skip(
                SkipReason::AboveMaxQty {
                    quantity,
                    max: max.normalize(),
                },
                format!(
                    "{sym}: quantity {} {base} is above the exchange maximum {} {base}{which}",
                    fmt_rule(quantity),
                    fmt_rule(max)
                ),
            ));
        }
    }

    let (price, check_price) = if is_market {
        (None, est_price)
    } else {
        let tick = info
            .price_filter
            .map(|f| f.tick_size)
            .unwrap_or(Decimal::ZERO);
        let p = round_price(est_price, tick, side);
        if let Some(f) = info.price_filter {
            let below = f.min_price > Decimal::ZERO && p < f.min_price;
            let above = f.max_price > Decimal::ZERO && p > f.max_price;
            if below || above || p <= Decimal::ZERO {
                return Err(skip(
                    SkipReason::PriceOutOfRange {
                        price: p,
                        min: f.min_price.normalize(),
                        max: f.max_price.normalize(),
                    },
                    format!(
                        "{sym}: price {} {quote} is outside the exchange range {} to {} {quote}",
                        fmt_rule(p),
                        fmt_rule(f.min_price),
                        fmt_rule(f.max_price)
                    ),
                ));
            }
        }
        (Some(p), p)
    };

    let notional = quantity * check_price;
    if let Some(min) = info.min_notional
        && notional < min
    {
        return Err(skip(
            SkipReason::BelowMinNotional {
                notional: notional.normalize(),
                min: min.normalize(),
            },
            format!(
                "{sym}: notional {} {quote} is below the exchange minimum {} {quote}",
                fmt_amount(notional),
                fmt_rule(min)
            ),
        ));
    }
    if let Some(max) = info.max_notional
        && max > Decimal::ZERO
        && notional > max
    {
        return Err(skip(
            SkipReason::AboveMaxNotional {
                notional: notional.normalize(),
                max: max.normalize(),
            },
            format!(
                "{sym}: notional {} {quote} is above the exchange maximum {} {quote}",
                fmt_amount(notional),
                fmt_rule(max)
            ),
        ));
    }

    Ok(ValidOrder {
        symbol: sym.clone(),
        side,
        quantity,
        price,
        est_price: check_price.normalize(),
        notional: notional.normalize(),
        is_market,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::execution::PriceFilter;
    use crate::core::execution::test_support::{d, info};

    #[test]
    fn quantities_round_down_to_the_step_exactly() {
        assert_eq!(
            round_qty_down(d("0.123456789"), d("0.00001")).to_string(),
            "0.12345"
        );
        assert_eq!(
            round_qty_down(d("0.123456789"), d("0.001")).to_string(),
            "0.123"
        );
        assert_eq!(round_qty_down(d("0.123456789"), d("1")).to_string(), "0");
        assert_eq!(round_qty_down(d("12.999999"), d("1")).to_string(), "12");
        assert_eq!(
            round_qty_down(d("0.99999"), d("0.00001")).to_string(),
            "0.99999"
        );
        // exact multiples stay, steps written with Binance's trailing zeros work too
        assert_eq!(round_qty_down(d("0.5"), d("0.10000000")).to_string(), "0.5");
        assert_eq!(
            round_qty_down(d("0.00100000"), d("0.00001")).to_string(),
            "0.001"
        );
        assert_eq!(
            format_qty(round_qty_down(d("0.00100000"), d("0.00001"))),
            "0.001"
        );
        assert_eq!(format_qty(d("5.000")), "5");
        // step 0: no rounding
        assert_eq!(
            round_qty_down(d("0.123456789"), Decimal::ZERO),
            d("0.123456789")
        );
    }

    #[test]
    fn rounding_never_goes_up_and_loses_less_than_one_step() {
        let mut x: u64 = 12345;
        for step in ["1", "0.1", "0.001", "0.00001", "0.00000001", "0.25"] {
            let step = d(step);
            for _ in 0..500 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let qty = Decimal::new((x >> 20) as i64 % 10_000_000_000, (x % 11) as u32);
                let r = round_qty_down(qty, step);
                assert!(r <= qty, "{qty} -> {r} at {step}");
                assert!(qty - r < step, "{qty} -> {r} at {step}");
                assert_eq!(r % step, Decimal::ZERO, "{qty} -> {r} at {step}");
            }
        }
    }

    #[test]
    fn prices_round_to_the_tick_in_the_safe_direction() {
        let tick = d("0.01");
        assert_eq!(round_price(d("101.237"), tick, Side::Buy), d("101.23"));
        assert_eq!(round_price(d("101.237"), tick, Side::Sell), d("101.24"));
        assert_eq!(round_price(d("101.23"), tick, Side::Buy), d("101.23"));
        assert_eq!(round_price(d("101.23"), tick, Side::Sell), d("101.23"));
        assert_eq!(round_price(d("101.2300001"), tick, Side::Sell), d("101.24"));
        assert_eq!(
            round_price(d("101.237"), Decimal::ZERO, Side::Buy),
            d("101.237")
        );
    }

    #[test]
    fn below_min_notional_is_skipped_with_a_sentence() {
        let btc = info("BTCUSDT", "0.00001", "5");
        let err = validate_order(&btc, Side::Buy, d("0.0001"), d("42000"), true).unwrap_err();
        assert_eq!(
            err.reason,
            SkipReason::BelowMinNotional {
                notional: d("4.2"),
                min: d("5")
            }
        );
        assert_eq!(
            err.message,
            "BTCUSDT: notional 4.20 USDT is below the exchange minimum 5 USDT"
        );
        assert_eq!(err.reason.code(), "below_min_notional");
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["reason"]["code"], "below_min_notional");
        assert_eq!(json["reason"]["min"], "5");
        // exactly the minimum is fine
        let ok = validate_order(&btc, Side::Buy, d("0.0001"), d("50000"), true).unwrap();
        assert_eq!(ok.notional, d("5"));
    }

    #[test]
    fn valid_order_is_rounded_and_formatted() {
        let btc = info("BTCUSDT", "0.00001000", "5");
        let v = validate_order(&btc, Side::Sell, d("0.00100000"), d("43519.34"), true).unwrap();
        assert_eq!(v.quantity_str(), "0.001");
        assert_eq!(v.notional, d("43.51934"));
        assert_eq!(v.price, None);
        let v = validate_order(&btc, Side::Sell, d("0.123456789"), d("43519.34"), true).unwrap();
        assert_eq!(v.quantity_str(), "0.12345");
    }

    #[test]
    fn other_filters_skip_with_their_reason() {
        let mut btc = info("BTCUSDT", "0.00001", "5");
        let e = validate_order(&btc, Side::Buy, d("0.000009"), d("42000"), true).unwrap_err();
        assert_eq!(e.reason.code(), "zero_after_rounding");
        btc.lot_size.as_mut().unwrap().min_qty = d("0.001");
        let e = validate_order(&btc, Side::Buy, d("0.0009"), d("42000"), true).unwrap_err();
        assert_eq!(
            e.reason,
            SkipReason::BelowMinQty {
                quantity: d("0.0009"),
                min: d("0.001")
            }
        );
        assert_eq!(
            e.message,
            "BTCUSDT: quantity 0.0009 BTC is below the exchange minimum 0.001 BTC"
        );
        let e = validate_order(&btc, Side::Buy, Decimal::ZERO, d("42000"), true).unwrap_err();
        assert_eq!(e.reason, SkipReason::NothingToTrade);
        let e = validate_order(&btc, Side::Buy, d("1"), Decimal::ZERO, true).unwrap_err();
        assert_eq!(e.reason.code(), "invalid_price");
        btc.max_notional = Some(d("100000"));
        let e = validate_order(&btc, Side::Buy, d("3"), d("42000"), true).unwrap_err();
        assert_eq!(e.reason.code(), "above_max_notional");
        btc.status = "BREAK".into();
        let e = validate_order(&btc, Side::Buy, d("1"), d("42000"), true).unwrap_err();
        assert_eq!(
            e.reason,
            SkipReason::NotTrading {
                status: "BREAK".into()
            }
        );
    }

    #[test]
    fn limit_orders_round_and_check_the_price() {
        let mut btc = info("BTCUSDT", "0.00001", "5");
        btc.price_filter = Some(PriceFilter {
            min_price: d("0.01"),
            max_price: d("1000000"),
            tick_size: d("0.01"),
        });
        let v = validate_order(&btc, Side::Buy, d("0.01"), d("42000.019"), false).unwrap();
        assert_eq!(v.price_str().as_deref(), Some("42000.01"));
        assert_eq!(v.notional, d("420.0001"));
        let v = validate_order(&btc, Side::Sell, d("0.01"), d("42000.011"), false).unwrap();
        assert_eq!(v.price, Some(d("42000.02")));
        let e = validate_order(&btc, Side::Sell, d("0.000001"), d("2000000"), false);
        assert!(e.is_err());
        let e = validate_order(&btc, Side::Buy, d("1"), d("2000000"), false).unwrap_err();
        assert_eq!(e.reason.code(), "price_out_of_range");
    }

    #[test]
    fn market_lot_size_is_preferred_for_market_orders() {
        // futures style: MARKET_LOT_SIZE max 120 and a coarser step than LOT_SIZE
        let mut eth = info("ETHUSDT", "0.001", "5");
        eth.lot_size = Some(LotSize {
            min_qty: d("0.001"),
            max_qty: d("1000"),
            step_size: d("0.001"),
        });
        eth.market_lot_size = Some(LotSize {
            min_qty: d("0.01"),
            max_qty: d("120"),
            step_size: d("0.01"),
        });
        let e = validate_order(&eth, Side::Sell, d("150"), d("2000"), true).unwrap_err();
        assert_eq!(
            e.reason,
            SkipReason::AboveMaxQty {
                quantity: d("150"),
                max: d("120")
            }
        );
        assert_eq!(
            e.message,
            "ETHUSDT: quantity 150 ETH is above the exchange maximum 120 ETH for market orders"
        );
        assert!(validate_order(&eth, Side::Sell, d("150"), d("2000"), false).is_ok());
        let m = validate_order(&eth, Side::Sell, d("1.2345"), d("2000"), true).unwrap();
        assert_eq!(m.quantity, d("1.23"));
        let l = validate_order(&eth, Side::Sell, d("1.2345"), d("2000"), false).unwrap();
        assert_eq!(l.quantity, d("1.234"));
        let e = validate_order(&eth, Side::Sell, d("0.005"), d("2000"), true).unwrap_err();
        assert_eq!(e.reason.code(), "zero_after_rounding");

        // spot style: MARKET_LOT_SIZE has only a max; LOT_SIZE's step and min still apply
        let mut btc = info("BTCUSDT", "0.00001", "5");
        btc.market_lot_size = Some(LotSize {
            min_qty: d("0.00000000"),
            max_qty: d("128.52621715"),
            step_size: d("0.00000000"),
        });
        let m = validate_order(&btc, Side::Buy, d("0.123456789"), d("42000"), true).unwrap();
        assert_eq!(m.quantity_str(), "0.12345");
        let e = validate_order(&btc, Side::Buy, d("130"), d("42000"), true).unwrap_err();
        assert_eq!(
            e.reason,
            SkipReason::AboveMaxQty {
                quantity: d("130"),
                max: d("128.52621715")
            }
        );
        // LOT_SIZE max (9000000 in the helper) applies to the limit order
        assert!(validate_order(&btc, Side::Buy, d("130"), d("42000"), false).is_ok());
    }
}
