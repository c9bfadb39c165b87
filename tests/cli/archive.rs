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
                "SELECT COALESCE(SUM(rows), 0) FROM archives WHERE table_name = 'candles' AND status <> 'pending'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(in_store + archived, total, "after kill at {delay_ms} ms");
        let mut st = c
            .prepare("SELECT from_ms, to_ms FROM archives WHERE table_name = 'candles' AND status <> 'pending'")
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
            "SELECT SUM(rows) FROM archives WHERE table_name = 'candles' AND status <> 'pending'",
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

/// Every stored candle as text, exactly as stored.
fn all_candles(sb: &Sandbox) -> Vec<String> {
    let out = sb
        .fks()
        .args(["candles", "--symbol", "BTCUSDT", "--timeframe", "1h"])
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| format!("BTCUSDT,{l}"))
        .collect();
    let out = sb
        .fks()
        .args(["candles", "--symbol", "ETHUSDT", "--timeframe", "1h"])
        .output()
        .unwrap();
    v.extend(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| format!("ETHUSDT,{l}")),
    );
    v
}

fn import(sb: &Sandbox, symbol: &str, k: &[binance::Kline]) {
    let p = sb.write(&format!("{symbol}.csv"), &binance_csv(k, H));
    let (code, v, err) = run_json(sb.fks().args([
        "import-klines",
        p.to_str().unwrap(),
        "--symbol",
        symbol,
        "--timeframe",
        "1h",
    ]));
    assert_eq!(code, 0, "{v} {err}");
}

/// Paths the manifest lists (done archives).
fn manifest(sb: &Sandbox) -> Vec<String> {
    let sql = "SELECT path FROM archives WHERE status <> 'pending' ORDER BY id";
    if sb.db.starts_with("postgres") {
        let out = std::process::Command::new("psql")
            .arg(&sb.db)
            .args(["-Atc", sql])
            .output()
            .unwrap();
        return String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
    }
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let mut st = c.prepare(sql).unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// Archive with different spellings of the same folder (an absolute `--config`, then a
/// relative `--db`, then `./`), twice under one pinned clock, with a foreign file in the
/// folder; then restore every file: exactly the rows before archiving.
/// `runs`: per run, (global flags, archive-old-data flags).
fn spellings_and_pinned_clock(sb: &Sandbox, runs: [(Vec<String>, Vec<String>); 3]) {
    let jan_apr = binance::series(T0, H, 24 * 120, 20_000.0);
    import(sb, "BTCUSDT", &jan_apr);
    let before_btc = all_candles(sb);
    // A file this store did not write, in the folder it archives to.
    let foreign = sb
        .path()
        .join("archives/candles/fks-candles-2023-01-99.csv.gz");
    std::fs::create_dir_all(foreign.parent().unwrap()).unwrap();
    std::fs::write(&foreign, b"not ours").unwrap();
    let foreign2 = sb.path().join("arch/candles/fks-candles-2023-01-99.csv.gz");
    std::fs::create_dir_all(foreign2.parent().unwrap()).unwrap();
    std::fs::write(&foreign2, b"not ours").unwrap();
    let now = "2023-05-01T00:00:00Z";
    let run = |args: &(Vec<String>, Vec<String>), days: &str| {
        let mut c = sb.fks();
        if !sb.db.starts_with("postgres") {
            c.env_remove("DATABASE_URL");
        }
        c.env("FKS_NOW", now)
            .args(&args.0)
            .args(["archive-old-data", "--execute", "--days-to-keep", days])
            .args(&args.1);
        let (code, v, err) = run_json(&mut c);
        assert_eq!(code, 0, "{args:?}: {v} {err}");
        v
    };
    // Jan, spelled one way.
    let v = run(&runs[0], "89");
    assert_eq!(
        v["results"]["candles"]["files"].as_array().unwrap().len(),
        1,
        "{v}"
    );
    // Feb, spelled another way: the January file must survive.
    let v = run(&runs[1], "61");
    assert_eq!(
        v["results"]["candles"]["files"].as_array().unwrap().len(),
        1,
        "{v}"
    );
    // ETH for February arrives late; archived under the same pinned clock, a third spelling.
    let eth_feb = binance::series(T0 + 31 * 24 * H, H, 24 * 28, 1_500.0);
    import(sb, "ETHUSDT", &eth_feb);
    let mut before: Vec<String> = before_btc
        .into_iter()
        .filter(|l| l.starts_with("BTCUSDT"))
        .collect();
    before.extend(
        all_candles(sb)
            .into_iter()
            .filter(|l| l.starts_with("ETHUSDT")),
    );
    let v = run(&runs[2], "61");
    let files = v["results"]["candles"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{v}");
    assert_eq!(
        all_candles(sb).len(),
        before.len() - 24 * 59 - 24 * 28,
        "Jan and Feb (and their header lines) left the store"
    );
    assert!(
        foreign.exists() && foreign2.exists(),
        "a file of another store is never touched"
    );
    // Every file has its own name and is listed; restoring them all gives back every row.
    let listed = manifest(sb);
    assert_eq!(listed.len(), 3, "{listed:?}");
    let mut unique = listed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        3,
        "unique names whatever the clock: {listed:?}"
    );
    let mut c = sb.fks();
    c.arg("restore-archive").args(&listed);
    let (code, v, err) = run_json(&mut c);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(all_candles(sb), before, "exactly the rows before archiving");
}

#[test]
fn archives_survive_spellings_and_a_pinned_clock_sqlite() {
    let sb = Sandbox::new();
    let toml = sb.write("fks.toml", "");
    let toml = toml.to_str().unwrap().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    spellings_and_pinned_clock(
        &sb,
        [
            (s(&["--config", &toml]), vec![]),
            (s(&["--db", "fks.db"]), vec![]),
            (s(&["--db", "./fks.db"]), vec![]),
        ],
    );
}

#[test]
fn archives_survive_spellings_and_a_pinned_clock_postgres() {
    let Some(sb) = Sandbox::postgres() else {
        return;
    };
    let abs = sb.path().join("arch").display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    spellings_and_pinned_clock(
        &sb,
        [
            (vec![], s(&["--archive-dir", &abs])),
            (vec![], s(&["--archive-dir", "arch"])),
            (vec![], s(&["--archive-dir", "./arch"])),
        ],
    );
}

#[test]
fn a_sqlite_and_a_postgres_store_in_one_folder_keep_their_files() {
    let Some(pg) = Sandbox::postgres() else {
        return;
    };
    let lite = Sandbox::new();
    let now = "2024-03-15T00:00:00Z";
    let k = binance::series(T0, H, 24 * 90, 20_000.0);
    import(&lite, "BTCUSDT", &k);
    let before = all_candles(&lite);
    let (code, v, _) = run_json(
        lite.fks()
            .env("FKS_NOW", now)
            .args(["archive-old-data", "--execute"]),
    );
    assert_eq!(code, 0, "{v}");
    // The Postgres store runs in the same folder, archiving into ./archives too.
    let mut c = lite.fks();
    c.env("DATABASE_URL", &pg.db);
    let p = lite.write("eth.csv", &binance_csv(&k, H));
    let (code, v, _) = run_json(c.args([
        "import-klines",
        p.to_str().unwrap(),
        "--symbol",
        "ETHUSDT",
        "--timeframe",
        "1h",
    ]));
    assert_eq!(code, 0, "{v}");
    let mut c = lite.fks();
    c.env("DATABASE_URL", &pg.db).env("FKS_NOW", now);
    let (code, v, _) = run_json(c.args(["archive-old-data", "--execute"]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["results"]["candles"]["files"].as_array().unwrap().len(),
        3
    );
    // And the SQLite store again.
    let (code, v, _) = run_json(
        lite.fks()
            .env("FKS_NOW", now)
            .args(["archive-old-data", "--execute"]),
    );
    assert_eq!(code, 0, "{v}");
    let files = manifest(&lite);
    assert_eq!(files.len(), 3);
    assert_eq!(manifest(&pg).len(), 3);
    for f in manifest(&lite).iter().chain(manifest(&pg).iter()) {
        assert!(std::path::Path::new(f).exists(), "{f} was removed");
    }
    let mut c = lite.fks();
    c.arg("restore-archive").args(&files);
    let (code, v, _) = run_json(&mut c);
    assert_eq!(code, 0, "{v}");
    assert_eq!(all_candles(&lite), before);
}

fn gz(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

const HEADER: &str = "symbol,timeframe,open_time,open,high,low,close,volume\n";

#[test]
fn restore_refuses_unknown_files_validates_rows_and_reports_partial() {
    let sb = Sandbox::new();
    let k = binance::series(T0, H, 24 * 40, 20_000.0);
    import(&sb, "BTCUSDT", &k);
    let before = all_candles(&sb);
    let (code, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", "2024-02-05T00:00:00Z")
            .args(["archive-old-data", "--execute"]),
    );
    assert_eq!(code, 0, "{v}");
    let after_archive = all_candles(&sb);
    assert_eq!(after_archive.len(), 24 * 40 - 24 * 35 + 2);
    let genuine = manifest(&sb);
    assert_eq!(genuine.len(), 2, "{genuine:?}");

    // A hand-made file with an archive's name: refused, nothing loaded.
    let bad_rows = [
        "BTCUSDT,1h,1675209600000,abc,1,1,1,1",
        "BTCUSDT,1h,1675213200000,-5,1,1,1,1",
        "BTCUSDT,1h,1675216800000,1e999,1,1,1,1",
        "BTCUSDT,1h,1675220400000,NaN,1,1,1,1",
        "BTCUSDT,7x,1675224000000,1,1,1,1,1",
    ];
    let bad = sb.path().join("fks-candles-2023-02-1.csv.gz");
    std::fs::write(&bad, gz(&format!("{HEADER}{}\n", bad_rows.join("\n")))).unwrap();
    let (code, v, err) = run_json(sb.fks().args(["restore-archive", bad.to_str().unwrap()]));
    assert_eq!(code, 1, "{v} {err}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("manifest") && e.contains("--unverified"), "{e}");
    // Forced, every row is still validated as import does.
    let (code, v, _) =
        run_json(
            sb.fks()
                .args(["restore-archive", "--unverified", bad.to_str().unwrap()]),
        );
    assert_eq!(code, 1, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("line 2") && e.contains("open"), "{e}");
    assert_eq!(
        all_candles(&sb),
        after_archive,
        "nothing of a refused file is loaded"
    );
    for (i, r) in bad_rows.iter().enumerate() {
        let f = sb.path().join(format!("fks-candles-2023-02-x{i}.csv.gz"));
        std::fs::write(&f, gz(&format!("{HEADER}{r}\n"))).unwrap();
        let (code, v, _) =
            run_json(
                sb.fks()
                    .args(["restore-archive", "--unverified", f.to_str().unwrap()]),
            );
        assert_eq!(code, 1, "{r}: {v}");
    }
    // A valid hand-made file loads with --unverified, and says so.
    let ok = sb.path().join("handmade.csv.gz");
    std::fs::write(
        &ok,
        gz(&format!("{HEADER}ETHUSDT,1h,1675209600000,1,2,0.5,1.5,3\n")),
    )
    .unwrap();
    let (code, v, _) =
        run_json(
            sb.fks()
                .args(["restore-archive", "--unverified", ok.to_str().unwrap()]),
        );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["files"][0]["verified"], false, "{v}");
    assert_eq!(v["files"][0]["inserted"], 1);

    // A renamed copy of a genuine file is known by its checksum.
    let renamed = sb.path().join("january.csv.gz");
    std::fs::copy(&genuine[0], &renamed).unwrap();
    // Restoring a genuine file and then failing on a bad one is partial, listing what came back.
    let (code, v, _) = run_json(sb.fks().args([
        "restore-archive",
        renamed.to_str().unwrap(),
        bad.to_str().unwrap(),
        &genuine[1],
    ]));
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["status"], "partial");
    let restored: Vec<&str> = v["restored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(
        restored,
        [renamed.to_str().unwrap(), genuine[1].as_str()],
        "{v}"
    );
    let mut now: Vec<String> = all_candles(&sb)
        .into_iter()
        .filter(|l| l.starts_with("BTCUSDT"))
        .collect();
    now.sort();
    let mut want: Vec<String> = before
        .into_iter()
        .filter(|l| l.starts_with("BTCUSDT"))
        .collect();
    want.sort();
    assert_eq!(now, want);
}

#[test]
fn cleanup_removes_only_own_unfinished_files_and_keeps_one_whose_rows_left() {
    let sb = Sandbox::new();
    let k = binance::series(T0, H, 24 * 70, 20_000.0);
    import(&sb, "BTCUSDT", &k);
    let before = all_candles(&sb);
    let now = "2024-02-29T00:00:00Z"; // cut-off 2023-03-01: Jan and Feb 2023 are old
    let (code, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", now)
            .args(["archive-old-data", "--execute"]),
    );
    assert_eq!(code, 0, "{v}");
    let files = manifest(&sb);
    assert_eq!(files.len(), 2);
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    // A manifest that says "pending" for a file whose rows already left the store (as a
    // store restored from a backup taken mid-run could): the file must be kept.
    c.execute(
        "UPDATE archives SET status = 'pending' WHERE path = ?1",
        [&files[0]],
    )
    .unwrap();
    // A pending row of a run killed after writing its file, rows still in the store.
    let march = binance::series(T0 + 59 * 24 * H, H, 24, 20_000.0);
    let copy = std::path::Path::new(&files[1]).with_file_name("fks-candles-2023-03-killed.csv.gz");
    std::fs::write(&copy, b"partial garbage").unwrap();
    let store_id: String = c
        .query_row("SELECT value FROM kv WHERE key = 'store_id'", [], |r| {
            r.get(0)
        })
        .unwrap();
    c.execute(
        "INSERT INTO archives (table_name, month, from_ms, to_ms, rows, path, sha256, status, created_ms, store_id, file_name, host) \
         VALUES ('candles', '2023-03', ?1, ?2, 24, ?3, '', 'pending', 0, ?4, 'x', NULL)",
        rusqlite::params![march[0].open_time, march[0].open_time + 24 * H, copy.to_str().unwrap(), store_id],
    )
    .unwrap();
    // Another store's pending row naming a file in the same folder: never touched.
    let other = std::path::Path::new(&files[1]).with_file_name("fks-candles-2023-03-other.csv.gz");
    std::fs::write(&other, b"theirs").unwrap();
    c.execute(
        "INSERT INTO archives (table_name, month, from_ms, to_ms, rows, path, sha256, status, created_ms, store_id) \
         VALUES ('candles', '2023-03', 0, 1, 1, ?1, '', 'pending', 0, 'someoneelse')",
        [other.to_str().unwrap()],
    )
    .unwrap();
    let (code, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", "2024-01-01T00:00:00Z")
            .args(["archive-old-data", "--execute"]),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["orphans_removed"],
        serde_json::json!([copy.to_str().unwrap()]),
        "{v}"
    );
    assert_eq!(v["orphans_kept"][0]["path"], files[0].as_str(), "{v}");
    assert!(
        std::path::Path::new(&files[0]).exists(),
        "rows no longer in the store: kept"
    );
    assert!(!copy.exists());
    assert!(other.exists(), "another store's file");
    // The kept file is still restorable, and everything comes back.
    let mut cmd = sb.fks();
    cmd.arg("restore-archive").args(&files);
    let (code, v, _) = run_json(&mut cmd);
    assert_eq!(code, 0, "{v}");
    assert_eq!(all_candles(&sb), before);
}
