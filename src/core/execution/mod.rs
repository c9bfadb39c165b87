//! Pure decision logic for placing orders (issue 7): exchange-rule rounding and validation,
//! the rebalance planner, stop-loss / trailing-stop evaluation and random client order ids. No store, no HTTP, no clock: data in, decision out. The commands
//! (`rebalance-portfolio`, `check-stop-loss`) load state, call these, write the order journal
//! and talk to the exchange.

pub mod ids;
pub mod rebalance;
pub mod rules;
pub mod stops;

// The only place that names where the shared types live. In fks these are
// `crate::core::exchange::{LotSize, PriceFilter, SymbolInfo}` and
// `crate::core::positions::{PositionSide, Side}`.
pub use crate::core::exchange::{LotSize, PriceFilter, SymbolInfo};
pub use crate::core::positions::{PositionSide, Side};

pub use ids::{is_valid_client_order_id, new_client_order_id, store_tag};
pub use rebalance::{
    Holding, PlanError, PlannedOrder, RebalanceInput, RebalancePlan, Skipped, ValuedInput,
    plan_rebalance,
};
pub use rules::{
    Skip, SkipReason, ValidOrder, format_qty, round_price, round_qty_down, validate_order,
};
pub use stops::{StopCheck, StopSpec, StopStatus, Trailing, alert_key, evaluate_stop};

#[cfg(test)]
pub(crate) mod test_support {
    use super::{LotSize, SymbolInfo};
    use crate::core::market::Symbol;
    use rust_decimal::Decimal;

    pub fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    pub fn sym(s: &str) -> Symbol {
        Symbol(s.to_string())
    }

    /// A TRADING `…USDT` symbol with LOT_SIZE (min = step, max 9000) and a min notional; no
    /// MARKET_LOT_SIZE, no price filter.
    pub fn info(symbol: &str, step: &str, min_notional: &str) -> SymbolInfo {
        SymbolInfo {
            symbol: sym(symbol),
            status: "TRADING".to_string(),
            base_asset: symbol.trim_end_matches("USDT").to_string(),
            quote_asset: "USDT".to_string(),
            price_filter: None,
            lot_size: Some(LotSize {
                min_qty: d(step),
                max_qty: d("9000000"),
                step_size: d(step),
            }),
            market_lot_size: None,
            min_notional: Some(d(min_notional)),
            max_notional: None,
        }
    }
}
