//! One request description per endpoint: method, path, weight, parameters, signed or not.
//! Pure data, so paths, weights and parameters are tested offline.

use crate::core::exchange::{FuturesMarketOrder, Market, MarketOrder, OrderAmount};
use crate::core::market::{Symbol, Timeframe};
use reqwest::Method;

/// Max rows per klines request.
pub const SPOT_KLINES_MAX: u32 = 1000;
pub const FUTURES_KLINES_MAX: u32 = 1500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub method: Method,
    pub path: &'static str,
    /// Request weight toward the per-minute IP limit.
    pub weight: u32,
    /// Parameters in the order they are sent (and signed).
    pub params: Vec<(&'static str, String)>,
    /// Needs `recvWindow`, `timestamp`, `signature` and the `X-MBX-APIKEY` header.
    pub signed: bool,
    /// Safe to resend after a 5xx or a timeout. Order placement is not: its outcome is unknown.
    pub idempotent: bool,
}

impl Request {
    fn get(path: &'static str, weight: u32) -> Self {
        Request {
            method: Method::GET,
            path,
            weight,
            params: Vec::new(),
            signed: false,
            idempotent: true,
        }
    }
    fn param(mut self, k: &'static str, v: impl ToString) -> Self {
        self.params.push((k, v.to_string()));
        self
    }
    fn opt_param(self, k: &'static str, v: Option<impl ToString>) -> Self {
        match v {
            Some(v) => self.param(k, v),
            None => self,
        }
    }
    fn signed(mut self) -> Self {
        self.signed = true;
        self
    }
}

pub(crate) fn klines_max(market: Market) -> u32 {
    match market {
        Market::Spot => SPOT_KLINES_MAX,
        Market::UsdM => FUTURES_KLINES_MAX,
    }
}

/// Weight of one klines request: spot 2; futures by `limit` (1/2/5/10).
pub(crate) fn klines_weight(market: Market, limit: u32) -> u32 {
    match market {
        Market::Spot => 2,
        Market::UsdM => match limit {
            0..100 => 1,
            100..500 => 2,
            500..=1000 => 5,
            _ => 10,
        },
    }
}

pub(crate) fn klines(
    market: Market,
    symbol: &Symbol,
    tf: Timeframe,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    limit: u32,
) -> Request {
    let path = match market {
        Market::Spot => "/api/v3/klines",
        Market::UsdM => "/fapi/v1/klines",
    };
    Request::get(path, klines_weight(market, limit))
        .param("symbol", symbol)
        .param("interval", tf.as_str())
        .opt_param("startTime", start_ms)
        .opt_param("endTime", end_ms)
        .param("limit", limit)
}

pub(crate) fn server_time(market: Market) -> Request {
    match market {
        Market::Spot => Request::get("/api/v3/time", 1),
        Market::UsdM => Request::get("/fapi/v1/time", 1),
    }
}

/// `symbols` empty → every symbol; one → `symbol=`; several → spot `symbols=[..]`, futures all
/// (it has no list parameter; the caller filters).
pub(crate) fn ticker_price(market: Market, symbols: &[Symbol]) -> Request {
    match (market, symbols) {
        (Market::Spot, [one]) => Request::get("/api/v3/ticker/price", 2).param("symbol", one),
        (Market::Spot, []) => Request::get("/api/v3/ticker/price", 4),
        (Market::Spot, many) => {
            Request::get("/api/v3/ticker/price", 4).param("symbols", json_list(many))
        }
        (Market::UsdM, [one]) => Request::get("/fapi/v1/ticker/price", 1).param("symbol", one),
        (Market::UsdM, _) => Request::get("/fapi/v1/ticker/price", 2),
    }
}

/// Spot filters server-side with `symbol`/`symbols`; futures has no filter (the caller filters).
pub(crate) fn exchange_info(market: Market, symbols: &[Symbol]) -> Request {
    match (market, symbols) {
        (Market::Spot, []) => Request::get("/api/v3/exchangeInfo", 20),
        (Market::Spot, [one]) => Request::get("/api/v3/exchangeInfo", 20).param("symbol", one),
        (Market::Spot, many) => {
            Request::get("/api/v3/exchangeInfo", 20).param("symbols", json_list(many))
        }
        (Market::UsdM, _) => Request::get("/fapi/v1/exchangeInfo", 1),
    }
}

fn json_list(symbols: &[Symbol]) -> String {
    let quoted: Vec<String> = symbols
        .iter()
        .map(|s| format!("\"{}\"", s.as_str()))
        .collect();
    format!("[{}]", quoted.join(","))
}

pub(crate) fn spot_account() -> Request {
    Request::get("/api/v3/account", 20)
        .param("omitZeroBalances", "false")
        .signed()
}

pub(crate) fn futures_account() -> Request {
    Request::get("/fapi/v2/account", 5).signed()
}

pub(crate) fn position_risk(symbol: Option<&Symbol>) -> Request {
    Request::get("/fapi/v2/positionRisk", 5)
        .opt_param("symbol", symbol)
        .signed()
}

/// `POST /api/v3/order` MARKET with `newOrderRespType=FULL`, parameters in the query string.
pub(crate) fn spot_market_order(order: &MarketOrder) -> Request {
    let r = Request {
        method: Method::POST,
        path: "/api/v3/order",
        weight: 1,
        params: Vec::new(),
        signed: true,
        idempotent: false,
    }
    .param("symbol", &order.symbol)
    .param("side", order.side.as_str())
    .param("type", "MARKET");
    let r = match order.amount {
        OrderAmount::Base(q) => r.param("quantity", q.normalize()),
        OrderAmount::Quote(q) => r.param("quoteOrderQty", q.normalize()),
    };
    r.param("newClientOrderId", &order.client_order_id)
        .param("newOrderRespType", "FULL")
}

/// `GET /api/v3/order?symbol=&origClientOrderId=`
pub(crate) fn spot_order_by_client_id(symbol: &Symbol, client_order_id: &str) -> Request {
    Request::get("/api/v3/order", 4)
        .param("symbol", symbol)
        .param("origClientOrderId", client_order_id)
        .signed()
}

/// `POST /fapi/v1/order` MARKET with `newOrderRespType=RESULT` (the default ACK would say NEW
/// even for a filled market order).
pub(crate) fn futures_market_order(order: &FuturesMarketOrder) -> Request {
    let r = Request {
        method: Method::POST,
        path: "/fapi/v1/order",
        weight: 1,
        params: Vec::new(),
        signed: true,
        idempotent: false,
    }
    .param("symbol", &order.symbol)
    .param("side", order.side.as_str())
    .param("type", "MARKET")
    .param("quantity", order.quantity.normalize());
    let r = if order.reduce_only {
        r.param("reduceOnly", "true")
    } else {
        r
    };
    r.param("newClientOrderId", &order.client_order_id)
        .param("newOrderRespType", "RESULT")
}

/// `GET /fapi/v1/order?symbol=&origClientOrderId=`
pub(crate) fn futures_order_by_client_id(symbol: &Symbol, client_order_id: &str) -> Request {
    Request::get("/fapi/v1/order", 1)
        .param("symbol", symbol)
        .param("origClientOrderId", client_order_id)
        .signed()
}

/// `DELETE /api/v3/order?symbol=&origClientOrderId=`: cancel an open spot order (weight 1).
/// Idempotent: cancelling twice gives "unknown order" the second time, never two effects.
pub(crate) fn spot_cancel_by_client_id(symbol: &Symbol, client_order_id: &str) -> Request {
    let mut r = Request::get("/api/v3/order", 1)
        .param("symbol", symbol)
        .param("origClientOrderId", client_order_id)
        .signed();
    r.method = Method::DELETE;
    r
}

/// `DELETE /fapi/v1/order?symbol=&origClientOrderId=`: cancel an open futures order.
pub(crate) fn futures_cancel_by_client_id(symbol: &Symbol, client_order_id: &str) -> Request {
    let mut r = Request::get("/fapi/v1/order", 1)
        .param("symbol", symbol)
        .param("origClientOrderId", client_order_id)
        .signed();
    r.method = Method::DELETE;
    r
}

/// `GET /api/v3/myTrades?symbol=&orderId=`: the trades of one order (weight 5 with `orderId`).
pub(crate) fn spot_order_trades(symbol: &Symbol, order_id: i64) -> Request {
    Request::get("/api/v3/myTrades", 5)
        .param("symbol", symbol)
        .param("orderId", order_id)
        .param("limit", 1000)
        .signed()
}

/// `GET /fapi/v1/userTrades?symbol=&orderId=`: the trades of one order (weight 5).
pub(crate) fn futures_order_trades(symbol: &Symbol, order_id: i64) -> Request {
    Request::get("/fapi/v1/userTrades", 5)
        .param("symbol", symbol)
        .param("orderId", order_id)
        .param("limit", 1000)
        .signed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exchange::OrderSide;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn btc() -> Symbol {
        Symbol("BTCUSDT".into())
    }

    #[test]
    fn klines_paths_params_and_weights() {
        let r = klines(Market::Spot, &btc(), Timeframe::H1, Some(1), Some(2), 1000);
        assert_eq!(r.path, "/api/v3/klines");
        assert_eq!(r.weight, 2);
        assert_eq!(
            r.params,
            vec![
                ("symbol", "BTCUSDT".to_string()),
                ("interval", "1h".to_string()),
                ("startTime", "1".to_string()),
                ("endTime", "2".to_string()),
                ("limit", "1000".to_string())
            ]
        );
        assert!(!r.signed);
        let f = klines(Market::UsdM, &btc(), Timeframe::M1, None, None, 1500);
        assert_eq!(f.path, "/fapi/v1/klines");
        assert_eq!(f.weight, 10);
        assert_eq!(f.params.len(), 3);
        assert_eq!(klines_weight(Market::UsdM, 99), 1);
        assert_eq!(klines_weight(Market::UsdM, 100), 2);
        assert_eq!(klines_weight(Market::UsdM, 500), 5);
        assert_eq!(klines_weight(Market::UsdM, 1000), 5);
        assert_eq!(klines_weight(Market::UsdM, 1001), 10);
    }

    #[test]
    fn ticker_weights_and_symbol_lists() {
        let eth = Symbol("ETHUSDT".into());
        assert_eq!(ticker_price(Market::Spot, &[btc()]).weight, 2);
        let many = ticker_price(Market::Spot, &[btc(), eth.clone()]);
        assert_eq!(many.weight, 4);
        assert_eq!(many.params[0].1, r#"["BTCUSDT","ETHUSDT"]"#);
        assert_eq!(ticker_price(Market::UsdM, &[btc(), eth]).params.len(), 0);
        assert_eq!(ticker_price(Market::UsdM, &[btc()]).weight, 1);
    }

    #[test]
    fn spot_market_order_params() {
        let o = MarketOrder {
            symbol: btc(),
            side: OrderSide::Buy,
            amount: OrderAmount::Quote(Decimal::from_str("10.50").unwrap()),
            client_order_id: "fks-1".into(),
        };
        let r = spot_market_order(&o);
        assert_eq!(r.method, Method::POST);
        assert!(r.signed && !r.idempotent);
        let q: Vec<String> = r.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            q.join("&"),
            "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=10.5&newClientOrderId=fks-1\
             &newOrderRespType=FULL"
        );
    }

    #[test]
    fn futures_reduce_only_order_params() {
        let o = FuturesMarketOrder {
            symbol: btc(),
            side: OrderSide::Sell,
            quantity: Decimal::from_str("0.010").unwrap(),
            client_order_id: "fks-2".into(),
            reduce_only: true,
        };
        let q: Vec<String> = futures_market_order(&o)
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            q.join("&"),
            "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.01&reduceOnly=true\
             &newClientOrderId=fks-2&newOrderRespType=RESULT"
        );
    }
}
