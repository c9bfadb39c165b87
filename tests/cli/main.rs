//! Integration tests: the real `fks` binary against real SQLite files, the real Postgres
//! server (when FKS_TEST_DATABASE_URL is set) and loopback servers in the services' formats.

mod support;

mod accounts;
mod archive;
mod backtest;
mod clock_reads;
mod contract;
mod crontab;
mod demo;
mod execution;
mod failures;
mod foundation;
mod freshness;
mod import;
mod indicators;
mod intelligence;
mod locks_pg;
mod notify;
mod readonly;
mod reports;
mod secrets;
mod store_facts;
mod sync;
mod urgent;
