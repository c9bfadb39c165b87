//! fks: automated crypto trading operations, one job per run.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod core;
pub mod logging;
pub mod output;
