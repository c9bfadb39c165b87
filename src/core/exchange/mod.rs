//! Exchanges: the types every exchange client returns, and the Binance REST client.
//!
//! Money is `Decimal`, parsed from the exchange's strings; times are ms since the epoch (UTC).
//! The Binance wire structs live privately in `binance/wire.rs` and are converted to these
//! types at the edge, so the rest of fks never sees Binance's JSON shapes.

pub mod binance;

use crate::core::market::Symbol;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which Binance market a client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Market {
    /// Spot, `https://api.binance.com` (`/api/v3/...`).
    Spot,
    /// USDⓈ-M futures, `https://fapi.binance.com` (`/fapi/...`).
    #[serde(rename = "usdm")]
    UsdM,
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Market::Spot => "spot",
            Market::UsdM => "usdm",
        })
    }
}

/// One asset's balance in a spot account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub asset: String,
    pub free: Decimal,
    pub locked: Decimal,
}

impl Balance {
    pub fn total(&self) -> Decimal {
        self.free + self.locked
    }
}

/// `GET /api/v3/account`: balances per asset (assets with zero total are kept; filter with
/// [`SpotAccount::non_zero`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpotAccount {
    pub can_trade: bool,
    pub update_time: i64,
    pub balances: Vec<Balance>,
}

impl SpotAccount {
    /// Balances whose free + locked is not zero.
    pub fn non_zero(&self) -> impl Iterator<Item = &Balance> {
        self.balances.iter().filter(|b| !b.total().is_zero())
    }
    pub fn balance(&self, asset: &str) -> Option<&Balance> {
        self.balances.iter().find(|b| b.asset == asset)
    }
}

/// One margin asset of a USDⓈ-M futures account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FuturesAssetBalance {
    pub asset: String,
    pub wallet_balance: Decimal,
    pub unrealized_profit: Decimal,
    pub margin_balance: Decimal,
    pub available_balance: Decimal,
}

/// `GET /fapi/v2/account`: account totals (in the margin asset, USDT for USDⓈ-M) and assets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FuturesAccount {
    pub total_wallet_balance: Decimal,
    pub total_unrealized_profit: Decimal,
    /// Wallet balance + unrealized profit.
    pub total_margin_balance: Decimal,
    pub available_balance: Decimal,
    pub total_initial_margin: Decimal,
    pub total_maint_margin: Decimal,
    pub total_position_initial_margin: Decimal,
    pub total_open_order_initial_margin: Decimal,
    pub assets: Vec<FuturesAssetBalance>,
}

/// Direction of a position (one type for the whole crate).
pub use crate::core::positions::PositionSide;

/// An open USDⓈ-M position (`GET /fapi/v2/positionRisk`, zero positions skipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FuturesPosition {
    pub symbol: Symbol,
    /// From the sign of `positionAmt` (works in one-way and hedge mode).
    pub side: PositionSide,
    /// Absolute position size in the base asset.
    pub quantity: Decimal,
    pub entry_price: Decimal,
    pub mark_price: Decimal,
    pub unrealized_pnl: Decimal,
    pub leverage: u32,
    pub liquidation_price: Option<Decimal>,
    /// `cross` or `isolated` when the exchange says.
    pub margin_type: Option<String>,
    pub update_time: i64,
}

/// Trading rules of one symbol from `exchangeInfo` (filters that fks does not use are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolInfo {
    pub symbol: Symbol,
    /// `TRADING`, `BREAK`, `HALT`, `SETTLING` …
    pub status: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub price_filter: Option<PriceFilter>,
    pub lot_size: Option<LotSize>,
    pub market_lot_size: Option<LotSize>,
    /// Minimum `price × quantity` (spot `NOTIONAL`/`MIN_NOTIONAL` `minNotional`, futures
    /// `MIN_NOTIONAL` `notional`).
    pub min_notional: Option<Decimal>,
    /// Spot `NOTIONAL` `maxNotional`.
    pub max_notional: Option<Decimal>,
}

impl SymbolInfo {
    pub fn is_trading(&self) -> bool {
        self.status == "TRADING"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceFilter {
    pub min_price: Decimal,
    pub max_price: Decimal,
    pub tick_size: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotSize {
    pub min_qty: Decimal,
    pub max_qty: Decimal,
    pub step_size: Decimal,
}

/// `GET /api/v3/exchangeInfo` or `/fapi/v1/exchangeInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExchangeInfo {
    pub server_time: i64,
    /// The `REQUEST_WEIGHT` limit per minute the exchange announces, when it does.
    pub weight_limit_per_minute: Option<u32>,
    pub symbols: Vec<SymbolInfo>,
}

/// Side of an order (one type for the whole crate).
pub use crate::core::positions::Side as OrderSide;

/// How much a market order trades: a base quantity, or (spot only) a quote amount to spend or
/// receive (`quoteOrderQty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OrderAmount {
    Base(Decimal),
    Quote(Decimal),
}

/// A spot MARKET order. `client_order_id` is made once per order (`^[a-zA-Z0-9-_]{1,36}$`,
/// see `execution::ids`) and recorded before sending, so a retry after an unknown outcome can
/// query it instead of placing a second order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketOrder {
    pub symbol: Symbol,
    pub side: OrderSide,
    pub amount: OrderAmount,
    pub client_order_id: String,
}

/// A USDⓈ-M MARKET order; `reduce_only` for closing positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuturesMarketOrder {
    pub symbol: Symbol,
    pub side: OrderSide,
    pub quantity: Decimal,
    pub client_order_id: String,
    pub reduce_only: bool,
}

/// Order status in Binance's spelling; unknown values are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum OrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    PendingCancel,
    Rejected,
    Expired,
    ExpiredInMatch,
    Other(String),
}

impl OrderStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "NEW" => OrderStatus::New,
            "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
            "FILLED" => OrderStatus::Filled,
            "CANCELED" => OrderStatus::Canceled,
            "PENDING_CANCEL" => OrderStatus::PendingCancel,
            "REJECTED" => OrderStatus::Rejected,
            "EXPIRED" => OrderStatus::Expired,
            "EXPIRED_IN_MATCH" => OrderStatus::ExpiredInMatch,
            other => OrderStatus::Other(other.to_string()),
        }
    }

    /// The order can no longer change.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Rejected
                | OrderStatus::Expired
                | OrderStatus::ExpiredInMatch
        )
    }
}

/// One fill of a spot order (`newOrderRespType=FULL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fill {
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub trade_id: Option<i64>,
}

/// An order as the exchange reports it (answer to a placement or a query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderReport {
    pub symbol: Symbol,
    pub order_id: i64,
    pub client_order_id: String,
    pub status: OrderStatus,
    pub side: OrderSide,
    /// `MARKET`, `LIMIT` …
    pub order_type: String,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    /// Quote amount traded (spot `cummulativeQuoteQty`, futures `cumQuote`).
    pub cumulative_quote_qty: Decimal,
    /// Average fill price: futures `avgPrice`, spot computed from quote / executed.
    pub avg_price: Option<Decimal>,
    pub reduce_only: bool,
    /// `transactTime` of a placement, else `updateTime`/`time`.
    pub time: Option<i64>,
    /// When the exchange created the order, by its clock: `time` of a query, `transactTime`
    /// of a spot placement; futures placements only say `updateTime` (not earlier).
    pub created_time: Option<i64>,
    /// Spot FULL answers only; empty otherwise.
    pub fills: Vec<Fill>,
}

/// One trade (execution) of an order: spot `myTrades`, futures `userTrades`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trade {
    pub symbol: Symbol,
    pub trade_id: i64,
    pub order_id: i64,
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    /// Futures only.
    pub realized_pnl: Option<Decimal>,
    pub time: Option<i64>,
}

impl OrderReport {
    /// Total commission per asset over all fills.
    pub fn commission_by_asset(&self) -> std::collections::BTreeMap<String, Decimal> {
        let mut m = std::collections::BTreeMap::new();
        for f in &self.fills {
            *m.entry(f.commission_asset.clone()).or_insert(Decimal::ZERO) += f.commission;
        }
        m
    }
}
pub mod paper;
pub mod venue;
