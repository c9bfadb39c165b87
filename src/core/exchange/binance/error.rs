//! Errors of the Binance client. Transient ones (5xx, timeouts, 429) were already retried by
//! the client when they reach the caller; permanent ones were not retried.
//!
//! No variant ever carries the API key, the secret or a signature: request URLs are stripped
//! from transport errors before they are stored here.

use super::bans::Backoff;
use crate::core::exchange::Market;
use crate::core::time::fmt_ms;

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Binance answered with an error body `{"code":…,"msg":…}`.
    #[error("binance rejected {endpoint}: {code} {msg}")]
    Api {
        endpoint: &'static str,
        status: u16,
        code: i64,
        msg: String,
    },

    /// -2014 (key format), -2015 (unknown key, IP or permission) or -1022 (bad signature).
    #[error(
        "binance rejected the API key for {endpoint}: {code} {msg} \
         (check BINANCE_API_KEY, BINANCE_API_SECRET and the key's IP whitelist and permissions)"
    )]
    Auth {
        endpoint: &'static str,
        status: u16,
        code: i64,
        msg: String,
    },

    /// HTTP 429 on every attempt.
    #[error(
        "rate limited by binance on {endpoint} after {attempts} attempts \
         (last Retry-After {retry_after_s}s)"
    )]
    RateLimited {
        endpoint: &'static str,
        attempts: u32,
        retry_after_s: u64,
    },

    /// A ban (HTTP 418) or a back-off longer than `exchange.max_retry_wait_secs` (a 429's
    /// `Retry-After`) is in force for `host`: nothing is sent to it before `backoff.until_ms`.
    /// `fresh` when this request received it, else it was recorded earlier (by this process or
    /// another fks job through the store) and this request was never sent.
    #[error("{}", banned_msg(host, backoff, *fresh))]
    Banned {
        host: String,
        backoff: Backoff,
        fresh: bool,
    },

    /// 5xx or 408 on every attempt.
    #[error("binance {endpoint} failed after {attempts} attempts: HTTP {status} {detail}")]
    Server {
        endpoint: &'static str,
        attempts: u32,
        status: u16,
        detail: String,
    },

    /// Timeouts or connection errors on every attempt.
    #[error("binance {endpoint} failed after {attempts} attempts: {detail}")]
    Transport {
        endpoint: &'static str,
        attempts: u32,
        detail: String,
    },

    /// An order request reached the exchange (or may have) but no answer came back: it may or
    /// may not have been executed. Query it by client order id before sending it again.
    #[error(
        "outcome of {endpoint} unknown ({detail}); query the order by its client order id \
         before sending it again"
    )]
    OutcomeUnknown {
        endpoint: &'static str,
        detail: String,
        /// The `timestamp` of the last signed attempt (exchange clock, ms): Binance refuses
        /// the request at its matching engine once `recvWindow` has passed since then.
        signed_at_ms: Option<i64>,
    },

    /// Any other non-success HTTP status without a Binance error body (403 WAF, 404 …).
    #[error("binance {endpoint} answered HTTP {status}: {detail}")]
    Http {
        endpoint: &'static str,
        status: u16,
        detail: String,
    },

    /// The body was not the JSON we expected (malformed, truncated, wrong shape).
    #[error("could not decode binance {endpoint} response: {detail}")]
    Decode {
        endpoint: &'static str,
        detail: String,
    },

    /// A success status whose body was cut short or not JSON on every attempt (a transport
    /// fault, retried like a 5xx).
    #[error(
        "could not decode binance {endpoint} response after {attempts} attempts \
         (the body was cut short or not JSON): {detail}"
    )]
    Garbled {
        endpoint: &'static str,
        attempts: u32,
        detail: String,
    },

    /// The configured base URL cannot be used (not http(s), no host).
    #[error(
        "binance base URL {url:?} {why}; expected an http(s) URL such as https://api.binance.com"
    )]
    BaseUrl { url: String, why: String },

    #[error("missing BINANCE_API_KEY or BINANCE_API_SECRET; set them in the environment or .env")]
    MissingCredentials,

    /// A spot-only endpoint called on a futures client or vice versa.
    #[error("{endpoint} is not available on a {market} client")]
    WrongMarket {
        endpoint: &'static str,
        market: Market,
    },

    #[error("could not build the HTTP client: {0}")]
    Client(String),

    #[error("invalid request to {endpoint}: {detail}")]
    InvalidRequest {
        endpoint: &'static str,
        detail: String,
    },

    /// A venue that is not a remote exchange (the paper exchange in the store) refused or
    /// failed; the sentence says why.
    #[error("{0}")]
    Venue(String),
}

impl ExchangeError {
    /// Binance's error code, when the exchange sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            ExchangeError::Api { code, .. } | ExchangeError::Auth { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Worth trying again in a later run (rate limits, outages, network); not a wrong request,
    /// key or symbol.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ExchangeError::RateLimited { .. }
                | ExchangeError::Server { .. }
                | ExchangeError::Transport { .. }
                | ExchangeError::OutcomeUnknown { .. }
                | ExchangeError::Garbled { .. }
                | ExchangeError::Banned { .. }
        )
    }

    /// When a ban or back-off ends, if this is one.
    pub fn banned_until_ms(&self) -> Option<i64> {
        match self {
            ExchangeError::Banned { backoff, .. } => Some(backoff.until_ms),
            _ => None,
        }
    }
}

fn banned_msg(host: &str, b: &Backoff, fresh: bool) -> String {
    let until = fmt_ms(b.until_ms);
    if fresh {
        format!(
            "{}; no request is sent to {host} until {until} (every fks job waits it out)",
            b.reason
        )
    } else {
        format!(
            "no request sent to {host}: a binance back-off is in force until {until} ({}); \
             every fks job waits it out",
            b.reason
        )
    }
}
