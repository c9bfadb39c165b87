//! Venues behind traits: where an account's prices, state and orders come from.
//!
//! Three traits, one per concern, implemented by Binance spot and USD-M futures
//! (`binance/venue.rs`) and by the paper exchange (`paper.rs`):
//! - [`MarketData`]: klines, ticker prices, server time, exchange rules;
//! - [`AccountState`]: balances and open positions;
//! - [`Orders`]: place a market order, query one by client id, cancel one.
//!
//! [`Venue`] joins them with what a job must know about a venue (does it fill inside the
//! store, does it keep positions, ...), so no job asks which kind of account it has. The one
//! place an account kind is matched is [`profile`] (and the factory [`for_account`] built on
//! it): adding an exchange is one folder, one `AccountKind` variant and one arm there.
//!
//! The futures are `LocalBoxFuture`s (fks runs on a current-thread runtime), which keeps the
//! traits usable as trait objects.

use crate::core::accounts::{Account, AccountKind};
use crate::core::candle_check::SourcedCandle;
use crate::core::exchange::binance::{BinanceClient, ExchangeError};
use crate::core::exchange::{Balance, ExchangeInfo, FuturesPosition, Market, OrderReport, Trade};
use crate::core::market::{Symbol, Timeframe};
use crate::core::positions::Side;
use crate::core::store::Store;
use crate::core::valuation::Valuation;
use futures_util::future::LocalBoxFuture;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// What a venue call returns.
pub type VenueResult<'a, T> = LocalBoxFuture<'a, Result<T, ExchangeError>>;

/// Klines, ticker prices, server time and exchange rules.
pub trait MarketData {
    /// The key trading rules are cached under (`spot`, `usdm`, `paper`).
    fn rules_key(&self) -> String;
    /// Most klines one request may ask for.
    fn klines_page_size(&self) -> usize;
    /// Candles with `start <= open_time <= end`, oldest first, at most `limit`, with their
    /// close times when the venue sends them.
    fn klines<'a>(
        &'a self,
        symbol: &'a Symbol,
        tf: Timeframe,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> VenueResult<'a, Vec<SourcedCandle>>;
    /// Latest prices of `symbols` (every symbol when empty), with the time each was known.
    fn ticker_prices<'a>(
        &'a self,
        symbols: &'a [Symbol],
    ) -> VenueResult<'a, BTreeMap<Symbol, Decimal>>;
    /// The venue's clock (ms).
    fn server_time(&self) -> VenueResult<'_, i64>;
    /// Trading rules (filters) of `symbols`.
    fn exchange_rules<'a>(&'a self, symbols: &'a [Symbol]) -> VenueResult<'a, ExchangeInfo>;
    /// A ban or back-off in force for this venue's host: the error a request would meet, so
    /// a job sends nothing rather than extend it.
    fn ban_in_force(&self) -> Option<ExchangeError> {
        None
    }
    /// When a ban met during this process ends, if one was met.
    fn banned_until_ms(&self) -> Option<i64> {
        None
    }
    /// Request weight used in the current minute (0 where nothing is counted).
    fn used_weight(&self) -> u32 {
        0
    }
}

/// Balances and open positions.
pub trait AccountState {
    /// Every asset's balance (free and locked).
    fn balances(&self) -> VenueResult<'_, Vec<Balance>>;
    /// Open positions (a spot venue holds balances, not positions: none).
    fn positions<'a>(&'a self, symbol: Option<&'a Symbol>)
    -> VenueResult<'a, Vec<FuturesPosition>>;
}

/// A market order as a venue receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueOrder {
    pub symbol: Symbol,
    pub side: Side,
    /// Base quantity (after the venue's filters).
    pub quantity: Decimal,
    /// Made once per order and journaled before sending (see `core::orders`).
    pub client_order_id: String,
    /// Only reduce a position (futures); never opens or flips one.
    pub reduce_only: bool,
    /// The price a venue without its own book fills at (paper); exchanges ignore it.
    pub mark: Option<Decimal>,
}

/// Place, query by client id, cancel; and the venue's clock, which the order journal keeps
/// an order's time on.
pub trait Orders {
    fn place_market<'a>(&'a self, order: &'a VenueOrder) -> VenueResult<'a, OrderReport>;
    /// The order with this client id, `None` when the venue has none.
    fn order_by_client_id<'a>(
        &'a self,
        symbol: &'a Symbol,
        client_order_id: &'a str,
    ) -> VenueResult<'a, Option<OrderReport>>;
    /// Cancel an open order; the venue's report of it afterwards.
    fn cancel_by_client_id<'a>(
        &'a self,
        symbol: &'a Symbol,
        client_order_id: &'a str,
    ) -> VenueResult<'a, OrderReport>;
    /// The executions of an order.
    fn order_trades<'a>(&'a self, symbol: &'a Symbol, order_id: i64)
    -> VenueResult<'a, Vec<Trade>>;
    /// The remote exchange's clock and timing; `None` for a venue inside the store (paper),
    /// whose orders fill in the transaction that journals them.
    fn remote(&self) -> Option<&dyn RemoteClock>;
}

/// The clock and timing of a remote exchange, as the order journal needs them.
pub trait RemoteClock {
    /// Measure the offset to the exchange's clock once per process.
    fn measure_clock_once(&self) -> LocalBoxFuture<'_, Result<(), ExchangeError>>;
    /// Now by the exchange's clock (local clock + measured offset).
    fn server_now_ms(&self) -> i64;
    fn clock_offset_ms(&self) -> i64;
    /// How long a signed request stays valid at the exchange.
    fn recv_window_ms(&self) -> i64;
    /// How long a request may be in flight, all attempts and timeouts included.
    fn in_flight_ms(&self) -> i64;
}

/// What a job must know about a venue without asking which kind it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The venue is fks's own simulation in the store (paper): prices are the stored
    /// closes, fills happen in the journal's transaction, quantities are not lot-rounded
    /// by an exchange, and slippage is simulated.
    pub simulated: bool,
    /// The exchange keeps the positions (futures): fks reads and reconciles them.
    pub exchange_positions: bool,
    /// The account's holdings are spot balances (assets without a quote market are not
    /// valued).
    pub spot_balances: bool,
    /// Orders that close positions are reduce-only.
    pub reduce_only_closes: bool,
    /// rebalance-portfolio can trade it (balances to targets).
    pub rebalances: bool,
    /// The Binance market of an exchange venue.
    pub market: Option<Market>,
    /// Name shown in messages ("spot", "futures", "paper").
    pub noun: &'static str,
}

/// The one match on the account kind.
pub fn profile(kind: AccountKind) -> Profile {
    match kind {
        AccountKind::Paper => Profile {
            simulated: true,
            exchange_positions: false,
            spot_balances: false,
            reduce_only_closes: false,
            rebalances: true,
            market: None,
            noun: "paper",
        },
        AccountKind::BinanceSpot => Profile {
            simulated: false,
            exchange_positions: false,
            spot_balances: true,
            reduce_only_closes: false,
            rebalances: true,
            market: Some(Market::Spot),
            noun: "spot",
        },
        AccountKind::BinanceFutures => Profile {
            simulated: false,
            exchange_positions: true,
            spot_balances: false,
            reduce_only_closes: true,
            rebalances: false,
            market: Some(Market::UsdM),
            noun: "futures",
        },
    }
}

/// An account's venue: market data, account state and orders, plus the valuation the
/// venue gives now.
pub trait Venue: MarketData + AccountState + Orders {
    fn profile(&self) -> Profile;
    /// The account valued now, with the prices used (paper: from the store at `as_of`; an
    /// exchange: read from it now). `extra` symbols are priced too (targets not held).
    fn value_now<'a>(
        &'a self,
        store: &'a Store,
        acct: &'a Account,
        extra: &'a [Symbol],
        as_of: i64,
    ) -> LocalBoxFuture<'a, anyhow::Result<(Valuation, BTreeMap<Symbol, Decimal>)>>;
    /// Prices to mark `symbols` with, each with the time it was known (paper: the latest
    /// stored close at `now`; an exchange: its ticker, read now).
    fn marks<'a>(
        &'a self,
        symbols: &'a [Symbol],
        now: i64,
    ) -> LocalBoxFuture<'a, anyhow::Result<BTreeMap<Symbol, (Decimal, i64)>>>;
}

/// The factory: an account's venue. Exchange clients come from `binance` (cached and
/// configured by the caller: credentials, base URLs, the shared ban book).
pub fn for_account<'a>(
    store: &'a Store,
    acct: &Account,
    now_ms: i64,
    binance: impl FnOnce(Market) -> anyhow::Result<BinanceClient>,
) -> anyhow::Result<Box<dyn Venue + 'a>> {
    let p = profile(acct.kind);
    Ok(match p.market {
        None => Box::new(super::paper::PaperVenue::new(store, acct.clone(), now_ms)),
        Some(m) => Box::new(super::binance::venue::BinanceVenue::new(binance(m)?, p)),
    })
}

/// The kline-paging adapter: any venue's market data as the source `core::sync` pages into
/// the store.
pub struct KlinePages<'a>(pub &'a dyn MarketData);

impl crate::core::sync::KlineSource for KlinePages<'_> {
    fn max_limit(&self) -> usize {
        self.0.klines_page_size()
    }

    async fn page(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        start: i64,
        end: i64,
        limit: usize,
    ) -> anyhow::Result<Vec<SourcedCandle>> {
        Ok(self.0.klines(symbol, tf, start, end, limit).await?)
    }
}

#[cfg(test)]
mod tests;
