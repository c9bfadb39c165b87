//! init, config errors, import-klines, list-data, candles, the journal and job locks.

use crate::support::{Sandbox, binance, binance_csv, run_json};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000; // 2024-01-01

#[test]
fn init_writes_config_once_and_creates_store() {
    let sb = Sandbox::new();
    let (code, v, _) = run_json(sb.fks().env_remove("DATABASE_URL").arg("init"));
    assert_eq!(code, 0, "{v}");
    assert!(sb.path().join("fks.toml").exists());
    assert!(sb.path().join("fks.db").exists());
    let (code, v, stderr) = run_json(sb.fks().env_remove("DATABASE_URL").arg("init"));
    assert_eq!(code, 2, "{v}");
    assert!(stderr.contains("already exists"), "{stderr}");
    let (code, _, _) = run_json(
        sb.fks()
            .env_remove("DATABASE_URL")
            .args(["init", "--force"]),
    );
    assert_eq!(code, 0);
}

#[test]
fn init_creates_a_named_config_and_other_commands_require_it() {
    let sb = Sandbox::new();
    let (code, v, _) =
        run_json(
            sb.fks()
                .env_remove("DATABASE_URL")
                .args(["--config", "etc/fks.toml", "init"]),
        );
    assert_eq!(code, 0, "{v}");
    assert!(sb.path().join("etc/fks.toml").exists() && sb.path().join("etc/fks.db").exists());
    let (code, _, err) = run_json(sb.fks().args(["--config", "missing.toml", "list-data"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("missing.toml") && err.contains("fks init"),
        "{err}"
    );
}

#[test]
fn bad_config_names_file_line_and_key_and_exits_2() {
    let sb = Sandbox::new();
    sb.write(
        "fks.toml",
        "[market]\ntimeframe = \"1h\"\n\n[exchange]\nmax_attempts = \"three\"\n",
    );
    let out = sb.fks().args(["list-data"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fks.toml") && err.contains("line 5") && err.contains("max_attempts"),
        "{err}"
    );
    // A bad symbol in the environment is a config error too.
    let out = sb
        .fks()
        .env("FKS_SYMBOLS", "BTC/USDT")
        .args(["list-data"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn import(sb: &Sandbox, name: &str, text: &str) -> (i32, serde_json::Value) {
    let p = sb.write(name, text);
    let (c, v, _) = run_json(sb.fks().args([
        "import-klines",
        p.to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
    ]));
    (c, v)
}

pub fn import_and_list(sb: &Sandbox) {
    let mut k = binance::series(T0, H, 48, 42_000.0);
    k.remove(10); // a one-candle gap
    let (code, v) = import(sb, "a.csv", &binance_csv(&k, H));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["inserted"], 47);
    assert_eq!(v["gaps"][0]["missing"], 1);
    assert_eq!(v["gaps"][0]["from"], T0 + 10 * H);
    // Same file again: nothing new.
    let (_, v) = import(sb, "a.csv", &binance_csv(&k, H));
    assert_eq!(
        (
            v["inserted"].as_i64(),
            v["updated"].as_i64(),
            v["unchanged"].as_i64()
        ),
        (Some(0), Some(0), Some(47))
    );
    // A changed candle is updated and counted; microsecond times with a header also load.
    k[0].close = "1.00000000".into();
    k[0].low = "1.00000000".into();
    let mut text = String::from(
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n",
    );
    for line in binance_csv(&k[..3], H).lines() {
        let mut f: Vec<String> = line.split(',').map(String::from).collect();
        f[0] = format!("{}000", f[0]);
        f[6] = format!("{}999", f[6]);
        text.push_str(&f.join(","));
        text.push('\n');
    }
    let (code, v) = import(sb, "b.csv", &text);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["inserted"].as_i64(), v["updated"].as_i64()),
        (Some(0), Some(1))
    );
    let (code, v, _) = run_json(sb.fks().arg("list-data"));
    assert_eq!(code, 0);
    assert_eq!(v["series"][0]["candles"], 47);
    assert_eq!(v["series"][0]["missing_candles"], 1);
    // Export keeps the exchange's strings.
    let out = sb
        .fks()
        .args([
            "candles",
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1h",
            "--to",
            &(T0 + H).to_string(),
        ])
        .output()
        .unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "open_time,open,high,low,close,volume");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].starts_with(&format!("{T0},{},", k[0].open)),
        "{csv}"
    );
    assert!(lines[1].contains(",1.00000000,"), "{csv}");
}

#[test]
fn import_upserts_and_reports_gaps_sqlite() {
    import_and_list(&Sandbox::new());
}

#[test]
fn import_upserts_and_reports_gaps_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        import_and_list(&sb);
    }
}

#[test]
fn import_zip_and_reject_bad_files() {
    let sb = Sandbox::new();
    let k = binance::series(T0, H, 5, 100.0);
    let path = sb.path().join("BTCUSDT-1h-2024-01.zip");
    {
        let f = std::fs::File::create(&path).unwrap();
        let mut z = zip::ZipWriter::new(f);
        z.start_file(
            "BTCUSDT-1h-2024-01.csv",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut z, binance_csv(&k, H).as_bytes()).unwrap();
        z.finish().unwrap();
    }
    let bad = sb.write(
        "bad.csv",
        "1704067200000,abc,1,1,1,1,1704070799999,0,1,0,0,0\n",
    );
    let (code, v, _) = run_json(sb.fks().args([
        "import-klines",
        path.to_str().unwrap(),
        bad.to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
    ]));
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["status"], "partial");
    assert_eq!(v["inserted"], 5);
    let err = v["results"][bad.to_str().unwrap()]["error"]
        .as_str()
        .unwrap();
    assert!(err.contains("line 1") && err.contains("open"), "{err}");
    // A file of another interval is refused with a reason.
    let (code, v, _) = run_json(sb.fks().args([
        "import-klines",
        path.to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "5m",
    ]));
    assert_eq!(code, 1, "{v}");
}

#[test]
fn journal_records_runs_and_held_lock_skips_with_exit_4() {
    let sb = Sandbox::new();
    let k = binance::series(T0, H, 3, 100.0);
    let (code, _) = import(&sb, "a.csv", &binance_csv(&k, H));
    assert_eq!(code, 0);
    // Hold the lock as a live process (this test) would.
    let conn = rusqlite::Connection::open(&sb.db).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    conn.execute(
        "INSERT INTO locks (name, holder, host, pid, acquired_ms, expires_ms) VALUES ('import-klines', 'x', ?1, ?2, 0, 99999999999999)",
        rusqlite::params![host, std::process::id()],
    )
    .unwrap();
    let p = sb.path().join("a.csv");
    let (code, v, _) = run_json(sb.fks().args([
        "import-klines",
        p.to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
    ]));
    assert_eq!(code, 4, "{v}");
    assert_eq!(v["status"], "skipped");
    // A lock whose holder process is gone is taken over.
    conn.execute("UPDATE locks SET pid = 999999999", [])
        .unwrap();
    let (code, v, _) = run_json(sb.fks().args([
        "import-klines",
        p.to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
    ]));
    assert_eq!(code, 0, "{v}");
    let (_, v, _) = run_json(sb.fks().args(["runs", "--task", "import-klines"]));
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["success", "skipped", "success"]);
    let (_, v, _) = run_json(sb.fks().arg("status"));
    assert_eq!(v["jobs"]["import-klines"]["runs_24h"], 3);
}

#[test]
fn locked_database_is_a_clear_error_and_nothing_is_lost() {
    let sb = Sandbox::new();
    let k = binance::series(T0, H, 3, 100.0);
    assert_eq!(import(&sb, "a.csv", &binance_csv(&k, H)).0, 0);
    let conn = rusqlite::Connection::open(&sb.db).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let p = sb.write(
        "b.csv",
        &binance_csv(&binance::series(T0 + 3 * H, H, 2, 100.0), H),
    );
    let out = sb
        .fks()
        .env("FKS_BUSY_TIMEOUT_MS", "200")
        .args([
            "import-klines",
            p.to_str().unwrap(),
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1h",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked"), "{err}");
    conn.execute_batch("ROLLBACK").unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM candles", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn cron_and_completions() {
    let sb = Sandbox::new();
    let out = sb.fks().arg("cron").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("*/5 * * * * mkdir -p "), "{text}");
    assert!(
        text.contains(" sync-market-data --format json >> "),
        "{text}"
    );
    let out = sb.fks().args(["completions", "bash"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("sync-market-data"));
}
