//! What a job reads and tells under its clock: nothing after `FKS_NOW` (balance history,
//! fills, the journal, notifications, a paper account's later orders), account figures that
//! rest on stale prices marked as such, and replays (`--as-of` before the clock) that notify
//! no one and store no target. SQLite and Postgres.

use crate::support::{Sandbox, binance, import_hourly, rt, run_json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000; // 2024-01-01

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

/// An amount printed as a JSON number or as a decimal string.
fn num(v: &serde_json::Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not an amount: {v}"))
}

/// Hourly BTCUSDT candles from T0 whose close is `100 + i` (open, high and low around it).
fn ramp(sb: &Sandbox, n: usize) {
    let mut k = binance::series(T0, H, n, 100.0);
    for (i, c) in k.iter_mut().enumerate() {
        let p = 100 + i;
        c.open = format!("{p}.00000000");
        c.high = format!("{}.00000000", p + 1);
        c.low = format!("{}.00000000", p - 1);
        c.close = format!("{p}.00000000");
    }
    import_hourly(sb, "BTCUSDT", &k);
}

/// A run at `T0 + h hours + 1 ms` (candle h − 1 has just closed).
fn at(sb: &Sandbox, h: i64) -> assert_cmd::Command {
    let mut c = sb.fks();
    c.env("FKS_NOW", (T0 + h * H + 1).to_string());
    c
}

fn paper(sb: &Sandbox) {
    let (c, v, _) =
        run_json(
            sb.fks()
                .args(["account", "add", "P", "--cash", "10000", "--fee-rate", "0"]),
        );
    assert_eq!(c, 0, "{v}");
}

fn order(sb: &Sandbox, h: i64, side: &str, qty: &str) {
    let (c, v, e) = run_json(at(sb, h).args([
        "paper",
        "order",
        "--account",
        "P",
        "--symbol",
        "BTCUSDT",
        "--side",
        side,
        "--quantity",
        qty,
    ]));
    assert_eq!(c, 0, "{v} {e}");
}

/// A paper account bought 10 at 101 (02:00) and sold 5 at 109 (10:00); snapshots at 06:00
/// and 12:00, a failed run at 11:00. A run at 07:00 sees the account, its history, its
/// trades and the journal as they were at 07:00.
fn history_after_the_clock(sb: &Sandbox) {
    ramp(sb, 30);
    paper(sb);
    order(sb, 2, "BUY", "10");
    let (c, v, _) = run_json(at(sb, 6).arg("sync-account-balance"));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["results"]["P"]["equity"], 10040.0, "10 × (105 − 101)");
    order(sb, 10, "SELL", "5");
    let (c, _, _) = run_json(at(sb, 11).args(["rebalance-portfolio", "--account-id", "1"]));
    assert_eq!(
        c, 1,
        "no target stored: a failed run in the journal at 11:00"
    );
    let (c, v, _) = run_json(at(sb, 12).arg("sync-account-balance"));
    assert_eq!(c, 0, "{v}");
    // At 07:00 the account held 10 at 101 with the wallet untouched: 10000 + 10 × (106 − 101).
    let (c, m, e) = run_json(at(sb, 7).args(["calculate-metrics", "--period-days", "1"]));
    assert_eq!(c, 0, "{m} {e}");
    let p = &m["results"]["P"];
    assert_eq!(
        p["equity"], 10050.0,
        "valued as its fills left it at 07:00: {p}"
    );
    assert_eq!(p["valuation"]["positions_value"], 1060.0, "{p}");
    assert_eq!(
        p["last_snapshot_ms"],
        T0 + 6 * H + 1,
        "the 12:00 snapshot did not exist at 07:00: {p}"
    );
    assert_eq!(p["end_equity"], 10040.0);
    assert_eq!(p["fills"], 1, "the 10:00 sell had not happened: {p}");
    let (c, r, e) = run_json(at(sb, 7).args(["generate-report", "--no-deliver"]));
    assert_eq!(c, 0, "{r} {e}");
    let p = &r["results"]["P"];
    assert_eq!(p["equity"], 10050.0, "{p}");
    let trades = p["recent_trades"].as_array().unwrap();
    assert_eq!(trades.len(), 1, "{trades:?}");
    assert_eq!(trades[0]["side"], "BUY");
    assert_eq!(num(&p["open_positions"][0]["qty"]), 10.0, "{p}");
    assert_eq!(
        p["job_failures"].as_array().unwrap().len(),
        0,
        "the 11:00 failure had not happened: {p}"
    );
    assert_eq!(num(&p["summary"]["realized_pnl"]), 0.0, "{p}");
    // The journal as of 07:00: the 11:00 rebalance had not run.
    let (c, s, _) = run_json(at(sb, 7).arg("status"));
    assert_eq!(c, 0, "{s}");
    assert!(
        s["jobs"]["rebalance-portfolio"]["last_run_ms"].is_null(),
        "{s}"
    );
    assert_eq!(
        s["jobs"]["sync-account-balance"]["last_run_ms"],
        T0 + 6 * H + 1,
        "{s}"
    );
    // A snapshot taken at 07:00 now is the one of 07:00 too, and the current state is
    // untouched by the replay: at 12:00 it holds 5 with 40 realized.
    let (c, v, _) = run_json(at(sb, 7).arg("sync-account-balance"));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["results"]["P"]["equity"], 10050.0);
    assert_eq!(v["results"]["P"]["balance"], 10000.0);
    let (c, v, _) = run_json(at(sb, 13).arg("sync-account-balance"));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["results"]["P"]["balance"], 10040.0, "{v}");
    assert_eq!(v["results"]["P"]["equity"], 10040.0 + 5.0 * (112.0 - 101.0));
}

#[test]
fn metrics_reports_and_valuations_read_nothing_after_the_clock_sqlite() {
    history_after_the_clock(&Sandbox::new());
}

#[test]
fn metrics_reports_and_valuations_read_nothing_after_the_clock_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        history_after_the_clock(&sb);
    }
}

/// A spot account valued by a loopback exchange at `btc_price` (0.002 BTC + 900 USDT).
fn spot_server(rt: &tokio::runtime::Runtime, btc_price: &str) -> MockServer {
    let server = rt.block_on(MockServer::start());
    let prices = format!(r#"[{{"symbol":"BTCUSDT","price":"{btc_price}"}}]"#);
    rt.block_on(async {
        Mock::given(method("GET"))
            .and(path("/api/v3/account"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-mbx-used-weight-1m", "20")
                    .set_body_raw(binance::SPOT_ACCOUNT, "application/json;charset=UTF-8"),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v3/ticker/price"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-mbx-used-weight-1m", "4")
                    .set_body_raw(prices, "application/json;charset=UTF-8"),
            )
            .mount(&server)
            .await;
    });
    server
}

/// Cumulative PnL of an exchange account without a baseline is measured from its first
/// snapshot known by the clock: a snapshot written later (a replay earlier than it) is not.
fn first_snapshot_by_the_clock(sb: &Sandbox) {
    let rt = rt();
    let (c, v, _) = run_json(
        sb.fks()
            .args(["account", "add", "S", "--kind", "binance-spot"]),
    );
    assert_eq!(c, 0, "{v}");
    let sync = |server: &MockServer, h: i64| {
        run_json(
            at(sb, h)
                .env("FKS_BINANCE_BASE_URL", server.uri())
                .env("BINANCE_API_KEY", binance::KEY)
                .env("BINANCE_API_SECRET", binance::SECRET)
                .arg("sync-account-balance"),
        )
    };
    let later = spot_server(&rt, "50000.00000000");
    let (c, v, e) = sync(&later, 20);
    assert_eq!(c, 0, "{v} {e}");
    assert_eq!(v["results"]["S"]["equity"], 1000.0, "0.002 × 50000 + 900");
    assert_eq!(v["results"]["S"]["cumulative_pnl"], 0.0);
    let earlier = spot_server(&rt, "40000.00000000");
    let (c, v, e) = sync(&earlier, 10);
    assert_eq!(c, 0, "{v} {e}");
    let s = &v["results"]["S"];
    assert_eq!(s["equity"], 980.0);
    assert_eq!(s["cumulative_pnl_base"], "first_snapshot");
    assert_eq!(
        s["cumulative_pnl"], 0.0,
        "at 10:00 no snapshot existed yet; the one of 20:00 is not its base: {s}"
    );
    // The report at 10:00 measures from the same base.
    let (c, r, _) = run_json(at(sb, 10).args(["generate-report", "--no-deliver"]));
    assert_eq!(c, 0, "{r}");
    assert_eq!(
        num(&r["results"]["S"]["summary"]["cumulative_pnl"]),
        0.0,
        "{r}"
    );
}

#[test]
fn cumulative_pnl_base_is_the_first_snapshot_known_by_the_clock_sqlite() {
    first_snapshot_by_the_clock(&Sandbox::new());
}

#[test]
fn cumulative_pnl_base_is_the_first_snapshot_known_by_the_clock_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        first_snapshot_by_the_clock(&sb);
    }
}

/// An alert sent later (by the store's clock) does not suppress one sent earlier in a
/// replay: the cool-down looks only at notifications that existed by the clock.
fn dedup_by_the_clock(sb: &Sandbox) {
    let send = |h: i64| {
        let (c, v, e) = run_json(at(sb, h).args([
            "send-notifications",
            "--message",
            "disk full",
            "--dedup-key",
            "disk",
        ]));
        assert_eq!(c, 0, "{v} {e}");
        v["queued"]["status"].as_str().unwrap().to_string()
    };
    assert_eq!(send(20), "pending");
    assert_eq!(send(10), "pending", "20:00 had not happened at 10:00");
    assert_eq!(
        send(20),
        "suppressed",
        "within the cool-down of the 20:00 one"
    );
}

#[test]
fn notification_cool_downs_read_nothing_after_the_clock_sqlite() {
    dedup_by_the_clock(&Sandbox::new());
}

#[test]
fn notification_cool_downs_read_nothing_after_the_clock_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        dedup_by_the_clock(&sb);
    }
}

/// Candles stop at 10:00; at 12:00 they are fresh, at 40:00 they are 30 h old. A paper
/// account holding BTCUSDT is valued at the last close: no job presents that as current.
fn stale_account_figures(sb: &Sandbox) {
    ramp(sb, 10);
    paper(sb);
    order(sb, 2, "BUY", "10");
    let (c, v, _) = run_json(at(sb, 10).arg("sync-account-balance"));
    assert_eq!(c, 0, "{v}");
    assert!(v["results"]["P"].get("stale_prices").is_none(), "{v}");
    let snaps = scalar(sb, "SELECT COUNT(*) FROM balance_history");
    assert_eq!(snaps, 1);
    // sync-account-balance: no snapshot of a stale equity; the account is stale (exit 1).
    let (c, v, e) = run_json(at(sb, 40).arg("sync-account-balance"));
    assert_eq!(c, 1, "{v} {e}");
    let p = &v["results"]["P"];
    assert_eq!(p["status"], "stale", "{p}");
    assert!(
        p.get("equity").is_none(),
        "no stale equity printed as current: {p}"
    );
    let s = &p["stale_prices"][0];
    assert_eq!(s["symbol"], "BTCUSDT");
    assert_eq!(s["status"], "stale");
    assert_eq!(num(&s["price"]), 109.0);
    assert_eq!(s["price_time"], T0 + 10 * H);
    assert_eq!(s["age_secs"], 30 * 3600, "{s}");
    assert_eq!(s["max_age_secs"], 7500);
    assert!(
        e.contains("no snapshot written") && e.contains("BTCUSDT"),
        "{e}"
    );
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM balance_history"), snaps);
    // calculate-metrics: the history's metrics stand, `equity` now is marked stale (exit 3).
    let (c, m, e) = run_json(at(sb, 40).args(["calculate-metrics", "--period-days", "3"]));
    assert_eq!(c, 3, "{m} {e}");
    let p = &m["results"]["P"];
    assert_eq!(p["status"], "partial");
    assert_eq!(p["stale_prices"][0]["symbol"], "BTCUSDT", "{p}");
    assert_eq!(p["stale_prices"][0]["age"], "30h 0m");
    assert!(
        p["notes"].to_string().contains("equity is not current"),
        "{p}"
    );
    // generate-report: made, with the warning first in every rendering (exit 3).
    let (c, r, e) =
        run_json(at(sb, 40).args(["generate-report", "--no-deliver", "--output", "r.md"]));
    assert_eq!(c, 3, "{r} {e}");
    let p = &r["results"]["P"];
    assert_eq!(p["status"], "partial");
    assert_eq!(p["stale_prices"][0]["symbol"], "BTCUSDT", "{p}");
    assert!(p["warnings"][0].as_str().unwrap().contains("stale"), "{p}");
    let md = std::fs::read_to_string(sb.path().join("r.md")).unwrap();
    let warn = md
        .find("**Warning:** prices are stale")
        .expect("warning in the report");
    assert!(
        warn < md.find("## Summary").unwrap(),
        "the warning comes first"
    );
    assert!(
        md.contains("BTCUSDT 109 at 2024-01-01T10:00:00Z (30h 0m old"),
        "{md}"
    );
    // analyze-risk says UNKNOWN on the same account: the jobs agree.
    let (c, a, _) = run_json(at(sb, 40).arg("analyze-risk"));
    assert_eq!(c, 3, "{a}");
    assert_eq!(a["results"]["P"]["risk_level"], "UNKNOWN");
    // Fresh again: every job is back to plain success.
    let (c, m, _) = run_json(at(sb, 10).args(["calculate-metrics", "--period-days", "3"]));
    assert_eq!(c, 0, "{m}");
    assert!(m["results"]["P"].get("stale_prices").is_none(), "{m}");
}

#[test]
fn account_figures_on_stale_prices_say_so_sqlite() {
    stale_account_figures(&Sandbox::new());
}

#[test]
fn account_figures_on_stale_prices_say_so_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        stale_account_figures(&sb);
    }
}

/// A seeded random walk of `n` hourly candles from T0.
fn walk(n: usize, seed: u64, start: f64) -> Vec<binance::Kline> {
    let mut x = seed;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut p = start;
    let mut k = binance::series(T0, H, n, start);
    for c in k.iter_mut() {
        let o = p;
        p *= 1.0 + rnd() * 0.02;
        c.open = format!("{o:.8}");
        c.close = format!("{p:.8}");
        c.high = format!("{:.8}", o.max(p) * 1.003);
        c.low = format!("{:.8}", o.min(p) * 0.997);
        c.volume = format!("{:.8}", 100.0 + rnd() * 50.0);
    }
    k
}

/// Candles end at T0 + 300 h; the clock is 554 days later. A replay at T0 + 290 h decides as
/// it would have then, but notifies no one and stores no target; the same run at its own
/// time does both.
fn replays_are_quiet(sb: &Sandbox) {
    import_hourly(sb, "BTCUSDT", &walk(300, 7, 40_000.0));
    import_hourly(sb, "ETHUSDT", &walk(300, 11, 2_000.0));
    paper(sb);
    let then = (T0 + 290 * H + 1).to_string();
    let now = (T0 + 300 * H + 554 * 86_400_000).to_string();
    let run = |clock: &str, args: &[&str]| {
        let (c, v, e) = run_json(
            sb.fks()
                .env("FKS_SYMBOLS", "BTCUSDT,ETHUSDT")
                .env("FKS_NOW", clock)
                .args(args),
        );
        assert_eq!(c, 0, "{args:?}: {v} {e}");
        v
    };
    let daily = ["generate-daily-rag-signals", "--min-confidence", "0"];
    let v = run(&now, &[&daily[..], &["--as-of", &then]].concat());
    assert_eq!(
        scalar(sb, "SELECT COUNT(*) FROM notifications"),
        0,
        "a decision of 554 days ago is not news: {v}"
    );
    assert_eq!(v["replay"], true, "{v}");
    assert!(
        v["replay_note"]
            .as_str()
            .unwrap()
            .contains("no notification")
    );
    assert!(v["high_confidence_count"].as_i64().unwrap() >= 1, "{v}");
    let v = run(&now, &["generate-signals", "--as-of", &then]);
    assert_eq!(v["replay"], true, "{v}");
    assert_eq!(
        scalar(sb, "SELECT COUNT(*) FROM notifications"),
        0,
        "a decision of 554 days ago is not news"
    );
    assert!(
        scalar(sb, "SELECT COUNT(*) FROM signals") >= 2,
        "signals are kept"
    );
    let v = run(
        &now,
        &["optimize-portfolio", "--method", "legacy", "--as-of", &then],
    );
    assert_eq!(v["target_stored"], false, "{v}");
    assert!(v["target_allocation"].is_object());
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM portfolio_targets"), 0);
    // rebalance-portfolio finds no target to trade to (not a replay's).
    let (c, _, e) =
        run_json(
            sb.fks()
                .env("FKS_NOW", &now)
                .args(["rebalance-portfolio", "--account-id", "1"]),
        );
    assert_eq!(c, 1);
    assert!(e.contains("no target allocation stored"), "{e}");
    // At its own time the same runs notify and store.
    let v = run(&then, &daily);
    assert_eq!(v["replay"], false);
    assert!(scalar(sb, "SELECT COUNT(*) FROM notifications") >= 1);
    let v = run(&then, &["optimize-portfolio", "--method", "legacy"]);
    assert_eq!(v["target_stored"], true);
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM portfolio_targets"), 1);
}

#[test]
fn replays_notify_no_one_and_store_no_target_sqlite() {
    replays_are_quiet(&Sandbox::new());
}

#[test]
fn replays_notify_no_one_and_store_no_target_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        replays_are_quiet(&sb);
    }
}

/// The account holds ETHUSDT, whose candles stopped at 10:00; BTCUSDT, the symbol signals are
/// asked for, is fresh at 100:00. Position sizes and weights computed from that equity say
/// that it rests on a stale price (exit 3), as analyze-risk does.
fn sizes_from_stale_equity(sb: &Sandbox) {
    import_hourly(sb, "BTCUSDT", &walk(100, 7, 40_000.0));
    let mut eth = binance::series(T0, H, 10, 2_000.0);
    for c in eth.iter_mut() {
        c.open = "2000.00000000".into();
        c.high = "2001.00000000".into();
        c.low = "1999.00000000".into();
        c.close = "2000.00000000".into();
    }
    import_hourly(sb, "ETHUSDT", &eth);
    paper(sb);
    let (c, v, e) = run_json(at(sb, 5).args([
        "paper",
        "order",
        "--account",
        "P",
        "--symbol",
        "ETHUSDT",
        "--side",
        "BUY",
        "--quantity",
        "1",
    ]));
    assert_eq!(c, 0, "{v} {e}");
    let (c, g, e) = run_json(at(sb, 100).arg("generate-signals"));
    assert_eq!(c, 3, "{g} {e}");
    assert_eq!(g["status"], "partial");
    assert_eq!(g["stale_prices"][0]["symbol"], "ETHUSDT", "{g}");
    assert_eq!(g["stale_prices"][0]["age_secs"], 90 * 3600);
    assert!(
        g["stale_prices_note"]
            .as_str()
            .unwrap()
            .contains("position sizes"),
        "{g}"
    );
    assert_eq!(
        g["suggestions"][0]["status"], "success",
        "BTCUSDT is decided: {g}"
    );
    let (c, o, e) = run_json(at(sb, 100).args(["optimize-portfolio", "--method", "legacy"]));
    assert_eq!(c, 3, "{o} {e}");
    assert_eq!(o["stale_prices"][0]["symbol"], "ETHUSDT", "{o}");
    // Fresh marks: no such entry, plain success.
    let (c, g, e) = run_json(at(sb, 9).arg("generate-signals"));
    assert_eq!(c, 0, "{g} {e}");
    assert!(g.get("stale_prices").is_none(), "{g}");
}

#[test]
fn sizes_from_an_equity_on_stale_prices_say_so_sqlite() {
    sizes_from_stale_equity(&Sandbox::new());
}

#[test]
fn sizes_from_an_equity_on_stale_prices_say_so_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        sizes_from_stale_equity(&sb);
    }
}

/// A paper order is never booked before the account's last fill (a clock set back): the
/// fills stay in the order things happened, so earlier valuations replay them faithfully.
fn no_order_before_the_last_fill(sb: &Sandbox) {
    ramp(sb, 30);
    paper(sb);
    order(sb, 10, "BUY", "1");
    let (c, v, e) = run_json(at(sb, 5).args([
        "paper",
        "order",
        "--account",
        "P",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--quantity",
        "1",
    ]));
    assert_eq!(c, 1, "{v}");
    assert!(e.contains("after this order's time"), "{e}");
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM fills"), 1);
    order(sb, 11, "SELL", "1");
    assert_eq!(scalar(sb, "SELECT COUNT(*) FROM fills"), 2);
}

#[test]
fn no_paper_order_is_booked_before_the_last_fill_sqlite() {
    no_order_before_the_last_fill(&Sandbox::new());
}

#[test]
fn no_paper_order_is_booked_before_the_last_fill_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        no_order_before_the_last_fill(&sb);
    }
}
