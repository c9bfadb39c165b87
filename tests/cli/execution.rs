//! rebalance-portfolio and check-stop-loss: dry runs send nothing, exchange rules, exactly
//! once under a lost answer and a killed run, stop alerts once, paper execution.

use crate::support::binance::{self, Desk, KEY, PostMode, SECRET, mount_account};
use crate::support::{Sandbox, rt, run_json};
use wiremock::MockServer;

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000;

async fn spot_exchange(server: &MockServer, desk: &Desk) {
    mount_account(server, desk).await;
}

/// The loopback account, its spot balances answered by `account` instead.
async fn spot_exchange_with_account(server: &MockServer, desk: &Desk, account: &str) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    // Mounted first and with a higher priority than the account's own balances.
    Mock::given(method("GET"))
        .and(path("/api/v3/account"))
        .and(crate::support::signed::SignedBy {
            key: KEY.into(),
            secret: SECRET.into(),
        })
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(account.to_string(), "application/json"),
        )
        .with_priority(1)
        .mount(server)
        .await;
    mount_account(server, desk).await;
}

fn spot_sandbox(
    server: &MockServer,
    trading: bool,
) -> (Sandbox, impl Fn(&Sandbox) -> assert_cmd::Command + use<>) {
    spot_setup(Sandbox::new(), server, trading)
}

/// A store with one binance-spot account (id 1) trading on the loopback account at `server`.
fn spot_setup(
    sb: Sandbox,
    server: &MockServer,
    trading: bool,
) -> (Sandbox, impl Fn(&Sandbox) -> assert_cmd::Command + use<>) {
    spot_files(&sb, trading);
    let (code, v, _) = run_json(sb.fks().args([
        "account",
        "add",
        "Spot",
        "--kind",
        "binance-spot",
        "--fee-rate",
        "0.001",
    ]));
    assert_eq!(code, 0, "{v}");
    (sb, exchange_cmd(server))
}

fn spot_files(sb: &Sandbox, trading: bool) {
    sb.write("fks.toml", &format!("[exchange]\ntimeout_secs = 1\nrecv_window_ms = 1000\n[trading]\nenabled = {trading}\nmax_order_notional = \"2000\"\nmax_run_notional = \"5000\"\n"));
    sb.write("targets.json", r#"{"BTCUSDT": 0.3, "ETHUSDT": 0.5}"#);
    sb.write("one.json", r#"{"BTCUSDT": 0.5}"#);
}

/// `fks` talking to the loopback account at `server` with the test keys.
fn exchange_cmd(server: &MockServer) -> impl Fn(&Sandbox) -> assert_cmd::Command + use<> {
    let uri = server.uri();
    move |sb: &Sandbox| {
        let mut c = sb.fks();
        c.env("FKS_BINANCE_BASE_URL", &uri)
            .env("FKS_BINANCE_FUTURES_BASE_URL", &uri)
            .env("BINANCE_API_KEY", KEY)
            .env("BINANCE_API_SECRET", SECRET);
        c
    }
}

/// One value from the store (SQLite through rusqlite, Postgres through psql), as text.
fn scalar(sb: &Sandbox, sql: &str) -> String {
    if sb.db.starts_with("postgres") {
        let out = std::process::Command::new("psql")
            .args([sb.db.as_str(), "-tAc", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    c.query_row(sql, [], |r| {
        Ok(match r.get_ref(0)? {
            rusqlite::types::ValueRef::Null => String::new(),
            rusqlite::types::ValueRef::Integer(i) => i.to_string(),
            rusqlite::types::ValueRef::Real(f) => f.to_string(),
            rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).to_string(),
            rusqlite::types::ValueRef::Blob(_) => "<blob>".into(),
        })
    })
    .unwrap()
}

/// A copy of a store, as a restore from a backup makes it: the SQLite file (with its WAL), or
/// a Postgres database created from the original as a template.
fn restore_copy(sb: &Sandbox) -> Sandbox {
    if sb.db.starts_with("postgres") {
        let (root, name) = sb.db.rsplit_once('/').unwrap();
        let copy = format!("{name}_restored");
        let admin = std::env::var("FKS_TEST_DATABASE_URL").unwrap();
        let st = std::process::Command::new("psql")
            .args([
                admin.as_str(),
                "-qc",
                &format!("CREATE DATABASE {copy} TEMPLATE {name}"),
            ])
            .status()
            .unwrap();
        assert!(st.success());
        let dir = tempfile::tempdir().unwrap();
        return Sandbox {
            dir,
            db: format!("{root}/{copy}"),
        };
    }
    let out = Sandbox::new();
    for ext in ["", "-wal", "-shm"] {
        let from = format!("{}{ext}", sb.db);
        if std::path::Path::new(&from).exists() {
            std::fs::copy(&from, format!("{}{ext}", out.db)).unwrap();
        }
    }
    out
}

/// A planned order's exact notional: quantity × est_price, both exact decimal strings.
fn exact_notional(o: &serde_json::Value) -> f64 {
    let q: rust_decimal::Decimal = o["quantity"].as_str().unwrap().parse().unwrap();
    let p: rust_decimal::Decimal = o["est_price"].as_str().unwrap().parse().unwrap();
    rust_decimal::prelude::ToPrimitive::to_f64(&(q * p)).unwrap()
}

fn posts(rt: &tokio::runtime::Runtime, server: &MockServer) -> usize {
    rt.block_on(server.received_requests())
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count()
}

#[test]
fn dry_run_plans_with_exchange_rules_and_sends_nothing() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    rt.block_on(spot_exchange(&server, &desk));
    let (sb, fks) = spot_sandbox(&server, true);
    // Total 0.002 BTC * 50000 + 900 = 1000 USDT: BTC 10% -> 30%, ETH 0% -> 50%.
    let (code, v, _) = run_json(fks(&sb).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "targets.json",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["total_value"], 1000.0);
    let orders = v["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "{v}");
    for o in orders {
        assert_eq!(o["side"], "BUY");
        let qty: f64 = o["quantity"].as_str().unwrap().parse().unwrap();
        let step = if o["symbol"] == "BTCUSDT" {
            0.00001
        } else {
            0.0001
        };
        assert!(
            ((qty / step).round() * step - qty).abs() < 1e-12,
            "quantity {qty} is a multiple of the step"
        );
    }
    let cost: f64 = orders
        .iter()
        // The exact notional is quantity × est_price (exact decimal strings); `notional` is
        // the money figure rounded to cents.
        .map(|o| exact_notional(o) * 1.001)
        .sum();
    assert!(
        cost <= 900.0 + 1e-9,
        "never spends more than the free balance after fees: {cost}"
    );
    assert_eq!(posts(&rt, &server), 0, "a dry run sends no order request");
    // --execute without trading.enabled: a configuration error, nothing sent.
    let (sb2, fks2) = spot_sandbox(&server, false);
    let (code, _, err) = run_json(fks2(&sb2).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "targets.json",
        "--execute",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("trading.enabled"));
    assert_eq!(posts(&rt, &server), 0);
    // A target too small for the exchange's minimum notional is skipped with a reason.
    sb.write("small.json", r#"{"BTCUSDT": 0.1, "ETHUSDT": 0.004}"#);
    let (_, v, _) = run_json(fks(&sb).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "small.json",
        "--band",
        "0.001",
    ]));
    let skipped = v["skipped"].as_array().unwrap();
    assert!(skipped.iter().any(|s| s["symbol"] == "ETHUSDT" && s["message"].as_str().unwrap().contains("minimum")), "{v}");
}

#[test]
fn lost_answer_is_resolved_by_client_id_and_the_order_exists_once() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    desk.0.lock().unwrap().mode = PostMode::LoseAnswer;
    rt.block_on(spot_exchange(&server, &desk));
    let (sb, fks) = spot_sandbox(&server, true);
    sb.write("one.json", r#"{"BTCUSDT": 0.5}"#);
    let (code, v, _) = run_json(fks(&sb).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "one.json",
        "--execute",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["orders"][0]["fill"]["status"], "filled",
        "found by its client id: {v}"
    );
    assert_eq!(
        desk.0.lock().unwrap().placed.len(),
        1,
        "exactly one order reached the exchange"
    );
    assert_eq!(posts(&rt, &server), 1);
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let (n, cid): (i64, String) = c
        .query_row(
            "SELECT COUNT(*), MAX(client_order_id) FROM orders",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        desk.0.lock().unwrap().placed[0].cid,
        cid,
        "the id sent is the one journaled before sending"
    );
    assert!(cid.starts_with("fks-") && cid.len() <= 36);
}

#[test]
fn killed_run_between_journal_and_send_is_never_resent() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    rt.block_on(spot_exchange(&server, &desk));
    let (sb, fks) = spot_sandbox(&server, true);
    run_json(fks(&sb).args(["runs"]));
    // A previous run journaled an order and died before sending it.
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    c.execute("INSERT INTO orders (account_id, run_id, client_order_id, symbol, side, type, quantity, status, reason, created_ms, updated_ms) VALUES (1, 99, 'fks-deadbeefdeadbeefdeadbeefdeadbeef', 'BTCUSDT', 'BUY', 'MARKET', '0.001', 'new', 'rebalance', 0, 0)", []).unwrap();
    let (code, v, _) = run_json(fks(&sb).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "targets.json",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["reconciled_orders"][0]["status"], "not_placed", "{v}");
    assert_eq!(
        posts(&rt, &server),
        0,
        "the old intent is asked for, not resent"
    );
}

fn price_series(sb: &Sandbox, closes: &[f64]) {
    let mut k = binance::series(T0, H, closes.len(), 1.0);
    for (c, p) in k.iter_mut().zip(closes) {
        let s = format!("{p:.8}");
        c.open.clone_from(&s);
        c.high.clone_from(&s);
        c.low.clone_from(&s);
        c.close = s;
    }
    crate::support::import_hourly(sb, "BTCUSDT", &k);
}

fn paper_stops(sb: &Sandbox) {
    sb.write(
        "fks.toml",
        // The jobs here run hours apart on the test clock: failure-streak alerts for missed
        // runs (tests/cli/monitor.rs) are not what this test counts.
        "[trading]\nenabled = true\n[notifications]\nfile = \"alerts.jsonl\"\n[monitor]\nfailure_streak = 0\n",
    );
    run_json(sb.fks().args(["account", "add", "L", "--cash", "10000"]));
    run_json(sb.fks().args(["account", "add", "S", "--cash", "10000"]));
    price_series(sb, &[100.0, 100.0]);
    let at = |h: i64| (T0 + h * H + 1).to_string();
    run_json(sb.fks().env("FKS_NOW", at(2)).args([
        "paper",
        "order",
        "--account",
        "L",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--quantity",
        "10",
        "--stop-loss",
        "95",
    ]));
    run_json(sb.fks().env("FKS_NOW", at(2)).args([
        "paper",
        "order",
        "--account",
        "S",
        "--symbol",
        "BTCUSDT",
        "--side",
        "SELL",
        "--quantity",
        "10",
    ]));
    let (c, v, _) = run_json(sb.fks().args([
        "position",
        "stop",
        "--account-id",
        "2",
        "--symbol",
        "BTCUSDT",
        "--trailing-pct",
        "5",
    ]));
    assert_eq!(c, 0, "{v}");
    // Price falls to 96: LONG stop 95 not hit; SHORT trails from its low 96 -> stop 100.8.
    price_series(sb, &[100.0, 100.0, 96.0]);
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", at(3)).arg("check-stop-loss"));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["checked"], 2);
    assert_eq!(v["triggered"], 0, "{v}");
    // Then 101: the SHORT's trailing stop (100.8) is hit, the LONG is not.
    price_series(sb, &[100.0, 100.0, 96.0, 101.0]);
    let (_, v, _) = run_json(sb.fks().env("FKS_NOW", at(4)).arg("check-stop-loss"));
    assert_eq!(v["triggered"], 1, "{v}");
    let t = &v["results"]["S"]["triggered"][0];
    assert_eq!(t["side"], "SHORT");
    assert_eq!(t["stop"], "100.8");
    assert_eq!(t["action"], "alert_only");
    // Still triggered on the next run: recorded, not alerted again.
    let (_, v, _) = run_json(sb.fks().env("FKS_NOW", at(4)).arg("check-stop-loss"));
    assert_eq!(
        v["results"]["S"]["triggered"][0]["alert"]["status"],
        "suppressed"
    );
    let alerts = std::fs::read_to_string(sb.path().join("alerts.jsonl")).unwrap();
    assert_eq!(
        alerts.lines().count(),
        1,
        "one alert per position and trigger"
    );
    // Falls to 94: the LONG's fixed stop triggers; with --execute both are closed on paper.
    price_series(sb, &[100.0, 100.0, 96.0, 101.0, 94.0, 102.0]);
    let (_, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", at(5))
            .args(["check-stop-loss", "--execute"]),
    );
    assert_eq!(
        v["results"]["L"]["triggered"][0]["action"]["closed"], true,
        "{v}"
    );
    // A stale price never triggers.
    let (_, v, _) = run_json(sb.fks().env("FKS_NOW", at(500)).arg("check-stop-loss"));
    assert_eq!(v["triggered"], 0);
    assert_eq!(
        v["results"]["S"]["stale"].as_array().unwrap().len(),
        1,
        "{v}"
    );
}

#[test]
fn stop_loss_long_short_trailing_alert_once_sqlite() {
    paper_stops(&Sandbox::new());
}

#[test]
fn stop_loss_long_short_trailing_alert_once_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        paper_stops(&sb);
    }
}

#[test]
fn paper_rebalance_executes_sells_before_buys() {
    let sb = Sandbox::new();
    sb.write("fks.toml", "[trading]\nenabled = true\nmax_order_notional = \"100000\"\nmax_run_notional = \"100000\"\n");
    run_json(
        sb.fks()
            .args(["account", "add", "P", "--cash", "10000", "--fee-rate", "0"]),
    );
    price_series(&sb, &[100.0, 100.0]);
    let now = (T0 + 2 * H + 1).to_string();
    run_json(sb.fks().env("FKS_NOW", &now).args([
        "paper",
        "order",
        "--account",
        "P",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--quantity",
        "80",
    ]));
    sb.write("t.json", r#"{"BTCUSDT": 0.25}"#);
    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "t.json",
        "--execute",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["orders"][0]["side"], "SELL");
    assert_eq!(v["orders"][0]["quantity"], "55");
    assert_eq!(v["orders"][0]["fill"]["status"], "filled");
    // Paper orders get ids like any other: fks- + this store's tag + 20 random characters.
    let cid = v["orders"][0]["fill"]["client_order_id"].as_str().unwrap();
    let store_id = scalar(&sb, "SELECT value FROM kv WHERE key = 'store_id'");
    assert!(
        cid.starts_with(&format!("fks-{store_id}")) && cid.len() == 32,
        "{cid}"
    );
    assert_eq!(
        scalar(
            &sb,
            "SELECT fee_asset FROM fills WHERE client_order_id IS NOT NULL"
        ),
        "USDT"
    );
    let (_, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "t.json",
    ]));
    assert_eq!(
        v["orders"].as_array().unwrap().len(),
        0,
        "within the band afterwards: {v}"
    );
    // One store id for everything: the archive names its files with the id the orders carry.
    let later = (T0 + 800 * 24 * H).to_string();
    let (code, a, _) = run_json(sb.fks().env("FKS_NOW", &later).args([
        "archive-old-data",
        "--execute",
        "--archive-dir",
        "arch",
    ]));
    assert_eq!(code, 0, "{a}");
    assert_eq!(a["store_id"], store_id.as_str(), "{a}");
    let path = a["results"]["candles"]["files"][0]["path"]
        .as_str()
        .unwrap();
    assert!(path.contains(&format!("-{store_id}-")), "{path}");
    assert_eq!(
        scalar(&sb, "SELECT value FROM kv WHERE key = 'store_id'"),
        store_id,
        "the id is kept"
    );
}

#[test]
fn a_rejected_order_is_a_clear_per_order_error_and_the_run_is_partial() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    desk.0.lock().unwrap().reject_symbol = Some("ETHUSDT".into());
    rt.block_on(spot_exchange(&server, &desk));
    let (sb, fks) = spot_sandbox(&server, true);
    let (code, v, _) = run_json(fks(&sb).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "targets.json",
        "--execute",
    ]));
    assert_eq!(code, 3, "{v}");
    let orders = v["orders"].as_array().unwrap();
    let eth = orders.iter().find(|o| o["symbol"] == "ETHUSDT").unwrap();
    let btc = orders.iter().find(|o| o["symbol"] == "BTCUSDT").unwrap();
    assert_eq!(eth["fill"]["status"], "rejected");
    assert!(
        eth["fill"]["error"].as_str().unwrap().contains("-2010"),
        "{eth}"
    );
    assert_eq!(
        btc["fill"]["status"], "filled",
        "the other orders of the run go on"
    );
    // The filled order's fill (with its commission) is recorded.
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let (n, fee): (i64, String) = c
        .query_row("SELECT COUNT(*), MAX(fee) FROM fills", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(n, 1);
    assert!(fee.parse::<f64>().unwrap() > 0.0);
}

/// Hourly candles with these closes for `symbol` from T0.
fn closes(sb: &Sandbox, symbol: &str, closes: &[&str]) {
    let mut k = binance::series(T0, H, closes.len(), 1.0);
    for (c, p) in k.iter_mut().zip(closes) {
        c.open = p.to_string();
        c.high = p.to_string();
        c.low = p.to_string();
        c.close = p.to_string();
    }
    crate::support::import_hourly(sb, symbol, &k);
}

fn paper_account(sb: &Sandbox, cash: &str, fee: &str) {
    sb.write(
        "fks.toml",
        "[trading]\nenabled = true\nmax_order_notional = \"1000000\"\nmax_run_notional = \"1000000\"\n",
    );
    let (c, v, _) =
        run_json(
            sb.fks()
                .args(["account", "add", "Main", "--cash", cash, "--fee-rate", fee]),
        );
    assert_eq!(c, 0, "{v}");
}

fn paper_order(sb: &Sandbox, now: &str, symbol: &str, side: &str, qty: &str) {
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", now).args([
        "paper",
        "order",
        "--account",
        "Main",
        "--symbol",
        symbol,
        "--side",
        side,
        "--quantity",
        qty,
    ]));
    assert_eq!(c, 0, "{v}");
}

/// Issue 13's account: 100000 cash, 0.5 BTC bought at 60400 (fee 30.20), BTC now 80619
/// (+10109.50 unrealized). Equity 110079.30; a 50% target buys about 14730.15, not 19784.90.
fn rebalance_counts_an_unrealized_gain_once(sb: &Sandbox) {
    paper_account(sb, "100000", "0.001");
    closes(sb, "BTCUSDT", &["60400", "60400"]);
    paper_order(sb, &(T0 + 2 * H + 1).to_string(), "BTCUSDT", "BUY", "0.5");
    closes(sb, "BTCUSDT", &["60400", "60400", "80619"]);
    sb.write("half.json", r#"{"BTCUSDT": 0.5}"#);
    let now = (T0 + 3 * H + 1).to_string();
    let (c, sync, _) = run_json(sb.fks().env("FKS_NOW", &now).arg("sync-account-balance"));
    assert_eq!(c, 0, "{sync}");
    assert_eq!(sync["results"]["Main"]["equity"], 110079.3);
    assert_eq!(sync["results"]["Main"]["unrealized_pnl"], 10109.5);
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "half.json",
    ]));
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        v["total_value"], 110079.3,
        "the equity, gain counted once: {v}"
    );
    assert_eq!(v["equity"], 110079.3);
    assert_eq!(
        v["cash_before"], 69769.8,
        "99969.80 − 30200 paid for the BTC"
    );
    assert_eq!(
        v["allocation_before"]["BTCUSDT"], 0.366186,
        "40309.50 / 110079.30"
    );
    let o = &v["orders"][0];
    assert_eq!(o["side"], "BUY");
    let notional = exact_notional(o);
    assert!(
        (o["notional"].as_f64().unwrap() - notional).abs() <= 0.005,
        "{o}"
    );
    // 0.5 × 110079.30 − 40309.50 = 14730.15, less than one step (1e-8 BTC) below.
    assert!(
        (14730.15 - notional) >= 0.0 && (14730.15 - notional) < 80619.0 * 1e-8,
        "buy notional {notional}"
    );
    assert_eq!(o["quantity"], "0.18271313");
    // After the buy's fee (14.73) the account is 50% BTC, to within that fee.
    let to = o["to_frac"].as_f64().unwrap();
    assert!((to - 0.5).abs() <= 14.74 / 110079.3, "{o}");
}

#[test]
fn rebalance_counts_an_unrealized_gain_once_sqlite() {
    rebalance_counts_an_unrealized_gain_once(&Sandbox::new());
}

#[test]
fn rebalance_counts_an_unrealized_gain_once_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        rebalance_counts_an_unrealized_gain_once(&sb);
    }
}

/// Issue 12 §8: BTC and ETH held, `{"BTCUSDT": 0.5}`: ETH is left alone and listed under
/// `untouched`; `--sell-unlisted` sells it.
fn unlisted_holdings_are_left_untouched(sb: &Sandbox) {
    paper_account(sb, "10000", "0.001");
    closes(sb, "BTCUSDT", &["40000", "40000"]);
    closes(sb, "ETHUSDT", &["2000", "2000"]);
    let now = (T0 + 2 * H + 1).to_string();
    paper_order(sb, &now, "BTCUSDT", "BUY", "0.1");
    paper_order(sb, &now, "ETHUSDT", "BUY", "1.5");
    sb.write("btc.json", r#"{"BTCUSDT": 0.5}"#);
    let plan = |extra: &[&str]| {
        let (c, v, _) = run_json(
            sb.fks()
                .env("FKS_NOW", &now)
                .args([
                    "rebalance-portfolio",
                    "--account-id",
                    "1",
                    "--targets",
                    "btc.json",
                ])
                .args(extra),
        );
        assert_eq!(c, 0, "{v}");
        v
    };
    let v = plan(&[]);
    let orders = v["orders"].as_array().unwrap();
    assert!(
        orders.iter().all(|o| o["symbol"] != "ETHUSDT"),
        "no ETH sale: {v}"
    );
    assert_eq!(v["untouched"], serde_json::json!(["ETHUSDT"]));
    assert_eq!(v["sell_unlisted"], false);
    assert_eq!(orders.len(), 1, "BTC 40% → 50%: {v}");
    assert_eq!(orders[0]["side"], "BUY");
    // Nothing was sent or filled by the dry runs.
    let v = plan(&["--sell-unlisted"]);
    let eth = v["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["symbol"] == "ETHUSDT")
        .unwrap_or_else(|| panic!("ETH sold with --sell-unlisted: {v}"))
        .clone();
    assert_eq!(eth["side"], "SELL");
    assert_eq!(eth["quantity"], "1.5", "all of it");
    assert_eq!(v["untouched"], serde_json::json!([]));
    // Executed, the default really leaves ETH where it was.
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "btc.json",
        "--execute",
    ]));
    assert_eq!(c, 0, "{v}");
    let (_, v, _) = run_json(sb.fks().env("FKS_NOW", &now).arg("update-positions"));
    let eth = v["results"]["Main"]["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["symbol"] == "ETHUSDT")
        .unwrap()
        .clone();
    assert_eq!(eth["quantity"], "1.5");
}

#[test]
fn unlisted_holdings_are_left_untouched_sqlite() {
    unlisted_holdings_are_left_untouched(&Sandbox::new());
}

#[test]
fn unlisted_holdings_are_left_untouched_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        unlisted_holdings_are_left_untouched(&sb);
    }
}

#[test]
fn spot_rebalance_leaves_unlisted_assets_untouched() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    rt.block_on(spot_exchange_with_account(
        &server,
        &desk,
        &binance::SPOT_ACCOUNT.replace(
            r#"{"asset":"ETH","free":"0.00000000","locked":"0.00000000"}"#,
            r#"{"asset":"ETH","free":"0.20000000","locked":"0.00000000"}"#,
        ),
    ));
    let (sb, fks) = spot_sandbox(&server, true);
    sb.write("btc.json", r#"{"BTCUSDT": 0.5}"#);
    // 900 USDT + 0.002 BTC (100) + 0.2 ETH (500) = 1500.
    let (code, v, _) = run_json(fks(&sb).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "btc.json",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["total_value"], 1500.0);
    assert_eq!(v["untouched"], serde_json::json!(["ETHUSDT"]));
    assert!(
        v["orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["symbol"] != "ETHUSDT"),
        "{v}"
    );
    let (code, v, _) = run_json(fks(&sb).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "btc.json",
        "--sell-unlisted",
    ]));
    assert_eq!(code, 0, "{v}");
    let eth = &v["orders"][0];
    assert_eq!(
        (&eth["symbol"], &eth["side"], &eth["quantity"]),
        (
            &serde_json::json!("ETHUSDT"),
            &serde_json::json!("SELL"),
            &serde_json::json!("0.2")
        ),
        "{v}"
    );
    assert_eq!(posts(&rt, &server), 0, "dry runs");
}

/// A paper account whose LONG lost half its value can still reach its targets: the margin
/// a buy may use is the account's cash (positions at their marks), as on a spot account.
#[test]
fn paper_rebalance_after_a_loss_reaches_its_targets() {
    let sb = Sandbox::new();
    paper_account(&sb, "10000", "0");
    closes(&sb, "BTCUSDT", &["100", "100"]);
    closes(&sb, "ETHUSDT", &["10", "10", "10"]);
    paper_order(&sb, &(T0 + 2 * H + 1).to_string(), "BTCUSDT", "BUY", "80");
    closes(&sb, "BTCUSDT", &["100", "100", "50"]);
    // Equity 10000 − 80 × 50 = 6000: cash 2000, BTC 4000.
    sb.write("t.json", r#"{"BTCUSDT": 0.1, "ETHUSDT": 0.85}"#);
    let now = (T0 + 3 * H + 1).to_string();
    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "t.json",
        "--execute",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["total_value"], 6000.0);
    let orders = v["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "{v}");
    assert_eq!(
        (&orders[0]["symbol"], &orders[0]["quantity"]),
        (&serde_json::json!("BTCUSDT"), &serde_json::json!("68"))
    );
    assert_eq!(
        (&orders[1]["symbol"], &orders[1]["quantity"]),
        (&serde_json::json!("ETHUSDT"), &serde_json::json!("510"))
    );
    for o in orders {
        assert_eq!(o["fill"]["status"], "filled", "{o}");
    }
    let (_, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "t.json",
        "--band",
        "0",
    ]));
    assert_eq!(v["equity"], 6000.0);
    assert_eq!(
        v["allocation_before"],
        serde_json::json!({"BTCUSDT": 0.1, "ETHUSDT": 0.85})
    );
    assert!(v["orders"].as_array().unwrap().is_empty(), "{v}");
}

/// With paper slippage, a fully invested target still executes: the planner costs each buy
/// at the price the paper exchange will fill it (mark + slippage) and its fee, so the last
/// buy is not refused for margin.
#[test]
fn paper_rebalance_with_slippage_never_overspends() {
    let sb = Sandbox::new();
    sb.write(
        "fks.toml",
        "[trading]\nenabled = true\nmax_order_notional = \"1000000\"\nmax_run_notional = \"1000000\"\n",
    );
    let (c, v, _) = run_json(sb.fks().args([
        "account",
        "add",
        "Main",
        "--cash",
        "10000",
        "--fee-rate",
        "0.001",
        "--slippage-bps",
        "50",
    ]));
    assert_eq!(c, 0, "{v}");
    closes(&sb, "BTCUSDT", &["100", "100"]);
    closes(&sb, "ETHUSDT", &["10", "10"]);
    sb.write("all.json", r#"{"BTCUSDT": 0.5, "ETHUSDT": 0.5}"#);
    let now = (T0 + 2 * H + 1).to_string();
    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "all.json",
        "--execute",
    ]));
    assert_eq!(code, 0, "{v}");
    let orders = v["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "{v}");
    for o in orders {
        assert_eq!(o["fill"]["status"], "filled", "{o}");
    }
    let (_, v, _) = run_json(sb.fks().env("FKS_NOW", &now).arg("sync-account-balance"));
    let a = &v["results"]["Main"];
    assert!(a["cash"].as_f64().unwrap() >= 0.0, "{a}");
    assert!(a["margin_available"].as_f64().unwrap() >= 0.0, "{a}");
}

// ---- Order identity (issue 12 §2) ------------------------------------------------------------

fn rebalance_one(
    fks: &impl Fn(&Sandbox) -> assert_cmd::Command,
    sb: &Sandbox,
) -> (i32, serde_json::Value) {
    let (code, v, err) = run_json(fks(sb).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "one.json",
        "--execute",
    ]));
    assert!(!err.contains("panicked"), "{err}");
    (code, v)
}

/// Store B trades on the account store A already traded on. Both have account 1 and the same
/// run ids, so ids derived from them would repeat. B's order gets a 5xx and never reaches the
/// matching engine: asking the exchange for B's id must not find A's order.
fn second_store_order_lost_to_a_5xx(
    a: &Sandbox,
    b: &Sandbox,
    desk: &Desk,
    fks: &impl Fn(&Sandbox) -> assert_cmd::Command,
) {
    let (code, v) = rebalance_one(fks, a);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["orders"][0]["fill"]["status"], "filled", "{v}");
    assert_eq!(desk.0.lock().unwrap().placed.len(), 1);

    desk.0.lock().unwrap().mode = PostMode::ServerError;
    let (code, v) = rebalance_one(fks, b);
    assert_eq!(code, 3, "a run whose order was not placed is partial: {v}");
    assert_eq!(v["status"], "partial");
    let fill = &v["orders"][0]["fill"];
    assert_eq!(fill["status"], "not_placed", "{v}");
    assert!(fill["filled_qty"].is_null(), "{v}");
    assert_eq!(
        scalar(b, "SELECT COUNT(*) FROM fills"),
        "0",
        "nothing booked in B"
    );
    assert_eq!(scalar(b, "SELECT status FROM orders"), "not_placed");
    let s = desk.0.lock().unwrap();
    assert_eq!(
        s.placed.len(),
        1,
        "B's order never reached the matching engine"
    );
    assert_eq!(s.seen.len(), 2);
    assert_ne!(s.seen[0].cid, s.seen[1].cid, "two stores never share an id");
    for o in &s.seen {
        assert!(o.cid.starts_with("fks-") && o.cid.len() <= 36, "{}", o.cid);
        assert!(
            o.cid
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-'),
            "{}",
            o.cid
        );
    }
    drop(s);
    assert_eq!(
        scalar(a, "SELECT COUNT(*) FROM fills"),
        "1",
        "A keeps its one fill"
    );
}

fn two_stores_on_one_account(a: Sandbox, b: Sandbox) {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    rt.block_on(spot_exchange(&server, &desk));
    let (a, fks) = spot_setup(a, &server, true);
    let (b, _) = spot_setup(b, &server, true);
    second_store_order_lost_to_a_5xx(&a, &b, &desk, &fks);
    // Each store keeps its own store id, and the ids it journals carry it.
    let (ida, idb) = (
        scalar(&a, "SELECT value FROM kv WHERE key = 'store_id'"),
        scalar(&b, "SELECT value FROM kv WHERE key = 'store_id'"),
    );
    assert_eq!(ida.len(), 8, "{ida}");
    assert_ne!(ida, idb);
    let cid_a = scalar(&a, "SELECT client_order_id FROM orders");
    assert!(cid_a.starts_with(&format!("fks-{ida}")), "{cid_a}");
    assert_eq!(cid_a.len(), 32);
}

#[test]
fn two_stores_on_one_account_never_book_each_others_orders_sqlite() {
    two_stores_on_one_account(Sandbox::new(), Sandbox::new());
}

#[test]
fn two_stores_on_one_account_never_book_each_others_orders_postgres() {
    let (Some(a), Some(b)) = (Sandbox::postgres(), Sandbox::postgres()) else {
        return;
    };
    two_stores_on_one_account(a, b);
}

fn restored_backup(a: Sandbox) {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    rt.block_on(spot_exchange(&server, &desk));
    let (a, fks) = spot_setup(a, &server, true);
    // A backup taken before A trades, restored later as store B (same store id, same runs).
    let b = restore_copy(&a);
    spot_files(&b, true);
    second_store_order_lost_to_a_5xx(&a, &b, &desk, &fks);
}

#[test]
fn a_store_restored_from_a_backup_never_books_the_originals_order_sqlite() {
    restored_backup(Sandbox::new());
}

#[test]
fn a_store_restored_from_a_backup_never_books_the_originals_order_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        restored_backup(sb);
    }
}

/// The exchange answers the query for fks's id with an order that is not the one journaled:
/// made an hour before the journal row, or for another quantity or side, or carrying another
/// id. It is `foreign`: nothing booked, the run partial, and no later run asks about it again.
fn foreign_orders(make: impl Fn() -> Option<Sandbox>) {
    let cases = [
        (
            "an hour older",
            binance::Forge {
                time_shift_ms: -3_600_000,
                ..Default::default()
            },
        ),
        (
            "another quantity",
            binance::Forge {
                qty: Some("0.00700000".into()),
                ..Default::default()
            },
        ),
        (
            "another side",
            binance::Forge {
                side: Some("SELL".into()),
                ..Default::default()
            },
        ),
        (
            "another id",
            binance::Forge {
                cid: Some("fks-someoneelse0000000000000000".into()),
                ..Default::default()
            },
        ),
    ];
    for (what, forge) in cases {
        let Some(sb) = make() else { return };
        let rt = rt();
        let server = rt.block_on(MockServer::start());
        let desk = Desk::default();
        rt.block_on(spot_exchange(&server, &desk));
        let (sb, fks) = spot_setup(sb, &server, true);
        {
            let mut s = desk.0.lock().unwrap();
            s.mode = PostMode::ServerError;
            s.forge = Some(forge);
        }
        let (code, v) = rebalance_one(&fks, &sb);
        assert_eq!(code, 3, "{what}: {v}");
        let fill = &v["orders"][0]["fill"];
        assert_eq!(fill["status"], "foreign", "{what}: {v}");
        assert!(
            fill["error"].as_str().unwrap().contains("not the order"),
            "{what}: {v}"
        );
        assert_eq!(scalar(&sb, "SELECT COUNT(*) FROM fills"), "0", "{what}");
        assert_eq!(
            scalar(&sb, "SELECT COALESCE(exchange_order_id, '') FROM orders"),
            "",
            "{what}"
        );
        // Never revisited: the next run does not ask the exchange about it again.
        let queries = |rt: &tokio::runtime::Runtime| {
            rt.block_on(server.received_requests())
                .unwrap()
                .iter()
                .filter(|r| r.method.as_str() == "GET" && r.url.path() == "/api/v3/order")
                .count()
        };
        let before = queries(&rt);
        let (code, v, _) = run_json(fks(&sb).args([
            "rebalance-portfolio",
            "--account-id",
            "1",
            "--targets",
            "one.json",
        ]));
        assert_eq!(code, 0, "{what}: {v}");
        assert_eq!(v["reconciled_orders"], serde_json::json!([]), "{what}: {v}");
        assert_eq!(queries(&rt), before, "{what}");
        assert_eq!(
            scalar(&sb, "SELECT status FROM orders WHERE id = 1"),
            "foreign"
        );
    }
}

#[test]
fn an_exchange_order_that_is_not_the_journaled_one_is_foreign_sqlite() {
    foreign_orders(|| Some(Sandbox::new()));
}

#[test]
fn an_exchange_order_that_is_not_the_journaled_one_is_foreign_postgres() {
    foreign_orders(Sandbox::postgres);
}

/// The answer to the order is lost (a timeout, or a 200 cut short): fks asks by client id,
/// finds its order filled, and books the commission the order's trades say (BNB here), not 0.
fn reconciled_commission(make: impl Fn() -> Option<Sandbox>) {
    for mode in [PostMode::LoseAnswer, PostMode::Garble] {
        let Some(sb) = make() else { return };
        let rt = rt();
        let server = rt.block_on(MockServer::start());
        let desk = Desk::default();
        rt.block_on(spot_exchange(&server, &desk));
        let (sb, fks) = spot_setup(sb, &server, true);
        desk.0.lock().unwrap().mode = mode;
        let (code, v) = rebalance_one(&fks, &sb);
        assert_eq!(code, 0, "{mode:?}: {v}");
        let fill = &v["orders"][0]["fill"];
        assert_eq!(fill["status"], "filled", "{mode:?}: {v}");
        assert_eq!(fill["fee"], 0.00012345, "{mode:?}: {v}");
        assert_eq!(fill["fee_asset"], "BNB", "{mode:?}: {v}");
        assert_eq!(posts(&rt, &server), 1, "{mode:?}: sent once, never resent");
        assert_eq!(scalar(&sb, "SELECT COUNT(*) FROM fills"), "1");
        assert_eq!(scalar(&sb, "SELECT fee FROM fills"), "0.00012345");
        assert_eq!(scalar(&sb, "SELECT fee_asset FROM fills"), "BNB");
        let trades = rt
            .block_on(server.received_requests())
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/api/v3/myTrades")
            .map(|r| r.url.query().unwrap_or_default().to_string())
            .collect::<Vec<_>>();
        assert_eq!(trades.len(), 1, "{mode:?}");
        let id = desk.0.lock().unwrap().placed[0].order_id;
        assert!(trades[0].contains(&format!("orderId={id}")), "{trades:?}");
    }
}

/// The exchange's clock runs two hours behind this host's: an order made after its journal row
/// is ours by the exchange's clock (not foreign by the local one); one made an hour before
/// the journal row by the exchange's clock is not.
#[test]
fn order_times_are_judged_by_the_exchange_clock() {
    for (mode, forge, want) in [
        (PostMode::LoseAnswer, None, "filled"),
        (
            PostMode::ServerError,
            Some(binance::Forge {
                time_shift_ms: -3_600_000,
                ..Default::default()
            }),
            "foreign",
        ),
    ] {
        let rt = rt();
        let server = rt.block_on(MockServer::start());
        let desk = Desk::default();
        rt.block_on(spot_exchange(&server, &desk));
        let (sb, fks) = spot_setup(Sandbox::new(), &server, true);
        {
            let mut s = desk.0.lock().unwrap();
            s.clock_skew_ms = -2 * 3_600_000;
            s.mode = mode;
            s.forge = forge;
        }
        let (_, v) = rebalance_one(&fks, &sb);
        assert_eq!(v["orders"][0]["fill"]["status"], want, "{v}");
        let journaled: i64 = scalar(&sb, "SELECT exchange_time_ms FROM orders")
            .parse()
            .unwrap();
        let local = binance::now_ms();
        assert!(
            (local - 2 * 3_600_000 - journaled).abs() < 60_000,
            "journaled on the exchange's clock: {journaled} vs local {local}"
        );
    }
}

#[test]
fn a_reconciled_fill_records_the_real_commission_sqlite() {
    reconciled_commission(|| Some(Sandbox::new()));
}

#[test]
fn a_reconciled_fill_records_the_real_commission_postgres() {
    reconciled_commission(Sandbox::postgres);
}

/// A futures account's LONG hits its stop; the reduce-only close is sent through the journal.
fn futures_stop_setup(
    sb: Sandbox,
    server: &MockServer,
) -> (Sandbox, impl Fn(&Sandbox) -> assert_cmd::Command + use<>) {
    sb.write("fks.toml", "[exchange]\ntimeout_secs = 1\nrecv_window_ms = 1000\n[trading]\nenabled = true\nmax_order_notional = \"100000\"\nmax_run_notional = \"100000\"\n");
    let (code, v, _) =
        run_json(
            sb.fks()
                .args(["account", "add", "Fut", "--kind", "binance-futures"]),
        );
    assert_eq!(code, 0, "{v}");
    let fks = exchange_cmd(server);
    let (code, v, _) = run_json(fks(&sb).arg("update-positions"));
    assert_eq!(code, 0, "{v}");
    let (code, v, _) = run_json(sb.fks().args([
        "position",
        "stop",
        "--account-id",
        "1",
        "--symbol",
        "BTCUSDT",
        "--price",
        "43000",
    ]));
    assert_eq!(code, 0, "{v}");
    (sb, fks)
}

fn futures_close(make: impl Fn() -> Option<Sandbox>) {
    // The answer to the close is cut short: it was placed; fks finds it by client id and books
    // it with the commission and realized PnL of its trades.
    let Some(sb) = make() else { return };
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    rt.block_on(mount_account(&server, &desk));
    {
        let mut s = desk.0.lock().unwrap();
        s.mode = PostMode::Garble;
        s.commission = ("3.15000000".into(), "USDT".into());
    }
    let (sb, fks) = futures_stop_setup(sb, &server);
    let (code, v, _) = run_json(fks(&sb).args(["check-stop-loss", "--execute"]));
    assert_eq!(code, 0, "{v}");
    let order = &v["results"]["Fut"]["triggered"][0]["action"]["order"];
    assert_eq!(order["status"], "filled", "{v}");
    assert_eq!(order["quantity"], "0.15", "{v}");
    assert_eq!(order["fee"], 3.15, "{v}");
    assert_eq!(order["fee_asset"], "USDT", "{v}");
    let placed = desk.0.lock().unwrap().placed.clone();
    assert_eq!(placed.len(), 1);
    assert_eq!(
        (placed[0].side.as_str(), placed[0].qty.as_str()),
        ("SELL", "0.15")
    );
    assert_eq!(
        scalar(
            &sb,
            "SELECT fee || ' ' || fee_asset || ' ' || realized_pnl FROM fills"
        ),
        "3.15000000 USDT 12.50000000"
    );

    // Another store trades the same account; its close gets a 5xx and is never placed.
    let Some(sb2) = make() else { return };
    desk.0.lock().unwrap().mode = PostMode::Fill;
    let (sb2, fks) = futures_stop_setup(sb2, &server);
    desk.0.lock().unwrap().mode = PostMode::ServerError;
    let (code, v, _) = run_json(fks(&sb2).args(["check-stop-loss", "--execute"]));
    assert_eq!(code, 3, "{v}");
    let order = &v["results"]["Fut"]["triggered"][0]["action"]["order"];
    assert_eq!(order["status"], "not_placed", "{v}");
    assert_eq!(scalar(&sb2, "SELECT COUNT(*) FROM fills"), "0");
    assert_eq!(desk.0.lock().unwrap().placed.len(), 1);
}

#[test]
fn futures_stop_loss_close_is_reconciled_by_identity_and_booked_with_its_commission_sqlite() {
    futures_close(|| Some(Sandbox::new()));
}

#[test]
fn futures_stop_loss_close_is_reconciled_by_identity_and_booked_with_its_commission_postgres() {
    futures_close(Sandbox::postgres);
}

/// A stop-loss close that filled, whose position the store still shows open (update-positions
/// has not run since: a killed run, a lost answer, or simply the next cron run), is never sent
/// again: the position is closed once.
fn close_once(make: impl Fn() -> Option<Sandbox>) {
    let Some(sb) = make() else { return };
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    rt.block_on(mount_account(&server, &desk));
    let (sb, fks) = futures_stop_setup(sb, &server);
    // The answer of the first close is lost; fks finds the order by its client id.
    desk.0.lock().unwrap().mode = PostMode::LoseAnswer;
    let (code, v, _) = run_json(fks(&sb).args(["check-stop-loss", "--execute"]));
    assert_eq!(code, 0, "{v}");
    let order = &v["results"]["Fut"]["triggered"][0]["action"]["order"];
    assert_eq!(order["status"], "filled", "{v}");
    desk.0.lock().unwrap().mode = PostMode::Fill;
    // The next run (and the one after) see the position still open in the store.
    for _ in 0..2 {
        let (code, v, err) = run_json(fks(&sb).args(["check-stop-loss", "--execute"]));
        assert_eq!(code, 0, "{v} {err}");
        let action = &v["results"]["Fut"]["triggered"][0]["action"];
        assert_eq!(action["closed"], true, "{v}");
        assert_eq!(action["already_closed"], true, "{v}");
        assert_eq!(desk.0.lock().unwrap().placed.len(), 1, "closed twice: {v}");
    }
    assert_eq!(
        scalar(
            &sb,
            "SELECT COUNT(*) || ' ' || COUNT(position_id) FROM orders"
        ),
        "1 1",
        "one order, linked to the position it closes"
    );
    // Once update-positions has read the exchange again and the position is still there
    // (the desk keeps reporting it), a close is allowed again.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (code, v, _) = run_json(fks(&sb).arg("update-positions"));
    assert_eq!(code, 0, "{v}");
    let (code, v, _) = run_json(fks(&sb).args(["check-stop-loss", "--execute"]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["results"]["Fut"]["triggered"][0]["action"]["order"]["status"], "filled",
        "{v}"
    );
    assert_eq!(desk.0.lock().unwrap().placed.len(), 2);
}

#[test]
fn a_position_is_closed_once_across_lost_answers_and_reruns_sqlite() {
    close_once(|| Some(Sandbox::new()));
}

#[test]
fn a_position_is_closed_once_across_lost_answers_and_reruns_postgres() {
    close_once(Sandbox::postgres);
}

fn exec_sql(sb: &Sandbox, sql: &str) {
    if sb.db.starts_with("postgres") {
        let out = std::process::Command::new("psql")
            .args([sb.db.as_str(), "-qc", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    rusqlite::Connection::open(&sb.db)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

/// A rebalance that would sell all of a position another job is closing (a stop-loss close
/// still in flight) sends nothing for it: the position is closed once.
fn rebalance_leaves_a_position_being_closed(sb: &Sandbox) {
    paper_account(sb, "100000", "0.001");
    closes(sb, "BTCUSDT", &["60400", "60400"]);
    paper_order(sb, &(T0 + 2 * H + 1).to_string(), "BTCUSDT", "BUY", "0.5");
    closes(sb, "BTCUSDT", &["60400", "60400", "61000"]);
    let pos = scalar(sb, "SELECT id FROM positions WHERE status = 'open'");
    exec_sql(
        sb,
        &format!(
            "INSERT INTO orders (account_id, client_order_id, symbol, side, type, quantity, status, reason, created_ms, updated_ms, position_id) \
             VALUES (1, 'fks-inflight-close', 'BTCUSDT', 'SELL', 'MARKET', '0.5', 'sent', 'stop-loss', {t}, {t}, {pos})",
            t = T0 + 3 * H
        ),
    );
    sb.write("none.json", r#"{"BTCUSDT": 0}"#);
    let now = (T0 + 3 * H + 1).to_string();
    let (c, v, err) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "none.json",
        "--execute",
    ]));
    assert_eq!(c, 3, "{v} {err}");
    let o = &v["orders"][0];
    assert_eq!(o["side"], "SELL", "{v}");
    assert!(
        o["already_closing"]
            .as_str()
            .unwrap_or("")
            .contains("fks-inflight-close"),
        "{v}"
    );
    assert_eq!(
        scalar(sb, "SELECT COUNT(*) FROM orders"),
        "1",
        "nothing journaled"
    );
    assert_eq!(
        scalar(sb, "SELECT quantity FROM positions WHERE status = 'open'"),
        "0.5"
    );
    // Once that close is settled as never placed, the rebalance sells it, linked to it.
    exec_sql(sb, "UPDATE orders SET status = 'not_placed'");
    let (c, v, err) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "none.json",
        "--execute",
    ]));
    assert_eq!(c, 0, "{v} {err}");
    assert_eq!(v["orders"][0]["fill"]["status"], "filled", "{v}");
    assert_eq!(
        scalar(
            sb,
            &format!("SELECT COUNT(*) FROM orders WHERE position_id = {pos} AND status = 'filled'")
        ),
        "1"
    );
}

#[test]
fn rebalance_leaves_a_position_being_closed_sqlite() {
    rebalance_leaves_a_position_being_closed(&Sandbox::new());
}

#[test]
fn rebalance_leaves_a_position_being_closed_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        rebalance_leaves_a_position_being_closed(&sb);
    }
}

/// run-strategies on a Binance spot account at the loopback exchange: the market order goes
/// out when the bar closes, through the order journal; a -2010 rejection fails that symbol
/// only (the run is partial); a rerun in the same bar sends nothing.
#[test]
fn run_strategies_trades_a_spot_account_and_a_rejection_fails_one_symbol() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    desk.0.lock().unwrap().reject_symbol = Some("ETHUSDT".into());
    rt.block_on(spot_exchange(&server, &desk));
    let (sb, fks) = spot_sandbox(&server, true);
    // Falling then rising: the fast average crosses above the slow one at the last bar.
    let series = [
        "100", "99", "98", "97", "96", "95", "94", "93", "92", "91", "90", "96",
    ];
    closes(&sb, "BTCUSDT", &series);
    closes(&sb, "ETHUSDT", &series);
    for (name, sym) in [("b", "BTCUSDT"), ("e", "ETHUSDT")] {
        let (c, v, e) = run_json(sb.fks().args([
            "strategy",
            "add",
            name,
            "--kind",
            "sma_cross",
            "--params",
            "fast=2,slow=4",
            "--symbols",
            sym,
            "--timeframe",
            "1h",
            "--account-id",
            "1",
            "--allocation",
            "0.1",
        ]));
        assert_eq!(c, 0, "{v} {e}");
    }
    let now = (T0 + series.len() as i64 * H + 1_000).to_string();
    // Dry run first: the order it would place, nothing sent.
    let (c, v, e) = run_json(
        fks(&sb)
            .env("FKS_NOW", &now)
            .args(["run-strategies", "--no-sync"]),
    );
    assert_eq!(c, 0, "{v} {e}");
    assert_eq!(v["results"]["b/BTCUSDT"]["target"], "long", "{v}");
    assert_eq!(
        v["results"]["b/BTCUSDT"]["would_place"][0]["side"], "BUY",
        "{v}"
    );
    assert_eq!(posts(&rt, &server), 0, "a dry run sends nothing");
    let (c, v, e) =
        run_json(
            fks(&sb)
                .env("FKS_NOW", &now)
                .args(["run-strategies", "--no-sync", "--execute"]),
        );
    assert_eq!(c, 3, "one symbol rejected: partial\n{v} {e}");
    let btc = &v["results"]["b/BTCUSDT"];
    assert_eq!(btc["orders"][0]["status"], "filled", "{v}");
    let eth = &v["results"]["e/ETHUSDT"];
    assert_eq!(eth["status"], "partial", "{v}");
    assert_eq!(eth["orders"][0]["status"], "rejected", "{v}");
    assert!(
        eth["orders"][0]["error"]
            .as_str()
            .unwrap()
            .contains("-2010"),
        "{v}"
    );
    let sent = posts(&rt, &server);
    assert_eq!(sent, 2, "one order per symbol");
    // The same bar again: already decided, nothing sent.
    let (c, v, _) =
        run_json(
            fks(&sb)
                .env("FKS_NOW", &now)
                .args(["run-strategies", "--no-sync", "--execute"]),
        );
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["results"]["b/BTCUSDT"]["already_decided"], true, "{v}");
    assert_eq!(posts(&rt, &server), sent);
}

/// Two strategies (b on BTCUSDT, e on ETHUSDT) bound to a spot account at a fresh loopback
/// exchange, the same closes on both: each wants one BUY at the last bar.
fn caps_setup(
    order_cap: &str,
    run_cap: &str,
) -> (
    tokio::runtime::Runtime,
    MockServer,
    Sandbox,
    impl Fn(&Sandbox) -> assert_cmd::Command + use<>,
    String,
) {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = Desk::default();
    rt.block_on(spot_exchange(&server, &desk));
    let (sb, fks) = spot_sandbox(&server, true);
    let series = [
        "100", "99", "98", "97", "96", "95", "94", "93", "92", "91", "90", "96",
    ];
    closes(&sb, "BTCUSDT", &series);
    closes(&sb, "ETHUSDT", &series);
    for (name, sym) in [("b", "BTCUSDT"), ("e", "ETHUSDT")] {
        let (c, v, e) = run_json(sb.fks().args([
            "strategy",
            "add",
            name,
            "--kind",
            "sma_cross",
            "--params",
            "fast=2,slow=4",
            "--symbols",
            sym,
            "--timeframe",
            "1h",
            "--account-id",
            "1",
            "--allocation",
            "0.1",
        ]));
        assert_eq!(c, 0, "{v} {e}");
    }
    sb.write("fks.toml", &format!("[exchange]\ntimeout_secs = 1\nrecv_window_ms = 1000\n[trading]\nenabled = true\nmax_order_notional = \"{order_cap}\"\nmax_run_notional = \"{run_cap}\"\n"));
    let now = (T0 + series.len() as i64 * H + 1_000).to_string();
    (rt, server, sb, fks, now)
}

/// run-strategies obeys the safety caps of real money like rebalance-portfolio: an order above
/// `trading.max_order_notional` is refused (not shrunk) and never sent; once the run's orders
/// reach `trading.max_run_notional` the next one is refused. A refusal makes the run partial
/// with one `error:` line saying which cap.
#[test]
fn run_strategies_refuses_orders_above_the_notional_caps() {
    // Caps far away: the dry run lists one BUY per symbol; its notional sets the caps below.
    let (_rt, _server, sb, fks, now) = caps_setup("100000000", "100000000");
    let (c, v, e) = run_json(
        fks(&sb)
            .env("FKS_NOW", &now)
            .args(["run-strategies", "--no-sync"]),
    );
    assert_eq!(c, 0, "{v} {e}");
    let buy = &v["results"]["b/BTCUSDT"]["would_place"][0];
    assert_eq!(buy["side"], "BUY", "{v}");
    let qty: f64 = buy["quantity"].as_str().unwrap().parse().unwrap();
    let notional = qty * 96.0;
    assert!(notional > 10.0, "{v}");

    // Per-order cap below one order: both refused, nothing sent or journaled, exit 3.
    let (rt, server, sb, fks, now) = caps_setup(&format!("{:.2}", notional / 2.0), "100000000");
    let (c, v, e) =
        run_json(
            fks(&sb)
                .env("FKS_NOW", &now)
                .args(["run-strategies", "--no-sync", "--execute"]),
        );
    assert_eq!(c, 3, "refused by the cap: partial\n{v} {e}");
    for key in ["b/BTCUSDT", "e/ETHUSDT"] {
        let r = &v["results"][key];
        assert_eq!(r["status"], "partial", "{v}");
        assert_eq!(r["orders"].as_array().unwrap().len(), 0, "{v}");
        assert_eq!(r["refused"][0]["reason"], "above_order_cap", "{v}");
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("trading.max_order_notional"),
            "{v}"
        );
    }
    assert_eq!(e.matches("error:").count(), 1, "one error line: {e}");
    assert!(e.contains("max_order_notional"), "{e}");
    assert_eq!(
        posts(&rt, &server),
        0,
        "an order above the cap is never sent"
    );
    assert_eq!(
        scalar(&sb, "SELECT COUNT(*) FROM orders"),
        "0",
        "nor journaled"
    );

    // Run cap with room for one order: the first symbol's goes out, the second is refused.
    let (rt, server, sb, fks, now) = caps_setup("100000000", &format!("{:.2}", notional * 1.5));
    let (c, v, e) =
        run_json(
            fks(&sb)
                .env("FKS_NOW", &now)
                .args(["run-strategies", "--no-sync", "--execute"]),
        );
    assert_eq!(c, 3, "{v} {e}");
    assert_eq!(
        v["results"]["b/BTCUSDT"]["orders"][0]["status"], "filled",
        "{v}"
    );
    let eth = &v["results"]["e/ETHUSDT"];
    assert_eq!(eth["orders"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(eth["refused"][0]["reason"], "run_cap_reached", "{v}");
    assert!(
        eth["error"]
            .as_str()
            .unwrap()
            .contains("trading.max_run_notional"),
        "{v}"
    );
    assert_eq!(
        posts(&rt, &server),
        1,
        "only the order within the run's cap"
    );
    assert_eq!(scalar(&sb, "SELECT COUNT(*) FROM orders"), "1");
}
