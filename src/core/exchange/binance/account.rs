//! Signed account endpoints and market orders (spot and USDⓈ-M).

use super::client::BinanceClient;
use super::error::ExchangeError;
use super::requests::{self, Request};
use super::wire::{
    FuturesAccountW, FuturesOrderW, PositionRiskW, SpotAccountW, SpotOrderW, TradeW,
};
use crate::core::exchange::{
    FuturesAccount, FuturesMarketOrder, FuturesPosition, Market, MarketOrder, OrderReport,
    SpotAccount, Trade,
};
use crate::core::market::Symbol;

/// Binance's "Order does not exist."
const NO_SUCH_ORDER: i64 = -2013;

impl BinanceClient {
    /// `GET /api/v3/account`: free and locked per asset (spot client only).
    pub async fn spot_account(&self) -> Result<SpotAccount, ExchangeError> {
        let w: SpotAccountW = self.call(&requests::spot_account()).await?;
        Ok(w.into_core())
    }

    /// `GET /fapi/v2/account`: wallet, unrealized profit, margin and available balance
    /// (futures client only).
    pub async fn futures_account(&self) -> Result<FuturesAccount, ExchangeError> {
        let w: FuturesAccountW = self.call(&requests::futures_account()).await?;
        Ok(w.into_core())
    }

    /// `GET /fapi/v2/positionRisk`: open positions (zero amounts skipped), LONG/SHORT from the
    /// sign of `positionAmt`, sorted by symbol then side.
    pub async fn positions(
        &self,
        symbol: Option<&Symbol>,
    ) -> Result<Vec<FuturesPosition>, ExchangeError> {
        let w: Vec<PositionRiskW> = self.call(&requests::position_risk(symbol)).await?;
        let mut out: Vec<FuturesPosition> =
            w.into_iter().filter_map(PositionRiskW::into_core).collect();
        out.sort_by(|a, b| (&a.symbol, a.side).cmp(&(&b.symbol, b.side)));
        Ok(out)
    }

    /// `POST /api/v3/order` MARKET, `newOrderRespType=FULL` (fills with commission). Never
    /// resent after a timeout or 5xx: that gives [`ExchangeError::OutcomeUnknown`], and the
    /// caller queries [`spot_order_by_client_id`](Self::spot_order_by_client_id).
    pub async fn place_spot_market_order(
        &self,
        order: &MarketOrder,
    ) -> Result<OrderReport, ExchangeError> {
        let req = requests::spot_market_order(order);
        let w: SpotOrderW = self.call(&req).await?;
        w.into_core().map_err(|detail| decode(&req, detail))
    }

    /// `GET /api/v3/order?symbol=&origClientOrderId=`; `Ok(None)` when Binance says the order
    /// does not exist (-2013).
    pub async fn spot_order_by_client_id(
        &self,
        symbol: &Symbol,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        let req = requests::spot_order_by_client_id(symbol, client_order_id);
        match self.call::<SpotOrderW>(&req).await {
            Ok(w) => w.into_core().map(Some).map_err(|d| decode(&req, d)),
            Err(e) if e.code() == Some(NO_SUCH_ORDER) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /fapi/v1/order` MARKET (reduce-only when asked), `newOrderRespType=RESULT` so the
    /// answer says FILLED with `avgPrice`. Same no-resend rule as spot orders.
    pub async fn place_futures_market_order(
        &self,
        order: &FuturesMarketOrder,
    ) -> Result<OrderReport, ExchangeError> {
        let req = requests::futures_market_order(order);
        let w: FuturesOrderW = self.call(&req).await?;
        w.into_core().map_err(|detail| decode(&req, detail))
    }

    /// The trades of one order (spot `GET /api/v3/myTrades`, futures `GET /fapi/v1/userTrades`,
    /// by `orderId`): what it really traded, its commission and the commission's asset.
    pub async fn order_trades(
        &self,
        symbol: &Symbol,
        order_id: i64,
    ) -> Result<Vec<Trade>, ExchangeError> {
        let req = match self.market() {
            Market::Spot => requests::spot_order_trades(symbol, order_id),
            Market::UsdM => requests::futures_order_trades(symbol, order_id),
        };
        let w: Vec<TradeW> = self.call(&req).await?;
        Ok(w.into_iter()
            .map(TradeW::into_core)
            .filter(|t| t.order_id == order_id)
            .collect())
    }

    /// Cancel an open order by client id (`DELETE /api/v3/order` or `/fapi/v1/order`): the
    /// exchange's report of the order after the cancel.
    pub async fn cancel_order_by_client_id(
        &self,
        symbol: &Symbol,
        client_order_id: &str,
    ) -> Result<OrderReport, ExchangeError> {
        match self.market() {
            Market::Spot => {
                let req = requests::spot_cancel_by_client_id(symbol, client_order_id);
                let w: SpotOrderW = self.call(&req).await?;
                w.into_core().map_err(|d| decode(&req, d))
            }
            Market::UsdM => {
                let req = requests::futures_cancel_by_client_id(symbol, client_order_id);
                let w: FuturesOrderW = self.call(&req).await?;
                w.into_core().map_err(|d| decode(&req, d))
            }
        }
    }

    /// `GET /fapi/v1/order?symbol=&origClientOrderId=`; `Ok(None)` for -2013.
    pub async fn futures_order_by_client_id(
        &self,
        symbol: &Symbol,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        let req = requests::futures_order_by_client_id(symbol, client_order_id);
        match self.call::<FuturesOrderW>(&req).await {
            Ok(w) => w.into_core().map(Some).map_err(|d| decode(&req, d)),
            Err(e) if e.code() == Some(NO_SUCH_ORDER) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// An answer that parsed but does not make sense (e.g. an unknown side): on a placement the
/// order exists but is unknown to us, so it is looked up by client id.
fn decode(req: &Request, detail: String) -> ExchangeError {
    super::client::decode_error(req, detail)
}
