//! The domain: no knowledge of clap or of how results are printed.

pub mod accounts;
pub mod archive;
pub mod archive_extra;
pub mod backtest;
pub mod balances;
pub mod clock;
pub mod config;
pub mod demo_data;
pub mod exchange;
pub mod fake_binance;
pub mod indicator_store;
pub mod indicators;
pub mod klines_file;
pub mod market;
pub mod news;
pub mod news_store;
pub mod notify;
pub mod outbox;
pub mod positions;
pub mod risk;
pub mod runs;
pub mod schedule;
pub mod store;
pub mod sync;
pub mod time;
