//! Shared test support: temp stores, the real binary, Postgres databases, a Binance fake.
#![allow(dead_code)]

pub mod binance;
pub mod pgcluster;
pub mod signed;

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// A multi-threaded runtime for the loopback servers of a test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A temporary working directory with its own SQLite store.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub db: String,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("fks.db").display().to_string();
        Sandbox { dir, db }
    }

    /// A store on Postgres instead (its own fresh database), when FKS_TEST_DATABASE_URL is set.
    pub fn postgres() -> Option<Sandbox> {
        let url = pg_database()?;
        let dir = tempfile::tempdir().expect("temp dir");
        Some(Sandbox { dir, db: url })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The real `fks` binary, run in the sandbox with a clean, controlled environment.
    pub fn fks(&self) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin!("fks"));
        c.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("DATABASE_URL", &self.db)
            .env("FKS_RETRY_BASE_DELAY_MS", "0")
            .env("RUST_BACKTRACE", "0")
            .env("FKS_SYMBOLS", "BTCUSDT");
        c
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

/// Run and parse the one JSON object printed on stdout; returns (exit code, json, stderr).
pub fn run_json(cmd: &mut Command) -> (i32, serde_json::Value, String) {
    let out = cmd.arg("--format").arg("json").output().expect("run fks");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one JSON line on stdout, got {stdout:?}\nstderr: {stderr}"
    );
    let v: serde_json::Value =
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("bad JSON {e}: {stdout}"));
    (out.status.code().unwrap_or(-1), v, stderr)
}

/// A fresh Postgres database for one test, or None (with a note) when FKS_TEST_DATABASE_URL is unset.
pub fn pg_database() -> Option<String> {
    let Ok(base) = std::env::var("FKS_TEST_DATABASE_URL") else {
        eprintln!(
            "note: FKS_TEST_DATABASE_URL is unset; skipping the Postgres variant of this test"
        );
        return None;
    };
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "fks_t_{}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let status = std::process::Command::new("psql")
        .arg(&base)
        .arg("-qc")
        .arg(format!("CREATE DATABASE {name}"))
        .status()
        .expect("run psql (needed for Postgres tests)");
    assert!(status.success(), "could not create test database {name}");
    // Replace the database name at the end of the URL.
    let (root, _) = base
        .rsplit_once('/')
        .expect("database URL ends with /dbname");
    Some(format!("{root}/{name}"))
}

/// Import hourly candles for `symbol` through the real binary (`fks import-klines`), which
/// must succeed.
pub fn import_hourly(sb: &Sandbox, symbol: &str, klines: &[binance::Kline]) {
    const H: i64 = 3_600_000;
    let f = sb.write(&format!("import-{symbol}.csv"), &binance_csv(klines, H));
    let (code, v, err) = run_json(sb.fks().args([
        "import-klines",
        f.to_str().expect("utf-8 path"),
        "--symbol",
        symbol,
        "--timeframe",
        "1h",
    ]));
    assert_eq!(code, 0, "import {symbol}: {v} {err}");
}

/// Load candles into a store through the real binary (import-klines of a Binance-format CSV).
pub fn binance_csv(candles: &[binance::Kline], step_ms: i64) -> String {
    let mut s = String::new();
    for k in candles {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},0,10,0,0,0\n",
            k.open_time,
            k.open,
            k.high,
            k.low,
            k.close,
            k.volume,
            k.open_time + step_ms - 1
        ));
    }
    s
}
