//! The client against a loopback wiremock server answering in Binance's exact wire format:
//! string decimals, integer times, real error bodies, `x-mbx-used-weight-1m`, `Retry-After`.

use super::*;
use crate::core::exchange::{
    FuturesMarketOrder, Market, MarketOrder, OrderAmount, OrderSide, OrderStatus, PositionSide,
};
use crate::core::market::{Symbol, Timeframe};
use futures_util::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use rust_decimal::Decimal;
use std::str::FromStr;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const H: i64 = 3_600_000;
/// 2024-01-01T00:00:00Z
const T0: i64 = 1_704_067_200_000;
const JSON: &str = "application/json;charset=UTF-8";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn btc() -> Symbol {
    Symbol("BTCUSDT".into())
}

fn config(server: &MockServer, market: Market) -> BinanceConfig {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cfg = BinanceConfig::new(market).with_base_url(&server.uri());
    cfg.retry_base_delay = Duration::ZERO;
    cfg
}

fn client(server: &MockServer, market: Market) -> BinanceClient {
    BinanceClient::new(config(server, market)).unwrap()
}

fn signed_client(server: &MockServer, market: Market) -> BinanceClient {
    BinanceClient::new(config(server, market).with_credentials(KEY, Secret::new(SECRET))).unwrap()
}

fn json(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_raw(body.as_bytes().to_vec(), JSON)
        .insert_header("x-mbx-used-weight-1m", "2")
}

fn error_body(status: u16, code: i64, msg: &str) -> ResponseTemplate {
    json(status, &format!(r#"{{"code":{code},"msg":"{msg}"}}"#))
}

/// A kline row exactly as spot prints it.
fn row(open_time: i64, interval: i64) -> serde_json::Value {
    let p = 42_000 + (open_time / interval) % 100;
    serde_json::json!([
        open_time,
        format!("{p}.01000000"),
        format!("{}.50000000", p + 10),
        format!("{}.00000000", p - 10),
        format!("{p}.02000000"),
        "12.34500000",
        open_time + interval - 1,
        "518490.12345678",
        1234,
        "6.10000000",
        "256000.00000000",
        "0"
    ])
}

/// Answers klines like Binance for a symbol with `count` candles from `first`; candles that
/// open after `now` do not exist yet, and the one containing `now` is still open.
struct FakeKlines {
    first: i64,
    count: i64,
    interval: i64,
    now: i64,
}

fn q(req: &Request, name: &str) -> Option<i64> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
}

impl Respond for FakeKlines {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let limit = q(req, "limit").unwrap_or(500);
        let last_existing = (self.count - 1).min((self.now - self.first).div_euclid(self.interval));
        let idx_of = |t: i64| (t - self.first).div_euclid(self.interval);
        let ceil_idx = |t: i64| -(-(t - self.first)).div_euclid(self.interval);
        let hi = q(req, "endTime").map_or(last_existing, |e| idx_of(e).min(last_existing));
        let (lo, hi) = match q(req, "startTime") {
            Some(s) => {
                let lo = ceil_idx(s).max(0);
                (lo, hi.min(lo + limit - 1))
            }
            None => ((hi - limit + 1).max(0), hi),
        };
        let rows: Vec<serde_json::Value> = (lo..=hi)
            .map(|i| row(self.first + i * self.interval, self.interval))
            .collect();
        json(200, &serde_json::to_string(&rows).unwrap())
    }
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

/// Checks a signed request the way Binance does: HMAC-SHA256 of the query string up to
/// `&signature=`, recomputed here with the hmac crate directly, and the key header.
struct SignedBy {
    key: &'static str,
    secret: &'static str,
}

impl Match for SignedBy {
    fn matches(&self, req: &Request) -> bool {
        let Some(query) = req.url.query() else {
            return false;
        };
        let Some(at) = query.rfind("&signature=") else {
            return false;
        };
        let (payload, sig) = (&query[..at], &query[at + "&signature=".len()..]);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.secret.as_bytes()).unwrap();
        mac.update(payload.as_bytes());
        let expected = hex::encode(mac.finalize().into_bytes());
        let key_ok = req
            .headers
            .get("X-MBX-APIKEY")
            .and_then(|v| v.to_str().ok())
            == Some(self.key);
        key_ok
            && sig == expected
            && payload.contains("recvWindow=5000")
            && payload.contains("&timestamp=")
            && req.body.is_empty()
    }
}

fn signed() -> SignedBy {
    SignedBy {
        key: KEY,
        secret: SECRET,
    }
}

/// Everything a signed request did not match answers like Binance does for a bad signature.
async fn mount_bad_signature_fallback(server: &MockServer) {
    Mock::given(wiremock::matchers::any())
        .respond_with(error_body(
            400,
            -1022,
            "Signature for this request is not valid.",
        ))
        .with_priority(255)
        .mount(server)
        .await;
}

// ---------------------------------------------------------------- klines

#[tokio::test]
async fn pagination_2500_hourly_candles_takes_3_requests_with_correct_start_times() {
    let server = MockServer::start().await;
    let fake = FakeKlines {
        first: T0,
        count: 2500,
        interval: H,
        now: T0 + 5000 * H,
    };
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(fake)
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    let to = T0 + 2499 * H;

    let mut pages = std::pin::pin!(c.klines_pages(btc(), Timeframe::H1, T0, to, T0 + 5000 * H));
    let mut sizes = Vec::new();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        sizes.push(page.len());
        all.extend(page);
    }
    assert_eq!(sizes, vec![1000, 1000, 500]);
    assert_eq!(all.len(), 2500);
    assert!(
        all.windows(2).all(|w| w[1].open_time - w[0].open_time == H),
        "gap-free, no dupes"
    );
    assert_eq!(all[0].open_time, T0);
    assert_eq!(all[0].open, d("42052.01")); // 42000 + (T0 / H) % 100
    assert_eq!(
        all[0].volume.to_string(),
        "12.34500000",
        "decimals kept exactly"
    );

    let reqs = requests_to(&server, "/api/v3/klines").await;
    let starts: Vec<i64> = reqs.iter().map(|r| q(r, "startTime").unwrap()).collect();
    assert_eq!(starts, vec![T0, T0 + 1000 * H, T0 + 2000 * H]);
    for r in &reqs {
        assert_eq!(q(r, "limit"), Some(1000));
        assert_eq!(q(r, "endTime"), Some(to));
        assert!(
            r.url
                .query()
                .unwrap()
                .contains("symbol=BTCUSDT&interval=1h")
        );
    }
}

#[tokio::test]
async fn futures_pagination_uses_fapi_and_1500_rows() {
    let server = MockServer::start().await;
    let fake = FakeKlines {
        first: T0,
        count: 2500,
        interval: H,
        now: T0 + 5000 * H,
    };
    Mock::given(path("/fapi/v1/klines"))
        .respond_with(fake)
        .mount(&server)
        .await;
    let c = client(&server, Market::UsdM);
    let all = c
        .klines_range(&btc(), Timeframe::H1, T0, T0 + 3000 * H, T0 + 5000 * H)
        .await
        .unwrap();
    assert_eq!(all.len(), 2500);
    let reqs = requests_to(&server, "/fapi/v1/klines").await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(q(&reqs[1], "startTime"), Some(T0 + 1500 * H));
    assert_eq!(q(&reqs[0], "limit"), Some(1500));
}

#[tokio::test]
async fn still_open_last_candle_is_dropped() {
    let server = MockServer::start().await;
    // Now is 30 minutes into candle #10: candles 0..=9 are closed, #10 is open.
    let now = T0 + 10 * H + 30 * 60_000;
    let fake = FakeKlines {
        first: T0,
        count: 100,
        interval: H,
        now,
    };
    Mock::given(path("/api/v3/klines"))
        .respond_with(fake)
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);

    let raw = c
        .klines(&btc(), Timeframe::H1, Some(T0), None, 1000)
        .await
        .unwrap();
    assert_eq!(raw.len(), 11, "the exchange sends the open candle");
    assert!(!raw[10].is_closed(now));

    let got = c
        .klines_range(&btc(), Timeframe::H1, T0, now, now)
        .await
        .unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got.last().unwrap().open_time, T0 + 9 * H);

    let last = c
        .last_closed_klines(&btc(), Timeframe::H1, 5, now)
        .await
        .unwrap();
    let opens: Vec<i64> = last.iter().map(|c| c.open_time).collect();
    assert_eq!(opens, (5..10).map(|i| T0 + i * H).collect::<Vec<_>>());
}

#[tokio::test]
async fn last_closed_klines_spans_several_pages_backwards() {
    let server = MockServer::start().await;
    let now = T0 + 3000 * H + 1; // candle #3000 just opened
    let fake = FakeKlines {
        first: T0,
        count: 5000,
        interval: H,
        now,
    };
    Mock::given(path("/api/v3/klines"))
        .respond_with(fake)
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    let got = c
        .last_closed_klines(&btc(), Timeframe::H1, 1500, now)
        .await
        .unwrap();
    assert_eq!(got.len(), 1500);
    assert_eq!(got.first().unwrap().open_time, T0 + 1500 * H);
    assert_eq!(got.last().unwrap().open_time, T0 + 2999 * H);
    assert!(got.windows(2).all(|w| w[1].open_time - w[0].open_time == H));
    let reqs = requests_to(&server, "/api/v3/klines").await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(q(&reqs[0], "endTime"), Some(now));
    assert_eq!(q(&reqs[0], "startTime"), None);
    assert_eq!(q(&reqs[1], "endTime"), Some(T0 + 2001 * H - 1));
}

#[tokio::test]
async fn a_symbol_with_short_history_returns_what_exists() {
    let server = MockServer::start().await;
    let now = T0 + 30 * H;
    let fake = FakeKlines {
        first: T0,
        count: 1000,
        interval: H,
        now,
    };
    Mock::given(path("/api/v3/klines"))
        .respond_with(fake)
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    let got = c
        .last_closed_klines(&btc(), Timeframe::H1, 500, now)
        .await
        .unwrap();
    assert_eq!(got.len(), 30);
    assert_eq!(requests_to(&server, "/api/v3/klines").await.len(), 1);
}

#[tokio::test]
async fn klines_limit_above_the_maximum_is_refused_locally() {
    let server = MockServer::start().await;
    let c = client(&server, Market::Spot);
    let e = c
        .klines(&btc(), Timeframe::H1, None, None, 1001)
        .await
        .unwrap_err();
    assert!(matches!(e, ExchangeError::InvalidRequest { .. }), "{e}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ---------------------------------------------------------------- rate limits and retries

#[tokio::test]
async fn http_429_waits_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/klines"))
        .respond_with(
            error_body(429, -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
                .insert_header("Retry-After", "1"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/klines"))
        .respond_with(json(200, &serde_json::to_string(&[row(T0, H)]).unwrap()))
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    let started = Instant::now();
    let rows = c
        .klines(&btc(), Timeframe::H1, Some(T0), None, 1)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(990),
        "Retry-After honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(requests_to(&server, "/api/v3/klines").await.len(), 2);
}

#[tokio::test]
async fn http_429_on_every_attempt_is_a_rate_limit_error() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/klines"))
        .respond_with(
            error_body(429, -1003, "Too much request weight used;")
                .insert_header("Retry-After", "0"),
        )
        .expect(3)
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    let e = c
        .klines(&btc(), Timeframe::H1, None, None, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ExchangeError::RateLimited { attempts: 3, .. }),
        "{e}"
    );
}

#[tokio::test]
async fn http_418_is_a_ban_never_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/klines"))
        .respond_with(
            error_body(418, -1003, "Way too much request weight used; IP banned until 1700000000000. Please use WebSocket Streams for live updates to avoid bans.")
                .insert_header("Retry-After", "120"),
        )
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    let before = chrono::Utc::now().timestamp_millis();
    let e = c
        .klines(&btc(), Timeframe::H1, None, None, 10)
        .await
        .unwrap_err();
    let after = chrono::Utc::now().timestamp_millis();
    let ExchangeError::Banned {
        backoff: Backoff { until_ms, .. },
        fresh: true,
        ..
    } = e
    else {
        panic!("expected Banned, got {e}")
    };
    assert!(
        until_ms >= before + 120_000 && until_ms <= after + 120_000,
        "{until_ms}"
    );
    assert_eq!(c.banned_until_ms(), Some(until_ms));
    assert!(e.to_string().contains("418"), "{e}");

    // Later calls fail at once without touching the server.
    let e2 = c.ticker_price(&btc()).await.unwrap_err();
    assert!(matches!(e2, ExchangeError::Banned { fresh: false, .. }));
    assert!(e2.to_string().contains("no request sent"), "{e2}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_ban_restored_from_elsewhere_blocks_requests() {
    let server = MockServer::start().await;
    let c = client(&server, Market::Spot);
    c.restore_ban(chrono::Utc::now().timestamp_millis() + 60_000);
    assert!(matches!(
        c.server_time().await,
        Err(ExchangeError::Banned { .. })
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_clearly() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/klines"))
        .respond_with(ResponseTemplate::new(503).set_body_raw(
            br#"{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}"#.to_vec(),
            JSON,
        ))
        .expect(3)
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    let e = c
        .klines(&btc(), Timeframe::H1, None, None, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ExchangeError::Server {
                attempts: 3,
                status: 503,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("/api/v3/klines") && msg.contains("3 attempts") && msg.contains("503"),
        "{msg}"
    );
    assert!(e.is_transient());
    assert_eq!(requests_to(&server, "/api/v3/klines").await.len(), 3);
}

#[tokio::test]
async fn a_server_error_then_success_recovers() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/time"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/time"))
        .respond_with(json(200, r#"{"serverTime":1669675351630}"#))
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    assert_eq!(c.server_time().await.unwrap(), 1669675351630);
    assert_eq!(requests_to(&server, "/api/v3/time").await.len(), 3);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/time"))
        .respond_with(json(200, r#"{"serverTime":1}"#).set_delay(Duration::from_millis(800)))
        .mount(&server)
        .await;
    let mut cfg = config(&server, Market::Spot);
    cfg.timeout = Duration::from_millis(150);
    cfg.max_attempts = 2;
    let c = BinanceClient::new(cfg).unwrap();
    let e = c.server_time().await.unwrap_err();
    assert!(
        matches!(e, ExchangeError::Transport { attempts: 2, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("timed out"), "{e}");
    assert_eq!(requests_to(&server, "/api/v3/time").await.len(), 2);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg =
        BinanceConfig::new(Market::Spot).with_base_url(&format!("http://127.0.0.1:{port}"));
    cfg.retry_base_delay = Duration::ZERO;
    let c = BinanceClient::new(cfg).unwrap();
    let e = c.server_time().await.unwrap_err();
    assert!(
        matches!(e, ExchangeError::Transport { attempts: 3, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("/api/v3/time"), "{e}");
}

#[tokio::test]
async fn malformed_and_truncated_json_are_decode_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/klines"))
        .and(query_param("symbol", "BTCUSDT"))
        .respond_with(json(200, r#"[[1704067200000,"42000.01000000","42010.5"#))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/klines"))
        .and(query_param("symbol", "ETHUSDT"))
        .respond_with(json(
            200,
            r#"[[1704067200000,"not a number","1","1","1","1",1704070799999,"1",1,"1","1","0"]]"#,
        ))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/klines"))
        .and(query_param("symbol", "BNBUSDT"))
        .respond_with(json(200, r#"{"unexpected":"object"}"#))
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    // A body cut short is a transport fault: retried like a 5xx, then a clear error.
    let e = c
        .klines(&btc(), Timeframe::H1, None, None, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ExchangeError::Garbled {
                endpoint: "/api/v3/klines",
                attempts: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_transient());
    // Well-formed JSON of the wrong shape or with bad values: a decode error, not retried.
    for sym in ["ETHUSDT", "BNBUSDT"] {
        let e = c
            .klines(&Symbol(sym.into()), Timeframe::H1, None, None, 10)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ExchangeError::Decode {
                    endpoint: "/api/v3/klines",
                    ..
                }
            ),
            "{sym}: {e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("could not decode binance /api/v3/klines response"),
            "{e}"
        );
    }
    assert_eq!(
        requests_to(&server, "/api/v3/klines").await.len(),
        3 + 1 + 1
    );
}

#[tokio::test]
async fn invalid_symbol_is_an_api_error_with_the_code() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/klines"))
        .respond_with(error_body(400, -1121, "Invalid symbol."))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    let e = c
        .klines(&Symbol("FOOUSDT".into()), Timeframe::H1, None, None, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ExchangeError::Api { endpoint: "/api/v3/klines", status: 400, code: -1121, msg } if msg == "Invalid symbol."),
        "{e:?}"
    );
    assert_eq!(e.code(), Some(-1121));
    assert_eq!(
        e.to_string(),
        "binance rejected /api/v3/klines: -1121 Invalid symbol."
    );
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_non_binance_error_page_is_an_http_error() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/time"))
        .respond_with(ResponseTemplate::new(403).set_body_string("<html>Request blocked</html>"))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server, Market::Spot)
        .server_time()
        .await
        .unwrap_err();
    assert!(
        matches!(e, ExchangeError::Http { status: 403, .. }),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- weight budget

#[tokio::test]
async fn used_weight_header_is_read() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/time"))
        .respond_with(
            json(200, r#"{"serverTime":1}"#).insert_header("x-mbx-used-weight-1m", "1234"),
        )
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    c.server_time().await.unwrap();
    assert_eq!(c.used_weight(), 1234);
    assert_eq!(c.last_used_weight_header(), Some(1234));
    assert_eq!(c.throttle_count(), 0);
}

#[tokio::test]
async fn throttles_before_the_limit_until_the_next_minute() {
    let server = MockServer::start().await;
    // The server reports 95 of 100 used, at second 59 of its minute: the window ends within
    // a second, and fks must wait for it before sending more.
    Mock::given(path("/api/v3/time"))
        .respond_with(
            json(200, r#"{"serverTime":1}"#)
                .insert_header("x-mbx-used-weight-1m", "95")
                .insert_header("Date", "Mon, 28 Nov 2022 22:42:59 GMT"),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server, Market::Spot);
    cfg.weight_limit_per_minute = 100;
    let c = BinanceClient::new(cfg).unwrap();

    let started = Instant::now();
    c.server_time().await.unwrap();
    let first = started.elapsed();
    assert!(
        first < Duration::from_millis(500),
        "first request not throttled: {first:?}"
    );
    assert_eq!(c.used_weight(), 95);

    let started = Instant::now();
    c.server_time().await.unwrap();
    let second = started.elapsed();
    assert_eq!(c.throttle_count(), 1);
    assert!(
        second >= Duration::from_millis(900),
        "waited for the minute boundary: {second:?}"
    );
    assert!(second < Duration::from_secs(5), "{second:?}");
}

#[tokio::test]
async fn no_throttling_below_the_threshold() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/time"))
        .respond_with(
            json(200, r#"{"serverTime":1}"#)
                .insert_header("x-mbx-used-weight-1m", "80")
                .insert_header("Date", "Mon, 28 Nov 2022 22:42:01 GMT"),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server, Market::Spot);
    cfg.weight_limit_per_minute = 100;
    let c = BinanceClient::new(cfg).unwrap();
    let started = Instant::now();
    for _ in 0..3 {
        c.server_time().await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(c.throttle_count(), 0);
}

// ---------------------------------------------------------------- signed requests

const SPOT_ACCOUNT: &str = r#"{"makerCommission":15,"takerCommission":15,"buyerCommission":0,"sellerCommission":0,
"commissionRates":{"maker":"0.00150000","taker":"0.00150000","buyer":"0.00000000","seller":"0.00000000"},
"canTrade":true,"canWithdraw":true,"canDeposit":true,"brokered":false,"requireSelfTradePrevention":false,
"preventSor":false,"updateTime":1701856395927,"accountType":"SPOT","balances":[
{"asset":"BTC","free":"0.01500000","locked":"0.00100000"},
{"asset":"ETH","free":"0.02229833","locked":"0.00000000"},
{"asset":"USDT","free":"1520.37000000","locked":"100.00000000"},
{"asset":"LTC","free":"0.00000000","locked":"0.00000000"}],
"permissions":["SPOT"],"uid":354937868}"#;

#[tokio::test]
async fn signed_request_is_verified_on_the_server_and_account_parsed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/account"))
        .and(signed())
        .respond_with(json(200, SPOT_ACCOUNT).insert_header("x-mbx-used-weight-1m", "20"))
        .expect(1)
        .mount(&server)
        .await;
    mount_bad_signature_fallback(&server).await;
    let c = signed_client(&server, Market::Spot);
    let acct = c.spot_account().await.unwrap();
    assert!(acct.can_trade);
    assert_eq!(acct.update_time, 1701856395927);
    assert_eq!(acct.balances.len(), 4);
    let btc = acct.balance("BTC").unwrap();
    assert_eq!(
        (btc.free, btc.locked, btc.total()),
        (d("0.015"), d("0.001"), d("0.016"))
    );
    assert_eq!(acct.balance("USDT").unwrap().total(), d("1620.37"));
    assert_eq!(acct.balance("ETH").unwrap().free.to_string(), "0.02229833");
    let non_zero: Vec<&str> = acct.non_zero().map(|b| b.asset.as_str()).collect();
    assert_eq!(non_zero, vec!["BTC", "ETH", "USDT"]);

    let req = &requests_to(&server, "/api/v3/account").await[0];
    let query = req.url.query().unwrap();
    assert!(
        query.starts_with("omitZeroBalances=false&recvWindow=5000&timestamp="),
        "{query}"
    );
    let ts = q(req, "timestamp").unwrap();
    assert!((ts - chrono::Utc::now().timestamp_millis()).abs() < 10_000);
}

#[tokio::test]
async fn a_wrong_secret_fails_the_server_check() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/account"))
        .and(signed())
        .respond_with(json(200, SPOT_ACCOUNT))
        .expect(0)
        .mount(&server)
        .await;
    mount_bad_signature_fallback(&server).await;
    let cfg = config(&server, Market::Spot).with_credentials(KEY, Secret::new("wrong-secret"));
    let e = BinanceClient::new(cfg)
        .unwrap()
        .spot_account()
        .await
        .unwrap_err();
    assert!(
        matches!(e, ExchangeError::Auth { code: -1022, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn timestamp_error_resyncs_the_clock_and_retries_once() {
    let server = MockServer::start().await;
    let server_now = chrono::Utc::now().timestamp_millis() + 30_000; // server 30 s ahead
    Mock::given(path("/api/v3/account"))
        .respond_with(error_body(
            400,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/time"))
        .respond_with(json(200, &format!(r#"{{"serverTime":{server_now}}}"#)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/account"))
        .and(signed())
        .respond_with(json(200, SPOT_ACCOUNT))
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    let c = signed_client(&server, Market::Spot);
    c.spot_account().await.unwrap();
    assert!(
        (c.clock_offset_ms() - 30_000).abs() < 5_000,
        "{}",
        c.clock_offset_ms()
    );
    let reqs = requests_to(&server, "/api/v3/account").await;
    assert_eq!(reqs.len(), 2);
    let (t1, t2) = (
        q(&reqs[0], "timestamp").unwrap(),
        q(&reqs[1], "timestamp").unwrap(),
    );
    assert!(
        t2 - t1 > 25_000,
        "second request uses the corrected clock: {t1} → {t2}"
    );
    let order: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(
        order,
        vec!["/api/v3/account", "/api/v3/time", "/api/v3/account"]
    );
}

#[tokio::test]
async fn a_persistent_timestamp_error_is_retried_only_once() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/account"))
        .respond_with(error_body(
            400,
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/time"))
        .respond_with(json(200, r#"{"serverTime":1}"#))
        .mount(&server)
        .await;
    let e = signed_client(&server, Market::Spot)
        .spot_account()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(-1021));
}

#[tokio::test]
async fn rejected_api_key_is_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(path("/fapi/v2/account"))
        .respond_with(error_body(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action, request ip: 35.187.139.65",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let e = signed_client(&server, Market::UsdM)
        .futures_account()
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ExchangeError::Auth {
                code: -2015,
                status: 401,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with("binance rejected the API key for /fapi/v2/account: -2015 Invalid API-key, IP, or permissions for action"),
        "{msg}"
    );
}

#[tokio::test]
async fn missing_credentials_and_wrong_market_fail_before_sending() {
    let server = MockServer::start().await;
    let e = client(&server, Market::Spot)
        .spot_account()
        .await
        .unwrap_err();
    assert!(matches!(e, ExchangeError::MissingCredentials), "{e:?}");
    let e = signed_client(&server, Market::Spot)
        .futures_account()
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ExchangeError::WrongMarket {
                market: Market::Spot,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn futures_account_and_positions_are_parsed() {
    let server = MockServer::start().await;
    Mock::given(path("/fapi/v2/account"))
        .and(signed())
        .respond_with(json(200, r#"{"feeTier":0,"canTrade":true,"canDeposit":true,"canWithdraw":true,"updateTime":0,
            "multiAssetsMargin":false,"tradeGroupId":-1,"totalInitialMargin":"1543.19173130","totalMaintMargin":"61.72766925",
            "totalWalletBalance":"10023.72469206","totalUnrealizedProfit":"1160.36711780","totalMarginBalance":"11184.09180986",
            "totalPositionInitialMargin":"1543.19173130","totalOpenOrderInitialMargin":"0.00000000",
            "totalCrossWalletBalance":"10023.72469206","totalCrossUnPnl":"1160.36711780","availableBalance":"9640.90007856",
            "maxWithdrawAmount":"9640.90007856","assets":[{"asset":"USDT","walletBalance":"10023.72469206",
            "unrealizedProfit":"1160.36711780","marginBalance":"11184.09180986","maintMargin":"61.72766925",
            "initialMargin":"1543.19173130","positionInitialMargin":"1543.19173130","openOrderInitialMargin":"0.00000000",
            "crossWalletBalance":"10023.72469206","crossUnPnl":"1160.36711780","availableBalance":"9640.90007856",
            "maxWithdrawAmount":"9640.90007856","marginAvailable":true,"updateTime":1625474304765}],"positions":[]}"#))
        .mount(&server)
        .await;
    Mock::given(path("/fapi/v2/positionRisk"))
        .and(signed())
        .respond_with(json(200, r#"[
  {"entryPrice":"6563.66500","marginType":"isolated","isAutoAddMargin":"false","isolatedMargin":"15517.54150468",
   "leverage":"10","liquidationPrice":"5930.78","markPrice":"6679.50671178","maxNotionalValue":"20000000",
   "positionAmt":"20.000","symbol":"BTCUSDT","unRealizedProfit":"2316.83423560","positionSide":"LONG","updateTime":1625474304765},
  {"entryPrice":"3795.20000","marginType":"cross","isAutoAddMargin":"false","isolatedMargin":"0.00000000",
   "leverage":20,"liquidationPrice":"0","markPrice":"3910.84671178","maxNotionalValue":"20000000",
   "positionAmt":"-10.000","symbol":"ETHUSDT","unRealizedProfit":"-1156.46711780","positionSide":"BOTH","updateTime":"1625474304766"},
  {"entryPrice":"0.00000","marginType":"isolated","isAutoAddMargin":"false","isolatedMargin":"0.00000000",
   "leverage":"10","liquidationPrice":"0","markPrice":"6679.50671178","maxNotionalValue":"20000000",
   "positionAmt":"0.000","symbol":"BNBUSDT","unRealizedProfit":"0.00000000","positionSide":"BOTH","updateTime":0}]"#))
        .mount(&server)
        .await;
    mount_bad_signature_fallback(&server).await;
    let c = signed_client(&server, Market::UsdM);

    let a = c.futures_account().await.unwrap();
    assert_eq!(a.total_wallet_balance, d("10023.72469206"));
    assert_eq!(a.total_unrealized_profit, d("1160.36711780"));
    assert_eq!(
        a.total_margin_balance,
        a.total_wallet_balance + a.total_unrealized_profit
    );
    assert_eq!(a.available_balance, d("9640.90007856"));
    assert_eq!(a.total_position_initial_margin, d("1543.1917313"));
    assert_eq!(a.total_open_order_initial_margin, Decimal::ZERO);
    assert_eq!(a.assets.len(), 1);
    assert_eq!(a.assets[0].asset, "USDT");

    let p = c.positions(None).await.unwrap();
    assert_eq!(p.len(), 2, "the zero BNBUSDT position is skipped");
    assert_eq!(p[0].symbol.as_str(), "BTCUSDT");
    assert_eq!(p[0].side, PositionSide::Long);
    assert_eq!(p[0].quantity, d("20"));
    assert_eq!(p[0].entry_price, d("6563.665"));
    assert_eq!(p[0].mark_price, d("6679.50671178"));
    assert_eq!(p[0].unrealized_pnl, d("2316.8342356"));
    assert_eq!(p[0].leverage, 10);
    assert_eq!(p[0].liquidation_price, Some(d("5930.78")));
    assert_eq!(p[1].symbol.as_str(), "ETHUSDT");
    assert_eq!(p[1].side, PositionSide::Short);
    assert_eq!(p[1].quantity, d("10"), "quantity is the absolute amount");
    assert_eq!(p[1].unrealized_pnl, d("-1156.4671178"));
    assert_eq!(p[1].leverage, 20);
    assert_eq!(p[1].liquidation_price, None);
    assert_eq!(p[1].update_time, 1625474304766);
}

// ---------------------------------------------------------------- orders

const SPOT_FILLED: &str = r#"{"symbol":"BTCUSDT","orderId":7328606773,"orderListId":-1,
"clientOrderId":"fks-abc-1","transactTime":1630065942942,"price":"0.00000000","origQty":"0.00052000",
"executedQty":"0.00052000","cummulativeQuoteQty":"24.68840400","status":"FILLED","timeInForce":"GTC",
"type":"MARKET","side":"BUY","workingTime":1630065942942,"fills":[
{"price":"47477.70000000","qty":"0.00026000","commission":"0.00000026","commissionAsset":"BTC","tradeId":1027240809},
{"price":"47477.70000000","qty":"0.00026000","commission":"0.00000026","commissionAsset":"BTC","tradeId":1027240810}],
"selfTradePreventionMode":"EXPIRE_MAKER"}"#;

#[tokio::test]
async fn spot_market_order_and_query_by_client_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v3/order"))
        .and(signed())
        .and(query_param("newClientOrderId", "fks-abc-1"))
        .and(query_param("newOrderRespType", "FULL"))
        .and(query_param("type", "MARKET"))
        .and(query_param("quantity", "0.00052"))
        .respond_with(json(200, SPOT_FILLED).insert_header("x-mbx-order-count-10s", "1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/order"))
        .and(signed())
        .and(query_param("origClientOrderId", "fks-abc-1"))
        .respond_with(json(200, SPOT_FILLED))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/order"))
        .and(signed())
        .and(query_param("origClientOrderId", "fks-never-sent"))
        .respond_with(error_body(400, -2013, "Order does not exist."))
        .mount(&server)
        .await;
    mount_bad_signature_fallback(&server).await;
    let c = signed_client(&server, Market::Spot);

    let order = MarketOrder {
        symbol: btc(),
        side: OrderSide::Buy,
        amount: OrderAmount::Base(d("0.00052000")),
        client_order_id: "fks-abc-1".into(),
    };
    let r = c.place_spot_market_order(&order).await.unwrap();
    assert_eq!(r.order_id, 7328606773);
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(r.side, OrderSide::Buy);
    assert_eq!(r.executed_qty, d("0.00052"));
    assert_eq!(r.cumulative_quote_qty, d("24.688404"));
    assert_eq!(r.avg_price, Some(d("47477.7")));
    assert_eq!(r.time, Some(1630065942942));
    assert_eq!(r.fills.len(), 2);
    assert_eq!(r.commission_by_asset().get("BTC"), Some(&d("0.00000052")));
    let post = &requests_to(&server, "/api/v3/order").await[0];
    assert_eq!(post.method.as_str(), "POST");
    assert!(
        post.body.is_empty(),
        "parameters travel in the signed query string"
    );

    let found = c
        .spot_order_by_client_id(&btc(), "fks-abc-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.client_order_id, "fks-abc-1");
    assert_eq!(
        c.spot_order_by_client_id(&btc(), "fks-never-sent")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn an_order_is_never_resent_after_a_server_error() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/order"))
        .respond_with(ResponseTemplate::new(503).set_body_raw(
            br#"{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}"#.to_vec(),
            JSON,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let c = signed_client(&server, Market::Spot);
    let order = MarketOrder {
        symbol: btc(),
        side: OrderSide::Sell,
        amount: OrderAmount::Quote(d("10")),
        client_order_id: "fks-abc-2".into(),
    };
    let e = c.place_spot_market_order(&order).await.unwrap_err();
    assert!(matches!(e, ExchangeError::OutcomeUnknown { .. }), "{e:?}");
    assert!(e.to_string().contains("client order id"), "{e}");
}

#[tokio::test]
async fn futures_reduce_only_market_order_and_query() {
    let server = MockServer::start().await;
    let answer = r#"{"orderId":4087922044,"symbol":"BTCUSDT","status":"FILLED","clientOrderId":"fks-close-1",
        "price":"0.00","avgPrice":"71481.90000","origQty":"0.200","executedQty":"0.200","cumQty":"0.200",
        "cumQuote":"14296.38000","timeInForce":"GTC","type":"MARKET","reduceOnly":true,"closePosition":false,
        "side":"SELL","positionSide":"BOTH","stopPrice":"0.00","workingType":"CONTRACT_PRICE","priceProtect":false,
        "origType":"MARKET","priceMatch":"NONE","selfTradePreventionMode":"NONE","goodTillDate":0,"updateTime":1739781831932}"#;
    Mock::given(method("POST"))
        .and(path("/fapi/v1/order"))
        .and(signed())
        .and(query_param("reduceOnly", "true"))
        .and(query_param("newOrderRespType", "RESULT"))
        .and(query_param("quantity", "0.2"))
        .respond_with(json(200, answer))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/fapi/v1/order"))
        .and(signed())
        .respond_with(error_body(400, -2013, "Order does not exist."))
        .mount(&server)
        .await;
    mount_bad_signature_fallback(&server).await;
    let c = signed_client(&server, Market::UsdM);
    let r = c
        .place_futures_market_order(&FuturesMarketOrder {
            symbol: btc(),
            side: OrderSide::Sell,
            quantity: d("0.200"),
            client_order_id: "fks-close-1".into(),
            reduce_only: true,
        })
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert!(r.reduce_only);
    assert_eq!(r.avg_price, Some(d("71481.9")));
    assert_eq!(r.cumulative_quote_qty, d("14296.38"));
    assert_eq!(r.order_id, 4087922044);
    assert_eq!(
        c.futures_order_by_client_id(&btc(), "nope").await.unwrap(),
        None
    );
}

// ---------------------------------------------------------------- prices and exchange info

#[tokio::test]
async fn ticker_prices_one_and_many() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/ticker/price"))
        .and(query_param("symbol", "BTCUSDT"))
        .respond_with(json(
            200,
            r#"{"symbol":"BTCUSDT","price":"61234.56000000"}"#,
        ))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/ticker/price"))
        .and(query_param("symbols", r#"["BTCUSDT","ETHUSDT"]"#))
        .respond_with(json(200, r#"[{"symbol":"BTCUSDT","price":"61234.56000000"},{"symbol":"ETHUSDT","price":"3012.10000000"}]"#))
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    assert_eq!(c.ticker_price(&btc()).await.unwrap(), d("61234.56"));
    let m = c
        .ticker_prices(&[btc(), Symbol("ETHUSDT".into())])
        .await
        .unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[&Symbol("ETHUSDT".into())], d("3012.1"));

    let fut = MockServer::start().await;
    Mock::given(path("/fapi/v1/ticker/price"))
        .respond_with(json(200, r#"[{"symbol":"BTCUSDT","price":"6000.01","time":1589437530011},
            {"symbol":"ETHUSDT","price":"200.10","time":1589437530011},{"symbol":"XRPUSDT","price":"0.2","time":1589437530011}]"#))
        .mount(&fut)
        .await;
    let m = client(&fut, Market::UsdM)
        .ticker_prices(&[btc(), Symbol("ETHUSDT".into())])
        .await
        .unwrap();
    assert_eq!(
        m.keys().map(|s| s.as_str()).collect::<Vec<_>>(),
        vec!["BTCUSDT", "ETHUSDT"]
    );
}

#[tokio::test]
async fn exchange_info_through_the_client() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/exchangeInfo"))
        .and(query_param("symbol", "BTCUSDT"))
        .respond_with(json(200, r#"{"timezone":"UTC","serverTime":1634942465856,"rateLimits":[
            {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000}],"exchangeFilters":[],
            "symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","baseAssetPrecision":8,"quoteAsset":"USDT",
            "quotePrecision":8,"quoteAssetPrecision":8,"orderTypes":["LIMIT","MARKET"],"filters":[
            {"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
            {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},
            {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5},
            {"filterType":"MAX_NUM_ORDERS","maxNumOrders":200}],"permissions":["SPOT","MARGIN"]}]}"#))
        .mount(&server)
        .await;
    let info = client(&server, Market::Spot)
        .exchange_info(&[btc()])
        .await
        .unwrap();
    assert_eq!(info.weight_limit_per_minute, Some(6000));
    let s = &info.symbols[0];
    assert!(s.is_trading());
    assert_eq!(s.lot_size.unwrap().step_size, d("0.00001"));
    assert_eq!(s.min_notional, Some(d("5")));
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn secrets_never_appear_in_errors_or_debug_output() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/account"))
        .respond_with(error_body(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/order"))
        .and(method("GET"))
        .respond_with(json(200, r#"{"truncated":"#))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/order"))
        .and(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/klines"))
        .respond_with(error_body(400, -1121, "Invalid symbol."))
        .mount(&server)
        .await;
    let c = signed_client(&server, Market::Spot);
    let mut errors: Vec<ExchangeError> = vec![
        c.spot_account().await.unwrap_err(),
        c.spot_order_by_client_id(&btc(), "x").await.unwrap_err(),
        c.place_spot_market_order(&MarketOrder {
            symbol: btc(),
            side: OrderSide::Buy,
            amount: OrderAmount::Base(d("1")),
            client_order_id: "x".into(),
        })
        .await
        .unwrap_err(),
        c.klines(&btc(), Timeframe::H1, None, None, 5)
            .await
            .unwrap_err(),
    ];
    // A signed request that times out: reqwest's error would carry the signed URL.
    let slow = MockServer::start().await;
    Mock::given(path("/api/v3/account"))
        .respond_with(json(200, SPOT_ACCOUNT).set_delay(Duration::from_millis(500)))
        .mount(&slow)
        .await;
    let mut cfg = config(&slow, Market::Spot).with_credentials(KEY, Secret::new(SECRET));
    cfg.timeout = Duration::from_millis(100);
    cfg.max_attempts = 1;
    errors.push(
        BinanceClient::new(cfg)
            .unwrap()
            .spot_account()
            .await
            .unwrap_err(),
    );

    let signatures: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .chain(slow.received_requests().await.unwrap().iter())
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "signature")
                .map(|(_, v)| v.to_string())
        })
        .collect();
    assert!(signatures.len() >= 4);

    let mut texts: Vec<String> = errors
        .iter()
        .flat_map(|e| [e.to_string(), format!("{e:?}")])
        .collect();
    texts.push(format!("{c:?}"));
    texts.push(format!("{:?}", c.config()));
    for t in &texts {
        assert!(!t.contains(SECRET), "secret leaked: {t}");
        assert!(!t.contains(KEY), "API key leaked: {t}");
        for s in &signatures {
            assert!(!t.contains(s.as_str()), "signature leaked: {t}");
        }
    }
    // And they are real, distinct errors.
    assert!(matches!(errors[0], ExchangeError::Auth { .. }));
    assert!(matches!(errors[1], ExchangeError::Garbled { .. }));
    assert!(matches!(errors[2], ExchangeError::OutcomeUnknown { .. }));
    assert!(matches!(errors[3], ExchangeError::Api { .. }));
    assert!(matches!(
        errors[4],
        ExchangeError::OutcomeUnknown { .. } | ExchangeError::Transport { .. }
    ));
}

#[tokio::test]
async fn an_order_is_never_resent_after_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(path("/fapi/v1/order"))
        .respond_with(json(200, "{}").set_delay(Duration::from_millis(600)))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server, Market::UsdM).with_credentials(KEY, Secret::new(SECRET));
    cfg.timeout = Duration::from_millis(150);
    let c = BinanceClient::new(cfg).unwrap();
    let e = c
        .place_futures_market_order(&FuturesMarketOrder {
            symbol: btc(),
            side: OrderSide::Buy,
            quantity: d("0.001"),
            client_order_id: "fks-open-1".into(),
            reduce_only: false,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ExchangeError::OutcomeUnknown {
                endpoint: "/fapi/v1/order",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(requests_to(&server, "/fapi/v1/order").await.len(), 1);
}

#[tokio::test]
async fn client_futures_and_page_streams_can_be_spawned() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let server = MockServer::start().await;
    let fake = FakeKlines {
        first: T0,
        count: 10,
        interval: H,
        now: T0 + 100 * H,
    };
    Mock::given(path("/api/v3/klines"))
        .respond_with(fake)
        .mount(&server)
        .await;
    let c = client(&server, Market::Spot);
    let pages = c.klines_pages(btc(), Timeframe::H1, T0, T0 + 20 * H, T0 + 100 * H);
    assert_send(&pages);
    let c2 = c.clone();
    let fut = async move { c2.ticker_price(&btc()).await };
    assert_send(&fut);
    drop(fut);
    let n =
        tokio::spawn(async move { pages.map(|p| p.map(|v| v.len())).collect::<Vec<_>>().await })
            .await
            .unwrap();
    assert_eq!(n.into_iter().map(Result::unwrap).sum::<usize>(), 10);
}

// ------------------------------------------------ back-offs, garbled answers, base URLs (issue 12/13)

#[tokio::test]
async fn a_long_retry_after_is_a_back_off_recorded_for_every_client_of_the_host() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/klines"))
        .respond_with(
            error_body(429, -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
                .insert_header("Retry-After", "3600"),
        )
        .mount(&server)
        .await;
    let book = std::sync::Arc::new(BanBook::new());
    let mut cfg = config(&server, Market::Spot);
    cfg.bans = Some(book.clone());
    let c = BinanceClient::new(cfg.clone()).unwrap();
    let before = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    let e = c
        .klines(&btc(), Timeframe::H1, None, None, 10)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not waited out"
    );
    let ExchangeError::Banned {
        backoff,
        fresh: true,
        ..
    } = &e
    else {
        panic!("expected a back-off, got {e:?}")
    };
    assert_eq!(backoff.status, 429);
    assert!(backoff.until_ms >= before + 3_600_000, "{backoff:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("3600s") && msg.contains("max_retry_wait_secs") && msg.contains("no request"),
        "{msg}"
    );
    assert_eq!(book.unsaved().len(), 1, "recorded for the store");
    // Another client on the same book (another job's client in this process, e.g. a signed
    // one) sends nothing to that host either.
    let other = BinanceClient::new(cfg.with_credentials(KEY, Secret::new(SECRET))).unwrap();
    let e = other.spot_account().await.unwrap_err();
    assert!(
        matches!(e, ExchangeError::Banned { fresh: false, .. }),
        "{e:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_short_retry_after_is_waited_within_the_limit() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/ticker/price"))
        .respond_with(
            error_body(429, -1003, "Too much request weight used;")
                .insert_header("Retry-After", "1"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/ticker/price"))
        .respond_with(json(
            200,
            r#"{"symbol":"BTCUSDT","price":"42000.10000000"}"#,
        ))
        .mount(&server)
        .await;
    let mut cfg = config(&server, Market::Spot);
    cfg.max_retry_wait = Duration::from_secs(1);
    let c = BinanceClient::new(cfg).unwrap();
    assert_eq!(c.ticker_price(&btc()).await.unwrap(), d("42000.1"));
    assert_eq!(c.banned_until_ms(), None);
}

/// Every idempotent read gets its garbled 200 retried: the second answer is good.
#[tokio::test]
async fn garbled_answers_on_every_read_are_retried() {
    let server = MockServer::start().await;
    let good: &[(&str, &str)] = &[
        (
            "/api/v3/account",
            r#"{"canTrade":true,"updateTime":1,"balances":[{"asset":"BTC","free":"1.00000000","locked":"0.00000000"}]}"#,
        ),
        (
            "/api/v3/ticker/price",
            r#"{"symbol":"BTCUSDT","price":"42000.10000000"}"#,
        ),
        (
            "/api/v3/exchangeInfo",
            r#"{"timezone":"UTC","serverTime":1,"rateLimits":[],"symbols":[]}"#,
        ),
        ("/api/v3/order", SPOT_FILLED),
        (
            "/api/v3/myTrades",
            r#"[{"symbol":"BTCUSDT","id":"309520010","orderId":"7328606773","orderListId":"-1","price":"47477.70000000","qty":"0.00052000","quoteQty":"24.68840400","commission":"0.00000052","commissionAsset":"BTC","time":"1630065942942","isBuyer":true,"isMaker":false,"isBestMatch":true}]"#,
        ),
        ("/api/v3/time", r#"{"serverTime":1499827319559}"#),
    ];
    for (p, body) in good {
        Mock::given(method("GET"))
            .and(path(*p))
            .respond_with(json(200, &body[..body.len() / 2]))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(*p))
            .respond_with(json(200, body))
            .mount(&server)
            .await;
    }
    let c = signed_client(&server, Market::Spot);
    c.spot_account().await.unwrap();
    c.ticker_price(&btc()).await.unwrap();
    c.exchange_info(&[]).await.unwrap();
    c.spot_order_by_client_id(&btc(), "fks-abc-1")
        .await
        .unwrap()
        .unwrap();
    let trades = c.order_trades(&btc(), 7328606773).await.unwrap();
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0].commission, d("0.00000052"));
    assert_eq!(trades[0].commission_asset, "BTC");
    c.server_time().await.unwrap();
    for (p, _) in good {
        assert_eq!(requests_to(&server, p).await.len(), 2, "{p}");
    }
}

#[tokio::test]
async fn garbled_futures_reads_are_retried_and_trades_carry_realized_pnl() {
    let server = MockServer::start().await;
    let trades = r#"[{"buyer":false,"commission":"3.15000000","commissionAsset":"USDT","id":698759,"maker":false,"orderId":25851813,"price":"42000.00","qty":"0.150","quoteQty":"6300.00000","realizedPnl":"12.50000000","side":"SELL","positionSide":"BOTH","symbol":"BTCUSDT","time":1569514978020}]"#;
    for (p, body) in [
        ("/fapi/v1/userTrades", trades),
        ("/fapi/v2/positionRisk", "[]"),
    ] {
        Mock::given(path(p))
            .respond_with(json(200, "<html><body>502 Bad Gateway</body></html>"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(path(p))
            .respond_with(json(200, body))
            .mount(&server)
            .await;
    }
    let c = signed_client(&server, Market::UsdM);
    let t = c.order_trades(&btc(), 25851813).await.unwrap();
    assert_eq!(t[0].realized_pnl, Some(d("12.5")));
    assert_eq!(t[0].qty, d("0.150"));
    assert!(c.positions(None).await.unwrap().is_empty());
    assert_eq!(requests_to(&server, "/fapi/v1/userTrades").await.len(), 2);
    let q = requests_to(&server, "/fapi/v1/userTrades").await[1]
        .url
        .query()
        .unwrap()
        .to_string();
    assert!(
        q.starts_with("symbol=BTCUSDT&orderId=25851813&limit=1000&"),
        "{q}"
    );
}

/// An order placement whose 200 answer cannot be read is never resent: its outcome is unknown
/// (the exchange accepted it), and the caller asks for it by client id.
#[tokio::test]
async fn a_garbled_answer_to_an_order_is_an_unknown_outcome_never_resent() {
    let server = MockServer::start().await;
    for (p, market) in [
        ("/api/v3/order", Market::Spot),
        ("/fapi/v1/order", Market::UsdM),
    ] {
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(json(200, &SPOT_FILLED[..60]))
            .expect(1)
            .mount(&server)
            .await;
        let c = signed_client(&server, market);
        let e = match market {
            Market::Spot => c
                .place_spot_market_order(&MarketOrder {
                    symbol: btc(),
                    side: OrderSide::Buy,
                    amount: OrderAmount::Base(d("0.001")),
                    client_order_id: "fks-garbled".into(),
                })
                .await
                .unwrap_err(),
            Market::UsdM => c
                .place_futures_market_order(&FuturesMarketOrder {
                    symbol: btc(),
                    side: OrderSide::Sell,
                    quantity: d("0.001"),
                    client_order_id: "fks-garbled".into(),
                    reduce_only: true,
                })
                .await
                .unwrap_err(),
        };
        assert!(
            matches!(
                e,
                ExchangeError::OutcomeUnknown {
                    signed_at_ms: None,
                    ..
                }
            ),
            "{p}: {e:?}"
        );
        assert!(e.to_string().contains("accepted"), "{e}");
        assert_eq!(requests_to(&server, p).await.len(), 1, "{p}");
    }
}

#[tokio::test]
async fn a_5xx_on_an_order_says_when_it_was_signed() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/order"))
        .respond_with(error_body(
            503,
            -1001,
            "Internal error; unable to process your request. Please try again.",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let c = signed_client(&server, Market::Spot);
    let before = c.server_now_ms();
    let e = c
        .place_spot_market_order(&MarketOrder {
            symbol: btc(),
            side: OrderSide::Buy,
            amount: OrderAmount::Base(d("0.001")),
            client_order_id: "fks-5xx".into(),
        })
        .await
        .unwrap_err();
    let ExchangeError::OutcomeUnknown {
        signed_at_ms: Some(t),
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert!(t >= before && t <= c.server_now_ms());
    let sent = requests_to(&server, "/api/v3/order").await;
    assert!(
        sent[0]
            .url
            .query()
            .unwrap()
            .contains(&format!("timestamp={t}"))
    );
}

#[test]
fn base_urls_must_be_http() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for bad in [
        "notaurl",
        "file:///etc/passwd",
        "ftp://api.binance.com",
        "http://",
        "https://x/?a=1",
    ] {
        let e =
            BinanceClient::new(BinanceConfig::new(Market::Spot).with_base_url(bad)).unwrap_err();
        assert!(matches!(e, ExchangeError::BaseUrl { .. }), "{bad}: {e:?}");
        assert!(
            e.to_string().contains(bad) && e.to_string().contains("http"),
            "{e}"
        );
    }
    for good in [
        "https://api.binance.com",
        "http://127.0.0.1:8080",
        "https://testnet.binance.vision/",
    ] {
        assert!(check_base_url(good).is_ok(), "{good}");
    }
}

/// Waiting for the next minute of the weight budget is not a back-off: it is waited out
/// (at most a minute) even when longer than `max_retry_wait`, and nothing is recorded.
#[tokio::test]
async fn a_budget_wait_longer_than_the_retry_limit_is_waited_out() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/time"))
        .respond_with(
            json(200, r#"{"serverTime":1}"#)
                .insert_header("x-mbx-used-weight-1m", "95")
                .insert_header("Date", "Mon, 28 Nov 2022 22:42:58 GMT"),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server, Market::Spot);
    cfg.weight_limit_per_minute = 100;
    cfg.max_retry_wait = Duration::from_secs(1);
    let c = BinanceClient::new(cfg).unwrap();
    c.server_time().await.unwrap();
    c.server_time().await.unwrap();
    assert_eq!(c.throttle_count(), 1);
    assert_eq!(c.banned_until_ms(), None);
    assert_eq!(requests_to(&server, "/api/v3/time").await.len(), 2);
}
