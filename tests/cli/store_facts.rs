//! Issue 18: `fks candles` exports the stored text exactly (no decimal round trip), and the
//! series facts `list-data` caches stay consistent with the rows after import, a gap filled
//! in the middle, archive and restore, on SQLite and Postgres.

use crate::support::{Sandbox, run_json};

const H: i64 = 3_600_000;
const T0: i64 = 1_672_531_200_000; // 2023-01-01
const N: i64 = 24 * 70; // Jan, Feb and part of March

/// One candle in Binance's text, in spellings a decimal round trip could change: trailing
/// zeros, a bare integer, many decimals.
fn candle(i: i64) -> [String; 6] {
    let base = 20_000 + (i % 97);
    [
        (T0 + i * H).to_string(),
        format!("{base}.10000000"),
        format!("{}.5", base + 3),
        format!("{}", base - 2),
        format!("{base}.12345678"),
        if i % 2 == 0 {
            "0.00100000".to_string()
        } else {
            "12".to_string()
        },
    ]
}

fn csv(range: impl Iterator<Item = i64>) -> String {
    let mut s = String::new();
    for i in range {
        let c = candle(i);
        s.push_str(&format!(
            "{},{},{},{},{},{},{},0,10,0,0,0\n",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            T0 + i * H + H - 1
        ));
    }
    s
}

fn import(sb: &Sandbox, name: &str, text: &str) {
    let p = sb.write(name, text);
    let (code, v, err) = run_json(sb.fks().args([
        "import-klines",
        p.to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
    ]));
    assert_eq!(code, 0, "{v} {err}");
}

/// (candles, first open time, gaps, missing) of the one series.
fn facts(sb: &Sandbox) -> (i64, i64, usize, u64) {
    let (code, v, err) = run_json(sb.fks().arg("list-data"));
    assert_eq!(code, 0, "{v} {err}");
    let s = &v["series"][0];
    let again = run_json(sb.fks().arg("list-data")).1;
    assert_eq!(v["series"], again["series"], "a cached answer is the same");
    (
        s["candles"].as_i64().unwrap(),
        s["first_open_time"].as_i64().unwrap(),
        s["gaps"].as_array().unwrap().len(),
        s["missing_candles"].as_u64().unwrap(),
    )
}

fn export(sb: &Sandbox, how: &str) -> String {
    let out = sb
        .fks()
        .args([
            "candles",
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1h",
            "--as",
            how,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn exact_and_consistent(sb: &Sandbox) {
    // Everything but three hours (100..=102): one gap.
    import(
        sb,
        "a.csv",
        &csv((0..N).filter(|i| !(100..=102).contains(i))),
    );
    assert_eq!(facts(sb), (N - 3, T0, 1, 3));

    // The export is the text Binance sent, value for value, in CSV and in JSON.
    let text = export(sb, "csv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "open_time,open,high,low,close,volume");
    assert_eq!(lines.len() as i64, N - 3 + 1);
    assert_eq!(lines[1], candle(0).join(","));
    assert_eq!(lines[2], candle(1).join(","));
    assert_eq!(lines[101], candle(103).join(","), "the row after the gap");
    let json: serde_json::Value = serde_json::from_str(&export(sb, "json")).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len() as i64, N - 3);
    let c = candle(1);
    assert_eq!(
        rows[1],
        serde_json::json!({"open_time": T0 + H, "open": c[1], "high": c[2], "low": c[3], "close": c[4], "volume": c[5]})
    );
    // Exported and imported back: every candle is unchanged.
    let p = sb.write("export.csv", &text);
    let (code, v, _) = run_json(sb.fks().args([
        "import-klines",
        p.to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["unchanged"], N - 3, "{v}");
    assert_eq!(v["inserted"], 0, "{v}");

    // The gap filled in the middle (first and last open time unchanged): the facts follow.
    import(sb, "b.csv", &csv(100..=102));
    assert_eq!(facts(sb), (N, T0, 0, 0));

    // Archive January: the facts follow; restore it: back to where they were.
    let dir = sb.path().join("arch");
    let (code, v, err) = run_json(sb.fks().env("FKS_NOW", "2024-02-01T00:00:00Z").args([
        "archive-old-data",
        "--archive-dir",
        dir.to_str().unwrap(),
        "--days-to-keep",
        "365",
        "--execute",
    ]));
    assert_eq!(code, 0, "{v} {err}");
    let files: Vec<String> = v["results"]["candles"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(files.len(), 1, "{v}");
    assert_eq!(facts(sb), (N - 24 * 31, T0 + 24 * 31 * H, 0, 0));
    let mut c = sb.fks();
    c.arg("restore-archive").args(&files);
    let (code, v, err) = run_json(&mut c);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(facts(sb), (N, T0, 0, 0));
    assert_eq!(export(sb, "csv").lines().count() as i64, N + 1);
}

#[test]
fn export_is_exact_and_list_data_follows_every_write_sqlite() {
    exact_and_consistent(&Sandbox::new());
}

#[test]
fn export_is_exact_and_list_data_follows_every_write_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        exact_and_consistent(&sb);
    }
}
