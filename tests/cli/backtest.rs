//! strategy, run-backtest and validate-strategies through the real binary.

use crate::support::{Sandbox, binance, run_json};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000;

/// A trending-then-falling series long enough for sma_cross(10, 30).
fn load(sb: &Sandbox, n: usize, falling: bool) {
    let mut k = binance::series(T0, H, n, 100.0);
    for (i, c) in k.iter_mut().enumerate() {
        let x = i as f64;
        let trend = if falling {
            300.0 - x * 0.15
        } else {
            100.0 + x * 0.05
        };
        let p = trend + (x / 17.0).sin() * 6.0;
        c.open = format!("{:.8}", p - 0.1);
        c.close = format!("{p:.8}");
        c.high = format!("{:.8}", p + 0.5);
        c.low = format!("{:.8}", p - 0.6);
    }
    crate::support::import_hourly(sb, "BTCUSDT", &k);
}

#[test]
fn ad_hoc_backtest_writes_files_in_the_documented_format() {
    let sb = Sandbox::new();
    load(&sb, 1200, false);
    let out = sb.path().join("bt");
    let (code, v, _) = run_json(sb.fks().args([
        "run-backtest",
        "--kind",
        "sma_cross",
        "--params",
        "fast=10,slow=30",
        "--fee",
        "0.001",
        "--cash",
        "5000",
        "--output-dir",
        out.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{v}");
    let r = &v["results"]["sma_cross/BTCUSDT"];
    assert_eq!(r["params"]["params"]["fast"], 10);
    assert_eq!(r["metrics"]["initial_equity"], 5000.0);
    let trades = std::fs::read_to_string(out.join("trades.csv")).unwrap();
    let lines: Vec<&str> = trades.lines().collect();
    assert_eq!(
        lines[0],
        "entry_time,entry_price,exit_time,exit_price,size,pnl,return,exit_kind"
    );
    assert_eq!(lines.len() - 1, r["trades"].as_u64().unwrap() as usize);
    assert!(lines.len() > 3, "a sine on a trend crosses many times");
    // Fills at the next bar's open: every entry time is a bar open after the first 30 bars.
    let first: Vec<&str> = lines[1].split(',').collect();
    let t: i64 = first[0].parse().unwrap();
    assert!(t >= T0 + 30 * H && (t - T0) % H == 0);
    assert!(["signal", "stop", "take_profit", "end_of_data"].contains(&first[7]));
    let equity = std::fs::read_to_string(out.join("equity.csv")).unwrap();
    assert_eq!(equity.lines().next(), Some("open_time,equity"));
    assert_eq!(equity.lines().count(), 1201);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    for k in [
        "final_equity",
        "total_return_pct",
        "cagr_pct",
        "sharpe",
        "sortino",
        "max_drawdown_pct",
        "win_rate_pct",
        "total_trades",
        "profit_factor",
        "exposure_pct",
        "buy_and_hold_return_pct",
    ] {
        assert!(m.get(k).is_some(), "metrics.json lacks {k}");
    }
    assert!(m["max_drawdown_pct"].as_f64().unwrap() >= 0.0);
    let png = std::fs::read(out.join("chart.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Not enough candles is a clear per-symbol error.
    let (code, v, _) = run_json(sb.fks().args([
        "run-backtest",
        "--kind",
        "sma_cross",
        "--params",
        "fast=10,slow=30",
        "--to",
        &(T0 + 20 * H).to_string(),
    ]));
    assert_eq!(code, 1);
    assert!(
        v["results"]["sma_cross/BTCUSDT"]["error"]
            .as_str()
            .unwrap()
            .contains("candles")
    );
    // A bad parameter set is refused before anything runs, as a usage error.
    let (code, _, err) = run_json(sb.fks().args([
        "run-backtest",
        "--kind",
        "sma_cross",
        "--params",
        "fast=40,slow=30",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("fast"), "{err}");
}

#[test]
fn optimize_stores_grid_and_best_and_splits_in_and_out_of_sample() {
    let sb = Sandbox::new();
    load(&sb, 1500, false);
    let (c, v, _) = run_json(sb.fks().args([
        "strategy",
        "add",
        "trend",
        "--kind",
        "sma_cross",
        "--params",
        "fast=10,slow=30",
    ]));
    assert_eq!(c, 0, "{v}");
    let (code, v, _) = run_json(sb.fks().args([
        "run-backtest",
        "--strategy",
        "trend",
        "--optimize",
        "--grid",
        "fast=5:20:5,slow=30:90:30",
        "--metric",
        "return",
    ]));
    assert_eq!(code, 0, "{v}");
    let r = &v["results"]["trend/BTCUSDT"];
    assert_eq!(r["combinations"], 12);
    assert!(
        r["in_sample"]["bars"].as_u64().unwrap() > r["out_of_sample"]["bars"].as_u64().unwrap()
    );
    assert_eq!(r["split"]["train_bars"], 1050);
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM backtest_results WHERE phase = 'grid'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 12);
    // Without --apply the strategy keeps its parameters; the optimisation is a stored result.
    let (_, v2, _) = run_json(sb.fks().args(["strategy", "show", "trend"]));
    assert_eq!(
        v2["strategy"]["spec"]["params"],
        serde_json::json!({"fast": 10, "slow": 30})
    );
    assert!(v2["recent_results"].as_array().unwrap().len() >= 2);
}

#[test]
fn validation_disables_failing_strategies_unless_dry_run() {
    let sb = Sandbox::new();
    load(&sb, 24 * 60, true);
    // Criteria come from the config: a bar no strategy clears on this data.
    sb.write(
        "fks.toml",
        "[backtest]\nmin_sharpe = 50.0\nmax_drawdown_pct = 30.0\n",
    );
    run_json(sb.fks().args([
        "strategy",
        "add",
        "loser",
        "--kind",
        "sma_cross",
        "--params",
        "fast=5,slow=20",
    ]));
    run_json(sb.fks().args([
        "strategy",
        "add",
        "thin",
        "--kind",
        "sma_cross",
        "--symbols",
        "ETHUSDT",
    ]));
    let now = (T0 + 24 * 60 * H).to_string();
    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "validate-strategies",
        "--days",
        "60",
        "--dry-run",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["loser"]["verdict"], "fail");
    assert_eq!(v["results"]["loser"]["action"], "would_disable");
    assert_eq!(v["results"]["thin"]["verdict"], "insufficient_data");
    let (_, l, _) = run_json(sb.fks().args(["strategy", "list"]));
    assert_eq!(
        l["strategies"][0]["enabled"], true,
        "dry run changes nothing"
    );
    let (_, v, _) =
        run_json(
            sb.fks()
                .env("FKS_NOW", &now)
                .args(["validate-strategies", "--days", "60"]),
        );
    assert_eq!(v["disabled"], 1);
    let (_, l, _) = run_json(sb.fks().args(["strategy", "list"]));
    assert_eq!(l["strategies"][0]["enabled"], false);
    assert!(
        l["strategies"][0]["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("Sharpe")
    );
    assert_eq!(
        l["strategies"][1]["enabled"], true,
        "too little data is not a failure"
    );
    // With every strategy disabled, the daily job says so clearly.
    run_json(sb.fks().args(["strategy", "disable", "thin"]));
    let (code, _, err) = run_json(sb.fks().arg("run-backtest"));
    assert_eq!(code, 1);
    assert!(err.contains("no enabled strategies"), "{err}");
}

/// A sine on a trend for `symbol`: `slope` per bar, a sine of `period` bars.
fn load_shape(sb: &Sandbox, symbol: &str, n: usize, slope: f64, period: f64) {
    let mut k = binance::series(T0, H, n, 100.0);
    for (i, c) in k.iter_mut().enumerate() {
        let x = i as f64;
        let p = 200.0 + x * slope + (x / period).sin() * 6.0;
        c.open = format!("{:.8}", p - 0.1);
        c.close = format!("{p:.8}");
        c.high = format!("{:.8}", p + 0.5);
        c.low = format!("{:.8}", p - 0.6);
    }
    crate::support::import_hourly(sb, symbol, &k);
}

fn params_of(sb: &Sandbox, name: &str) -> serde_json::Value {
    let (c, v, _) = run_json(sb.fks().args(["strategy", "show", name]));
    assert_eq!(c, 0, "{v}");
    v["strategy"]["spec"]["params"].clone()
}

fn add_trend(sb: &Sandbox, symbols: &str) {
    let (c, v, _) = run_json(sb.fks().args([
        "strategy",
        "add",
        "trend",
        "--kind",
        "sma_cross",
        "--params",
        "fast=10,slow=30",
        "--symbols",
        symbols,
    ]));
    assert_eq!(c, 0, "{v}");
}

/// The grid does not hold the strategy's own (10, 30), so any winner differs from it.
const GRID: &str = "fast=5:15:5,slow=40:80:20";

fn optimize_does_not_rewrite_the_strategy(sb: &Sandbox) {
    load(sb, 1500, false);
    add_trend(sb, "BTCUSDT");
    let before = params_of(sb, "trend");
    let (code, v, _) = run_json(sb.fks().args([
        "run-backtest",
        "--strategy",
        "trend",
        "--optimize",
        "--grid",
        GRID,
        "--metric",
        "return",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(params_of(sb, "trend"), before, "no --apply: unchanged");
    let o = &v["optimizations"]["trend"];
    assert_eq!(o["apply"]["status"], "not_requested", "{o}");
    assert_eq!(o["apply"]["applied"], false);
    assert_ne!(
        o["params"]["params"], before,
        "the winner comes from the grid"
    );
    assert_eq!(o["grid_size"], 9);
    assert_eq!(o["combinations"], 9);
    assert!(o["optimization_id"].as_i64().unwrap() > 0);
    // In-sample and out-of-sample side by side, per symbol and overall.
    for part in ["in_sample", "out_of_sample"] {
        for k in [
            "total_return_pct",
            "sharpe",
            "max_drawdown_pct",
            "total_trades",
        ] {
            assert!(
                o[part]["overall"].get(k).is_some(),
                "{part}.overall.{k}: {o}"
            );
            assert!(
                o[part]["symbols"]["BTCUSDT"].get(k).is_some(),
                "{part}: {o}"
            );
        }
        assert_eq!(
            o[part]["symbols"]["BTCUSDT"]["total_return_pct"],
            v["results"]["trend/BTCUSDT"][part]["total_return_pct"]
        );
    }
    assert_eq!(o["in_sample"]["symbols"]["BTCUSDT"]["bars"], 1050);
    assert_eq!(o["out_of_sample"]["symbols"]["BTCUSDT"]["bars"], 450);
    // The validation of the out-of-sample part is reported even without --apply.
    assert!(
        ["pass", "fail"].contains(&o["validation"]["verdict"].as_str().unwrap()),
        "{o}"
    );
}

#[test]
fn optimize_without_apply_leaves_the_strategy_alone_sqlite() {
    let sb = Sandbox::new();
    optimize_does_not_rewrite_the_strategy(&sb);
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let (n, applied): (i64, i64) = c
        .query_row(
            "SELECT COUNT(*), SUM(applied) FROM optimizations",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (n, applied),
        (1, 0),
        "the optimisation is stored as a result"
    );
    let linked: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM backtest_results WHERE optimization_id IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        linked,
        9 + 2,
        "9 grid runs, the winner in and out of sample"
    );
}

#[test]
fn optimize_without_apply_leaves_the_strategy_alone_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        optimize_does_not_rewrite_the_strategy(&sb);
    }
}

fn apply_is_gated_by_the_out_of_sample_validation(sb: &Sandbox) {
    load(sb, 1500, false);
    add_trend(sb, "BTCUSDT");
    let before = params_of(sb, "trend");
    let args = [
        "run-backtest",
        "--strategy",
        "trend",
        "--optimize",
        "--grid",
        GRID,
        "--metric",
        "return",
        "--apply",
    ];
    // A bar no out-of-sample run clears: refused, with the reason, nothing changed.
    sb.write("fks.toml", "[backtest]\nmin_sharpe = 50.0\n");
    let (code, v, _) = run_json(sb.fks().args(args));
    assert_eq!(code, 0, "{v}");
    let o = &v["optimizations"]["trend"];
    assert_eq!(o["apply"]["status"], "refused", "{o}");
    assert_eq!(o["apply"]["applied"], false);
    assert_eq!(o["validation"]["verdict"], "fail");
    let reasons = o["apply"]["reasons"].to_string();
    assert!(
        reasons.contains("BTCUSDT") && reasons.contains("Sharpe"),
        "{reasons}"
    );
    assert_eq!(params_of(sb, "trend"), before);

    // Criteria the out-of-sample part meets: the winner is applied.
    sb.write(
        "fks.toml",
        "[backtest]\nmin_sharpe = -1000.0\nmin_return_pct = -100.0\nmax_drawdown_pct = 100.0\nmin_bars = 100\n",
    );
    let (code, v, _) = run_json(sb.fks().args(args));
    assert_eq!(code, 0, "{v}");
    let o = &v["optimizations"]["trend"];
    assert_eq!(o["validation"]["verdict"], "pass", "{o}");
    assert_eq!(o["apply"]["status"], "applied", "{o}");
    assert_eq!(o["apply"]["applied"], true);
    let after = params_of(sb, "trend");
    assert_ne!(after, before);
    assert_eq!(after, o["params"]["params"]);

    // Too few out-of-sample bars for min_bars: refused as unvalidated.
    sb.write(
        "fks.toml",
        "[backtest]\nmin_sharpe = -1000.0\nmin_return_pct = -100.0\nmax_drawdown_pct = 100.0\nmin_bars = 1000\n",
    );
    let (code, v, _) = run_json(sb.fks().args(args));
    assert_eq!(code, 0, "{v}");
    let o = &v["optimizations"]["trend"];
    assert_eq!(o["apply"]["status"], "refused", "{o}");
    assert!(
        o["apply"]["reasons"].to_string().contains("min_bars"),
        "{o}"
    );
    assert_eq!(params_of(sb, "trend"), after);
}

#[test]
fn apply_is_gated_by_the_out_of_sample_validation_sqlite() {
    apply_is_gated_by_the_out_of_sample_validation(&Sandbox::new());
}

#[test]
fn apply_is_gated_by_the_out_of_sample_validation_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        apply_is_gated_by_the_out_of_sample_validation(&sb);
    }
}

#[test]
fn one_parameter_set_is_chosen_over_all_the_symbols_together() {
    let sb = Sandbox::new();
    load_shape(&sb, "BTCUSDT", 1500, 0.05, 17.0);
    load_shape(&sb, "ETHUSDT", 1500, -0.08, 41.0);
    add_trend(&sb, "BTCUSDT,ETHUSDT");
    sb.write(
        "fks.toml",
        "[backtest]\nmin_sharpe = -1000.0\nmin_return_pct = -100.0\nmax_drawdown_pct = 100.0\nmin_bars = 100\n",
    );
    let grid = "fast=5:20:5,slow=30:90:30";
    let (code, v, _) = run_json(sb.fks().args([
        "run-backtest",
        "--strategy",
        "trend",
        "--optimize",
        "--grid",
        grid,
        "--metric",
        "return",
    ]));
    assert_eq!(code, 0, "{v}");
    let o = &v["optimizations"]["trend"];
    let id = o["optimization_id"].as_i64().unwrap();
    // Both symbols report the one winner.
    let winner = &o["params"]["params"];
    assert_eq!(&v["results"]["trend/BTCUSDT"]["params"]["params"], winner);
    assert_eq!(&v["results"]["trend/ETHUSDT"]["params"]["params"], winner);
    // The winner has the highest mean in-sample score over the symbols (first in grid
    // order on a tie), recomputed from the stored grid runs.
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let mut st = c
        .prepare("SELECT params, symbol, metrics FROM backtest_results WHERE optimization_id = ? AND phase = 'grid' ORDER BY id")
        .unwrap();
    let mut by: Vec<(serde_json::Value, Vec<f64>)> = Vec::new();
    for row in st
        .query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .unwrap()
    {
        let (p, _sym, m) = row.unwrap();
        let p: serde_json::Value = serde_json::from_str(&p).unwrap();
        let m: serde_json::Value = serde_json::from_str(&m).unwrap();
        let score = m["total_return_pct"].as_f64().unwrap();
        match by.iter_mut().find(|(q, _)| *q == p["params"]) {
            Some((_, s)) => s.push(score),
            None => by.push((p["params"].clone(), vec![score])),
        }
    }
    assert_eq!(by.len(), 12, "every combination stored for both symbols");
    let mean = |s: &Vec<f64>| s.iter().sum::<f64>() / s.len() as f64;
    let best = by
        .iter()
        .fold(None::<&(serde_json::Value, Vec<f64>)>, |b, x| match b {
            Some(b) if mean(&b.1) >= mean(&x.1) => Some(b),
            _ => Some(x),
        })
        .unwrap();
    assert!(by.iter().all(|x| x.1.len() == 2));
    assert_eq!(&best.0, winner, "{by:?}");
    let overall = o["in_sample"]["overall"]["score"].as_f64().unwrap();
    assert!((overall - mean(&best.1)).abs() < 1e-9);
    let is = &o["in_sample"];
    let m = (is["symbols"]["BTCUSDT"]["total_return_pct"]
        .as_f64()
        .unwrap()
        + is["symbols"]["ETHUSDT"]["total_return_pct"]
            .as_f64()
            .unwrap())
        / 2.0;
    assert!((is["overall"]["total_return_pct"].as_f64().unwrap() - m).abs() < 1e-9);

    // --apply while optimising only one of its symbols is refused: the parameters would
    // also apply to ETHUSDT, which was not validated.
    let (code, v, _) = run_json(sb.fks().args([
        "run-backtest",
        "--strategy",
        "trend",
        "--symbol",
        "BTCUSDT",
        "--optimize",
        "--grid",
        grid,
        "--apply",
    ]));
    assert_eq!(code, 0, "{v}");
    let o = &v["optimizations"]["trend"];
    assert_eq!(o["apply"]["status"], "refused", "{o}");
    assert!(o["apply"]["reasons"].to_string().contains("ETHUSDT"), "{o}");
    assert_eq!(
        params_of(&sb, "trend"),
        serde_json::json!({"fast": 10, "slow": 30})
    );
}

#[test]
fn the_optimisation_table_shows_in_and_out_of_sample_side_by_side() {
    let sb = Sandbox::new();
    load(&sb, 1500, false);
    add_trend(&sb, "BTCUSDT");
    let args = [
        "run-backtest",
        "--strategy",
        "trend",
        "--optimize",
        "--grid",
        GRID,
        "--metric",
        "return",
    ];
    let (_, v, _) = run_json(sb.fks().args(args));
    let out = sb
        .fks()
        .args(args)
        .args(["--format", "table"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout).unwrap();
    let header = table
        .lines()
        .take_while(|l| !l.contains("BTCUSDT"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(header.contains("in-sample"), "{table}");
    assert!(header.contains("out-of-sample"), "{table}");
    let o = &v["optimizations"]["trend"];
    for part in ["in_sample", "out_of_sample"] {
        let ret = o[part]["symbols"]["BTCUSDT"]["total_return_pct"]
            .as_f64()
            .unwrap();
        assert!(
            table.contains(&format!("{ret:.2}")),
            "{part} {ret}: {table}"
        );
    }
    // The all-bars figure of the winner is not what the table reports.
    let all = v["results"]["trend/BTCUSDT"]["metrics"]["total_return_pct"]
        .as_f64()
        .unwrap();
    assert!(!table.contains(&format!("{all:.2}")), "{table}");
    // A symbol that could not run says why in the table too.
    let out = sb
        .fks()
        .args(args)
        .args(["--symbol", "ETHUSDT", "--format", "table"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("ETHUSDT") && table.contains("error:"),
        "{table}"
    );
}

#[test]
fn apply_needs_a_stored_strategy_an_optimisation_and_an_out_of_sample_part() {
    let sb = Sandbox::new();
    load(&sb, 400, false);
    add_trend(&sb, "BTCUSDT");
    // --train-ratio 1 (no out-of-sample part) is refused as a --train-ratio outside (0, 1),
    // so an --apply always has an out-of-sample part to be validated on.
    for (args, says) in [
        (
            vec!["run-backtest", "--strategy", "trend", "--apply"],
            "not provided: --optimize",
        ),
        (
            vec![
                "run-backtest",
                "--kind",
                "sma_cross",
                "--optimize",
                "--apply",
            ],
            "apply",
        ),
        (
            vec![
                "run-backtest",
                "--strategy",
                "trend",
                "--optimize",
                "--apply",
                "--train-ratio",
                "1",
            ],
            "--train-ratio",
        ),
    ] {
        let out = sb.fks().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(
        params_of(&sb, "trend"),
        serde_json::json!({"fast": 10, "slow": 30})
    );
}

#[test]
fn a_grid_above_the_limit_is_refused_before_anything_runs() {
    let sb = Sandbox::new();
    load(&sb, 400, false);
    add_trend(&sb, "BTCUSDT");
    // The grid: refused at once (its values above a parameter's maximum may be
    // refused by the --grid parser first; either way a usage error, nothing run).
    let (code, v, err) = run_json(sb.fks().args([
        "run-backtest",
        "--strategy",
        "trend",
        "--optimize",
        "--grid",
        "fast=2:1000000:1,slow=3:1000000:1",
    ]));
    assert_eq!(code, 2, "{v} {err}");
    assert_eq!(v["status"], "error");
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
    // A grid of valid values, too large: the count and the setting are named.
    let (code, v, err) = run_json(sb.fks().args([
        "run-backtest",
        "--strategy",
        "trend",
        "--optimize",
        "--grid",
        "fast=2:100000:1,slow=3:100000:1",
    ]));
    assert_eq!(code, 2, "{v} {err}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("9999700002 combinations"), "{msg}");
    assert!(msg.contains("99999 × 99998 values of fast × slow"), "{msg}");
    assert!(msg.contains("max_grid_combinations = 100000"), "{msg}");
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM backtest_results", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "nothing ran");

    // The limit is a setting: 9 combinations pass a limit of 9, 12 do not.
    sb.write("fks.toml", "[backtest]\nmax_grid_combinations = 9\n");
    let run = |grid: &str| {
        run_json(sb.fks().args([
            "run-backtest",
            "--kind",
            "sma_cross",
            "--optimize",
            "--grid",
            grid,
        ]))
    };
    let (code, v, _) = run("fast=5:15:5,slow=40:80:20");
    assert_eq!(code, 0, "{v}");
    let (code, v, _) = run("fast=5:20:5,slow=40:80:20");
    assert_eq!(code, 2, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("12 combinations"),
        "{v}"
    );
}

/// Peak resident memory (VmHWM, KiB) of a child, polled from /proc while it runs.
fn run_measuring_peak_rss(cmd: &mut std::process::Command) -> (std::process::Output, u64) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        stdout.read_to_end(&mut b).unwrap();
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        stderr.read_to_end(&mut b).unwrap();
        b
    });
    let mut peak = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path)
            && let Some(l) = s.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kb: u64 = l
                .split_whitespace()
                .nth(1)
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let out = std::process::Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    };
    (out, peak)
}

#[test]
fn a_large_allowed_grid_runs_in_bounded_memory() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("note: no /proc on this system; skipping the peak-memory test");
        return;
    }
    let sb = Sandbox::new();
    load(&sb, 400, false);
    // 250 x 400 = 100,000 grid points (the default limit), 68,875 of them valid (fast < slow).
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("fks"));
    cmd.current_dir(sb.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", sb.path())
        .env("DATABASE_URL", &sb.db)
        .env("FKS_SYMBOLS", "BTCUSDT")
        .args([
            "run-backtest",
            "--kind",
            "sma_cross",
            "--optimize",
            "--grid",
            "fast=2:251:1,slow=3:402:1",
            "--metric",
            "return",
            "--format",
            "json",
        ]);
    let (out, peak_kib) = run_measuring_peak_rss(&mut cmd);
    eprintln!("peak RSS of the 100,000-point grid: {peak_kib} KiB");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let o = &v["optimizations"]["sma_cross"];
    assert_eq!(o["grid_size"], 100_000);
    assert_eq!(o["combinations"], 68_875);
    assert_eq!(
        o["runs_stored"], 100,
        "the best 100 runs are stored, not all"
    );
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM backtest_results WHERE phase = 'grid'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 100);
    assert!(
        peak_kib < 48 * 1024,
        "peak RSS {peak_kib} KiB: memory grows with the grid"
    );
}
