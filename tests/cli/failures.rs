//! Every failure is one clear line: exit 1 with an `error:` line and a journal entry that
//! says why, usage errors as one JSON object (exit 2), bad values after parsing as usage
//! errors, no colour codes in logs, one-line connection errors, no store created by mistake.

use crate::support::binance;
use crate::support::{Sandbox, rt, run_json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00Z

/// Run with stdout piped (JSON by default) and return (exit code, stdout, stderr).
fn run(cmd: &mut assert_cmd::Command) -> (i32, String, String) {
    let out = cmd.output().expect("run fks");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `error:` lines of stderr.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error:")).collect()
}

/// Exactly one JSON object on stdout.
fn one_json(stdout: &str) -> serde_json::Value {
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {stdout:?}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("bad JSON {e}: {stdout}"))
}

fn every_symbol_fails(sb: &Sandbox) {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(path("/api/v3/klines"))
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_raw(binance::INVALID_SYMBOL, "application/json"),
            )
            .mount(&server)
            .await;
    });
    let (code, out, err) = run(sb
        .fks()
        .env("FKS_BINANCE_BASE_URL", server.uri())
        .env("FKS_SYMBOLS", "NOPEUSDT,BADUSDT")
        .env("FKS_NOW", (T0 + 10 * H).to_string())
        .args(["sync-market-data", "--since", "2024-01-01"]));
    assert_eq!(code, 1, "{out} {err}");
    let v = one_json(&out);
    assert_eq!(v["status"], "error");
    // One line on stderr says why: both symbols and the exchange's reason.
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("NOPEUSDT") && lines[0].contains("BADUSDT") && lines[0].contains("-1121"),
        "{err}"
    );
    // The JSON says it too, and the journal's error column.
    assert!(v["error"].as_str().unwrap().contains("-1121"), "{v}");
    let (c, runs, _) = run_json(sb.fks().args(["runs", "--task", "sync-market-data"]));
    assert_eq!(c, 0, "{runs}");
    let r = &runs["runs"][0];
    assert_eq!(r["status"], "error");
    let e = r["error"].as_str().unwrap_or_default();
    assert!(e.contains("NOPEUSDT") && e.contains("-1121"), "{runs}");
    // `runs --status failed` finds it.
    let (_, failed, _) = run_json(sb.fks().args(["runs", "--status", "failed"]));
    assert_eq!(failed["count"], 1, "{failed}");

    // A job that fails with an error of its own: the same one line, journal and JSON.
    let (code, out, err) = run(sb.fks().args(["run-backtest"]));
    assert_eq!(code, 1, "{out} {err}");
    let v = one_json(&out);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("no enabled strategies")
    );
    assert_eq!(error_lines(&err).len(), 1, "{err}");
    let (_, runs, _) = run_json(sb.fks().args(["runs", "--task", "run-backtest"]));
    assert!(
        runs["runs"][0]["error"]
            .as_str()
            .unwrap()
            .contains("no enabled strategies"),
        "{runs}"
    );
}

#[test]
fn a_run_where_every_symbol_failed_says_why_sqlite() {
    every_symbol_fails(&Sandbox::new());
}

#[test]
fn a_run_where_every_symbol_failed_says_why_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        every_symbol_fails(&sb);
    }
}

#[test]
fn usage_errors_from_parsing_are_one_json_object_when_output_is_json() {
    let sb = Sandbox::new();
    let cases: &[(&[&str], &str)] = &[
        (&["runs", "--bogus"], "runs"),
        (&["runs", "--limit", "x"], "runs"),
        (&["runs", "--limit", "-1"], "runs"),
        (&["runs", "--status", "weird"], "runs"),
        (
            &["--format", "json", "run-backtest", "--metric", "luck"],
            "run-backtest",
        ),
        (
            &["--format=json", "sync-market-data", "--timeframe", "7x"],
            "sync-market-data",
        ),
        (&["no-such-job"], "fks"),
        (&[], "fks"),
        (&["account"], "account"),
        (&["rebalance-portfolio"], "rebalance-portfolio"),
    ];
    for (args, command) in cases {
        let (code, out, err) = run(sb.fks().args(*args));
        assert_eq!(code, 2, "{args:?}: {out} {err}");
        let v = one_json(&out);
        assert_eq!(v["status"], "error", "{args:?}");
        assert_eq!(v["command"], *command, "{args:?}: {v}");
        assert!(!v["error"].as_str().unwrap().is_empty(), "{args:?}");
        assert_eq!(error_lines(&err).len(), 1, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    }
    // A missing argument is named on the one line (clap lists it under its `error:` line).
    let (code, out, err) = run(sb.fks().args(["--format", "json", "rebalance-portfolio"]));
    assert_eq!(code, 2);
    assert!(
        one_json(&out)["error"]
            .as_str()
            .unwrap()
            .contains("not provided: --account-id"),
        "{out}"
    );
    assert!(err.contains("--account-id"), "{err}");
    // An explicit table format keeps stdout clean; the error is still one line on stderr.
    let (code, out, err) = run(sb.fks().args(["--format", "table", "runs", "--bogus"]));
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("--bogus"), "{err}");
    // Help and version are not errors.
    let (code, out, _) = run(sb.fks().args(["runs", "--help"]));
    assert_eq!(code, 0);
    assert!(out.contains("Usage: fks runs"), "{out}");
    let (code, out, _) = run(sb.fks().arg("--version"));
    assert_eq!(code, 0);
    assert!(out.starts_with("fks "), "{out}");
    // Nothing above created a store.
    assert!(!sb.path().join("fks.db").exists());
}

/// (arguments, words the error must contain)
fn bad_values() -> Vec<(Vec<&'static str>, &'static str)> {
    let bt = |extra: &[&'static str]| {
        let mut v = vec!["run-backtest", "--kind", "sma_cross"];
        v.extend_from_slice(extra);
        v
    };
    vec![
        (
            vec![
                "strategy",
                "add",
                "s",
                "--kind",
                "sma_cross",
                "--params",
                "fast=30,slow=10",
            ],
            "fast",
        ),
        (
            vec![
                "strategy",
                "add",
                "s",
                "--kind",
                "sma_cross",
                "--params",
                "fast=10,slow=10",
            ],
            "fast",
        ),
        (
            vec![
                "strategy",
                "add",
                "s",
                "--kind",
                "sma_cross",
                "--params",
                "fast=0,slow=10",
            ],
            "fast",
        ),
        (
            vec![
                "strategy",
                "add",
                "s",
                "--kind",
                "sma_cross",
                "--params",
                "fast=-5,slow=10",
            ],
            "fast",
        ),
        (
            vec![
                "strategy",
                "add",
                "s",
                "--kind",
                "sma_cross",
                "--params",
                "fast=NaN,slow=10",
            ],
            "fast",
        ),
        (
            vec![
                "strategy",
                "add",
                "s",
                "--kind",
                "rsi_reversion",
                "--params",
                "lower=80,upper=20",
            ],
            "lower",
        ),
        (bt(&["--params", "fast=30,slow=10"]), "fast"),
        (bt(&["--params", "fast=0,slow=10"]), "fast"),
        (bt(&["--params", "fast=-3,slow=10"]), "fast"),
        (bt(&["--params", "slow=nan"]), "slow"),
        (
            bt(&["--optimize", "--grid", "fast=30:40:5,slow=5:10:5"]),
            "no combination",
        ),
        (bt(&["--optimize", "--grid", "fast=0:10:2"]), "fast"),
        (bt(&["--optimize", "--grid", "fast=-10:10:2"]), "fast"),
        (bt(&["--optimize", "--grid", "fast=NaN"]), "fast"),
        (bt(&["--optimize", "--grid", "slow=20:10:5"]), "empty range"),
        (bt(&["--optimize", "--grid", "fast=2.5:10:1"]), "whole"),
        (bt(&["--fee", "1"]), "--fee"),
        (bt(&["--fee", "1.5"]), "--fee"),
        (bt(&["--fee", "-0.1"]), "--fee"),
        (bt(&["--fee", "NaN"]), "--fee"),
        (bt(&["--cash", "0"]), "--cash"),
        (bt(&["--cash", "-100"]), "--cash"),
        (bt(&["--cash", "NaN"]), "--cash"),
        (bt(&["--optimize", "--train-ratio", "1.5"]), "--train-ratio"),
        (bt(&["--optimize", "--train-ratio", "1"]), "--train-ratio"),
        (bt(&["--optimize", "--train-ratio", "0"]), "--train-ratio"),
        (
            bt(&["--optimize", "--train-ratio", "-0.3"]),
            "--train-ratio",
        ),
        (
            vec!["account", "add", "A", "--fee-rate", "0.2"],
            "--fee-rate",
        ),
        (
            vec!["account", "add", "A", "--fee-rate", "-0.001"],
            "--fee-rate",
        ),
        (vec!["account", "add", "A", "--quote", "US DT"], "--quote"),
        (vec!["account", "add", "A", "--quote", "USD$"], "--quote"),
        (vec!["account", "add", "A", "--quote", ""], "--quote"),
        (vec!["account", "add", "A", "--cash", "-5"], "--cash"),
    ]
}

#[test]
fn bad_values_found_after_parsing_are_usage_errors_and_change_nothing() {
    let sb = Sandbox::new();
    for (args, words) in bad_values() {
        let (code, out, err) = run(sb.fks().args(&args));
        assert_eq!(code, 2, "{args:?}: {out} {err}");
        let v = one_json(&out);
        assert_eq!(v["status"], "error");
        let e = v["error"].as_str().unwrap();
        assert!(e.contains(words), "{args:?}: {e}");
        assert_eq!(error_lines(&err).len(), 1, "{args:?}: {err}");
    }
    // Nothing was stored by the refused commands.
    let (_, v, _) = run_json(sb.fks().args(["strategy", "list"]));
    assert_eq!(v["strategies"], serde_json::json!([]), "{v}");
    let (_, v, _) = run_json(sb.fks().args(["account", "list", "--all"]));
    assert_eq!(v["accounts"], serde_json::json!([]), "{v}");
    // The same flags with good values are accepted.
    let (code, v, _) = run_json(sb.fks().args([
        "account",
        "add",
        "A",
        "--fee-rate",
        "0.1",
        "--quote",
        "usdt",
        "--cash",
        "0",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["account"]["quote"], "USDT");
}

#[test]
fn rebalance_targets_that_sum_above_one_or_repeat_a_symbol_are_refused() {
    let sb = Sandbox::new();
    let (code, v, _) = run_json(sb.fks().args(["account", "add", "P", "--cash", "1000"]));
    assert_eq!(code, 0, "{v}");
    let cases = [
        (r#"{"BTCUSDT": 0.7, "ETHUSDT": 0.5}"#, "sum to 1.2"),
        (r#"{"BTCUSDT": 0.3, "BTCUSDT": 0.2}"#, "twice"),
        (r#"{"BTCUSDT": 0.3, "btcusdt": 0.2}"#, "twice"),
        (r#"{"BTCUSDT": -0.1}"#, "between 0 and 1"),
        (r#"{"BTCUSDT": "half"}"#, "between 0 and 1"),
        (r#"{"BTC/USDT": 0.5}"#, "not a symbol"),
        (r#"["BTCUSDT"]"#, "JSON object"),
    ];
    for (text, words) in cases {
        let f = sb.write("targets.json", text);
        let (code, out, err) = run(sb.fks().args([
            "rebalance-portfolio",
            "--account-id",
            "1",
            "--targets",
            f.to_str().unwrap(),
        ]));
        assert_eq!(code, 2, "{text}: {out} {err}");
        let v = one_json(&out);
        assert!(v["error"].as_str().unwrap().contains(words), "{text}: {v}");
    }
    let (code, out, _) =
        run(sb
            .fks()
            .args(["rebalance-portfolio", "--account-id", "1", "--band", "-0.1"]));
    assert_eq!(code, 2, "{out}");
    // Nothing was ordered.
    let conn = rusqlite::Connection::open(&sb.db).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn symbols_in_the_config_follow_the_symbol_flag_rules() {
    let sb = Sandbox::new();
    for bad in [
        r#"["BTC/USDT"]"#,
        r#"["BTCUSDT", ""]"#,
        r#"["BTC USDT"]"#,
        r#"["ÄBCUSDT"]"#,
    ] {
        sb.write("fks.toml", &format!("[market]\nsymbols = {bad}\n"));
        let (code, out, err) = run(sb.fks().env_remove("FKS_SYMBOLS").arg("list-data"));
        assert_eq!(code, 2, "{bad}: {out} {err}");
        let e = one_json(&out)["error"].as_str().unwrap().to_string();
        assert!(e.contains("market.symbols") && e.contains("line 2"), "{e}");
    }
    // Lower case is what the flag accepts too: normalised.
    sb.write(
        "fks.toml",
        "[market]\nsymbols = [\"btcusdt\", \"BTCUSDT\", \"ethusdt\"]\n",
    );
    let out = sb
        .fks()
        .env_remove("FKS_SYMBOLS")
        .arg("cron")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // News aliases name symbols too.
    sb.write("fks.toml", "[news.aliases]\n\"BTC/USDT\" = [\"bitcoin\"]\n");
    let (code, out, _) = run(sb.fks().arg("list-data"));
    assert_eq!(code, 2, "{out}");
    assert!(
        one_json(&out)["error"]
            .as_str()
            .unwrap()
            .contains("BTC/USDT"),
        "{out}"
    );
    // Backtest settings follow the flags' ranges.
    sb.write("fks.toml", "[backtest]\nfee_rate = 1.5\n");
    let (code, out, _) = run(sb.fks().arg("list-data"));
    assert_eq!(code, 2);
    assert!(
        one_json(&out)["error"]
            .as_str()
            .unwrap()
            .contains("fee_rate")
    );
}

#[test]
fn no_colour_codes_on_stderr_when_it_is_not_a_terminal() {
    let sb = Sandbox::new();
    let k = binance::series(T0, H, 3, 100.0);
    let f = sb.write("a.csv", &crate::support::binance_csv(&k, H));
    let import = |sb: &Sandbox| {
        run(sb.fks().args([
            "import-klines",
            f.to_str().unwrap(),
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1h",
        ]))
    };
    assert_eq!(import(&sb).0, 0);
    // A lock left by a dead process: taken over with a logged warning.
    let conn = rusqlite::Connection::open(&sb.db).unwrap();
    conn.execute(
        "INSERT INTO locks (name, holder, host, pid, acquired_ms, expires_ms) VALUES ('import-klines', 'x', ?1, 999999999, 0, 99999999999999)",
        rusqlite::params![std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim()],
    )
    .unwrap();
    let (code, _, err) = import(&sb);
    assert_eq!(code, 0);
    assert!(err.contains("taking over lock"), "{err}");
    assert!(!err.contains('\u{1b}'), "colour codes in {err:?}");
    // Verbose logging, an error and a usage error: no colour either.
    for args in [
        vec!["-vv", "list-data"],
        vec!["--db", "postgres://postgres@127.0.0.1:1/x", "status"],
        vec!["runs", "--bogus"],
    ] {
        let (_, _, err) = run(sb.fks().env("FKS_LOG", "debug").args(&args));
        assert!(!err.contains('\u{1b}'), "{args:?}: colour codes in {err:?}");
    }
}

#[test]
fn a_postgres_connection_error_is_one_line() {
    let sb = Sandbox::new();
    for verbose in [false, true] {
        let mut cmd = sb.fks();
        if verbose {
            cmd.arg("-v");
        }
        let (code, out, err) =
            run(cmd.args(["--db", "postgres://fks:hunter2@127.0.0.1:1/fks", "runs"]));
        assert_eq!(code, 1, "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: cannot connect to postgres"),
            "{err}"
        );
        assert!(
            !err.contains("hunter2") && !out.contains("hunter2"),
            "{err}"
        );
    }
    if let Ok(base) = std::env::var("FKS_TEST_DATABASE_URL") {
        let (root, _) = base.rsplit_once('/').unwrap();
        let (code, _, err) = run(sb.fks().args([
            "-v",
            "--db",
            &format!("{root}/fks_no_such_database"),
            "runs",
        ]));
        assert_eq!(code, 1);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("does not exist"), "{err}");
    }
}

#[test]
fn a_store_under_a_missing_folder_is_refused_and_only_init_creates_it() {
    let sb = Sandbox::new();
    let db = sb.path().join("no/such/folder/fks.db");
    for how in ["env", "flag"] {
        let mut cmd = sb.fks();
        match how {
            "env" => cmd.env("DATABASE_URL", &db),
            _ => cmd.arg("--db").arg(&db),
        };
        let (code, out, err) = run(cmd.arg("list-data"));
        assert_eq!(code, 2, "{how}: {out} {err}");
        assert!(
            err.contains("does not exist") && err.contains("fks init"),
            "{err}"
        );
        assert!(
            !sb.path().join("no").exists(),
            "{how}: a folder was created"
        );
    }
    let (code, v, _) = run_json(sb.fks().env("DATABASE_URL", &db).arg("init"));
    assert_eq!(code, 0, "{v}");
    assert!(db.exists());
    let (code, v, _) = run_json(sb.fks().env("DATABASE_URL", &db).arg("list-data"));
    assert_eq!(code, 0, "{v}");
}

/// Runs where some of the symbols failed say exactly "N of M failed" (N failed of the M the
/// run worked on) in the `error:` line on stderr and the journal's error column, for every
/// job with per-symbol work.
fn n_of_m_failed(sb: &Sandbox) {
    const H: i64 = 3_600_000;
    const T0: i64 = 1_704_067_200_000;
    let klines = binance::series(T0, H, 400, 100.0);
    crate::support::import_hourly(sb, "BTCUSDT", &klines);
    let now = (T0 + 400 * H + 60_000).to_string();
    let (code, v, _) = run_json(
        sb.fks()
            .args(["account", "add", "P", "--kind", "paper", "--cash", "10000"]),
    );
    assert_eq!(code, 0, "{v}");
    let good = sb.write("good.csv", &crate::support::binance_csv(&klines[..10], H));
    let mut bad_rows = klines[10..20].to_vec();
    bad_rows[3].open = "-5".into();
    let bad = sb.write("bad.csv", &crate::support::binance_csv(&bad_rows, H));
    let jobs: Vec<(&str, Vec<String>, &str)> = vec![
        ("update-indicators", vec![], "2 of 3 failed"),
        (
            "run-backtest",
            vec!["--kind".into(), "sma_cross".into()],
            "2 of 3 failed",
        ),
        ("generate-daily-rag-signals", vec![], "2 of 3 failed"),
        ("generate-signals", vec![], "2 of 3 failed"),
        (
            "import-klines",
            vec![
                good.to_str().unwrap().into(),
                bad.to_str().unwrap().into(),
                "--symbol".into(),
                "BTCUSDT".into(),
                "--timeframe".into(),
                "1h".into(),
            ],
            "1 of 2 failed",
        ),
    ];
    for (job, args, want) in jobs {
        let out = sb
            .fks()
            .env("FKS_NOW", &now)
            .env("FKS_SYMBOLS", "BTCUSDT,ETHUSDT,BNBUSDT")
            .arg(job)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{job}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("{job}: no error line in {err:?}"));
        assert!(
            line.starts_with(&format!("error: {want}: ")),
            "{job}: {line}"
        );
        let (_, runs, _) = run_json(sb.fks().args(["runs", "--task", job, "--limit", "1"]));
        let e = runs["runs"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            e.starts_with(&format!("{want}: ")),
            "{job}: journal says {runs}"
        );
        assert_eq!(runs["runs"][0]["status"], "partial", "{job}");
    }
}

#[test]
fn some_symbols_failed_says_n_of_m_sqlite() {
    n_of_m_failed(&Sandbox::new());
}

#[test]
fn some_symbols_failed_says_n_of_m_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        n_of_m_failed(&sb);
    }
}

/// An out-of-range or non-numeric `--train-ratio` is a usage error (exit 2) whose one line
/// states the allowed range, (0, 1) with both ends excluded; nothing is run or journaled.
#[test]
fn train_ratio_out_of_range_states_the_range() {
    let sb = Sandbox::new();
    for r in ["1.5", "1", "0", "-0.3", "NaN", "inf", "abc", "", "0.7.1"] {
        let out = sb
            .fks()
            .args(["run-backtest", "--kind", "sma_cross", "--optimize"])
            .arg(format!("--train-ratio={r}"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{r}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{r}: {err}");
        assert!(
            lines[0].contains("--train-ratio")
                && lines[0].contains("(0, 1)")
                && lines[0].contains("excluded"),
            "{r}: {err}"
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], "error", "{r}");
    }
    for r in ["0.5", "0.999"] {
        let out = sb
            .fks()
            .args([
                "run-backtest",
                "--kind",
                "sma_cross",
                "--optimize",
                "--train-ratio",
                r,
            ])
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(2), "{r} is allowed");
    }
}
