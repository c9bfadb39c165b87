//! Property tests of every parser of Binance's answers: arbitrary bytes, arbitrary JSON and
//! mutated real bodies never panic and fail with a clear error; kline rows written in the
//! exchange's format (by the loopback exchange) read back to the same candles.

use super::client::{ban_end_from_msg, error_detail};
use super::wire::{
    ErrorBody, ExchangeInfoW, FuturesAccountW, FuturesOrderW, KlineRow, OneOrMany, PositionRiskW,
    ServerTime, SpotAccountW, SpotOrderW, TickerPriceW, TradeW,
};
use crate::core::market::{Candle, Timeframe};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;

/// Parse `body` as every answer fks reads, and convert what parses into fks's types. Errors
/// must say something; nothing may panic.
fn parse_all(body: &[u8]) {
    fn check<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
        match serde_json::from_slice::<T>(body) {
            Ok(v) => Some(v),
            Err(e) => {
                assert!(!e.to_string().is_empty(), "an error that says nothing");
                None
            }
        }
    }
    if let Some(rows) = check::<Vec<KlineRow>>(body) {
        for r in rows {
            let _ = r.0.candle();
        }
    }
    check::<ErrorBody>(body);
    check::<ServerTime>(body);
    check::<OneOrMany<TickerPriceW>>(body).map(OneOrMany::into_vec);
    check::<ExchangeInfoW>(body).map(ExchangeInfoW::into_core);
    check::<SpotAccountW>(body).map(SpotAccountW::into_core);
    check::<FuturesAccountW>(body).map(FuturesAccountW::into_core);
    if let Some(v) = check::<Vec<PositionRiskW>>(body) {
        v.into_iter().for_each(|p| drop(p.into_core()));
    }
    if let Some(o) = check::<SpotOrderW>(body) {
        let _ = o.into_core().map(|r| r.commission_by_asset());
    }
    if let Some(o) = check::<FuturesOrderW>(body) {
        let _ = o.into_core();
    }
    if let Some(v) = check::<Vec<TradeW>>(body) {
        v.into_iter().for_each(|t| drop(t.into_core()));
    }
    assert!(!error_detail(body).is_empty());
    let _ = ban_end_from_msg(body);
}

/// Any JSON value, with numbers and strings that look like what Binance sends and what breaks
/// decimal parsers (exponents, huge and tiny values, integers past 2^63).
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "-?[0-9]{0,30}(\\.[0-9]{0,30})?([eE][-+]?[0-9]{1,4})?".prop_map(Value::String),
        ".{0,20}".prop_map(Value::String),
        prop::sample::select(vec![
            "BUY",
            "SELL",
            "FILLED",
            "NEW",
            "TRADING",
            "LOT_SIZE",
            "PRICE_FILTER",
            "NOTIONAL",
            "MIN_NOTIONAL",
            "MARKET_LOT_SIZE",
            "REQUEST_WEIGHT",
            "MINUTE",
            "NaN",
            "inf",
            "1e999",
            "-0",
            "79228162514264337593543950336",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 64, 12, |inner| {
        let keys = prop::sample::select(vec![
            "code",
            "msg",
            "serverTime",
            "symbol",
            "price",
            "symbols",
            "filters",
            "filterType",
            "minQty",
            "maxQty",
            "stepSize",
            "tickSize",
            "minPrice",
            "maxPrice",
            "minNotional",
            "notional",
            "rateLimits",
            "rateLimitType",
            "interval",
            "intervalNum",
            "limit",
            "balances",
            "asset",
            "free",
            "locked",
            "orderId",
            "clientOrderId",
            "status",
            "type",
            "side",
            "origQty",
            "executedQty",
            "cummulativeQuoteQty",
            "fills",
            "qty",
            "commission",
            "commissionAsset",
            "time",
            "updateTime",
            "transactTime",
            "avgPrice",
            "cumQuote",
            "positionAmt",
            "entryPrice",
            "markPrice",
            "unRealizedProfit",
            "leverage",
            "totalWalletBalance",
            "totalUnrealizedProfit",
            "totalMarginBalance",
            "availableBalance",
            "assets",
            "walletBalance",
            "id",
            "realizedPnl",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..12).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..12).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

const REAL_BODIES: &[&str] = &[
    r#"[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"]]"#,
    r#"{"code":-1003,"msg":"Way too much request weight used; IP banned until 1700000000000. Please use WebSocket Streams for live updates to avoid bans."}"#,
    r#"{"symbol":"BTCUSDT","orderId":7328606773,"orderListId":-1,"clientOrderId":"fks-abc","transactTime":1630065942942,"price":"0.00000000","origQty":"0.00052000","executedQty":"0.00052000","cummulativeQuoteQty":"24.68840400","status":"FILLED","timeInForce":"GTC","type":"MARKET","side":"BUY","workingTime":1630065942942,"fills":[{"price":"47477.70000000","qty":"0.00052000","commission":"0.00000052","commissionAsset":"BTC","tradeId":1027240809}]}"#,
    r#"[{"symbol":"LTCUSDT","id":"309520010","orderId":"3784695242","orderListId":"-1","price":"69.63000000","qty":"0.20000000","quoteQty":"13.92600000","commission":"0.01392600","commissionAsset":"USDT","time":"1698138992358","isBuyer":false,"isMaker":false,"isBestMatch":true}]"#,
    r#"{"timezone":"UTC","serverTime":1715054406944,"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000}],"symbols":[{"symbol":"ETHBTC","status":"TRADING","baseAsset":"ETH","quoteAsset":"BTC","filters":[{"filterType":"LOT_SIZE","minQty":"0.00010000","maxQty":"100000.00000000","stepSize":"0.00010000"},{"filterType":"NOTIONAL","minNotional":"0.00010000","maxNotional":"9000000.00000000"}]}]}"#,
    r#"[{"entryPrice":"40000.0","marginType":"cross","leverage":"10","liquidationPrice":"30000.12","markPrice":"42000.00000000","positionAmt":"-0.150","symbol":"BTCUSDT","unRealizedProfit":"300.00000000","positionSide":"BOTH","updateTime":1704067200000}]"#,
];

/// A body mutated the ways transports and proxies break them.
fn mutate(body: &str, how: u8, at: prop::sample::Index, byte: u8) -> Vec<u8> {
    let mut b = body.as_bytes().to_vec();
    let i = at.index(b.len().max(1)).min(b.len());
    match how % 5 {
        0 => b.truncate(i),
        1 => {
            if i < b.len() {
                b[i] = byte;
            }
        }
        2 => b.insert(i, byte),
        3 => {
            if i < b.len() {
                b.remove(i);
            }
        }
        _ => {
            let tail = b.split_off(i);
            b.extend_from_slice(b"<html>502 Bad Gateway</html>");
            b.extend(tail);
        }
    }
    b
}

fn decimal_8() -> impl Strategy<Value = Decimal> {
    (0i64..=9_999_999_999_999_999, 0u32..=8).prop_map(|(m, s)| Decimal::new(m, s))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
        parse_all(&body);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        parse_all(v.to_string().as_bytes());
        // The same value wrapped the ways Binance wraps answers.
        parse_all(Value::Array(vec![v.clone()]).to_string().as_bytes());
        parse_all(serde_json::json!([[1, v.clone(), "1", "1", "1", "1", 2, "1", 3, "1", "1", "0"]]).to_string().as_bytes());
        parse_all(serde_json::json!({"code": -1121, "msg": v}).to_string().as_bytes());
    }

    #[test]
    fn mutated_real_bodies_never_panic(
        which in 0..REAL_BODIES.len(),
        how in any::<u8>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        parse_all(&mutate(REAL_BODIES[which], how, at, byte));
    }

    /// A page cut short anywhere is an error, never a shorter page taken for the whole.
    #[test]
    fn a_kline_page_cut_short_is_an_error(n in 1usize..20, at in any::<prop::sample::Index>()) {
        let c = Candle { open_time: 1_704_067_200_000, open: Decimal::ONE, high: Decimal::TWO, low: Decimal::ONE, close: Decimal::TWO, volume: Decimal::TEN };
        let rows: Vec<String> = (0..n)
            .map(|i| crate::core::fake_binance::kline_row(&Candle { open_time: c.open_time + i as i64 * 3_600_000, ..c.clone() }, Timeframe::H1))
            .collect();
        let page = format!("[{}]", rows.join(","));
        let cut = at.index(page.len());
        let parsed = serde_json::from_str::<Vec<KlineRow>>(&page[..cut]);
        prop_assert!(parsed.is_err(), "{:?}", &page[..cut]);
    }

    /// Candles written as Binance kline rows (as the loopback exchange writes them) read back
    /// exactly, decimals to the last digit.
    #[test]
    fn kline_rows_round_trip(
        open_time in 0i64..4_102_444_800_000,
        open in decimal_8(), high in decimal_8(), low in decimal_8(), close in decimal_8(),
        volume in decimal_8(),
    ) {
        let c = Candle { open_time, open, high, low, close, volume };
        let page = format!("[{}]", crate::core::fake_binance::kline_row(&c, Timeframe::H1));
        let rows: Vec<KlineRow> = serde_json::from_str(&page).unwrap();
        prop_assert_eq!(rows.len(), 1);
        let k = &rows[0].0;
        prop_assert_eq!(k.candle(), c);
        prop_assert_eq!(k.close_time, open_time + 3_600_000 - 1);
        prop_assert_eq!(k.open.to_string(), open.to_string());
    }

    /// Error bodies: the code and message come back as sent, and the one-line detail names
    /// both; a ban's end is read only from a well-formed "until <ms>".
    #[test]
    fn error_bodies_round_trip(code in any::<i64>(), msg in ".{0,120}") {
        let body = serde_json::json!({"code": code, "msg": msg}).to_string();
        let e: ErrorBody = serde_json::from_str(&body).unwrap();
        prop_assert_eq!(e.code, code);
        prop_assert_eq!(&e.msg, &msg);
        let detail = error_detail(body.as_bytes());
        prop_assert!(detail.starts_with(&code.to_string()));
        let _ = ban_end_from_msg(body.as_bytes());
    }

    #[test]
    fn ban_ends_are_read_from_the_message(until in 0i64..i64::MAX, tail in "[^0-9].{0,40}") {
        let body = serde_json::json!({"code": -1003, "msg": format!("Way too much request weight used; IP banned until {until}{tail}")}).to_string();
        prop_assert_eq!(ban_end_from_msg(body.as_bytes()), Some(until));
    }
}
