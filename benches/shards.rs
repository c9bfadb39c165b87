//! Several hosts, one Postgres (issue 16): 300 symbols x one day of 1m candles synced by
//! three `fks sync-market-data --shard K/3` processes at once (each with its own FKS_HOST)
//! from a loopback exchange adding 20 ms per request; over plain TCP and over TLS
//! (`sslmode=require`); and one unsharded process for comparison. Wall time against the
//! request floor, CPU of the fks processes (user + sys from /usr/bin/time), rows/s.
//! Needs FKS_TEST_DATABASE_URL (a server with ssl = on for the TLS row) and /usr/bin/time.
//! Figures in benches/README.md.

// Benchmark code: unwrap is how a bench says "this must work" (Cargo.toml [lints]).
#![allow(clippy::unwrap_used)]

use fks::core::demo_data::{Model, generate};
use fks::core::fake_binance::{FakeBinance, Series};
use fks::core::market::Timeframe;
use std::time::{Duration, Instant};

const SYMBOLS: usize = 300;
const CANDLES: usize = 1440;
const LATENCY_MS: u64 = 20;
const PARALLEL: usize = 4; // exchange.max_parallel (default)

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Ok(base) = std::env::var("FKS_TEST_DATABASE_URL") else {
        eprintln!("note: FKS_TEST_DATABASE_URL is unset; skipping the shards benchmark");
        return;
    };
    if !std::path::Path::new("/usr/bin/time").exists() {
        eprintln!("note: /usr/bin/time is missing; skipping the shards benchmark");
        return;
    }
    let tf = Timeframe::M1;
    let start = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000;
    let now = start + CANDLES as i64 * tf.millis() + 5_000;
    let names: Vec<String> = (0..SYMBOLS).map(|i| format!("S{i:03}USDT")).collect();
    let model = Model {
        start_price: 100.0,
        annual_vol: 0.6,
        decimals: 4,
        base_volume: 100.0,
    };
    let mut series = Series::new();
    for (i, s) in names.iter().enumerate() {
        series.insert(
            (s.clone(), "1m".into()),
            generate(i as u64, &model, tf, start, CANDLES),
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(FakeBinance::start_with_latency(
            series,
            Duration::from_millis(LATENCY_MS),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("fks.toml");
    std::fs::write(
        &cfg,
        format!(
            "[market]\ntimeframe = \"1m\"\nsymbols = [{}]\n",
            names
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .unwrap();
    println!(
        "| processes | transport | wall | request floor | CPU (user+sys, all fks processes) | rows/s |"
    );
    println!("|---|---|---|---|---|---|");
    for (procs, mode) in [
        (3u32, "disable"),
        (3, "require"),
        (1, "disable"),
        (1, "require"),
    ] {
        let db = format!(
            "fks_bench_shards_{}_{}",
            std::process::id(),
            procs * 10 + (mode == "require") as u32
        );
        let ok = std::process::Command::new("psql")
            .args([base.as_str(), "-qc", &format!("CREATE DATABASE {db}")])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "create {db}");
        let (root, _) = base.rsplit_once('/').unwrap();
        let url = format!("{root}/{db}?sslmode={mode}");
        // Migrate first, so the runs measure the sync.
        let st = std::process::Command::new(env!("CARGO_BIN_EXE_fks"))
            .args(["--config", cfg.to_str().unwrap(), "--db", &url, "status"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let t0 = Instant::now();
        let children: Vec<_> = (1..=procs)
            .map(|k| {
                let timing = dir.path().join(format!("time-{k}"));
                let mut c = std::process::Command::new("/usr/bin/time");
                c.args(["-f", "%U %S", "-o", timing.to_str().unwrap()])
                    .arg(env!("CARGO_BIN_EXE_fks"))
                    .args([
                        "--config",
                        cfg.to_str().unwrap(),
                        "--db",
                        &url,
                        "--format",
                        "json",
                        "sync-market-data",
                        "--since",
                        &start.to_string(),
                    ])
                    .env("FKS_BINANCE_BASE_URL", &server.base_url)
                    .env("FKS_NOW", now.to_string())
                    .env("FKS_HOST", format!("bench-{k}"))
                    .env("FKS_RETRY_BASE_DELAY_MS", "0")
                    .stdout(std::process::Stdio::null());
                if procs > 1 {
                    c.args(["--shard", &format!("{k}/{procs}")]);
                }
                (timing, c.spawn().unwrap())
            })
            .collect();
        let mut cpu = 0.0;
        for (timing, mut c) in children {
            assert!(c.wait().unwrap().success());
            let t = std::fs::read_to_string(timing).unwrap();
            cpu += t
                .split_whitespace()
                .filter_map(|v| v.parse::<f64>().ok())
                .sum::<f64>();
        }
        let wall = t0.elapsed().as_secs_f64();
        let rows = (SYMBOLS * CANDLES) as f64;
        // Each symbol takes two sequential pages (1000 + 440); PARALLEL symbols at a time.
        let per_proc = (SYMBOLS as f64 / procs as f64 / PARALLEL as f64).ceil();
        let floor = per_proc * 2.0 * LATENCY_MS as f64 / 1000.0;
        let stored = std::process::Command::new("psql")
            .args([
                &format!("{root}/{db}"),
                "-Atc",
                "SELECT count(*) FROM candles",
            ])
            .output()
            .unwrap();
        let stored: f64 = String::from_utf8_lossy(&stored.stdout)
            .trim()
            .parse()
            .unwrap();
        assert_eq!(stored, rows);
        println!(
            "| {procs} | {} | {wall:.2} s | {floor:.2} s | {cpu:.2} s | {:.0} |",
            if mode == "require" {
                "TLS (sslmode=require)"
            } else {
                "plain"
            },
            rows / wall
        );
        let _ = std::process::Command::new("psql")
            .args([base.as_str(), "-qc", &format!("DROP DATABASE {db}")])
            .status();
    }
}
