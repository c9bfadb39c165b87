//! A Binance fake on 127.0.0.1 (wiremock) answering klines in the exact wire format:
//! heterogeneous arrays with integer times and 8-decimal strings, `x-mbx-used-weight-1m`,
//! and Binance error bodies.

use std::sync::{Arc, Mutex};
use wiremock::{Request, Respond, ResponseTemplate};

#[derive(Debug, Clone)]
pub struct Kline {
    pub open_time: i64,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    pub volume: String,
}

/// A deterministic series of `n` candles from `start` with step `step`.
pub fn series(start: i64, step: i64, n: usize, base: f64) -> Vec<Kline> {
    (0..n)
        .map(|i| {
            let p = base + (i as f64 * 0.37).sin() * base * 0.01 + i as f64 * 0.01;
            Kline {
                open_time: start + i as i64 * step,
                open: format!("{:.8}", p),
                high: format!("{:.8}", p * 1.002),
                low: format!("{:.8}", p * 0.998),
                close: format!("{:.8}", p * 1.001),
                volume: format!("{:.8}", 10.0 + i as f64),
            }
        })
        .collect()
}

/// Serves `/api/v3/klines` from a fixed series, honouring startTime, endTime and limit.
#[derive(Clone)]
pub struct KlinesResponder {
    pub data: Arc<Mutex<Vec<Kline>>>,
    pub step: i64,
    pub max_limit: usize,
    pub weight: Arc<Mutex<u32>>,
    pub delay: std::time::Duration,
}

impl KlinesResponder {
    pub fn new(data: Vec<Kline>, step: i64) -> Self {
        KlinesResponder {
            data: Arc::new(Mutex::new(data)),
            step,
            max_limit: 1000,
            weight: Arc::new(Mutex::new(0)),
            delay: std::time::Duration::ZERO,
        }
    }
}

fn q(req: &Request, name: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
}

impl Respond for KlinesResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let limit: usize = q(req, "limit").and_then(|v| v.parse().ok()).unwrap_or(500);
        if limit > self.max_limit {
            return ResponseTemplate::new(400).set_body_raw(
                r#"{"code":-1130,"msg":"Data sent for parameter 'limit' is not valid."}"#,
                "application/json",
            );
        }
        let start: i64 = q(req, "startTime")
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MIN);
        let end: i64 = q(req, "endTime")
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MAX);
        let data = self.data.lock().unwrap();
        let rows: Vec<String> = data
            .iter()
            .filter(|k| k.open_time >= start && k.open_time <= end)
            .take(limit)
            .map(|k| {
                format!(
                    "[{},\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",{},\"{}\",{},\"{}\",\"{}\",\"0\"]",
                    k.open_time,
                    k.open,
                    k.high,
                    k.low,
                    k.close,
                    k.volume,
                    k.open_time + self.step - 1,
                    "1000.00000000",
                    42,
                    "5.00000000",
                    "500.00000000"
                )
            })
            .collect();
        let mut w = self.weight.lock().unwrap();
        *w += 2;
        ResponseTemplate::new(200)
            .insert_header("x-mbx-used-weight", w.to_string().as_str())
            .insert_header("x-mbx-used-weight-1m", w.to_string().as_str())
            .set_body_raw(
                format!("[{}]", rows.join(",")),
                "application/json;charset=UTF-8",
            )
            .set_delay(self.delay)
    }
}

pub const INVALID_SYMBOL: &str = r#"{"code":-1121,"msg":"Invalid symbol."}"#;
pub const TOO_MUCH_WEIGHT: &str = r#"{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."}"#;

// ---------------------------------------------------------------------------------------------
// A loopback exchange account (spot and USD-M futures) that takes orders, answers queries by
// client order id and lists an order's trades, in Binance's wire formats. Several fks stores
// (or a store and its restored backup) can trade on the one account it models.

/// Exchange info of BTCUSDT and ETHUSDT (spot 2024 format).
pub const EXCHANGE_INFO: &str = r#"{"timezone":"UTC","serverTime":1704067200000,"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000}],"exchangeFilters":[],"symbols":[
{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","baseAssetPrecision":8,"quoteAsset":"USDT","quotePrecision":8,"quoteAssetPrecision":8,"baseCommissionPrecision":8,"quoteCommissionPrecision":8,"orderTypes":["LIMIT","MARKET"],"icebergAllowed":true,"ocoAllowed":true,"isSpotTradingAllowed":true,"isMarginTradingAllowed":true,"filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},{"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},{"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5},{"filterType":"MARKET_LOT_SIZE","minQty":"0.00000000","maxQty":"110.00000000","stepSize":"0.00000000"}],"permissions":[],"permissionSets":[["SPOT"]],"defaultSelfTradePreventionMode":"EXPIRE_MAKER","allowedSelfTradePreventionModes":["EXPIRE_TAKER","EXPIRE_MAKER","EXPIRE_BOTH"]},
{"symbol":"ETHUSDT","status":"TRADING","baseAsset":"ETH","baseAssetPrecision":8,"quoteAsset":"USDT","quotePrecision":8,"quoteAssetPrecision":8,"baseCommissionPrecision":8,"quoteCommissionPrecision":8,"orderTypes":["LIMIT","MARKET"],"icebergAllowed":true,"ocoAllowed":true,"isSpotTradingAllowed":true,"isMarginTradingAllowed":true,"filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},{"filterType":"LOT_SIZE","minQty":"0.00010000","maxQty":"9000.00000000","stepSize":"0.00010000"},{"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5}],"permissions":[],"permissionSets":[["SPOT"]]}]}"#;

/// USD-M exchange info of BTCUSDT and ETHUSDT (2024 format).
pub const FUTURES_EXCHANGE_INFO: &str = r#"{"timezone":"UTC","serverTime":1704067200000,"futuresType":"U_MARGINED","rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":2400},{"rateLimitType":"ORDERS","interval":"MINUTE","intervalNum":1,"limit":1200}],"exchangeFilters":[],"assets":[],"symbols":[
{"symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL","deliveryDate":4133404800000,"onboardDate":1569398400000,"status":"TRADING","maintMarginPercent":"2.5000","requiredMarginPercent":"5.0000","baseAsset":"BTC","quoteAsset":"USDT","marginAsset":"USDT","pricePrecision":2,"quantityPrecision":3,"baseAssetPrecision":8,"quotePrecision":8,"underlyingType":"COIN","settlePlan":0,"triggerProtect":"0.0500","liquidationFee":"0.012500","marketTakeBound":"0.05","maxMoveOrderLimit":10000,"filters":[{"minPrice":"556.80","maxPrice":"4529764","filterType":"PRICE_FILTER","tickSize":"0.10"},{"stepSize":"0.001","filterType":"LOT_SIZE","maxQty":"1000","minQty":"0.001"},{"stepSize":"0.001","filterType":"MARKET_LOT_SIZE","maxQty":"120","minQty":"0.001"},{"limit":200,"filterType":"MAX_NUM_ORDERS"},{"notional":"100","filterType":"MIN_NOTIONAL"}],"orderTypes":["LIMIT","MARKET"],"timeInForce":["GTC","IOC","FOK","GTX","GTD"]},
{"symbol":"ETHUSDT","pair":"ETHUSDT","contractType":"PERPETUAL","deliveryDate":4133404800000,"onboardDate":1569398400000,"status":"TRADING","baseAsset":"ETH","quoteAsset":"USDT","marginAsset":"USDT","filters":[{"minPrice":"39.86","maxPrice":"306177","filterType":"PRICE_FILTER","tickSize":"0.01"},{"stepSize":"0.001","filterType":"LOT_SIZE","maxQty":"10000","minQty":"0.001"},{"stepSize":"0.001","filterType":"MARKET_LOT_SIZE","maxQty":"2000","minQty":"0.001"},{"notional":"20","filterType":"MIN_NOTIONAL"}],"orderTypes":["LIMIT","MARKET"]}]}"#;

/// A spot account holding 0.002 BTC and 900 USDT.
pub const SPOT_ACCOUNT: &str = r#"{"makerCommission":10,"takerCommission":10,"buyerCommission":0,"sellerCommission":0,"canTrade":true,"canWithdraw":true,"canDeposit":true,"brokered":false,"requireSelfTradePrevention":false,"preventSor":false,"updateTime":1704067200000,"accountType":"SPOT","balances":[{"asset":"BTC","free":"0.00200000","locked":"0.00000000"},{"asset":"ETH","free":"0.00000000","locked":"0.00000000"},{"asset":"USDT","free":"900.00000000","locked":"0.00000000"}],"permissions":["SPOT"],"uid":1}"#;

/// Spot last prices (`symbols=[..]` answer).
pub const SPOT_PRICES: &str = r#"[{"symbol":"BTCUSDT","price":"50000.00000000"},{"symbol":"ETHUSDT","price":"2500.00000000"}]"#;

/// A futures account (v2) with margin in USDT.
pub const FUTURES_ACCOUNT: &str = r#"{"feeTier":0,"canTrade":true,"canDeposit":true,"canWithdraw":true,"updateTime":0,"multiAssetsMargin":false,"tradeGroupId":-1,"totalInitialMargin":"630.00000000","totalMaintMargin":"25.20000000","totalWalletBalance":"10000.00000000","totalUnrealizedProfit":"300.00000000","totalMarginBalance":"10300.00000000","totalPositionInitialMargin":"630.00000000","totalOpenOrderInitialMargin":"0.00000000","totalCrossWalletBalance":"10000.00000000","totalCrossUnPnl":"300.00000000","availableBalance":"9670.00000000","maxWithdrawAmount":"9670.00000000","assets":[],"positions":[]}"#;

/// One LONG 0.150 BTCUSDT position (v2 positionRisk, one-way mode), marked at 42000.
pub const FUTURES_POSITION_RISK: &str = r#"[{"entryPrice":"40000.0","breakEvenPrice":"40016.0","marginType":"cross","isAutoAddMargin":"false","isolatedMargin":"0.00000000","leverage":"10","liquidationPrice":"30000.12","markPrice":"42000.00000000","maxNotionalValue":"20000000","positionAmt":"0.150","notional":"6300.0","isolatedWallet":"0","symbol":"BTCUSDT","unRealizedProfit":"300.00000000","positionSide":"BOTH","updateTime":1704067200000}]"#;

/// What the desk does with the next order requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostMode {
    /// Place and fill the order, answer in full.
    Fill,
    /// Place and fill the order, but answer only after `delay_s` seconds (longer than fks's
    /// timeout: the answer is lost).
    LoseAnswer,
    /// Answer 503 without placing the order (it never reaches the matching engine).
    ServerError,
    /// Place and fill the order, then answer 200 with a body cut short.
    Garble,
}

/// An order the desk placed.
#[derive(Clone, Debug)]
pub struct Placed {
    pub cid: String,
    pub symbol: String,
    pub side: String,
    pub qty: String,
    pub order_id: i64,
    pub time_ms: i64,
    pub futures: bool,
}

impl Placed {
    pub fn price(&self) -> &'static str {
        if self.symbol == "BTCUSDT" {
            "50000.00"
        } else {
            "2500.00"
        }
    }
    fn quote(&self) -> f64 {
        self.qty.parse::<f64>().unwrap_or(0.0) * self.price().parse::<f64>().unwrap_or(0.0)
    }
}

pub struct DeskState {
    pub mode: PostMode,
    /// Orders for this symbol are refused with -2010 (insufficient balance).
    pub reject_symbol: Option<String>,
    pub placed: Vec<Placed>,
    pub next_id: i64,
    /// Every order query is answered with this order, whatever id was asked (an order that is
    /// not the one fks journaled).
    pub query_answer: Option<Placed>,
    /// Commission per trade and its asset.
    pub commission: (String, String),
    /// Order POST requests received (placed or not).
    pub posts: usize,
    /// Every order POST received, placed or not.
    pub seen: Vec<Placed>,
    /// Answer queries for ids that were sent but never placed with a forged order.
    pub forge: Option<Forge>,
    /// The exchange's clock minus the local clock (ms): order times and `/time` use it.
    pub clock_skew_ms: i64,
}

impl DeskState {
    pub fn now_ms(&self) -> i64 {
        now_ms() + self.clock_skew_ms
    }
}

/// How a forged answer differs from what fks sent: an order that carries fks's client id but
/// is not fks's order (made earlier, or for another quantity or side).
#[derive(Clone, Debug, Default)]
pub struct Forge {
    pub time_shift_ms: i64,
    pub qty: Option<String>,
    pub side: Option<String>,
    pub cid: Option<String>,
}

/// The loopback account. Clones share the state.
#[derive(Clone)]
pub struct Desk(pub Arc<Mutex<DeskState>>);

impl Default for Desk {
    fn default() -> Self {
        Desk(Arc::new(Mutex::new(DeskState {
            mode: PostMode::Fill,
            reject_symbol: None,
            placed: Vec::new(),
            next_id: 9_780_331_417,
            query_answer: None,
            commission: ("0.00012345".into(), "BNB".into()),
            posts: 0,
            seen: Vec::new(),
            forge: None,
            clock_skew_ms: 0,
        })))
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn qp(req: &Request, name: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
}

fn body(status: u16, text: String) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("x-mbx-used-weight-1m", "5")
        .set_body_raw(text, "application/json;charset=UTF-8")
}

/// A spot order as `GET /api/v3/order` or a FULL `POST` prints it.
pub fn spot_order_json(o: &Placed, full: bool, commission: &(String, String)) -> String {
    let fills = if full {
        format!(
            r#","fills":[{{"price":"{}","qty":"{}","commission":"{}","commissionAsset":"{}","tradeId":{}}}]"#,
            o.price(),
            o.qty,
            commission.0,
            commission.1,
            o.order_id + 7
        )
    } else {
        String::new()
    };
    let times = if full {
        format!(r#""transactTime":{t},"workingTime":{t}"#, t = o.time_ms)
    } else {
        format!(
            r#""time":{t},"updateTime":{t},"isWorking":true,"workingTime":{t}"#,
            t = o.time_ms
        )
    };
    format!(
        r#"{{"symbol":"{}","orderId":{},"orderListId":-1,"clientOrderId":"{}",{times},"price":"0.00000000","origQty":"{}","executedQty":"{}","origQuoteOrderQty":"0.00000000","cummulativeQuoteQty":"{:.8}","status":"FILLED","timeInForce":"GTC","type":"MARKET","side":"{}","stopPrice":"0.00000000","icebergQty":"0.00000000","selfTradePreventionMode":"EXPIRE_MAKER"{fills}}}"#,
        o.symbol,
        o.order_id,
        o.cid,
        o.qty,
        o.qty,
        o.quote(),
        o.side
    )
}

/// A futures order as `GET /fapi/v1/order` or a RESULT `POST` prints it.
pub fn futures_order_json(o: &Placed, query: bool) -> String {
    let time = if query {
        format!(r#""time":{},"#, o.time_ms)
    } else {
        String::new()
    };
    format!(
        r#"{{"avgPrice":"{}","clientOrderId":"{}","cumQuote":"{:.5}","executedQty":"{}","orderId":{},"origQty":"{}","origType":"MARKET","price":"0","reduceOnly":true,"side":"{}","positionSide":"BOTH","status":"FILLED","stopPrice":"0","closePosition":false,"symbol":"{}",{time}"timeInForce":"GTC","type":"MARKET","activatePrice":"0","priceRate":"0","updateTime":{},"workingType":"CONTRACT_PRICE","priceProtect":false,"priceMatch":"NONE","selfTradePreventionMode":"NONE","goodTillDate":0}}"#,
        o.price(),
        o.cid,
        o.quote(),
        o.qty,
        o.order_id,
        o.qty,
        o.side,
        o.symbol,
        o.time_ms
    )
}

/// `POST /api/v3/order` or `/fapi/v1/order`.
pub struct OrderPost {
    pub desk: Desk,
    pub futures: bool,
}

impl Respond for OrderPost {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.desk.0.lock().unwrap();
        s.posts += 1;
        let (cid, symbol, side, qty) = (
            qp(req, "newClientOrderId").unwrap_or_default(),
            qp(req, "symbol").unwrap_or_default(),
            qp(req, "side").unwrap_or_default(),
            qp(req, "quantity").unwrap_or_default(),
        );
        let next = s.next_id + 1;
        let now = s.now_ms();
        s.seen.push(Placed {
            cid: cid.clone(),
            symbol: symbol.clone(),
            side: side.clone(),
            qty: qty.clone(),
            order_id: next,
            time_ms: now,
            futures: self.futures,
        });
        if s.reject_symbol.as_deref() == Some(symbol.as_str()) {
            return body(
                400,
                r#"{"code":-2010,"msg":"Account has insufficient balance for requested action."}"#
                    .into(),
            );
        }
        if s.mode == PostMode::ServerError {
            return body(
                503,
                r#"{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}"#
                    .into(),
            );
        }
        if s.placed.iter().any(|o| o.cid == cid) {
            return body(
                400,
                r#"{"code":-2010,"msg":"Duplicate order sent."}"#.into(),
            );
        }
        s.next_id += 1;
        let o = Placed {
            cid,
            symbol,
            side,
            qty,
            order_id: s.next_id,
            time_ms: now,
            futures: self.futures,
        };
        s.placed.push(o.clone());
        let text = if self.futures {
            futures_order_json(&o, false)
        } else {
            spot_order_json(&o, true, &s.commission)
        };
        match s.mode {
            PostMode::LoseAnswer => body(200, text).set_delay(std::time::Duration::from_secs(3)),
            PostMode::Garble => body(200, text[..text.len() / 2].to_string()),
            _ => body(200, text),
        }
    }
}

/// `GET /api/v3/order` or `/fapi/v1/order` by `origClientOrderId`: the order, or -2013.
pub struct OrderQuery {
    pub desk: Desk,
    pub futures: bool,
}

impl Respond for OrderQuery {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let s = self.desk.0.lock().unwrap();
        let cid = qp(req, "origClientOrderId").unwrap_or_default();
        let forged = || {
            let f = s.forge.as_ref()?;
            let mut o = s.seen.iter().find(|o| o.cid == cid)?.clone();
            o.time_ms += f.time_shift_ms;
            o.order_id += 1_000_000;
            if let Some(q) = &f.qty {
                o.qty.clone_from(q);
            }
            if let Some(x) = &f.side {
                o.side.clone_from(x);
            }
            if let Some(c) = &f.cid {
                o.cid.clone_from(c);
            }
            Some(o)
        };
        let found = s
            .query_answer
            .clone()
            .or_else(|| s.placed.iter().find(|o| o.cid == cid).cloned())
            .or_else(forged);
        match found {
            Some(o) if self.futures => body(200, futures_order_json(&o, true)),
            Some(o) => body(200, spot_order_json(&o, false, &s.commission)),
            None => body(
                400,
                r#"{"code":-2013,"msg":"Order does not exist."}"#.into(),
            ),
        }
    }
}

/// `GET /api/v3/myTrades` or `/fapi/v1/userTrades` by `orderId`: one trade per order.
pub struct OrderTrades {
    pub desk: Desk,
    pub futures: bool,
}

impl Respond for OrderTrades {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let s = self.desk.0.lock().unwrap();
        let id: i64 = qp(req, "orderId")
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1);
        let trades: Vec<String> = s
            .placed
            .iter()
            .chain(s.query_answer.iter())
            .filter(|o| o.order_id == id)
            .take(1)
            .map(|o| {
                if self.futures {
                    format!(
                        r#"{{"buyer":{},"commission":"{}","commissionAsset":"{}","id":{},"maker":false,"orderId":{},"price":"{}","qty":"{}","quoteQty":"{:.5}","realizedPnl":"{}","side":"{}","positionSide":"BOTH","symbol":"{}","time":{}}}"#,
                        o.side == "BUY",
                        s.commission.0,
                        s.commission.1,
                        o.order_id + 7,
                        o.order_id,
                        o.price(),
                        o.qty,
                        o.quote(),
                        "12.50000000",
                        o.side,
                        o.symbol,
                        o.time_ms
                    )
                } else {
                    format!(
                        r#"{{"symbol":"{}","id":{},"orderId":{},"orderListId":-1,"price":"{}","qty":"{}","quoteQty":"{:.8}","commission":"{}","commissionAsset":"{}","time":{},"isBuyer":{},"isMaker":false,"isBestMatch":true}}"#,
                        o.symbol,
                        o.order_id + 7,
                        o.order_id,
                        o.price(),
                        o.qty,
                        o.quote(),
                        s.commission.0,
                        s.commission.1,
                        o.time_ms,
                        o.side == "BUY"
                    )
                }
            })
            .collect();
        body(200, format!("[{}]", trades.join(",")))
    }
}

/// `GET /api/v3/time` or `/fapi/v1/time` on the desk's clock.
pub struct ServerTime(pub Desk);

impl Respond for ServerTime {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let t = self.0.0.lock().unwrap().now_ms();
        body(200, format!(r#"{{"serverTime":{t}}}"#))
    }
}

/// The test key pair the loopback account accepts.
pub const KEY: &str = "test-key-0123456789";
pub const SECRET: &str = "test-secret-abcdefghijklmnop";

/// Mount the whole account on `server`: spot and USD-M market data, signed account reads,
/// orders, order queries and trades (signed endpoints verify the HMAC signature).
pub async fn mount_account(server: &wiremock::MockServer, desk: &Desk) {
    use wiremock::Mock;
    use wiremock::matchers::{method, path};
    let signed = || super::signed::SignedBy {
        key: KEY.into(),
        secret: SECRET.into(),
    };
    let fixed = |p: &'static str, text: &'static str, signed_only: bool| {
        let m = Mock::given(path(p));
        let m = if signed_only {
            m.and(signed())
        } else {
            m.and(method("GET"))
        };
        m.respond_with(body(200, text.to_string()))
    };
    fixed("/api/v3/exchangeInfo", EXCHANGE_INFO, false)
        .mount(server)
        .await;
    fixed("/api/v3/ticker/price", SPOT_PRICES, false)
        .mount(server)
        .await;
    fixed("/api/v3/account", SPOT_ACCOUNT, true)
        .mount(server)
        .await;
    fixed("/fapi/v1/exchangeInfo", FUTURES_EXCHANGE_INFO, false)
        .mount(server)
        .await;
    Mock::given(path("/fapi/v1/ticker/price"))
        .respond_with(body(
            200,
            r#"{"symbol":"BTCUSDT","price":"42000.00","time":1704067200000}"#.into(),
        ))
        .mount(server)
        .await;
    fixed("/fapi/v2/account", FUTURES_ACCOUNT, true)
        .mount(server)
        .await;
    fixed("/fapi/v2/positionRisk", FUTURES_POSITION_RISK, true)
        .mount(server)
        .await;
    for (p, futures) in [("/api/v3/order", false), ("/fapi/v1/order", true)] {
        Mock::given(method("POST"))
            .and(path(p))
            .and(signed())
            .respond_with(OrderPost {
                desk: desk.clone(),
                futures,
            })
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path(p))
            .and(signed())
            .respond_with(OrderQuery {
                desk: desk.clone(),
                futures,
            })
            .mount(server)
            .await;
    }
    for p in ["/api/v3/time", "/fapi/v1/time"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ServerTime(desk.clone()))
            .mount(server)
            .await;
    }
    for (p, futures) in [("/api/v3/myTrades", false), ("/fapi/v1/userTrades", true)] {
        Mock::given(method("GET"))
            .and(path(p))
            .and(signed())
            .respond_with(OrderTrades {
                desk: desk.clone(),
                futures,
            })
            .mount(server)
            .await;
    }
}
