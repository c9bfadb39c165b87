//! Binance spot and USD-M futures behind the venue traits (`core::exchange::venue`).

use super::{BinanceClient, ExchangeError};
use crate::core::accounts::Account;
use crate::core::candle_check::SourcedCandle;
use crate::core::exchange::venue::{
    AccountState, MarketData, Orders, Profile, RemoteClock, Venue, VenueOrder, VenueResult,
};
use crate::core::exchange::{
    Balance, ExchangeInfo, FuturesMarketOrder, FuturesPosition, Market, MarketOrder, OrderAmount,
    OrderReport, Trade,
};
use crate::core::market::{Symbol, Timeframe};
use crate::core::store::Store;
use crate::core::valuation::{self, Valuation};
use anyhow::Context;
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A Binance account or market-data client as a venue: spot or USD-M by the client's market.
#[derive(Clone)]
pub struct BinanceVenue {
    client: BinanceClient,
    profile: Profile,
}

impl BinanceVenue {
    pub fn new(client: BinanceClient, profile: Profile) -> Self {
        BinanceVenue { client, profile }
    }

    /// A market-data venue for the client's market (no account).
    pub fn market_data(client: BinanceClient) -> Self {
        let kind = match client.market() {
            Market::Spot => crate::core::accounts::AccountKind::BinanceSpot,
            Market::UsdM => crate::core::accounts::AccountKind::BinanceFutures,
        };
        BinanceVenue {
            client,
            profile: crate::core::exchange::venue::profile(kind),
        }
    }

    pub fn client(&self) -> &BinanceClient {
        &self.client
    }
}

impl MarketData for BinanceVenue {
    fn rules_key(&self) -> String {
        self.client.market().to_string()
    }

    fn klines_page_size(&self) -> usize {
        self.client.klines_page_size() as usize
    }

    fn klines<'a>(
        &'a self,
        symbol: &'a Symbol,
        tf: Timeframe,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> VenueResult<'a, Vec<SourcedCandle>> {
        async move {
            let rows = self
                .client
                .klines(symbol, tf, Some(start_ms), Some(end_ms), limit as u32)
                .await?;
            Ok(rows
                .iter()
                .map(|k| SourcedCandle {
                    candle: k.candle(),
                    close_time: Some(k.close_time),
                })
                .collect())
        }
        .boxed_local()
    }

    fn ticker_prices<'a>(
        &'a self,
        symbols: &'a [Symbol],
    ) -> VenueResult<'a, BTreeMap<Symbol, Decimal>> {
        self.client.ticker_prices(symbols).boxed_local()
    }

    fn server_time(&self) -> VenueResult<'_, i64> {
        self.client.server_time().boxed_local()
    }

    fn exchange_rules<'a>(&'a self, symbols: &'a [Symbol]) -> VenueResult<'a, ExchangeInfo> {
        self.client.exchange_info(symbols).boxed_local()
    }

    fn ban_in_force(&self) -> Option<ExchangeError> {
        self.client.backoff().map(|backoff| ExchangeError::Banned {
            host: self.client.host().to_string(),
            backoff,
            fresh: false,
        })
    }

    fn banned_until_ms(&self) -> Option<i64> {
        self.client.banned_until_ms()
    }

    fn used_weight(&self) -> u32 {
        self.client.used_weight()
    }
}

impl AccountState for BinanceVenue {
    fn balances(&self) -> VenueResult<'_, Vec<Balance>> {
        async move {
            Ok(match self.client.market() {
                Market::Spot => self.client.spot_account().await?.balances,
                Market::UsdM => self
                    .client
                    .futures_account()
                    .await?
                    .assets
                    .into_iter()
                    .map(|a| Balance {
                        free: a.available_balance,
                        locked: a.wallet_balance - a.available_balance,
                        asset: a.asset,
                    })
                    .collect(),
            })
        }
        .boxed_local()
    }

    fn positions<'a>(
        &'a self,
        symbol: Option<&'a Symbol>,
    ) -> VenueResult<'a, Vec<FuturesPosition>> {
        async move {
            match self.client.market() {
                Market::Spot => Ok(Vec::new()),
                Market::UsdM => self.client.positions(symbol).await,
            }
        }
        .boxed_local()
    }
}

impl Orders for BinanceVenue {
    fn place_market<'a>(&'a self, o: &'a VenueOrder) -> VenueResult<'a, OrderReport> {
        async move {
            match self.client.market() {
                Market::UsdM => {
                    self.client
                        .place_futures_market_order(&FuturesMarketOrder {
                            symbol: o.symbol.clone(),
                            side: o.side,
                            quantity: o.quantity,
                            client_order_id: o.client_order_id.clone(),
                            reduce_only: o.reduce_only,
                        })
                        .await
                }
                Market::Spot => {
                    self.client
                        .place_spot_market_order(&MarketOrder {
                            symbol: o.symbol.clone(),
                            side: o.side,
                            amount: OrderAmount::Base(o.quantity),
                            client_order_id: o.client_order_id.clone(),
                        })
                        .await
                }
            }
        }
        .boxed_local()
    }

    fn order_by_client_id<'a>(
        &'a self,
        symbol: &'a Symbol,
        client_order_id: &'a str,
    ) -> VenueResult<'a, Option<OrderReport>> {
        async move {
            match self.client.market() {
                Market::Spot => {
                    self.client
                        .spot_order_by_client_id(symbol, client_order_id)
                        .await
                }
                Market::UsdM => {
                    self.client
                        .futures_order_by_client_id(symbol, client_order_id)
                        .await
                }
            }
        }
        .boxed_local()
    }

    fn cancel_by_client_id<'a>(
        &'a self,
        symbol: &'a Symbol,
        client_order_id: &'a str,
    ) -> VenueResult<'a, OrderReport> {
        self.client
            .cancel_order_by_client_id(symbol, client_order_id)
            .boxed_local()
    }

    fn order_trades<'a>(
        &'a self,
        symbol: &'a Symbol,
        order_id: i64,
    ) -> VenueResult<'a, Vec<Trade>> {
        self.client.order_trades(symbol, order_id).boxed_local()
    }

    fn remote(&self) -> Option<&dyn RemoteClock> {
        Some(self)
    }
}

impl RemoteClock for BinanceVenue {
    fn measure_clock_once(&self) -> LocalBoxFuture<'_, Result<(), ExchangeError>> {
        self.client.measure_clock_once().boxed_local()
    }

    fn server_now_ms(&self) -> i64 {
        self.client.server_now_ms()
    }

    fn clock_offset_ms(&self) -> i64 {
        self.client.clock_offset_ms()
    }

    fn recv_window_ms(&self) -> i64 {
        self.client.config().recv_window_ms as i64
    }

    fn in_flight_ms(&self) -> i64 {
        let cfg = self.client.config();
        cfg.recv_window_ms as i64
            + cfg.timeout.as_millis() as i64 * cfg.max_attempts.max(1) as i64
            + 60_000
    }
}

impl Venue for BinanceVenue {
    fn profile(&self) -> Profile {
        self.profile
    }

    fn value_now<'a>(
        &'a self,
        store: &'a Store,
        acct: &'a Account,
        extra: &'a [Symbol],
        as_of: i64,
    ) -> LocalBoxFuture<'a, anyhow::Result<(Valuation, BTreeMap<Symbol, Decimal>)>> {
        async move {
            match self.client.market() {
                Market::Spot => {
                    valuation::fetch_spot(store, &self.client, acct, extra, as_of).await
                }
                Market::UsdM => {
                    let v = valuation::fetch_futures(store, &self.client, acct, as_of).await?;
                    let prices = if extra.is_empty() {
                        BTreeMap::new()
                    } else {
                        self.client
                            .ticker_prices(extra)
                            .await
                            .context("read ticker prices")?
                    };
                    Ok((v, prices))
                }
            }
        }
        .boxed_local()
    }

    fn marks<'a>(
        &'a self,
        symbols: &'a [Symbol],
        now: i64,
    ) -> LocalBoxFuture<'a, anyhow::Result<BTreeMap<Symbol, (Decimal, i64)>>> {
        async move {
            if symbols.is_empty() {
                return Ok(BTreeMap::new());
            }
            let t = self
                .client
                .ticker_prices(symbols)
                .await
                .context("read ticker prices")?;
            Ok(t.into_iter().map(|(s, p)| (s, (p, now))).collect())
        }
        .boxed_local()
    }
}
