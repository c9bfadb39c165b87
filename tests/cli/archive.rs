//! archive-old-data and restore-archive: dry run, round trip, a killed run, Postgres.

use crate::support::{Sandbox, binance, binance_csv, run_json};

const H: i64 = 3_600_000;
const T0: i64 = 1_672_531_200_000; // 2023-01-01

fn dump(sb: &Sandbox) -> Vec<String> {
    let out = sb
        .fks()
        .args(["candles", "--symbol", "BTCUSDT", "--timeframe", "1h"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn round_trip(sb: &Sandbox) {
    // Three months of hourly candles, Jan-Mar 2023.
    let k = binance::series(T0, H, 24 * 90, 20_000.0);
    let p = sb.write("k.csv", &binance_csv(&k, H));
    assert_eq!(
        run_json(sb.fks().args([
            "import-klines",
            p.to_str().unwrap(),
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1h"
        ]))
        .0,
        0
    );
    let before = dump(sb);
    let now = "2024-03-15T00:00:00Z"; // keep 365 days -> cut-off 2023-03-16
    let dir = sb.path().join("arch");
    let dir_s = dir.to_str().unwrap();
    let (code, v, _) =
        run_json(
            sb.fks()
                .env("FKS_NOW", now)
                .args(["archive-old-data", "--archive-dir", dir_s]),
        );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["dry_run"], true);
    let months: Vec<&str> = v["results"]["candles"]["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["month"].as_str().unwrap())
        .collect();
    assert_eq!(months, ["2023-01", "2023-02", "2023-03"]);
    assert_eq!(v["results"]["candles"]["rows"], 24 * (31 + 28 + 15));
    assert_eq!(dump(sb), before, "a dry run changes nothing");
    assert!(!dir.exists());

    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", now).args([
        "archive-old-data",
        "--archive-dir",
        dir_s,
        "--execute",
    ]));
    assert_eq!(code, 0, "{v}");
    let files = v["results"]["candles"]["files"].as_array().unwrap().clone();
    assert_eq!(files.len(), 3);
    let after = dump(sb);
    assert_eq!(
        after.len() - 1,
        24 * 90 - 24 * (31 + 28 + 15),
        "only what is older than the cut-off is gone"
    );
    // Each file is gzip CSV with a header and its SHA-256 in the manifest.
    let f0 = files[0]["path"].as_str().unwrap();
    let bytes = std::fs::read(f0).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    // Restore is idempotent and gives back identical rows.
    let paths: Vec<String> = files
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    let mut cmd = sb.fks();
    cmd.arg("restore-archive").args(&paths);
    let (code, v, _) = run_json(&mut cmd);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["files"][0]["inserted"], 24 * 31);
    assert_eq!(dump(sb), before);
    let mut cmd = sb.fks();
    cmd.arg("restore-archive").args(&paths);
    let (_, v, _) = run_json(&mut cmd);
    assert_eq!(v["files"][0]["inserted"], 0, "nothing twice");
    // A changed file is refused.
    let mut b = std::fs::read(f0).unwrap();
    let n = b.len();
    b[n - 9] ^= 1;
    std::fs::write(f0, b).unwrap();
    let (code, _, err) = run_json(sb.fks().args(["restore-archive", f0]));
    assert_eq!(code, 1);
    assert!(err.contains("checksum"), "{err}");
}

#[test]
fn archive_dry_run_round_trip_sqlite() {
    round_trip(&Sandbox::new());
}

#[test]
fn archive_dry_run_round_trip_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        round_trip(&sb);
    }
}

#[test]
fn killed_archive_loses_nothing_and_leaves_no_half_month() {
    let sb = Sandbox::new();
    // 1-minute candles over 4 months: enough work to kill the run part-way.
    let step = 60_000;
    let k = binance::series(T0, step, 60 * 24 * 120, 100.0);
    let p = sb.write("k.csv", &binance_csv(&k, step));
    assert_eq!(
        run_json(sb.fks().args([
            "import-klines",
            p.to_str().unwrap(),
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1m"
        ]))
        .0,
        0
    );
    let total = k.len() as i64;
    let dir = sb.path().join("arch");
    for delay_ms in [150u64, 400, 900] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("fks"))
            .current_dir(sb.path())
            .env_clear()
            .env("DATABASE_URL", &sb.db)
            .env("FKS_NOW", "2025-01-01")
            .args([
                "archive-old-data",
                "--execute",
                "--days-to-keep",
                "1",
                "--archive-dir",
                dir.to_str().unwrap(),
                "--format",
                "json",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        // Invariant: every row is either in the store or in a verified archive, never both,
        // and each month is wholly in one place.
        let c = rusqlite::Connection::open(&sb.db).unwrap();
        let in_store: i64 = c
            .query_row("SELECT COUNT(*) FROM candles", [], |r| r.get(0))
            .unwrap();
        let archived: i64 = c
            .query_row(
                "SELECT COALESCE(SUM(rows), 0) FROM archives WHERE table_name = 'candles'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(in_store + archived, total, "after kill at {delay_ms} ms");
        let mut st = c
            .prepare("SELECT from_ms, to_ms FROM archives WHERE table_name = 'candles'")
            .unwrap();
        let ranges: Vec<(i64, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        for (a, b) in ranges {
            let left: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM candles WHERE open_time >= ?1 AND open_time < ?2",
                    [a, b],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(left, 0, "archived month still has rows");
        }
    }
    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", "2025-01-01").args([
        "archive-old-data",
        "--execute",
        "--days-to-keep",
        "1",
        "--archive-dir",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{v}");
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let archived: i64 = c
        .query_row(
            "SELECT SUM(rows) FROM archives WHERE table_name = 'candles'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(archived, total);
    // Files on disk are exactly those of the manifest (orphans of killed runs removed).
    let on_disk = std::fs::read_dir(dir.join("candles")).unwrap().count() as i64;
    let listed: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM archives WHERE table_name = 'candles'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(on_disk, listed);
}
