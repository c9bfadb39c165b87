//! Integration tests: the real `fks` binary against real SQLite files, the real Postgres
//! server (when FKS_TEST_DATABASE_URL is set) and loopback servers in the services' formats.

// Test code: unwrap is how a test says "this must work" (Cargo.toml [lints]).
#![allow(clippy::unwrap_used)]

mod support;

mod accounts;
mod alerts;
mod archive;
mod backtest;
mod clock_reads;
mod contract;
mod crontab;
mod demo;
mod deploy;
mod execution;
mod failures;
mod foundation;
mod freshness;
mod hosts;
mod import;
mod indicators;
mod intelligence;
mod locks_pg;
mod monitor;
mod notify;
mod pg_tls;
mod pooler;
mod readonly;
mod reports;
mod secrets;
mod snapshots;
mod store_facts;
mod strategies;
mod sync;
mod timescale;
mod urgent;
