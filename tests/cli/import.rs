//! import-klines: only valid candles enter the store (refused whole by default, `--skip-invalid`
//! keeps the valid rows), streaming with bounded memory, and `fks candles` exports that import
//! reads back identically.

use crate::support::{Sandbox, binance, binance_csv, run_json};

const H: i64 = 3_600_000;
const D: i64 = 86_400_000;
const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00Z, a Monday

fn import_args(sb: &Sandbox, files: &[&std::path::Path], tf: &str) -> assert_cmd::Command {
    let mut c = sb.fks();
    c.arg("import-klines");
    for f in files {
        c.arg(f);
    }
    c.args(["--symbol", "BTCUSDT", "--timeframe", tf]);
    c
}

/// Every stored candle of a store as text rows, exactly as stored.
fn stored(sb: &Sandbox) -> Vec<String> {
    if sb.db.starts_with("postgres") {
        let out = std::process::Command::new("psql")
            .arg(&sb.db)
            .args([
                "-Atc",
                "SELECT symbol, timeframe, open_time, open, high, low, close, volume FROM candles ORDER BY symbol, timeframe, open_time",
            ])
            .output()
            .expect("psql");
        assert!(out.status.success());
        return String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.replace('|', ","))
            .collect();
    }
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let mut st = c
        .prepare("SELECT symbol, timeframe, open_time, open, high, low, close, volume FROM candles ORDER BY symbol, timeframe, open_time")
        .unwrap();
    st.query_map([], |r| {
        Ok(format!(
            "{},{},{},{},{},{},{},{}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?
        ))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

/// One Binance dump row (12 columns).
fn row(open_time: i64, o: &str, h: &str, l: &str, c: &str, v: &str, close_time: i64) -> String {
    format!("{open_time},{o},{h},{l},{c},{v},{close_time},0,10,0,0,0\n")
}

fn refuses_invalid_rows_and_never_replaces_a_stored_candle(sb: &Sandbox) {
    let k = binance::series(T0, H, 24, 42_000.0);
    let good = sb.write("good.csv", &binance_csv(&k, H));
    let (code, v, err) = run_json(&mut import_args(sb, &[&good], "1h"));
    assert_eq!(code, 0, "{v} {err}");
    let before = stored(sb);
    assert_eq!(before.len(), 24);

    // Each line breaks one rule; the file also holds valid rows (a changed candle among them).
    let t = |i: i64| T0 + i * H;
    let cases: Vec<(String, &str)> = vec![
        (row(t(3), "-5", "1", "-6", "1", "1", t(4) - 1), "open"),
        (row(t(4), "10", "12", "9", "13", "1", t(5) - 1), "high"),
        (row(t(5), "10", "12", "11", "10.5", "1", t(6) - 1), "low"),
        (row(t(6), "10", "12", "9", "11", "-1", t(7) - 1), "volume"),
        (row(t(7), "0", "12", "0", "11", "1", t(8) - 1), "open"),
        (
            row(t(30) + 123, "10", "12", "9", "11", "1", t(31) + 122),
            "grid",
        ),
        (
            row(t(8), "10", "12", "9", "11", "1", t(8) + 5 * 60_000 - 1),
            "close time",
        ),
        (
            row(
                1_199_145_600_000,
                "10",
                "12",
                "9",
                "11",
                "1",
                1_199_145_600_000 + H - 1,
            ),
            "2009",
        ),
        (row(t(9), "abc", "12", "9", "11", "1", t(10) - 1), "open"),
        (row(t(10), "NaN", "12", "9", "11", "1", t(11) - 1), "open"),
        (row(t(11), "1e999", "12", "9", "11", "1", t(12) - 1), "open"),
    ];
    let mut text = row(t(0), "1", "2", "0.5", "1.5", "3", t(1) - 1); // valid, changes candle 0
    for (l, _) in &cases {
        text.push_str(l);
    }
    text.push_str(&row(t(40), "10", "12", "9", "11", "1", t(41) - 1)); // valid, new
    let bad = sb.write("bad.csv", &text);
    let (code, v, err) = run_json(&mut import_args(sb, &[&bad], "1h"));
    assert_eq!(
        code, 1,
        "a file with invalid rows is refused whole: {v} {err}"
    );
    assert_eq!(v["status"], "error");
    let r = &v["results"][bad.to_str().unwrap()];
    assert_eq!(r["status"], "error", "{v}");
    assert_eq!(r["invalid"], cases.len(), "{v}");
    let e = r["error"].as_str().unwrap();
    assert!(e.contains("bad.csv") && e.contains("line 2"), "{e}");
    assert!(e.contains("--skip-invalid"), "{e}");
    let listed = r["invalid_rows"].as_array().unwrap();
    assert!(!listed.is_empty() && listed.len() <= 10, "{v}");
    for (i, (_, word)) in cases.iter().enumerate().take(listed.len()) {
        assert_eq!(listed[i]["line"], i as u64 + 2, "{v}");
        let reason = listed[i]["reason"].as_str().unwrap();
        assert!(
            reason.contains(word),
            "line {}: {reason:?} should name {word:?}",
            i + 2
        );
    }
    assert!(v["error"].as_str().unwrap().contains("bad.csv"), "{v}");
    assert_eq!(stored(sb), before, "nothing of a refused file is stored");

    // --skip-invalid imports the valid rows and lists the skipped ones.
    let (code, v, err) = run_json(import_args(sb, &[&bad], "1h").arg("--skip-invalid"));
    assert_eq!(code, 0, "{v} {err}");
    let r = &v["results"][bad.to_str().unwrap()];
    assert_eq!(r["status"], "success", "{v}");
    assert_eq!(r["skipped"], cases.len(), "{v}");
    assert_eq!(r["skipped_rows"].as_array().unwrap().len(), cases.len());
    assert_eq!(r["skipped_rows"][0]["line"], 2);
    assert_eq!(
        (v["inserted"].as_u64(), v["updated"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let after = stored(sb);
    assert_eq!(after.len(), 25);
    assert!(after[0].ends_with(",1,2,0.5,1.5,3"), "{}", after[0]);
    assert_eq!(
        after[1..24],
        before[1..24],
        "invalid rows never replaced a stored candle"
    );
    assert!(
        after
            .iter()
            .all(|l| !l.contains(&(T0 + 30 * H + 123).to_string())),
        "no off-grid row"
    );
}

#[test]
fn invalid_rows_are_refused_sqlite() {
    refuses_invalid_rows_and_never_replaces_a_stored_candle(&Sandbox::new());
}

#[test]
fn invalid_rows_are_refused_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        refuses_invalid_rows_and_never_replaces_a_stored_candle(&sb);
    }
}

#[test]
fn weekly_and_three_day_grids_and_the_future() {
    let sb = Sandbox::new();
    let w = 7 * D;
    // 1w candles open on Monday 00:00 UTC (2024-01-01 is a Monday); a Thursday-aligned week
    // (a multiple of 7 days since the epoch) is refused.
    let monday = sb.write("w.csv", &row(T0, "1", "2", "0.5", "1.5", "3", T0 + w - 1));
    let (code, v, _) = run_json(&mut import_args(&sb, &[&monday], "1w"));
    assert_eq!(code, 0, "{v}");
    let thursday = T0 - 4 * D;
    let f = sb.write(
        "t.csv",
        &row(thursday, "1", "2", "0.5", "1.5", "3", thursday + w - 1),
    );
    let (code, v, _) = run_json(&mut import_args(&sb, &[&f], "1w"));
    assert_eq!(code, 1, "{v}");
    assert!(v["error"].as_str().unwrap().contains("Monday"), "{v}");

    // 3d: midnight UTC, and one phase within a series.
    let a = T0 + 2 * D;
    let ok = format!(
        "{}{}",
        row(a, "1", "2", "0.5", "1.5", "3", a + 3 * D - 1),
        row(a + 3 * D, "1", "2", "0.5", "1.5", "3", a + 6 * D - 1)
    );
    let f = sb.write("d3.csv", &ok);
    let (code, v, _) = run_json(&mut import_args(&sb, &[&f], "3d"));
    assert_eq!(code, 0, "{v}");
    let noon = a + 9 * D + 12 * H;
    let f = sb.write(
        "d3b.csv",
        &row(noon, "1", "2", "0.5", "1.5", "3", noon + 3 * D - 1),
    );
    let (code, v, _) = run_json(&mut import_args(&sb, &[&f], "3d"));
    assert_eq!(code, 1, "{v}");
    let shifted = a + 7 * D; // midnight, but one day off the stored series' 3-day phase
    let f = sb.write(
        "d3c.csv",
        &row(shifted, "1", "2", "0.5", "1.5", "3", shifted + 3 * D - 1),
    );
    let (code, v, _) = run_json(&mut import_args(&sb, &[&f], "3d"));
    assert_eq!(code, 1, "{v}");
    assert!(v["error"].as_str().unwrap().contains("phase"), "{v}");

    // More than one interval after the run's clock is refused; the current candle is not.
    let now = T0 + 100 * H + 10;
    let f = sb.write(
        "future.csv",
        &format!(
            "{}{}",
            row(T0 + 100 * H, "1", "2", "0.5", "1.5", "3", T0 + 101 * H - 1),
            row(T0 + 102 * H, "1", "2", "0.5", "1.5", "3", T0 + 103 * H - 1)
        ),
    );
    let (code, v, _) = run_json(
        import_args(&sb, &[&f], "1h")
            .env("FKS_NOW", now.to_string())
            .arg("--skip-invalid"),
    );
    assert_eq!(code, 0, "{v}");
    let r = &v["results"][f.to_str().unwrap()];
    assert_eq!(r["skipped"], 1, "{v}");
    assert!(
        r["skipped_rows"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("future"),
        "{v}"
    );
    assert_eq!(v["inserted"], 1);
}

#[test]
fn one_good_one_bad_file_is_partial() {
    let sb = Sandbox::new();
    let good = sb.write("a.csv", &binance_csv(&binance::series(T0, H, 5, 100.0), H));
    let bad = sb.write(
        "b.csv",
        &row(T0 + 10 * H, "10", "9", "8", "11", "1", T0 + 11 * H - 1),
    );
    let (code, v, _) = run_json(&mut import_args(&sb, &[&good, &bad], "1h"));
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["results"][good.to_str().unwrap()]["status"], "success");
    assert_eq!(v["results"][bad.to_str().unwrap()]["status"], "error");
    assert_eq!(v["inserted"], 5);
}

fn export(sb: &Sandbox, fmt: &str, tf: &str) -> Vec<u8> {
    let out = sb
        .fks()
        .args([
            "candles",
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            tf,
            "--as",
            fmt,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn export_import_round_trip(make: impl Fn() -> Sandbox) {
    let src = make();
    // Exchange-style strings (8 decimals), shortest forms and a gap.
    let mut k = binance::series(T0, H, 300, 42_000.0);
    k[7].open = k[7].high.trim_end_matches('0').to_string(); // a shortest form
    k[7].volume = "0".into();
    k.remove(100);
    let f = src.write("k.csv", &binance_csv(&k, H));
    let (code, v, _) = run_json(&mut import_args(&src, &[&f], "1h"));
    assert_eq!(code, 0, "{v}");
    let want = stored(&src);
    assert_eq!(want.len(), 299);
    for fmt in ["csv", "json"] {
        let bytes = export(&src, fmt, "1h");
        let dst = make();
        let p = dst.path().join(format!("export.{fmt}"));
        std::fs::write(&p, &bytes).unwrap();
        let (code, v, err) = run_json(&mut import_args(&dst, &[&p], "1h"));
        assert_eq!(code, 0, "{fmt}: {v} {err}");
        assert_eq!(v["inserted"], 299, "{fmt}: {v}");
        assert_eq!(
            stored(&dst),
            want,
            "{fmt}: identical values after export -> import"
        );
        assert_eq!(v["gaps"][0]["missing"], 1, "{v}");
    }
}

#[test]
fn candles_export_imports_back_identically_sqlite() {
    export_import_round_trip(Sandbox::new);
}

#[test]
fn candles_export_imports_back_identically_postgres() {
    if Sandbox::postgres().is_none() {
        return;
    }
    export_import_round_trip(|| Sandbox::postgres().expect("postgres"));
}

#[test]
fn real_candles_import_and_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let dir = if dir.exists() {
        dir
    } else {
        std::path::PathBuf::from("/work/shared/data")
    };
    let file = dir.join("ltc_btc_5m.csv");
    if !file.exists() {
        eprintln!(
            "note: {} is absent; skipping the real-data import test",
            file.display()
        );
        return;
    }
    let sb = Sandbox::new();
    let (code, v, err) = run_json(&mut import_args(&sb, &[&file], "5m"));
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["inserted"], 5_760);
    let want = stored(&sb);
    let bytes = export(&sb, "csv", "5m");
    let first = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        first,
        "the export of real candles is the file they came from"
    );
    let dst = Sandbox::new();
    let p = dst.write("e.csv", &String::from_utf8(bytes).unwrap());
    let (code, v, _) = run_json(&mut import_args(&dst, &[&p], "5m"));
    assert_eq!(code, 0, "{v}");
    assert_eq!(stored(&dst), want);
}

/// Run the binary and sample its peak resident set (VmHWM, KiB) until it exits.
fn peak_kib(cmd: &mut std::process::Command) -> (std::process::Output, u64) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    for l in s.lines() {
                        if let Some(v) = l.strip_prefix("VmHWM:") {
                            let kib: u64 =
                                v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                            peak.fetch_max(kib, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.join().unwrap();
    (out, peak.load(std::sync::atomic::Ordering::SeqCst))
}

fn raw_fks(sb: &Sandbox) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin!("fks"));
    c.current_dir(sb.path())
        .env_clear()
        .env("DATABASE_URL", &sb.db)
        .env("FKS_SYMBOLS", "BTCUSDT");
    c
}

/// A deflate stream (fixed Huffman codes) of `n` zero bytes: one literal, then matches of
/// length 258 at distance 1. About 13 bits per 258 bytes, so gigabytes fit in a small file.
fn deflate_zeros(n: u64) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        len: u32,
    }
    impl Bits {
        fn put(&mut self, v: u64, n: u32) {
            self.acc |= v << self.len;
            self.len += n;
            while self.len >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.len -= 8;
            }
        }
        /// Huffman codes are sent most significant bit first.
        fn code(&mut self, code: u64, n: u32) {
            let mut r = 0;
            for i in 0..n {
                r |= ((code >> i) & 1) << (n - 1 - i);
            }
            self.put(r, n);
        }
    }
    let mut b = Bits {
        out: Vec::new(),
        acc: 0,
        len: 0,
    };
    b.put(1, 1); // final block
    b.put(1, 2); // fixed Huffman
    b.code(0b0011_0000, 8); // literal 0
    let mut left = n - 1;
    while left >= 258 {
        b.code(0b1100_0101, 8); // length code 285 = 258
        b.code(0, 5); // distance code 0 = 1
        left -= 258;
    }
    for _ in 0..left {
        b.code(0b0011_0000, 8);
    }
    b.code(0, 7); // end of block (256)
    if b.len > 0 {
        b.put(0, 8 - b.len);
    }
    b.out
}

/// A zip archive with one deflated entry of `n` zero bytes (a "zip bomb" line).
fn zip_of_zeros(name: &str, n: u64) -> Vec<u8> {
    let data = deflate_zeros(n);
    let mut crc = flate2::Crc::new();
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        crc.update(&chunk[..k]);
        left -= k as u64;
    }
    let crc = crc.sum();
    let mut z = Vec::new();
    let le16 = |v: u16| v.to_le_bytes();
    let le32 = |v: u32| v.to_le_bytes();
    // Local header.
    z.extend_from_slice(&le32(0x0403_4b50));
    z.extend_from_slice(&le16(20));
    z.extend_from_slice(&le16(0));
    z.extend_from_slice(&le16(8));
    z.extend_from_slice(&le32(0));
    z.extend_from_slice(&le32(crc));
    z.extend_from_slice(&le32(data.len() as u32));
    z.extend_from_slice(&le32(n as u32));
    z.extend_from_slice(&le16(name.len() as u16));
    z.extend_from_slice(&le16(0));
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(&data);
    let cd = z.len() as u32;
    // Central directory.
    z.extend_from_slice(&le32(0x0201_4b50));
    z.extend_from_slice(&le16(20));
    z.extend_from_slice(&le16(20));
    z.extend_from_slice(&le16(0));
    z.extend_from_slice(&le16(8));
    z.extend_from_slice(&le32(0));
    z.extend_from_slice(&le32(crc));
    z.extend_from_slice(&le32(data.len() as u32));
    z.extend_from_slice(&le32(n as u32));
    z.extend_from_slice(&le16(name.len() as u16));
    z.extend_from_slice(&[0; 12]);
    z.extend_from_slice(&le32(0));
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() as u32 - cd;
    z.extend_from_slice(&le32(0x0605_4b50));
    z.extend_from_slice(&[0; 4]);
    z.extend_from_slice(&le16(1));
    z.extend_from_slice(&le16(1));
    z.extend_from_slice(&le32(cd_len));
    z.extend_from_slice(&le32(cd));
    z.extend_from_slice(&le16(0));
    z
}

const LIMIT_KIB: u64 = 100 * 1024;

#[test]
fn a_zip_entry_that_is_one_huge_line_is_refused_in_bounded_memory() {
    let sb = Sandbox::new();
    // 400 MiB of zero bytes in a zip of about 2.5 MB.
    let zip = zip_of_zeros("BTCUSDT-1h-2024-01.csv", 400 << 20);
    assert!(zip.len() < 4 << 20);
    let p = sb.path().join("bomb.zip");
    std::fs::write(&p, zip).unwrap();
    let (out, peak) = peak_kib(raw_fks(&sb).args([
        "import-klines",
        p.to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
        "--format",
        "json",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(peak > 0 && peak < LIMIT_KIB, "peak memory {peak} KiB");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("longer than"), "a clear error: {stdout}");
}

#[test]
fn a_large_file_streams_in_bounded_memory() {
    let sb = Sandbox::new();
    // 600,000 rows (about 67 MB): every row is the same valid candle, so the store's work is
    // small and the test measures the reading. Reading the whole file (and a vector of every
    // candle) into memory peaks far above the bound.
    let line = row(
        T0,
        "42283.58000000",
        "42554.57000000",
        "42261.02000000",
        "42475.23000000",
        "1271.68108000",
        T0 + H - 1,
    );
    let p = sb.path().join("big.csv");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        for _ in 0..600_000 {
            f.write_all(line.as_bytes()).unwrap();
        }
        f.flush().unwrap();
    }
    let (out, peak) = peak_kib(raw_fks(&sb).args([
        "import-klines",
        p.to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
        "--format",
        "json",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"inserted\":1"), "{stdout}");
    assert!(peak > 0 && peak < LIMIT_KIB, "peak memory {peak} KiB");
}

/// sync-market-data applies the same rules: an invalid candle from the exchange fails that
/// symbol clearly (nothing of its page is stored, a stored candle is never replaced) and the
/// other symbols go on.
fn sync_refuses_invalid_exchange_candles(sb: &Sandbox) {
    use crate::support::binance::KlinesResponder;
    use wiremock::matchers::{path, query_param};
    use wiremock::{Mock, MockServer};
    let rt = crate::support::rt();
    let server = rt.block_on(MockServer::start());
    let good = binance::series(T0, H, 10, 100.0);
    let mut bad = binance::series(T0, H, 10, 100.0);
    bad[4].close = "1000.00000000".into(); // close above high
    let mut off = binance::series(T0, H, 10, 50.0);
    off[6].open_time += 123; // 123 ms off the hour
    let bad_resp = KlinesResponder::new(bad, H);
    rt.block_on(async {
        Mock::given(path("/api/v3/klines"))
            .and(query_param("symbol", "BTCUSDT"))
            .respond_with(bad_resp.clone())
            .mount(&server)
            .await;
        Mock::given(path("/api/v3/klines"))
            .and(query_param("symbol", "XRPUSDT"))
            .respond_with(KlinesResponder::new(off, H))
            .mount(&server)
            .await;
        Mock::given(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(good.clone(), H))
            .mount(&server)
            .await;
    });
    // BTCUSDT already holds the good candles.
    crate::support::import_hourly(sb, "BTCUSDT", &good);
    let before = stored(sb);
    let (code, v, _) = run_json(
        sb.fks()
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("FKS_SYMBOLS", "BTCUSDT,ETHUSDT,XRPUSDT")
            .env("FKS_NOW", (T0 + 10 * H).to_string())
            .args(["sync-market-data", "--since", "2024-01-01"]),
    );
    assert_eq!(code, 3, "{v}");
    let e = v["results"]["BTCUSDT"]["error"].as_str().unwrap();
    assert!(e.contains("invalid candle") && e.contains("high"), "{e}");
    let e = v["results"]["XRPUSDT"]["error"].as_str().unwrap();
    assert!(e.contains("grid"), "{e}");
    assert_eq!(v["results"]["ETHUSDT"]["inserted"], 10);
    let after = stored(sb);
    let btc: Vec<&String> = after.iter().filter(|l| l.starts_with("BTCUSDT")).collect();
    assert_eq!(
        btc,
        before.iter().collect::<Vec<_>>(),
        "stored BTC candles unchanged"
    );
    assert!(
        after.iter().all(|l| !l.starts_with("XRPUSDT")),
        "nothing of an invalid page is stored"
    );
}

#[test]
fn sync_refuses_invalid_exchange_candles_sqlite() {
    sync_refuses_invalid_exchange_candles(&Sandbox::new());
}

#[test]
fn sync_refuses_invalid_exchange_candles_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        sync_refuses_invalid_exchange_candles(&sb);
    }
}
