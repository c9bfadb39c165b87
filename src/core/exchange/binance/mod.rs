//! Binance spot and USDⓈ-M futures over REST.
//!
//! - `client.rs`: configuration, the one `reqwest::Client`, signing of requests, weight
//!   budget, clock offset, ban state, and the retry policy (the only place that retries).
//! - `requests.rs`: one request description per endpoint (method, path, weight, params).
//! - `market_data.rs`, `account.rs`: the endpoints, returning `core::exchange` types.
//! - `sign.rs`: HMAC-SHA256 and the exact query-string encoding it signs; `Secret`.
//! - `wire.rs`: Binance's JSON shapes (private), converted at the edge.
//! - `weight.rs`: the shared per-minute request-weight budget.
//! - `error.rs`: `ExchangeError`.
//! - `bans.rs`: bans and back-offs per host, shared by a process's clients and kept in the store.

mod account;
pub mod bans;
mod client;
mod error;
mod market_data;
mod requests;
pub mod sign;
pub mod venue;
mod weight;
mod wire;

pub use bans::{Backoff, BanBook};
pub use client::{BinanceClient, BinanceConfig, check_base_url};
pub use error::ExchangeError;
pub use market_data::Kline;
pub use requests::{FUTURES_KLINES_MAX, SPOT_KLINES_MAX};
pub use sign::Secret;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_props;
