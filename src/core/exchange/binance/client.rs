//! The HTTP side: configuration, one `reqwest::Client`, signing of requests, the weight
//! budget, the clock offset, the ban state and the retry policy — all in this one place.
//!
//! Retry policy (per call, `max_attempts` attempts in all):
//! - 429: wait `Retry-After` seconds (every request of this client waits), then retry.
//! - 418: never retried; the ban end is remembered and every later call fails at once with
//!   [`ExchangeError::Banned`] until it has passed.
//! - 5xx, 408, timeouts, connection errors: exponential backoff from `retry_base_delay`.
//!   Order placement (not idempotent) is retried only when the connection could not be made;
//!   otherwise its outcome is unknown and the caller must query the order by client id.
//! - Binance error bodies (`{"code":…,"msg":…}`) are not retried, except `-1021` on a signed
//!   request: the server time is read, the offset corrected, and the request sent once more.

use super::error::ExchangeError;
use super::requests::{self, Request};
use super::sign::{self, Secret};
use super::weight::WeightBudget;
use super::wire::{ErrorBody, ServerTime};
use crate::core::exchange::Market;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Settings of a Binance client. Start from [`BinanceConfig::new`] and override fields.
#[derive(Clone)]
pub struct BinanceConfig {
    /// Spot REST root, default `https://api.binance.com` (`FKS_BINANCE_BASE_URL`).
    pub spot_base_url: String,
    /// USDⓈ-M REST root, default `https://fapi.binance.com` (`FKS_BINANCE_FUTURES_BASE_URL`).
    pub futures_base_url: String,
    /// The market this client talks to; spot-only endpoints fail on a futures client and vice
    /// versa with [`ExchangeError::WrongMarket`].
    pub market: Market,
    pub api_key: Option<String>,
    pub api_secret: Option<Secret>,
    /// `recvWindow` of signed requests, default 5000 (max 60000).
    pub recv_window_ms: u64,
    /// Whole-request timeout, default 10 s.
    pub timeout: Duration,
    /// Attempts per call including the first, default 3.
    pub max_attempts: u32,
    /// Backoff before the n-th retry is `retry_base_delay × 2^(n-1)`; default 500 ms, tests 0.
    pub retry_base_delay: Duration,
    /// `REQUEST_WEIGHT` per minute: spot 6000, futures 2400. fks waits at 90 % of it.
    pub weight_limit_per_minute: u32,
    /// Requests in flight at once through this client (and its clones), default 4.
    pub max_parallel: usize,
    /// Rows per klines request when paginating; default the maximum (1000 spot, 1500
    /// futures). On futures 1000 costs weight 5 and 1500 costs 10, so 1000 gets more candles
    /// per unit of weight; set `Some(1000)` to prefer that over fewer requests.
    pub klines_page_size: Option<u32>,
}

impl BinanceConfig {
    pub const SPOT_BASE_URL: &'static str = "https://api.binance.com";
    pub const FUTURES_BASE_URL: &'static str = "https://fapi.binance.com";

    pub fn new(market: Market) -> Self {
        BinanceConfig {
            spot_base_url: Self::SPOT_BASE_URL.to_string(),
            futures_base_url: Self::FUTURES_BASE_URL.to_string(),
            market,
            api_key: None,
            api_secret: None,
            recv_window_ms: 5000,
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(500),
            weight_limit_per_minute: match market {
                Market::Spot => 6000,
                Market::UsdM => 2400,
            },
            max_parallel: 4,
            klines_page_size: None,
        }
    }

    /// The same base URL for spot and futures (a loopback test server, a local fake).
    pub fn with_base_url(mut self, url: &str) -> Self {
        self.spot_base_url = url.to_string();
        self.futures_base_url = url.to_string();
        self
    }

    pub fn with_credentials(mut self, api_key: impl Into<String>, secret: Secret) -> Self {
        self.api_key = Some(api_key.into());
        self.api_secret = Some(secret);
        self
    }
}

impl fmt::Debug for BinanceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinanceConfig")
            .field("spot_base_url", &self.spot_base_url)
            .field("futures_base_url", &self.futures_base_url)
            .field("market", &self.market)
            .field("api_key", &self.api_key.as_ref().map(|_| "****"))
            .field("api_secret", &self.api_secret)
            .field("recv_window_ms", &self.recv_window_ms)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base_delay", &self.retry_base_delay)
            .field("weight_limit_per_minute", &self.weight_limit_per_minute)
            .field("max_parallel", &self.max_parallel)
            .field("klines_page_size", &self.klines_page_size)
            .finish()
    }
}

/// A Binance REST client for one market. Cheap to clone; clones share the connection pool,
/// the weight budget, the clock offset, the ban state and the parallelism limit.
#[derive(Clone, Debug)]
pub struct BinanceClient {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) cfg: BinanceConfig,
    http: reqwest::Client,
    budget: WeightBudget,
    /// server time − local time, ms.
    offset_ms: AtomicI64,
    /// 0 = not banned.
    banned_until_ms: AtomicI64,
    permits: Semaphore,
}

/// What one attempt produced, with the permit already released.
enum Attempt {
    Answer {
        status: u16,
        retry_after_s: Option<u64>,
        body: Vec<u8>,
    },
    Failed(reqwest::Error),
}

impl BinanceClient {
    /// Build the client. The process must have installed a rustls crypto provider first
    /// (`rustls::crypto::ring::default_provider().install_default()`).
    pub fn new(cfg: BinanceConfig) -> Result<Self, ExchangeError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("fks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ExchangeError::Client(describe(e)))?;
        let budget = WeightBudget::new(cfg.weight_limit_per_minute);
        let permits = Semaphore::new(cfg.max_parallel.max(1));
        Ok(BinanceClient {
            inner: Arc::new(Inner {
                cfg,
                http,
                budget,
                offset_ms: AtomicI64::new(0),
                banned_until_ms: AtomicI64::new(0),
                permits,
            }),
        })
    }

    pub fn config(&self) -> &BinanceConfig {
        &self.inner.cfg
    }

    pub fn market(&self) -> Market {
        self.inner.cfg.market
    }

    /// Request weight used in the current minute as far as this client knows: the latest
    /// `x-mbx-used-weight-1m` seen, plus what was sent since.
    pub fn used_weight(&self) -> u32 {
        self.inner.budget.used()
    }

    /// The last `x-mbx-used-weight-1m` value received, if any.
    pub fn last_used_weight_header(&self) -> Option<u32> {
        self.inner.budget.last_header()
    }

    /// How many requests had to wait for the next minute because of the weight budget.
    pub fn throttle_count(&self) -> u64 {
        self.inner.budget.throttled()
    }

    /// Server time − local time in ms, as last measured (0 before any measurement).
    pub fn clock_offset_ms(&self) -> i64 {
        self.inner.offset_ms.load(Ordering::Relaxed)
    }

    pub fn set_clock_offset_ms(&self, offset: i64) {
        self.inner.offset_ms.store(offset, Ordering::Relaxed);
    }

    /// When the IP ban reported by a 418 ends (ms), if one is in force.
    pub fn banned_until_ms(&self) -> Option<i64> {
        let until = self.inner.banned_until_ms.load(Ordering::Relaxed);
        (until > now_ms()).then_some(until)
    }

    /// Adopt a ban another process recorded (e.g. in the store), so this one waits it out too.
    pub fn restore_ban(&self, until_ms: i64) {
        self.inner
            .banned_until_ms
            .fetch_max(until_ms, Ordering::Relaxed);
    }

    /// Local time corrected by the server offset, ms.
    pub fn server_now_ms(&self) -> i64 {
        now_ms() + self.clock_offset_ms()
    }

    /// `GET /api/v3/time` (`/fapi/v1/time`): the server time in ms. Also updates the clock
    /// offset used to timestamp signed requests.
    pub async fn server_time(&self) -> Result<i64, ExchangeError> {
        let before = now_ms();
        let t: ServerTime = self.call(&requests::server_time(self.market())).await?;
        let after = now_ms();
        let offset = t.server_time - (before + after) / 2;
        self.set_clock_offset_ms(offset);
        tracing::debug!(offset_ms = offset, "binance clock offset measured");
        Ok(t.server_time)
    }

    fn check_ban(&self) -> Result<(), ExchangeError> {
        match self.banned_until_ms() {
            Some(until_ms) => Err(ExchangeError::Banned { until_ms }),
            None => Ok(()),
        }
    }

    fn base_url(&self, path: &'static str) -> Result<&str, ExchangeError> {
        let cfg = &self.inner.cfg;
        match (cfg.market, path.starts_with("/fapi/")) {
            (Market::Spot, false) => Ok(cfg.spot_base_url.trim_end_matches('/')),
            (Market::UsdM, true) => Ok(cfg.futures_base_url.trim_end_matches('/')),
            (market, _) => Err(ExchangeError::WrongMarket {
                endpoint: path,
                market,
            }),
        }
    }

    /// The full URL, signed with a fresh timestamp when the request needs it.
    fn url_for(&self, req: &Request) -> Result<reqwest::Url, ExchangeError> {
        let base = self.base_url(req.path)?;
        let mut query = sign::query_string(&req.params);
        if req.signed {
            let secret = self
                .inner
                .cfg
                .api_secret
                .as_ref()
                .ok_or(ExchangeError::MissingCredentials)?;
            let extra = sign::query_string(&[
                ("recvWindow", self.inner.cfg.recv_window_ms.to_string()),
                ("timestamp", self.server_now_ms().to_string()),
            ]);
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&extra);
            query = sign::signed_query(secret, &query);
        }
        let url = if query.is_empty() {
            format!("{base}{}", req.path)
        } else {
            format!("{base}{}?{query}", req.path)
        };
        reqwest::Url::parse(&url).map_err(|e| ExchangeError::InvalidRequest {
            endpoint: req.path,
            detail: format!("bad base URL {base:?}: {e}"),
        })
    }

    /// One attempt: wait for a permit and the weight budget, send, read the body.
    async fn attempt(&self, req: &Request) -> Result<Attempt, ExchangeError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.inner
            .budget
            .acquire(req.weight, || self.server_now_ms())
            .await;
        // A ban may have arrived while we waited.
        self.check_ban()?;
        let url = self.url_for(req)?;
        let mut rb = self.inner.http.request(req.method.clone(), url);
        if req.signed {
            let key = self
                .inner
                .cfg
                .api_key
                .as_deref()
                .ok_or(ExchangeError::MissingCredentials)?;
            rb = rb.header("X-MBX-APIKEY", key);
        }
        tracing::debug!(method = %req.method, path = req.path, weight = req.weight, "binance request");
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => return Ok(Attempt::Failed(e)),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers();
        if let Some(used) = header_str(headers, "x-mbx-used-weight-1m").and_then(|v| v.parse().ok())
        {
            let second = header_str(headers, "date").and_then(|d| {
                use chrono::Timelike;
                chrono::DateTime::parse_from_rfc2822(d)
                    .ok()
                    .map(|t| t.second())
            });
            self.inner
                .budget
                .observe(used, second, self.server_now_ms());
        }
        let retry_after_s = header_str(headers, "retry-after").and_then(|v| v.trim().parse().ok());
        match resp.bytes().await {
            Ok(body) => Ok(Attempt::Answer {
                status,
                retry_after_s,
                body: body.to_vec(),
            }),
            Err(e) => Ok(Attempt::Failed(e)),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.inner.cfg.retry_base_delay;
        base.saturating_mul(1u32 << (attempt - 1).min(6))
            .min(Duration::from_secs(30))
    }

    /// Send `req` under the retry policy and decode a successful body as `T`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        req: &Request,
    ) -> Result<T, ExchangeError> {
        let body = self.send(req).await?;
        serde_json::from_slice(&body).map_err(|e| ExchangeError::Decode {
            endpoint: req.path,
            detail: format!("{e}; body starts with {:?}", snippet(&body)),
        })
    }

    async fn send(&self, req: &Request) -> Result<Vec<u8>, ExchangeError> {
        let endpoint = req.path;
        let max = self.inner.cfg.max_attempts.max(1);
        let mut attempt = 0u32;
        let mut time_resynced = false;
        loop {
            attempt += 1;
            self.check_ban()?;
            let (status, retry_after_s, body) = match self.attempt(req).await? {
                Attempt::Answer {
                    status,
                    retry_after_s,
                    body,
                } => (status, retry_after_s, body),
                Attempt::Failed(e) => {
                    let connect = e.is_connect();
                    let detail = if e.is_timeout() {
                        format!(
                            "timed out after {:?} ({})",
                            self.inner.cfg.timeout,
                            describe(e)
                        )
                    } else {
                        describe(e)
                    };
                    if !req.idempotent && !connect {
                        return Err(ExchangeError::OutcomeUnknown { endpoint, detail });
                    }
                    if attempt < max {
                        tracing::warn!(endpoint, attempt, %detail, "binance request failed; retrying");
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(ExchangeError::Transport {
                        endpoint,
                        attempts: attempt,
                        detail,
                    });
                }
            };
            if (200..300).contains(&status) {
                return Ok(body);
            }
            match status {
                418 => {
                    let now = now_ms();
                    let until_ms = match retry_after_s {
                        Some(s) => now + (s as i64) * 1000,
                        None => ban_end_from_msg(&body).unwrap_or(now + 120_000),
                    };
                    self.restore_ban(until_ms);
                    tracing::error!(endpoint, until_ms, "binance banned this IP (418)");
                    return Err(ExchangeError::Banned { until_ms });
                }
                429 => {
                    let wait = retry_after_s
                        .map(Duration::from_secs)
                        .unwrap_or_else(|| self.backoff(attempt).max(Duration::from_secs(1)));
                    // Everyone using this client waits, not only this request.
                    self.inner.budget.pause(wait);
                    if attempt < max {
                        tracing::warn!(
                            endpoint,
                            attempt,
                            wait_s = wait.as_secs(),
                            "binance 429; waiting Retry-After"
                        );
                        continue;
                    }
                    return Err(ExchangeError::RateLimited {
                        endpoint,
                        attempts: attempt,
                        retry_after_s: wait.as_secs(),
                    });
                }
                s if s >= 500 || s == 408 => {
                    let detail = error_detail(&body);
                    if !req.idempotent {
                        return Err(ExchangeError::OutcomeUnknown {
                            endpoint,
                            detail: format!("HTTP {s} {detail}"),
                        });
                    }
                    if attempt < max {
                        tracing::warn!(
                            endpoint,
                            attempt,
                            status = s,
                            "binance server error; retrying"
                        );
                        tokio::time::sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    return Err(ExchangeError::Server {
                        endpoint,
                        attempts: attempt,
                        status: s,
                        detail,
                    });
                }
                _ => {}
            }
            let Ok(err) = serde_json::from_slice::<ErrorBody>(&body) else {
                return Err(ExchangeError::Http {
                    endpoint,
                    status,
                    detail: error_detail(&body),
                });
            };
            if err.code == -1021 && req.signed && !time_resynced {
                tracing::warn!(endpoint, msg = %err.msg, "binance -1021; resyncing the clock and retrying once");
                time_resynced = true;
                attempt -= 1; // the resync retry does not use up an attempt
                Box::pin(self.server_time()).await?;
                continue;
            }
            return Err(match err.code {
                -2014 | -2015 | -1022 => ExchangeError::Auth {
                    endpoint,
                    status,
                    code: err.code,
                    msg: err.msg,
                },
                code => ExchangeError::Api {
                    endpoint,
                    status,
                    code,
                    msg: err.msg,
                },
            });
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn header_str<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A transport error as one line, without the request URL (it carries the signature).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let mut out: String = s.chars().take(120).collect();
    if s.chars().count() > 120 {
        out.push('…');
    }
    out
}

fn error_detail(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => format!("{} {}", e.code, e.msg),
        Err(_) if body.is_empty() => "(empty body)".to_string(),
        Err(_) => format!("{:?}", snippet(body)),
    }
}

/// "Way too much request weight used; IP banned until 1700000000000. …"
fn ban_end_from_msg(body: &[u8]) -> Option<i64> {
    let msg = serde_json::from_slice::<ErrorBody>(body).ok()?.msg;
    let rest = &msg[msg.find("until ")? + 6..];
    rest.chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ban_end_is_read_from_the_message() {
        let body = br#"{"code":-1003,"msg":"Way too much request weight used; IP banned until 1700000000000. Please use WebSocket Streams for live updates to avoid bans."}"#;
        assert_eq!(ban_end_from_msg(body), Some(1_700_000_000_000));
        assert_eq!(ban_end_from_msg(br#"{"code":-1003,"msg":"x"}"#), None);
    }

    #[test]
    fn config_debug_hides_key_and_secret() {
        let cfg = BinanceConfig::new(Market::Spot)
            .with_credentials("my-api-key-123", Secret::new("my-secret-456"));
        let s = format!("{cfg:?}");
        assert!(
            !s.contains("my-api-key-123") && !s.contains("my-secret-456"),
            "{s}"
        );
        assert!(s.contains("****"));
    }
}
