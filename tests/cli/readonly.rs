//! Every read-only command on a populated store, on SQLite and on Postgres: the content is
//! checked on each, and the two backends must print the same thing.

use crate::support::{Sandbox, binance, binance_csv, rt, run_json};
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00Z
const N: usize = 400;

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Test feed</title><link>https://example.test/</link>
<item><title>Bitcoin surges to record high as ETF inflows soar</title><link>https://example.test/a</link>
<description>BTC rallied strongly and analysts are bullish.</description><pubDate>Wed, 10 Jan 2024 14:00:00 +0000</pubDate></item>
<item><title>Ethereum exchange hacked, millions lost</title><link>https://example.test/b</link><description>A major exploit drained funds.</description><pubDate>Wed, 10 Jan 2024 12:00:00 +0000</pubDate></item>
</channel></rss>"#;

fn now() -> String {
    (T0 + N as i64 * H + 60_000).to_string()
}

/// Fill a store through the binary: candles, indicators, an account, a strategy with a
/// backtest result, news, knowledge snapshots, and runs that succeeded and failed.
fn prepare(sb: &Sandbox, feed: &str) {
    sb.write(
        "fks.toml",
        &format!("[[news.sources]]\nname = \"feed\"\nkind = \"rss\"\nurl = \"{feed}/feed.xml\"\n"),
    );
    sb.write(
        "import.csv",
        &binance_csv(&binance::series(T0, H, N, 42_000.0), H),
    );
    let ok = |args: &[&str]| {
        let (code, v, err) = run_json(sb.fks().env("FKS_NOW", now()).args(args));
        assert_eq!(code, 0, "{args:?}: {v} {err}");
    };
    ok(&[
        "import-klines",
        "import.csv",
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
    ]);
    ok(&[
        "update-indicators",
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
    ]);
    ok(&["account", "add", "Main", "--cash", "10000"]);
    ok(&[
        "strategy",
        "add",
        "trend",
        "--kind",
        "sma_cross",
        "--params",
        "fast=5,slow=20",
        "--symbols",
        "BTCUSDT",
        "--timeframe",
        "1h",
    ]);
    ok(&["run-backtest", "--strategy", "trend"]);
    ok(&["fetch-news"]);
    ok(&["knowledge", "update", "--timeframe", "1h"]);
    // A failed run for the journal.
    let (code, _, _) =
        run_json(
            sb.fks()
                .env("FKS_NOW", now())
                .args(["run-backtest", "--strategy", "nope"]),
        );
    assert_eq!(code, 1);
}

/// Run a read-only command and return its JSON (or, for CSV exports, its lines).
fn read(sb: &Sandbox, args: &[&str]) -> Value {
    let out = sb
        .fks()
        .env("FKS_NOW", now())
        .args(args)
        .output()
        .expect("run fks");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout} {stderr}");
    match serde_json::from_str::<Value>(stdout.trim()) {
        Ok(v) if v.is_object() || v.is_array() => v,
        _ => json!(stdout.lines().collect::<Vec<_>>()),
    }
}

/// Everything that differs between two stores by nature, not by content: process ids,
/// host names, durations (wall clock), the store's own address.
fn normalise(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for k in [
                "pid",
                "host",
                "duration_ms",
                "ended_ms",
                "median_duration_ms_24h",
                "median_duration_ms_7d",
            ] {
                m.remove(k);
            }
            for x in m.values_mut() {
                normalise(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalise),
        Value::Number(n) => {
            // Both backends store f64; the sum order of an aggregate may differ in the last bit.
            if let Some(f) = n.as_f64().filter(|_| !n.is_i64() && !n.is_u64()) {
                *v = json!(format!("{f:.9}"));
            }
        }
        _ => {}
    }
}

fn read_only_commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["runs"],
        vec!["runs", "--task", "run-backtest"],
        vec!["runs", "--status", "error"],
        vec!["runs", "--status", "failed"],
        vec!["runs", "--status", "success", "--limit", "2"],
        vec![
            "runs",
            "--task",
            "fetch-news",
            "--status",
            "success",
            "--limit",
            "5",
        ],
        vec!["runs", "--limit", "0"],
        vec!["runs", "--limit", "1"],
        vec!["status"],
        vec!["list-data"],
        vec![
            "candles",
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1h",
            "--from",
            "2024-01-02",
            "--to",
            "2024-01-02T03:00:00Z",
        ],
        vec![
            "candles",
            "--symbol",
            "BTCUSDT",
            "--as",
            "json",
            "--to",
            "2024-01-01T02:00:00Z",
        ],
        vec![
            "indicators",
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1h",
            "--from",
            "2024-01-12",
            "--to",
            "2024-01-12T02:00:00Z",
        ],
        vec!["news"],
        vec!["news", "--symbol", "BTCUSDT"],
        vec!["news", "--query", "hacked millions"],
        vec!["news", "--since", "2024-01-10T13:00:00Z"],
        vec!["knowledge", "stats"],
        vec!["knowledge", "search", "sma_cross"],
        vec!["strategy", "list"],
        vec!["strategy", "show", "trend"],
        vec!["account", "list"],
        vec!["account", "list", "--all"],
        vec![
            "evaluate-signals",
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1h",
            "--min-history",
            "50",
            "--horizon",
            "12",
        ],
    ]
}

/// The content each command must show, whatever the backend.
fn check(outputs: &[(Vec<&str>, Value)]) {
    let get = |args: &[&str]| -> &Value {
        &outputs
            .iter()
            .find(|(a, _)| a.as_slice() == args)
            .unwrap_or_else(|| panic!("no output for {args:?}"))
            .1
    };
    let runs = get(&["runs"]);
    // The journaled jobs, newest first (account, strategy and knowledge are not jobs).
    let tasks: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["task"].as_str().unwrap())
        .collect();
    assert_eq!(
        tasks,
        [
            "run-backtest",
            "fetch-news",
            "run-backtest",
            "update-indicators",
            "import-klines"
        ],
        "{runs}"
    );
    assert_eq!(runs["count"], 5);
    let bt = get(&["runs", "--task", "run-backtest"]);
    assert_eq!(bt["count"], 2);
    assert!(
        bt["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["task"] == "run-backtest")
    );
    for args in [
        &["runs", "--status", "error"][..],
        &["runs", "--status", "failed"][..],
    ] {
        let e = get(args);
        assert_eq!(e["count"], 1, "{args:?} {e}");
        assert!(
            e["runs"][0]["error"].as_str().unwrap().contains("nope"),
            "{e}"
        );
    }
    let s = get(&["runs", "--status", "success", "--limit", "2"]);
    assert_eq!(s["count"], 2);
    assert_eq!(s["runs"][0]["task"], "fetch-news");
    assert_eq!(s["runs"][1]["task"], "run-backtest");
    let f = get(&[
        "runs",
        "--task",
        "fetch-news",
        "--status",
        "success",
        "--limit",
        "5",
    ]);
    assert_eq!(f["count"], 1);
    assert_eq!(get(&["runs", "--limit", "0"])["count"], 0);
    assert_eq!(get(&["runs", "--limit", "0"])["runs"], json!([]));
    assert_eq!(get(&["runs", "--limit", "1"])["count"], 1);

    let st = get(&["status"]);
    assert_eq!(st["jobs"]["run-backtest"]["runs_24h"], 2, "{st}");
    assert_eq!(st["jobs"]["run-backtest"]["last_status"], "error");
    assert_eq!(st["jobs"]["import-klines"]["success_rate_24h"], 100.0);

    let ld = get(&["list-data"]);
    assert_eq!(ld["series"][0]["symbol"], "BTCUSDT");
    assert_eq!(ld["series"][0]["candles"], N);

    let csv = get(&[
        "candles",
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
        "--from",
        "2024-01-02",
        "--to",
        "2024-01-02T03:00:00Z",
    ]);
    let lines = csv.as_array().unwrap();
    assert_eq!(lines[0], "open_time,open,high,low,close,volume");
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(
        lines[1]
            .as_str()
            .unwrap()
            .starts_with(&(T0 + 24 * H).to_string())
    );
    let js = get(&[
        "candles",
        "--symbol",
        "BTCUSDT",
        "--as",
        "json",
        "--to",
        "2024-01-01T02:00:00Z",
    ]);
    assert_eq!(js.as_array().unwrap().len(), 3, "{js}");

    let ind = get(&[
        "indicators",
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
        "--from",
        "2024-01-12",
        "--to",
        "2024-01-12T02:00:00Z",
    ]);
    let lines = ind.as_array().unwrap();
    assert!(
        lines[0].as_str().unwrap().starts_with("open_time,rsi14"),
        "{ind}"
    );
    assert_eq!(lines.len(), 4, "{ind}");

    assert_eq!(get(&["news"])["count"], 2);
    let btc = get(&["news", "--symbol", "BTCUSDT"]);
    assert_eq!(btc["count"], 1);
    assert_eq!(btc["items"][0]["link"], "https://example.test/a");
    let hack = get(&["news", "--query", "hacked millions"]);
    assert_eq!(hack["count"], 1);
    assert_eq!(hack["items"][0]["symbols"][0], "ETHUSDT");
    assert_eq!(
        get(&["news", "--since", "2024-01-10T13:00:00Z"])["count"],
        1
    );

    let ks = get(&["knowledge", "stats"]);
    assert!(ks["snapshots"].as_i64().unwrap() > 100, "{ks}");
    assert_eq!(ks["news"], 2);
    assert!(ks["backtest_results"].as_i64().unwrap() >= 1, "{ks}");

    let sl = get(&["strategy", "list"]);
    assert_eq!(sl["strategies"][0]["name"], "trend");
    let show = get(&["strategy", "show", "trend"]);
    assert_eq!(show["strategy"]["name"], "trend");
    assert_eq!(show["parameters"][0]["name"], "fast");
    assert_eq!(show["recent_results"][0]["symbol"], "BTCUSDT");
    assert!(
        show["recent_results"][0]["metrics"]["total_trades"].is_number(),
        "{show}"
    );

    let al = get(&["account", "list"]);
    assert_eq!(al["accounts"][0]["name"], "Main");
    assert_eq!(al["accounts"][0]["kind"], "paper");
    assert_eq!(
        get(&["account", "list", "--all"])["accounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let ev = get(&[
        "evaluate-signals",
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1h",
        "--min-history",
        "50",
        "--horizon",
        "12",
    ]);
    assert_eq!(ev["status"], "success", "{ev}");
    assert!(
        ev["evaluations"][0]["rag"]["decisions"].as_i64().unwrap() > 0,
        "{ev}"
    );
    assert!(
        ev["evaluations"][0]["legacy"]["decisions"]
            .as_i64()
            .unwrap()
            > 0,
        "{ev}"
    );
}

/// Postgres cannot infer the type of a parameter that is only compared with NULL
/// (`? IS NULL OR col = ?`: error 42P18 when it is NULL); no SQL of the crate may use one.
#[test]
fn no_sql_binds_a_parameter_postgres_cannot_type() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let flat = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase();
        for pattern in [
            "? IS NULL",
            "? IS NOT NULL",
            "?) IS NULL",
            "?) IS NOT NULL",
            "COALESCE(?, ?",
            "NULLIF(?, ?",
            "CASE WHEN ? ",
        ] {
            if flat.contains(pattern) {
                bad.push(format!("{}: {pattern}", f.display()));
            }
        }
    }
    assert!(bad.is_empty(), "untyped parameters in SQL: {bad:?}");
}

fn outputs(sb: &Sandbox) -> Vec<(Vec<&'static str>, Value)> {
    read_only_commands()
        .into_iter()
        .map(|args| {
            let v = read(sb, &args);
            (args, v)
        })
        .collect()
}

#[test]
fn every_read_only_command_works_on_sqlite_and_postgres_alike() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(path("/feed.xml"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(RSS, "application/rss+xml"))
            .mount(&server)
            .await;
    });
    let lite = Sandbox::new();
    prepare(&lite, &server.uri());
    let lite_out = outputs(&lite);
    check(&lite_out);
    let Some(pg) = Sandbox::postgres() else {
        return;
    };
    prepare(&pg, &server.uri());
    let pg_out = outputs(&pg);
    check(&pg_out);
    for ((args, a), (_, b)) in lite_out.iter().zip(&pg_out) {
        let (mut a, mut b) = (a.clone(), b.clone());
        normalise(&mut a);
        normalise(&mut b);
        assert_eq!(a, b, "{args:?}: SQLite and Postgres differ");
    }
}
