//! The HTTP side: configuration, one `reqwest::Client`, signing of requests, the weight
//! budget, the clock offset, the ban state and the retry policy — all in this one place.
//!
//! Retry policy (per call, `max_attempts` attempts in all):
//! - 429: wait `Retry-After` seconds (every request of this client waits), then retry. A wait
//!   longer than `max_retry_wait` is not waited out: it is recorded in the [`BanBook`] (and so
//!   in the store, by the job runner) and the call fails at once with [`ExchangeError::Banned`].
//! - 418: never retried; the ban end is recorded the same way.
//! - The request-weight budget (`x-mbx-used-weight-1m` near the limit) is not a back-off: a
//!   request waits for the next minute (at most one minute) whatever `max_retry_wait` says.
//! - Before every attempt the [`BanBook`] is consulted: while a ban or back-off is in force for
//!   the host, nothing is sent and the call fails at once.
//! - 5xx, 408, timeouts, connection errors, and (on idempotent reads) a success status whose
//!   body is cut short or not JSON: exponential backoff from `retry_base_delay`.
//!   Order placement (not idempotent) is retried only when the connection could not be made;
//!   otherwise its outcome is unknown and the caller must query the order by client id (also
//!   when the exchange said 200 but the answer could not be read).
//! - Binance error bodies (`{"code":…,"msg":…}`) are not retried, except `-1021` on a signed
//!   request: the server time is read, the offset corrected, and the request sent once more.

use super::bans::{self, Backoff, BanBook};
use super::error::ExchangeError;
use super::requests::{self, Request};
use super::sign::{self, Secret};
use super::weight::WeightBudget;
use super::wire::{ErrorBody, ServerTime};
use crate::core::exchange::Market;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
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
    /// Longest wait the exchange may ask for (429 `Retry-After`) that a call sleeps through;
    /// a longer one is recorded as a back-off and the call fails at once. Default 30 s.
    pub max_retry_wait: Duration,
    /// Where bans and back-offs are recorded and looked up. Clients given the same book share
    /// them (fks gives every client of a process one book, loaded from the store); `None`
    /// gives the client a book of its own.
    pub bans: Option<Arc<BanBook>>,
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
            max_retry_wait: Duration::from_secs(30),
            bans: None,
        }
    }

    /// The base URL of this config's market.
    pub fn base_url(&self) -> &str {
        match self.market {
            Market::Spot => &self.spot_base_url,
            Market::UsdM => &self.futures_base_url,
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
            .field("max_retry_wait", &self.max_retry_wait)
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
    /// Whether the offset was measured (by `server_time`, or a `-1021` resync).
    offset_measured: AtomicBool,
    /// Whether `measure_clock_once` has run.
    offset_tried: AtomicBool,
    bans: Arc<BanBook>,
    /// `host:port` of this client's base URL, as bans are keyed.
    host: String,
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

/// Whether `url` can be a Binance base URL: an http(s) URL with a host. The error says why not.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(url.trim()).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("has scheme {:?}, not http or https", u.scheme()));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(())
}

impl BinanceClient {
    /// Build the client. The process must have installed a rustls crypto provider first
    /// (`rustls::crypto::ring::default_provider().install_default()`).
    pub fn new(cfg: BinanceConfig) -> Result<Self, ExchangeError> {
        check_base_url(cfg.base_url()).map_err(|why| ExchangeError::BaseUrl {
            url: cfg.base_url().to_string(),
            why,
        })?;
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("fks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ExchangeError::Client(describe(e)))?;
        let budget = WeightBudget::new(cfg.weight_limit_per_minute);
        let permits = Semaphore::new(cfg.max_parallel.max(1));
        let bans = cfg.bans.clone().unwrap_or_default();
        let host = bans::host_key(cfg.base_url());
        Ok(BinanceClient {
            inner: Arc::new(Inner {
                cfg,
                http,
                budget,
                offset_ms: AtomicI64::new(0),
                offset_measured: AtomicBool::new(false),
                offset_tried: AtomicBool::new(false),
                bans,
                host,
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
        self.inner.offset_measured.store(true, Ordering::Relaxed);
    }

    /// Whether the clock offset was measured against the server.
    pub fn clock_offset_measured(&self) -> bool {
        self.inner.offset_measured.load(Ordering::Relaxed)
    }

    /// Measure the clock offset with `server_time`, once per client (and its clones), unless
    /// it was measured already. Best effort: on failure the local clock stands in, and the
    /// error is returned for the caller to log.
    pub async fn measure_clock_once(&self) -> Result<(), ExchangeError> {
        if self.clock_offset_measured() || self.inner.offset_tried.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        self.server_time().await.map(|_| ())
    }

    /// `host:port` this client talks to (how bans and back-offs are keyed).
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The ban or back-off in force for this client's host, if any.
    pub fn backoff(&self) -> Option<Backoff> {
        self.inner.bans.in_force(&self.inner.host, now_ms())
    }

    /// When the ban or back-off in force for this client's host ends (ms), if one is.
    pub fn banned_until_ms(&self) -> Option<i64> {
        self.backoff().map(|b| b.until_ms)
    }

    /// Adopt a 418 ban recorded elsewhere, so this client waits it out too.
    pub fn restore_ban(&self, until_ms: i64) {
        self.inner.bans.record(
            &self.inner.host,
            Backoff {
                until_ms,
                status: 418,
                reason: "HTTP 418: binance banned this IP".into(),
            },
        );
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
        match self.backoff() {
            Some(backoff) => Err(ExchangeError::Banned {
                host: self.inner.host.clone(),
                backoff,
                fresh: false,
            }),
            None => Ok(()),
        }
    }

    /// Record a ban or back-off for this client's host and return the error that says so.
    fn ban(&self, backoff: Backoff) -> ExchangeError {
        self.inner.bans.record(&self.inner.host, backoff.clone());
        ExchangeError::Banned {
            host: self.inner.host.clone(),
            backoff,
            fresh: true,
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

    /// The full URL, signed with a fresh timestamp when the request needs it (returned too).
    fn url_for(&self, req: &Request) -> Result<(reqwest::Url, Option<i64>), ExchangeError> {
        let base = self.base_url(req.path)?;
        let mut query = sign::query_string(&req.params);
        let mut signed_at = None;
        if req.signed {
            let secret = self
                .inner
                .cfg
                .api_secret
                .as_ref()
                .ok_or(ExchangeError::MissingCredentials)?;
            let ts = self.server_now_ms();
            signed_at = Some(ts);
            let extra = sign::query_string(&[
                ("recvWindow", self.inner.cfg.recv_window_ms.to_string()),
                ("timestamp", ts.to_string()),
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
        let url = reqwest::Url::parse(&url).map_err(|e| ExchangeError::InvalidRequest {
            endpoint: req.path,
            detail: format!("bad base URL {base:?}: {e}"),
        })?;
        Ok((url, signed_at))
    }

    /// One attempt: wait for a permit and the weight budget, send, read the body. Also returns
    /// the timestamp a signed request was signed with.
    async fn attempt(&self, req: &Request) -> Result<(Attempt, Option<i64>), ExchangeError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let max_wait = self.inner.cfg.max_retry_wait;
        if let Err(wait) = self
            .inner
            .budget
            .acquire_within(req.weight, || self.server_now_ms(), max_wait)
            .await
        {
            // A 429's pause longer than `max_retry_wait` (the weight budget's own wait for
            // the next minute is always waited out): stop, and let every job wait it out.
            return Err(self.ban(Backoff {
                until_ms: now_ms() + wait.as_millis().min(3_600_000) as i64,
                status: 429,
                reason: format!(
                    "binance asked for a {}s back-off (HTTP 429), longer than \
                     exchange.max_retry_wait_secs ({}s)",
                    wait.as_secs_f64().ceil() as u64,
                    max_wait.as_secs()
                ),
            }));
        }
        // A ban may have arrived while we waited.
        self.check_ban()?;
        let (url, signed_at) = self.url_for(req)?;
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
            Err(e) => return Ok((Attempt::Failed(e), signed_at)),
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
        let attempt = match resp.bytes().await {
            Ok(body) => Attempt::Answer {
                status,
                retry_after_s,
                body: body.to_vec(),
            },
            Err(e) => Attempt::Failed(e),
        };
        Ok((attempt, signed_at))
    }

    /// A 418: the IP is banned; record the end (from `Retry-After`, else the message) for
    /// every job and stop.
    fn on_418(
        &self,
        endpoint: &'static str,
        retry_after_s: Option<u64>,
        body: &[u8],
    ) -> ExchangeError {
        let now = now_ms();
        let until_ms = retry_after_s
            .map(|s| now.saturating_add((s.min(i64::MAX as u64 / 4000) as i64) * 1000))
            .or_else(|| ban_end_from_msg(body))
            .filter(|u| *u > now)
            .unwrap_or(now + 120_000);
        tracing::error!(endpoint, until_ms, "binance banned this IP (418)");
        self.ban(Backoff {
            until_ms,
            status: 418,
            reason: format!("HTTP 418 on {endpoint}: binance banned this IP"),
        })
    }

    /// A 429: `Ok` to retry after the pause it asks for (every request of this client
    /// waits); `Err` when that pause is longer than `max_retry_wait` (recorded for every job,
    /// not waited) or the attempts are used up.
    fn on_429(
        &self,
        endpoint: &'static str,
        attempt: u32,
        max: u32,
        retry_after_s: Option<u64>,
    ) -> Result<(), ExchangeError> {
        let wait = retry_after_s
            .map(|s| Duration::from_secs(s.min(u64::MAX / 4000)))
            .unwrap_or_else(|| self.retry_pause(attempt).max(Duration::from_secs(1)));
        let max_wait = self.inner.cfg.max_retry_wait;
        let until_ms = now_ms().saturating_add(wait.as_millis().min(i64::MAX as u128 / 2) as i64);
        if wait > max_wait {
            // Sleeping that long would hold the job's lock and skip every cron run meanwhile:
            // record it for every job and stop now.
            tracing::error!(
                endpoint,
                wait_s = wait.as_secs(),
                "binance 429 with a long Retry-After; stopping"
            );
            return Err(self.ban(Backoff {
                until_ms,
                status: 429,
                reason: format!(
                    "HTTP 429 on {endpoint}: binance asked for a {}s back-off (Retry-After), \
                     longer than exchange.max_retry_wait_secs ({}s)",
                    wait.as_secs(),
                    max_wait.as_secs()
                ),
            }));
        }
        self.inner.budget.pause(wait);
        if attempt < max {
            tracing::warn!(
                endpoint,
                attempt,
                wait_s = wait.as_secs(),
                "binance 429; waiting Retry-After"
            );
            return Ok(());
        }
        // Going on after repeated 429s earns a 418: let every job back off.
        self.inner.bans.record(
            &self.inner.host,
            Backoff {
                until_ms,
                status: 429,
                reason: format!(
                    "HTTP 429 on {endpoint} on {attempt} attempts in a row (Retry-After {}s)",
                    wait.as_secs()
                ),
            },
        );
        Err(ExchangeError::RateLimited {
            endpoint,
            attempts: attempt,
            retry_after_s: wait.as_secs(),
        })
    }

    /// The pause before the next retry: exponential from `retry_base_delay`, never longer than
    /// 30 s nor than `max_retry_wait`.
    fn retry_pause(&self, attempt: u32) -> Duration {
        let base = self.inner.cfg.retry_base_delay;
        base.saturating_mul(1u32 << (attempt - 1).min(6))
            .min(Duration::from_secs(30))
            .min(self.inner.cfg.max_retry_wait)
    }

    /// Send `req` under the retry policy and decode a successful body as `T`.
    ///
    /// An answer that cannot be decoded is [`ExchangeError::Decode`] on a read, and
    /// [`ExchangeError::OutcomeUnknown`] on an order placement: the exchange said yes to
    /// something, so the order must be looked up by its client id, never sent again.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        req: &Request,
    ) -> Result<T, ExchangeError> {
        let body = self.send(req).await?;
        serde_json::from_slice(&body)
            .map_err(|e| decode_error(req, format!("{e}; body starts with {:?}", snippet(&body))))
    }

    pub(crate) async fn send(&self, req: &Request) -> Result<Vec<u8>, ExchangeError> {
        let endpoint = req.path;
        let max = self.inner.cfg.max_attempts.max(1);
        let mut attempt = 0u32;
        let mut time_resynced = false;
        let mut signed_at_ms = None;
        loop {
            attempt += 1;
            self.check_ban()?;
            let (answer, signed_at) = self.attempt(req).await?;
            signed_at_ms = signed_at.or(signed_at_ms);
            let (status, retry_after_s, body) = match answer {
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
                        return Err(ExchangeError::OutcomeUnknown {
                            endpoint,
                            detail,
                            signed_at_ms,
                        });
                    }
                    if attempt < max {
                        tracing::warn!(endpoint, attempt, %detail, "binance request failed; retrying");
                        tokio::time::sleep(self.retry_pause(attempt)).await;
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
                if req.idempotent
                    && let Err(e) = json_syntax(&body)
                {
                    // A transport fault (cut short, an HTML page from a proxy): like a 5xx.
                    let detail = format!("{e}; body starts with {:?}", snippet(&body));
                    if attempt < max {
                        tracing::warn!(endpoint, attempt, %detail, "binance answer is not JSON; retrying");
                        tokio::time::sleep(self.retry_pause(attempt)).await;
                        continue;
                    }
                    return Err(ExchangeError::Garbled {
                        endpoint,
                        attempts: attempt,
                        detail,
                    });
                }
                return Ok(body);
            }
            match status {
                418 => return Err(self.on_418(endpoint, retry_after_s, &body)),
                429 => match self.on_429(endpoint, attempt, max, retry_after_s) {
                    Ok(()) => continue,
                    Err(e) => return Err(e),
                },
                s if s >= 500 || s == 408 => {
                    let detail = error_detail(&body);
                    if !req.idempotent {
                        return Err(ExchangeError::OutcomeUnknown {
                            endpoint,
                            detail: format!("HTTP {s} {detail}"),
                            signed_at_ms,
                        });
                    }
                    if attempt < max {
                        tracing::warn!(
                            endpoint,
                            attempt,
                            status = s,
                            "binance server error; retrying"
                        );
                        tokio::time::sleep(self.retry_pause(attempt)).await;
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

/// Whether `body` is one complete JSON value (of any shape).
fn json_syntax(body: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map(|_| ())
}

/// An answer that could not be decoded: a decode error on a read; on an order placement the
/// order exists (the exchange said yes) but what it said is unknown.
pub(crate) fn decode_error(req: &Request, detail: String) -> ExchangeError {
    if req.idempotent {
        ExchangeError::Decode {
            endpoint: req.path,
            detail,
        }
    } else {
        ExchangeError::OutcomeUnknown {
            endpoint: req.path,
            detail: format!("the exchange accepted it but its answer could not be read: {detail}"),
            signed_at_ms: None,
        }
    }
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

pub(crate) fn error_detail(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => format!("{} {}", e.code, e.msg),
        Err(_) if body.is_empty() => "(empty body)".to_string(),
        Err(_) => format!("{:?}", snippet(body)),
    }
}

/// "Way too much request weight used; IP banned until 1700000000000. …"
pub(crate) fn ban_end_from_msg(body: &[u8]) -> Option<i64> {
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
