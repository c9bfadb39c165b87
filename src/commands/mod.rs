//! Subcommands: each file has its clap `Args` and `run(ctx, args) -> Result<Outcome>`.

pub mod account;
pub mod analyze_risk;
pub mod archive_old_data;
pub mod calculate_metrics;
pub mod candles;
pub mod check_stop_loss;
pub mod completions;
pub mod cron;
pub mod daily_signals;
pub mod dashboard;
pub mod demo;
pub mod evaluate_signals;
pub mod fetch_news;
pub mod flags;
pub mod generate_report;
pub mod generate_signals;
pub mod import_klines;
pub mod indicators;
pub mod init;
pub mod intel_common;
pub mod knowledge;
pub mod list_data;
pub mod news;
pub mod optimize_portfolio;
pub mod paper;
pub mod position;
pub mod rebalance_portfolio;
pub mod restore_archive;
pub mod run_backtest;
pub mod run_strategies;
pub mod runs;
pub mod send_notifications;
pub mod status;
pub mod strategy;
pub mod sync_account_balance;
pub mod sync_market_data;
pub mod update_indicators;
pub mod update_positions;
pub mod validate_strategies;

mod context;
mod dispatch;
mod entry;
mod job_runner;
mod shards;

pub use context::Ctx;
pub(crate) use dispatch::dispatch;
pub use dispatch::{active_schedule, implemented};
pub use entry::{
    is_usage_error, main_entry, one_line, remember_panic, report_error, report_panic,
    report_usage_error, usage, write_stdout,
};
pub use job_runner::{check_failure_streaks, job, job_sharded, shard_lock_name};
pub use shards::{Shard, pick_symbols};
