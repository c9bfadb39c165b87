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
    // The winner's parameters are stored on the strategy.
    let (_, v2, _) = run_json(sb.fks().args(["strategy", "show", "trend"]));
    assert_eq!(v2["strategy"]["spec"]["params"], r["params"]["params"]);
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
