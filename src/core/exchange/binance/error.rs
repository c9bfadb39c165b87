//! Errors of the Binance client. Transient ones (5xx, timeouts, 429) were already retried by
//! the client when they reach the caller; permanent ones were not retried.
//!
//! No variant ever carries the API key, the secret or a signature: request URLs are stripped
//! from transport errors before they are stored here.

use crate::core::exchange::Market;

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

    /// HTTP 418: the IP is banned until `until_ms`; nothing may be sent before then.
    #[error("banned by binance (HTTP 418) until {} ({until_ms} ms); stopping", fmt_ms(*.until_ms))]
    Banned { until_ms: i64 },

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
        )
    }
}

fn fmt_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "?".to_string())
}
