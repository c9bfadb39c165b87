//! The freshness rule and the clock as an upper bound of every read: stale symbols give no
//! signal, order or notification (exit 3, or 1 when all are stale), an unpriceable portfolio
//! is UNKNOWN, and nothing after FKS_NOW is read. SQLite and Postgres where the store matters.

use crate::support::{Sandbox, binance, import_hourly, run_json};

const H: i64 = 3_600_000;
const D: i64 = 86_400_000;
const T0: i64 = 1_704_067_200_000; // 2024-01-01

/// A seeded random walk of `n` hourly candles from `t0`, in Binance dump format.
fn walk(t0: i64, n: usize, seed: u64, start: f64) -> Vec<binance::Kline> {
    let mut x = seed;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut p = start;
    let mut k = binance::series(t0, H, n, start);
    for (i, c) in k.iter_mut().enumerate() {
        let drift = if (i / 150) % 2 == 0 { 0.0008 } else { -0.0007 };
        let o = p;
        p *= 1.0 + drift + rnd() * 0.02;
        c.open = format!("{o:.8}");
        c.close = format!("{p:.8}");
        c.high = format!("{:.8}", o.max(p) * 1.003);
        c.low = format!("{:.8}", o.min(p) * 0.997);
        c.volume = format!("{:.8}", 100.0 + rnd() * 50.0);
    }
    k
}

/// One number from the store (SQLite file or Postgres database).
fn scalar(sb: &Sandbox, sql: &str) -> i64 {
    if sb.db.starts_with("postgres") {
        let out = std::process::Command::new("psql")
            .arg(&sb.db)
            .args(["-tAc", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    } else {
        let c = rusqlite::Connection::open(&sb.db).unwrap();
        c.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
            .unwrap()
            .unwrap_or(0)
    }
}

fn text(sb: &Sandbox, sql: &str) -> String {
    if sb.db.starts_with("postgres") {
        let out = std::process::Command::new("psql")
            .arg(&sb.db)
            .args(["-tAc", sql])
            .output()
            .expect("run psql");
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    } else {
        let c = rusqlite::Connection::open(&sb.db).unwrap();
        let mut st = c.prepare(sql).unwrap();
        let rows: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        rows.join("\n")
    }
}

/// BTCUSDT and ETHUSDT, 400 hourly candles each, ending at `T0 + 400 h`; a paper account.
fn two_symbols(sb: &Sandbox, n_btc: usize, n_eth: usize) {
    import_hourly(sb, "BTCUSDT", &walk(T0, n_btc, 7, 40_000.0));
    import_hourly(sb, "ETHUSDT", &walk(T0, n_eth, 11, 2_000.0));
    run_json(sb.fks().args(["account", "add", "P", "--cash", "10000"]));
}

fn both(sb: &Sandbox) -> assert_cmd::Command {
    let mut c = sb.fks();
    c.env("FKS_SYMBOLS", "BTCUSDT,ETHUSDT");
    c
}

fn signals_on_old_candles(sb: &Sandbox) {
    two_symbols(sb, 400, 400);
    let end = T0 + 400 * H; // close of the last candle
    let now = (end + 554 * D).to_string();
    // generate-signals: every symbol stale → no signal, nothing stored or queued, exit 1.
    let (code, v, err) = run_json(both(sb).env("FKS_NOW", &now).arg("generate-signals"));
    assert_eq!(code, 1, "{v} {err}");
    assert_eq!(v["status"], "error");
    assert!(v["error"].as_str().unwrap().contains("stale"), "{v}");
    let s = v["suggestions"].as_array().unwrap();
    assert_eq!(s.len(), 2, "{v}");
    for e in s {
        assert_eq!(e["status"], "stale", "{e}");
        assert!(
            e.get("action").is_none(),
            "a stale symbol has no action: {e}"
        );
        assert_eq!(e["age_secs"], 554 * 86_400, "{e}");
        assert_eq!(e["last_candle_open_time"], end - H);
        assert_eq!(e["last_candle_time"], "2024-01-17T15:00:00Z");
        assert_eq!(e["max_age_secs"], 7500);
    }
    assert_eq!(v["signal"], "HOLD");
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM signals"), 0);
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM notifications"), 0);
    // The daily job, even with every confidence accepted: same refusal.
    let (code, v, _) = run_json(both(sb).env("FKS_NOW", &now).args([
        "generate-daily-rag-signals",
        "--min-confidence",
        "0",
    ]));
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["signals"]["ETHUSDT"]["status"], "stale", "{v}");
    assert_eq!(v["signals"]["BTCUSDT"]["age"], "554d 0h");
    assert_eq!(v["high_confidence_count"], 0);
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM signals"), 0);
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM notifications"), 0);
    // With --as-of inside the data the rule is relative to it: replays work as before.
    let at = (end - 10 * H + 60_000).to_string();
    let (code, v, err) =
        run_json(
            both(sb)
                .env("FKS_NOW", &now)
                .args(["generate-signals", "--as-of", &at]),
        );
    assert_eq!(code, 0, "{v} {err}");
    assert!(
        v["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "success")
    );
    let (code, v, _) = run_json(both(sb).env("FKS_NOW", &now).args([
        "generate-daily-rag-signals",
        "--min-confidence",
        "0",
        "--as-of",
        &at,
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM signals"), 4);
    // A replay decides but notifies no one: its decisions are 554 days old.
    assert_eq!(v["replay"], true, "{v}");
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM notifications"), 0);
    // A larger limit from fks.toml makes the same candles fresh (the table wins).
    sb.write("fks.toml", "[market.max_candle_age_secs]\n1h = 50000000\n");
    let (code, v, _) = run_json(both(sb).env("FKS_NOW", &now).arg("generate-signals"));
    assert_eq!(code, 0, "{v}");
    sb.write("fks.toml", "");
    // An --as-of after the clock is refused: nothing that late has closed.
    let (code, _, err) =
        run_json(
            both(sb)
                .env("FKS_NOW", &at)
                .args(["generate-signals", "--as-of", &now]),
        );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("after now"), "{err}");
}

#[test]
fn signals_on_candles_554_days_old_are_refused_sqlite() {
    signals_on_old_candles(&Sandbox::new());
}

#[test]
fn signals_on_candles_554_days_old_are_refused_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        signals_on_old_candles(&sb);
    }
}

fn one_stale_symbol(sb: &Sandbox) {
    // ETHUSDT stopped 300 hours before BTCUSDT.
    two_symbols(sb, 400, 100);
    let now = (T0 + 400 * H + 600_000).to_string();
    let (code, v, err) = run_json(both(sb).env("FKS_NOW", &now).arg("generate-signals"));
    assert_eq!(code, 3, "{v} {err}");
    assert_eq!(v["status"], "partial");
    assert_eq!(v["stale_symbols"], serde_json::json!(["ETHUSDT"]));
    let eth = v["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["symbol"] == "ETHUSDT")
        .unwrap()
        .clone();
    assert_eq!(eth["status"], "stale");
    assert_eq!(eth["age_secs"], 300 * 3600 + 600, "{eth}");
    assert!(eth["reason"].as_str().unwrap().contains("ETHUSDT"));
    assert!(v["rag_signals"].get("ETHUSDT").is_none());
    let btc = &v["rag_signals"]["BTCUSDT"];
    assert!(btc["action"].is_string(), "{v}");
    assert_eq!(
        text(sb, "SELECT symbol FROM signals ORDER BY id"),
        "BTCUSDT",
        "only the fresh symbol is stored"
    );
    let (code, v, _) = run_json(both(sb).env("FKS_NOW", &now).args([
        "generate-daily-rag-signals",
        "--min-confidence",
        "0",
    ]));
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["signals"]["ETHUSDT"]["status"], "stale");
    assert_eq!(v["signals"]["BTCUSDT"]["status"], "success");
    assert_eq!(v["high_confidence_count"], 1);
    let bodies = text(sb, "SELECT title || ' ' || body FROM notifications");
    assert!(bodies.contains("BTCUSDT"), "{bodies}");
    assert!(
        !bodies.contains("ETHUSDT"),
        "nothing queued from a stale symbol: {bodies}"
    );
    // optimize-portfolio: the stale symbol gets no target.
    let (code, v, _) =
        run_json(
            both(sb)
                .env("FKS_NOW", &now)
                .args(["optimize-portfolio", "--method", "legacy"]),
        );
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["stale"][0]["symbol"], "ETHUSDT");
    assert_eq!(v["stale"][0]["status"], "stale");
    assert!(v["target_allocation"].get("ETHUSDT").is_none(), "{v}");
    assert_eq!(
        text(sb, "SELECT targets FROM portfolio_targets"),
        "{\"BTCUSDT\":\"1\"}"
    );
    // Every symbol stale: nothing stored, exit 1.
    let later = (T0 + 1000 * H).to_string();
    let (code, v, _) = run_json(both(sb).env("FKS_NOW", &later).args([
        "optimize-portfolio",
        "--method",
        "legacy",
    ]));
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["stale"].as_array().unwrap().len(), 2);
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM portfolio_targets"), 1);
}

#[test]
fn one_stale_symbol_is_left_out_and_the_run_is_partial_sqlite() {
    one_stale_symbol(&Sandbox::new());
}

#[test]
fn one_stale_symbol_is_left_out_and_the_run_is_partial_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        one_stale_symbol(&sb);
    }
}

fn positions_on_stale_prices(sb: &Sandbox) {
    two_symbols(sb, 400, 100);
    run_json(sb.fks().args(["account", "add", "Big", "--cash", "100000"]));
    // ETH bought while it was fresh, BTC bought now: small positions, a calm book.
    let eth_time = (T0 + 100 * H + 60_000).to_string();
    let now = (T0 + 400 * H + 60_000).to_string();
    for (t, sym, stop) in [(&eth_time, "ETHUSDT", "100"), (&now, "BTCUSDT", "1000")] {
        let (c, v, _) = run_json(sb.fks().env("FKS_NOW", t).args([
            "paper",
            "order",
            "--account",
            "Big",
            "--symbol",
            sym,
            "--side",
            "BUY",
            "--quote-amount",
            "500",
            "--stop-loss",
            stop,
        ]));
        assert_eq!(c, 0, "{v}");
    }
    // analyze-risk: ETH cannot be priced → UNKNOWN (never LOW), an alert, exit 3.
    let (code, v, _) =
        run_json(
            sb.fks()
                .env("FKS_NOW", &now)
                .args(["analyze-risk", "--account-id", "2"]),
        );
    assert_eq!(code, 3, "{v}");
    let r = &v["results"]["Big"];
    assert_eq!(r["risk_level"], "UNKNOWN", "{r}");
    assert_eq!(r["status"], "partial");
    assert_eq!(r["priced_risk_level"], "LOW");
    assert!(
        r["risk_level_reason"].as_str().unwrap().contains("ETHUSDT"),
        "{r}"
    );
    assert_eq!(r["unpriced_positions"][0]["symbol"], "ETHUSDT");
    assert_eq!(r["unpriced_positions"][0]["status"], "stale");
    assert!(r["alert"]["id"].as_i64().is_some(), "{r}");
    assert!(
        text(
            sb,
            "SELECT title FROM notifications WHERE urgent = 1 OR urgent = '1'"
        )
        .contains("Risk UNKNOWN on Big")
    );
    // update-positions: BTC marked, ETH stale → the account and the run are partial.
    let (code, v, _) =
        run_json(
            sb.fks()
                .env("FKS_NOW", &now)
                .args(["update-positions", "--account-id", "2"]),
        );
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["results"]["Big"]["status"], "partial");
    assert_eq!(v["results"]["Big"]["stale"], 1);
    // check-stop-loss: ETH cannot be checked → partial, listed as stale.
    let (code, v, _) =
        run_json(
            sb.fks()
                .env("FKS_NOW", &now)
                .args(["check-stop-loss", "--account-id", "2"]),
        );
    assert_eq!(code, 3, "{v}");
    let st = &v["results"]["Big"]["stale"][0];
    assert_eq!(st["symbol"], "ETHUSDT", "{v}");
    assert_eq!(st["status"], "stale");
    assert_eq!(st["age_secs"], 300 * 3600 + 60);
    // rebalance-portfolio: a target without a fresh price is not traded (partial); a held
    // position without one leaves the account unvalued: nothing is traded (exit 1).
    let t = sb.write("t.json", r#"{"BTCUSDT": 0.05, "ETHUSDT": 0.05}"#);
    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "2",
        "--targets",
        t.to_str().unwrap(),
    ]));
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["stale"][0]["symbol"], "ETHUSDT");
    assert_eq!(v["orders"], serde_json::json!([]));
    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        t.to_str().unwrap(),
    ]));
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["stale"][0]["symbol"], "ETHUSDT");
    assert!(
        v["orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["symbol"] == "BTCUSDT"),
        "{v}"
    );
}

#[test]
fn positions_on_stale_prices_are_unknown_not_low_sqlite() {
    positions_on_stale_prices(&Sandbox::new());
}

#[test]
fn positions_on_stale_prices_are_unknown_not_low_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        positions_on_stale_prices(&sb);
    }
}

#[test]
fn paper_orders_follow_the_rule_with_its_table_and_the_old_key() {
    let sb = Sandbox::new();
    two_symbols(&sb, 100, 100);
    // The last close is 5,000 s old: fresh by the 1h default (7,500 s).
    let now = (T0 + 100 * H + 5_000_000).to_string();
    let order = |sb: &Sandbox| {
        run_json(sb.fks().env("FKS_NOW", &now).args([
            "paper",
            "order",
            "--account",
            "P",
            "--symbol",
            "BTCUSDT",
            "--side",
            "BUY",
            "--quote-amount",
            "10",
        ]))
    };
    let (code, v, _) = order(&sb);
    assert_eq!(code, 0, "{v}");
    sb.write("fks.toml", "[market.max_candle_age_secs]\n1h = 4000\n");
    let (code, _, err) = order(&sb);
    assert_eq!(code, 1);
    assert!(err.contains("market.max_candle_age_secs.1h"), "{err}");
    sb.write("fks.toml", "[market]\nmax_price_age_secs = 4000\n");
    let (code, _, err) = order(&sb);
    assert_eq!(code, 1);
    assert!(err.contains("market.max_price_age_secs"), "{err}");
    // The table entry for the timeframe wins over the old key.
    sb.write(
        "fks.toml",
        "[market]\nmax_price_age_secs = 4000\n[market.max_candle_age_secs]\n1h = 7500\n",
    );
    let (code, v, _) = order(&sb);
    assert_eq!(code, 0, "{v}");
    sb.write("fks.toml", "[market.max_candle_age_secs]\n1h = 0\n");
    let (code, _, err) = order(&sb);
    assert_eq!(code, 2, "{err}");
}

/// Candles after FKS_NOW exist in the store (a replay, or a clock set back): no job reads them.
fn reads_bounded_by_the_clock(sb: &Sandbox) {
    let k = walk(T0, 1400, 7, 40_000.0);
    import_hourly(sb, "BTCUSDT", &k);
    run_json(sb.fks().args(["account", "add", "P", "--cash", "10000"]));
    let now = T0 + 1000 * H + 1_800_000; // candle 1000 is open, not closed
    let fks_now = now.to_string();
    let backtest = |sb: &Sandbox| {
        let (c, v, _) = run_json(sb.fks().env("FKS_NOW", &fks_now).args([
            "run-backtest",
            "--kind",
            "sma_cross",
            "--params",
            "fast=10,slow=30",
            "--symbol",
            "BTCUSDT",
        ]));
        assert_eq!(c, 0, "{v}");
        v["results"]["sma_cross/BTCUSDT"]["metrics"].clone()
    };
    let evaluate = |sb: &Sandbox| {
        let (c, v, _) = run_json(sb.fks().env("FKS_NOW", &fks_now).args([
            "evaluate-signals",
            "--symbol",
            "BTCUSDT",
            "--min-history",
            "300",
        ]));
        assert_eq!(c, 0, "{v}");
        v
    };
    let m1 = backtest(sb);
    run_json(sb.fks().args([
        "strategy",
        "add",
        "s",
        "--kind",
        "sma_cross",
        "--params",
        "fast=10,slow=30",
        "--symbols",
        "BTCUSDT",
    ]));
    let validate = |sb: &Sandbox| {
        let (_, v, _) = run_json(sb.fks().env("FKS_NOW", &fks_now).args([
            "validate-strategies",
            "--dry-run",
            "--days",
            "30",
        ]));
        v["results"]["s"]["symbols"]["BTCUSDT"]["metrics"].clone()
    };
    let val1 = validate(sb);
    assert!(val1.is_object(), "{val1}");
    // Rewrite every candle from the open one on: nothing computed at FKS_NOW moves.
    let mut later = k.clone();
    for c in later.iter_mut().skip(1000) {
        for f in [&mut c.open, &mut c.high, &mut c.low, &mut c.close] {
            *f = format!("{:.8}", f.parse::<f64>().unwrap() * 3.0);
        }
    }
    import_hourly(sb, "BTCUSDT", &later[1000..]);
    assert_eq!(
        backtest(sb),
        m1,
        "a result stamped FKS_NOW holds nothing after it"
    );
    assert_eq!(validate(sb), val1);
    let e = evaluate(sb);
    assert_eq!(e["bars"], 1000, "only the 1000 candles closed by FKS_NOW");
    // update-indicators and the knowledge base stop at the last closed candle too.
    let (c, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", &fks_now)
            .args(["update-indicators", "--full"]),
    );
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        v["results"]["BTCUSDT"]["latest"]["open_time"],
        T0 + 999 * H,
        "{v}"
    );
    assert_eq!(
        scalar(sb, "SELECT MAX(open_time) FROM indicators"),
        T0 + 999 * H
    );
    let (c, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", &fks_now)
            .args(["knowledge", "update"]),
    );
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        scalar(sb, "SELECT MAX(open_time) FROM knowledge_states"),
        T0 + 999 * H
    );
    assert!(
        scalar(sb, "SELECT MAX(known_at) FROM knowledge_states") <= now,
        "no outcome known after the clock"
    );
    // The cited backtest text, at a later --as-of, is what existed then.
    let (c, v, _) =
        run_json(
            sb.fks()
                .env("FKS_NOW", &fks_now)
                .args(["generate-signals", "--as-of", &fks_now]),
        );
    assert_eq!(c, 0, "{v}");
    let docs = v["rag_signals"]["BTCUSDT"]["documents"].as_array().unwrap();
    let cited: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "backtest" && d["title"].as_str().unwrap().ends_with("(full)"))
        .map(|d| d["snippet"].as_str().unwrap())
        .collect();
    assert!(!cited.is_empty(), "{docs:?}");
    let ret = format!(
        "total return {:.2}%",
        m1["total_return_pct"].as_f64().unwrap()
    );
    assert!(
        cited.iter().all(|s| s.starts_with(&ret)),
        "{cited:?} vs {ret}"
    );
}

#[test]
fn no_job_reads_after_fks_now_sqlite() {
    reads_bounded_by_the_clock(&Sandbox::new());
}

#[test]
fn no_job_reads_after_fks_now_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        reads_bounded_by_the_clock(&sb);
    }
}

/// The real 1h candles end on 2022-10-11; a run 554 days later refuses them (skips cleanly
/// when ../shared/data is absent).
#[test]
fn real_candles_554_days_old_give_no_signal() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ltc_usdt_1h.csv");
    let path = if path.exists() {
        path
    } else {
        std::path::PathBuf::from("/work/shared/data/ltc_usdt_1h.csv")
    };
    if !path.exists() {
        eprintln!("note: shared data absent; skipping the real-candle freshness test");
        return;
    }
    let sb = Sandbox::new();
    let text = std::fs::read_to_string(&path).unwrap();
    // The last 600 candles are enough for the decision.
    let lines: Vec<&str> = text.lines().skip(1).collect();
    let tail: Vec<binance::Kline> = lines[lines.len() - 600..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            binance::Kline {
                open_time: f[0].parse().unwrap(),
                open: f[1].into(),
                high: f[2].into(),
                low: f[3].into(),
                close: f[4].into(),
                volume: f[5].into(),
            }
        })
        .collect();
    import_hourly(&sb, "LTCUSDT", &tail);
    run_json(sb.fks().args(["account", "add", "P", "--cash", "10000"]));
    let last: i64 = lines[lines.len() - 1]
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let now = (last + H + 554 * D).to_string();
    let (c, v, _) = run_json(
        sb.fks()
            .env("FKS_SYMBOLS", "LTCUSDT")
            .env("FKS_NOW", &now)
            .arg("generate-signals"),
    );
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["suggestions"][0]["status"], "stale");
    assert_eq!(v["suggestions"][0]["age"], "554d 0h");
}
