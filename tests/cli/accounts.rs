//! Accounts, the paper exchange, sync-account-balance and update-positions, on paper and on
//! loopback Binance spot / USD-M futures servers that verify signatures.

use crate::support::signed::SignedBy;
use crate::support::{Sandbox, binance, rt, run_json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000; // 2024-01-01

/// Store closes for a symbol: `closes[i]` at T0 + i h.
fn prices(sb: &Sandbox, symbol: &str, closes: &[&str]) {
    let mut k = binance::series(T0, H, closes.len(), 1.0);
    for (c, p) in k.iter_mut().zip(closes) {
        c.open = p.to_string();
        c.high = p.to_string();
        c.low = p.to_string();
        c.close = p.to_string();
    }
    crate::support::import_hourly(sb, symbol, &k);
}

fn paper_long_short(sb: &Sandbox) {
    let at = |h: i64| (T0 + h * H + 1).to_string();
    let (c, v, _) = run_json(sb.fks().args([
        "account",
        "add",
        "Main Account",
        "--kind",
        "paper",
        "--cash",
        "10000",
        "--fee-rate",
        "0.001",
    ]));
    assert_eq!(c, 0, "{v}");
    prices(sb, "BTCUSDT", &["40000.00", "40000.00"]);
    prices(sb, "ETHUSDT", &["2000.00", "2000.00"]);
    // LONG 0.1 BTC at 40000 (fee 4), SHORT 1 ETH at 2000 (fee 2).
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", at(2)).args([
        "paper",
        "order",
        "--account",
        "Main Account",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--quantity",
        "0.1",
    ]));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["fill"]["fee"], 4.0);
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", at(2)).args([
        "paper",
        "order",
        "--account",
        "1",
        "--symbol",
        "ETHUSDT",
        "--side",
        "SELL",
        "--quantity",
        "1",
        "--stop-loss",
        "2100",
    ]));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["fill"]["position_after"]["side"], "SHORT");
    // Prices move: BTC 38000 (LONG loses 200), ETH 2100 (SHORT loses 100).
    prices(sb, "BTCUSDT", &["40000.00", "40000.00", "38000.00"]);
    prices(sb, "ETHUSDT", &["2000.00", "2000.00", "2100.00"]);
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", at(3)).arg("update-positions"));
    assert_eq!(c, 0, "{v}");
    let pos = v["results"]["Main Account"]["positions"]
        .as_array()
        .unwrap();
    let btc = pos.iter().find(|p| p["symbol"] == "BTCUSDT").unwrap();
    let eth = pos.iter().find(|p| p["symbol"] == "ETHUSDT").unwrap();
    assert_eq!(btc["side"], "LONG");
    assert_eq!(btc["unrealized_pnl"], -200.0);
    assert_eq!(btc["pnl_pct"], -5.0);
    assert_eq!(eth["unrealized_pnl"], -100.0);
    assert_eq!(eth["pnl_pct"], -5.0);
    assert_eq!(eth["stop_loss"], "2100");
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", at(3)).arg("sync-account-balance"));
    assert_eq!(c, 0, "{v}");
    let a = &v["results"]["Main Account"];
    assert_eq!(a["balance"], 9994.0);
    assert_eq!(a["unrealized_pnl"], -300.0);
    assert_eq!(a["equity"], 9694.0);
    assert_eq!(a["cumulative_pnl"], -306.0);
    assert_eq!(
        a["margin_used"], 5900.0,
        "leverage 1 at the marks: 3800 + 2100"
    );
    // Closing the SHORT with a BUY realises its loss.
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", at(3)).args([
        "paper",
        "order",
        "--account",
        "Main Account",
        "--symbol",
        "ETHUSDT",
        "--side",
        "BUY",
        "--quantity",
        "1",
    ]));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["fill"]["realized_pnl"], -100.0);
    assert!(v["fill"]["position_after"].is_null());
    // More than the margin allows is refused with a clear error and changes nothing.
    let (c, _, err) = run_json(sb.fks().env("FKS_NOW", at(3)).args([
        "paper",
        "order",
        "--account",
        "Main Account",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--quantity",
        "10",
    ]));
    assert_eq!(c, 1);
    assert!(err.contains("insufficient margin"), "{err}");
}

#[test]
fn paper_long_and_short_arithmetic_sqlite() {
    paper_long_short(&Sandbox::new());
}

#[test]
fn paper_long_and_short_arithmetic_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        paper_long_short(&sb);
    }
}

#[test]
fn daily_pnl_across_a_utc_day_boundary_and_empty_accounts() {
    let sb = Sandbox::new();
    run_json(sb.fks().args(["account", "add", "P", "--cash", "1000"]));
    run_json(sb.fks().args(["account", "add", "Empty", "--cash", "0"]));
    prices(&sb, "BTCUSDT", &["100.00"]);
    // Hours after the last candle the price is stale: refused unless asked for.
    let (c, _, err) = run_json(sb.fks().env("FKS_NOW", "2024-01-01T10:00:00Z").args([
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
    assert_eq!(c, 1);
    assert!(err.contains("9h 0m old"), "{err}");
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", "2024-01-01T10:00:00Z").args([
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
        "--allow-stale-price",
    ]));
    assert_eq!(c, 0, "{v}");
    // Hourly closes through the night (100, then 110 for the candle that closes at 01:00 on
    // day 2), so both snapshots rest on fresh prices: a stale one writes no snapshot.
    let mut closes = vec!["100.00"; 24];
    closes.push("110.00");
    prices(&sb, "BTCUSDT", &closes);
    // Snapshots at 23:00 (day 1) and 01:00 (day 2), with prices moving between.
    let (_, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", "2024-01-01T23:00:00Z")
            .arg("sync-account-balance"),
    );
    assert_eq!(
        v["results"]["P"]["daily_pnl"], 0.0,
        "first snapshot of the day"
    );
    assert_eq!(v["results"]["Empty"]["status"], "success");
    assert_eq!(v["results"]["Empty"]["equity"], 0.0);
    assert!(
        v["results"]["Empty"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("equity 0")
    );
    let (_, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", "2024-01-02T01:00:00Z")
            .arg("sync-account-balance"),
    );
    let p = &v["results"]["P"];
    assert_eq!(p["equity"], 1009.9, "{p}");
    assert_eq!(
        p["daily_pnl"], 10.0,
        "equity now minus equity at the day's start: {p}"
    );
    // A position in an asset with no price at all.
    run_json(sb.fks().args(["account", "add", "Q", "--cash", "1000"]));
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    c.execute("INSERT INTO positions (account_id, symbol, side, quantity, entry_price, status, opened_ms, updated_ms) VALUES (3, 'NOPEUSDT', 'LONG', '5', '2', 'open', 0, 0)", []).unwrap();
    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", "2024-01-02T01:00:00Z").args([
        "update-positions",
        "--account-id",
        "3",
    ]));
    // Nothing could be marked: the account is `stale` and the run fails (the freshness rule).
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["results"]["Q"]["status"], "stale");
    assert_eq!(v["results"]["Q"]["positions"][0]["status"], "no_price");
    assert_eq!(v["results"]["Q"]["no_price"], 1);
    // An old price is flagged stale, not used.
    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", "2024-01-09T01:00:00Z").args([
        "update-positions",
        "--account-id",
        "1",
    ]));
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["results"]["P"]["positions"][0]["status"], "stale");
}

const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

const SPOT_ACCOUNT: &str = r#"{"makerCommission":10,"takerCommission":10,"buyerCommission":0,"sellerCommission":0,"commissionRates":{"maker":"0.00100000","taker":"0.00100000","buyer":"0.00000000","seller":"0.00000000"},"canTrade":true,"canWithdraw":true,"canDeposit":true,"brokered":false,"requireSelfTradePrevention":false,"preventSor":false,"updateTime":1704067200000,"accountType":"SPOT","balances":[{"asset":"BTC","free":"0.40000000","locked":"0.10000000"},{"asset":"ETH","free":"2.00000000","locked":"0.00000000"},{"asset":"USDT","free":"1500.25000000","locked":"100.00000000"},{"asset":"BNB","free":"0.00000000","locked":"0.00000000"},{"asset":"XYZ","free":"7.00000000","locked":"0.00000000"}],"permissions":["SPOT"],"uid":354937868}"#;

#[test]
fn binance_spot_balances_valued_in_usdt_with_verified_signatures() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(method("GET")).and(path("/api/v3/account")).and(SignedBy { key: KEY.into(), secret: SECRET.into() })
            .respond_with(ResponseTemplate::new(200).insert_header("x-mbx-used-weight-1m", "20").set_body_raw(SPOT_ACCOUNT, "application/json")).mount(&server).await;
        Mock::given(method("GET")).and(path("/api/v3/ticker/price"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(r#"[{"symbol":"BTCUSDT","price":"42000.00000000"},{"symbol":"ETHUSDT","price":"2200.50000000"}]"#, "application/json")).mount(&server).await;
    });
    run_json(sb.fks().args([
        "account",
        "add",
        "Spot",
        "--kind",
        "binance-spot",
        "--baseline",
        "20000",
    ]));
    let (code, v, err) = run_json(
        sb.fks()
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("BINANCE_API_KEY", KEY)
            .env("BINANCE_API_SECRET", SECRET)
            .arg("sync-account-balance"),
    );
    assert_eq!(code, 0, "{v} {err}");
    let a = &v["results"]["Spot"];
    // 0.5 BTC * 42000 + 2 ETH * 2200.5 + 1600.25 USDT = 27001.25; XYZ has no price.
    assert_eq!(a["equity"], 27001.25);
    assert_eq!(a["cumulative_pnl"], 7001.25);
    assert!(a["notes"][0].as_str().unwrap().contains("XYZ"));
    for text in [v.to_string(), err] {
        assert!(!text.contains(SECRET) && !text.contains(KEY));
    }
}

#[test]
fn wrong_secret_writes_no_snapshot_and_futures_positions_reconcile() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let futures_account = r#"{"feeTier":0,"canTrade":true,"canDeposit":true,"canWithdraw":true,"updateTime":0,"multiAssetsMargin":false,"tradeGroupId":-1,"totalInitialMargin":"1300.00000000","totalMaintMargin":"52.00000000","totalWalletBalance":"10000.00000000","totalUnrealizedProfit":"250.50000000","totalMarginBalance":"10250.50000000","totalPositionInitialMargin":"1200.00000000","totalOpenOrderInitialMargin":"100.00000000","totalCrossWalletBalance":"10000.00000000","totalCrossUnPnl":"250.50000000","availableBalance":"8950.50000000","maxWithdrawAmount":"8950.50000000","assets":[],"positions":[]}"#;
    let position_risk = r#"[{"entryPrice":"40000.0","breakEvenPrice":"40016.0","marginType":"cross","isAutoAddMargin":"false","isolatedMargin":"0.00000000","leverage":"10","liquidationPrice":"30000.12","markPrice":"42000.00000000","maxNotionalValue":"20000000","positionAmt":"0.150","notional":"6300.0","isolatedWallet":"0","symbol":"BTCUSDT","unRealizedProfit":"300.00000000","positionSide":"BOTH","updateTime":1704067200000},{"entryPrice":"2000.0","breakEvenPrice":"1999.2","marginType":"cross","isAutoAddMargin":"false","isolatedMargin":"0.00000000","leverage":"5","liquidationPrice":"2600","markPrice":"2049.50000000","maxNotionalValue":"5000000","positionAmt":"-1.000","notional":"-2049.5","isolatedWallet":"0","symbol":"ETHUSDT","unRealizedProfit":"-49.50000000","positionSide":"BOTH","updateTime":1704067200000},{"entryPrice":"0.0","marginType":"cross","isAutoAddMargin":"false","isolatedMargin":"0","leverage":"20","liquidationPrice":"0","markPrice":"100.0","maxNotionalValue":"250000","positionAmt":"0.000","notional":"0","isolatedWallet":"0","symbol":"SOLUSDT","unRealizedProfit":"0.00000000","positionSide":"BOTH","updateTime":0}]"#;
    rt.block_on(async {
        let signed = || SignedBy {
            key: KEY.into(),
            secret: SECRET.into(),
        };
        Mock::given(path("/fapi/v2/account"))
            .and(signed())
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(futures_account, "application/json"),
            )
            .mount(&server)
            .await;
        Mock::given(path("/fapi/v2/positionRisk"))
            .and(signed())
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(position_risk, "application/json"),
            )
            .mount(&server)
            .await;
        // Anything not signed with the right secret gets Binance's answer.
        Mock::given(path("/fapi/v2/account"))
            .respond_with(ResponseTemplate::new(400).set_body_raw(
                r#"{"code":-1022,"msg":"Signature for this request is not valid."}"#,
                "application/json",
            ))
            .with_priority(10)
            .mount(&server)
            .await;
    });
    run_json(sb.fks().args([
        "account",
        "add",
        "Fut",
        "--kind",
        "binance-futures",
        "--baseline",
        "10000",
    ]));
    let env = |c: &mut assert_cmd::Command, secret: &str| {
        c.env("FKS_BINANCE_FUTURES_BASE_URL", server.uri())
            .env("BINANCE_API_KEY", KEY)
            .env("BINANCE_API_SECRET", secret);
    };
    let mut c = sb.fks();
    env(&mut c, "wrong-secret-value");
    let (code, v, _) = run_json(c.arg("sync-account-balance"));
    assert_eq!(code, 1, "{v}");
    assert!(
        v["results"]["Fut"]["error"]
            .as_str()
            .unwrap()
            .contains("-1022"),
        "{v}"
    );
    assert!(!v.to_string().contains("wrong-secret-value"));
    let conn = rusqlite::Connection::open(&sb.db).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM balance_history", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "no snapshot on a rejected key");

    let mut c = sb.fks();
    env(&mut c, SECRET);
    let (code, v, _) = run_json(c.arg("sync-account-balance"));
    assert_eq!(code, 0, "{v}");
    let a = &v["results"]["Fut"];
    assert_eq!(
        (
            a["balance"].as_f64(),
            a["equity"].as_f64(),
            a["unrealized_pnl"].as_f64()
        ),
        (Some(10000.0), Some(10250.5), Some(250.5))
    );
    assert_eq!(
        (
            a["margin_used"].as_f64(),
            a["margin_available"].as_f64(),
            a["cumulative_pnl"].as_f64()
        ),
        (Some(1300.0), Some(8950.5), Some(250.5))
    );
    let mut c = sb.fks();
    env(&mut c, SECRET);
    let (code, v, _) = run_json(c.arg("update-positions"));
    assert_eq!(code, 0, "{v}");
    let r = &v["results"]["Fut"];
    assert_eq!(r["reconciled"]["opened"], 2);
    let pos = r["positions"].as_array().unwrap();
    assert_eq!(pos.len(), 2, "zero positions skipped");
    let eth = pos.iter().find(|p| p["symbol"] == "ETHUSDT").unwrap();
    assert_eq!(eth["side"], "SHORT");
    assert_eq!(eth["unrealized_pnl"], -49.5);
    assert_eq!(r["equity"], 10250.5, "as the last sync valued the account");
    // Synced again with the reconciled positions: every job sees the exchange's equity and
    // the positions at the marks the exchange gave.
    let mut c = sb.fks();
    env(&mut c, SECRET);
    let (code, v, _) = run_json(c.arg("sync-account-balance"));
    assert_eq!(code, 0, "{v}");
    let a = &v["results"]["Fut"];
    assert_eq!(a["equity"], 10250.5);
    assert_eq!(a["positions_value"], 4250.5, "0.15 × 42000 − 1 × 2049.5");
    assert_eq!(a["cash"], 6000.0);
    for job in ["analyze-risk", "calculate-metrics", "generate-report"] {
        let mut c = sb.fks();
        env(&mut c, SECRET);
        let (code, v, err) = run_json(c.arg(job));
        assert_eq!(code, 0, "{job}: {v} {err}");
        assert_eq!(v["results"]["Fut"]["equity"], 10250.5, "{job}: {v}");
    }
    let mut c = sb.fks();
    env(&mut c, SECRET);
    let (_, v, _) = run_json(c.arg("analyze-risk"));
    let r = &v["results"]["Fut"];
    assert_eq!(r["total_position_value"], 8349.5, "{r}");
    assert_eq!(
        r["unrealized_pnl"], 250.5,
        "the exchange's PnL per position"
    );
    let journal: String = conn
        .query_row(
            "SELECT group_concat(COALESCE(result,'') || COALESCE(error,'') || args) FROM task_runs",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!journal.contains(SECRET) && !journal.contains(KEY));
}

/// A JSON amount: money is a JSON number in every job (the output contract).
fn amount(v: &serde_json::Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("money must be a JSON number, got {v}"))
}

/// 120 hourly closes: `flat` for 119 hours, then `last`.
fn five_days(sb: &Sandbox, symbol: &str, flat: &str, last: &str) {
    let mut closes = vec![flat; 119];
    closes.push(last);
    prices(sb, symbol, &closes);
}

/// One paper account with a LONG gain (BTC), a SHORT loss (ETH) and a LONG loss (SOL), fees
/// paid on every fill; every job that values it, run at the same moment, reports the same
/// equity: 100000 − 70 fees + 4000 − 1000 − 1000 = 101930.
fn every_job_reports_the_same_paper_equity(sb: &Sandbox) {
    sb.write(
        "fks.toml",
        "[trading]\nmax_order_notional = \"1000000\"\nmax_run_notional = \"1000000\"\n",
    );
    let fks = || {
        let mut c = sb.fks();
        c.env("FKS_SYMBOLS", "BTCUSDT,ETHUSDT,SOLUSDT");
        c
    };
    let (c, v, _) = run_json(fks().args([
        "account",
        "add",
        "Main",
        "--cash",
        "100000",
        "--fee-rate",
        "0.001",
    ]));
    assert_eq!(c, 0, "{v}");
    five_days(sb, "BTCUSDT", "40000.00", "40000.00");
    five_days(sb, "ETHUSDT", "2000.00", "2000.00");
    five_days(sb, "SOLUSDT", "100.00", "100.00");
    let at = |h: i64| (T0 + h * H + 1).to_string();
    for (symbol, side, qty) in [
        ("BTCUSDT", "BUY", "1"),
        ("ETHUSDT", "SELL", "10"),
        ("SOLUSDT", "BUY", "100"),
    ] {
        let (c, v, _) = run_json(fks().env("FKS_NOW", at(119)).args([
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
    // The last hour moves: BTC 44000 (+4000), ETH 2100 (SHORT −1000), SOL 90 (−1000).
    five_days(sb, "BTCUSDT", "40000.00", "44000.00");
    five_days(sb, "ETHUSDT", "2000.00", "2100.00");
    five_days(sb, "SOLUSDT", "100.00", "90.00");
    sb.write("targets.json", r#"{"BTCUSDT": 0.4, "SOLUSDT": 0.1}"#);
    let now = at(120);
    let job = |args: &[&str]| {
        let (c, v, err) = run_json(fks().env("FKS_NOW", &now).args(args));
        assert_eq!(c, 0, "{args:?}: {v} {err}");
        v
    };
    let sync = job(&["sync-account-balance"]);
    let a = &sync["results"]["Main"];
    assert_eq!(a["balance"], 99930.0, "{a}");
    assert_eq!(a["unrealized_pnl"], 2000.0);
    assert_eq!(a["cash"], 69930.0, "99930 − 40000 + 20000 − 10000");
    assert_eq!(a["positions_value"], 32000.0, "44000 − 21000 + 9000");
    assert_eq!(a["margin_used"], 74000.0, "every position at its mark");
    assert_eq!(a["margin_available"], 27930.0);
    assert_eq!(a["fees_paid"], 70.0);
    let positions = job(&["update-positions"]);
    let risk = job(&["analyze-risk"]);
    let rebalance = job(&[
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "targets.json",
    ]);
    let optimize = job(&["optimize-portfolio", "--method", "legacy"]);
    let metrics = job(&["calculate-metrics", "--period-days", "7"]);
    let report = job(&["generate-report", "--no-deliver"]);
    let seen = [
        ("sync-account-balance", amount(&a["equity"])),
        (
            "update-positions",
            amount(&positions["results"]["Main"]["equity"]),
        ),
        ("analyze-risk", amount(&risk["results"]["Main"]["equity"])),
        (
            "rebalance-portfolio total_value",
            amount(&rebalance["total_value"]),
        ),
        ("rebalance-portfolio equity", amount(&rebalance["equity"])),
        (
            "optimize-portfolio total_value",
            amount(&optimize["total_value"]),
        ),
        ("optimize-portfolio equity", amount(&optimize["equity"])),
        (
            "calculate-metrics",
            amount(&metrics["results"]["Main"]["equity"]),
        ),
        (
            "calculate-metrics end_equity",
            amount(&metrics["results"]["Main"]["end_equity"]),
        ),
        (
            "generate-report",
            amount(&report["results"]["Main"]["summary"]["equity"]),
        ),
    ];
    for (job, equity) in seen {
        assert_eq!(equity, 101930.0, "{job} reports equity {equity}");
    }
    // The same marks everywhere: fractions of that equity, positions at the same PnL.
    let r = &risk["results"]["Main"];
    assert_eq!(r["total_position_value"], 74000.0);
    assert_eq!(r["unrealized_pnl"], 2000.0);
    assert_eq!(
        r["exposure_ratio"], 0.726,
        "74000 / 101930, rounded to 4 places"
    );
    assert_eq!(
        rebalance["allocation_before"]["BTCUSDT"], 0.431669,
        "44000 / 101930"
    );
    assert_eq!(
        rebalance["cash_before"], 27930.0,
        "what the paper margin lets buys spend"
    );
    let cur = &optimize["current_allocation"];
    assert!(
        (cur["ETHUSDT"].as_f64().unwrap() - -21000.0 / 101930.0).abs() < 1e-12,
        "{cur}"
    );
    let rows = report["results"]["Main"]["open_positions"]
        .as_array()
        .unwrap();
    let pnl: f64 = rows.iter().map(|p| amount(&p["unrealized_pnl"])).sum();
    assert_eq!(pnl, 2000.0);
}

#[test]
fn every_job_reports_the_same_paper_equity_sqlite() {
    every_job_reports_the_same_paper_equity(&Sandbox::new());
}

#[test]
fn every_job_reports_the_same_paper_equity_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        every_job_reports_the_same_paper_equity(&sb);
    }
}

/// A spot account with locked balances and an asset the exchange cannot price: the equity
/// sync-account-balance records (27001.25) is what every other job reports, and the jobs that
/// do not call the exchange see its holdings as that snapshot valued them.
#[test]
fn every_job_reports_the_same_spot_equity() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        let signed = || SignedBy {
            key: KEY.into(),
            secret: SECRET.into(),
        };
        Mock::given(method("GET"))
            .and(path("/api/v3/account"))
            .and(signed())
            .respond_with(ResponseTemplate::new(200).set_body_raw(SPOT_ACCOUNT, "application/json"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v3/ticker/price"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                r#"[{"symbol":"BTCUSDT","price":"42000.00000000"},{"symbol":"ETHUSDT","price":"2200.50000000"}]"#,
                "application/json",
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v3/exchangeInfo"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(crate::support::binance::EXCHANGE_INFO, "application/json"),
            )
            .mount(&server)
            .await;
    });
    sb.write(
        "fks.toml",
        "[trading]\nmax_order_notional = \"1000000\"\nmax_run_notional = \"1000000\"\n",
    );
    run_json(sb.fks().args([
        "account",
        "add",
        "Spot",
        "--kind",
        "binance-spot",
        "--baseline",
        "20000",
    ]));
    // Five days of candles for optimize-portfolio's history (its prices do not value the account).
    five_days(&sb, "BTCUSDT", "42000.00", "42000.00");
    five_days(&sb, "ETHUSDT", "2200.50", "2200.50");
    sb.write("targets.json", r#"{"BTCUSDT": 0.1, "ETHUSDT": 0.3}"#);
    let now = (T0 + 120 * H + 1).to_string();
    let job = |args: &[&str]| {
        let (c, v, err) = run_json(
            sb.fks()
                .env("FKS_SYMBOLS", "BTCUSDT,ETHUSDT")
                .env("FKS_NOW", &now)
                .env("FKS_BINANCE_BASE_URL", server.uri())
                .env("BINANCE_API_KEY", KEY)
                .env("BINANCE_API_SECRET", SECRET)
                .args(args),
        );
        assert_eq!(c, 0, "{args:?}: {v} {err}");
        v
    };
    let sync = job(&["sync-account-balance"]);
    let a = &sync["results"]["Spot"];
    assert_eq!(a["equity"], 27001.25, "{a}");
    assert_eq!(a["cash"], 1600.25, "free and locked USDT");
    assert_eq!(
        a["margin_available"], 1500.25,
        "the free USDT a buy can spend"
    );
    let positions = job(&["update-positions"]);
    let risk = job(&["analyze-risk"]);
    let rebalance = job(&[
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "targets.json",
    ]);
    let optimize = job(&["optimize-portfolio", "--method", "legacy"]);
    let metrics = job(&["calculate-metrics", "--period-days", "7"]);
    let report = job(&["generate-report", "--no-deliver"]);
    let seen = [
        (
            "update-positions",
            amount(&positions["results"]["Spot"]["equity"]),
        ),
        ("analyze-risk", amount(&risk["results"]["Spot"]["equity"])),
        (
            "rebalance-portfolio total_value",
            amount(&rebalance["total_value"]),
        ),
        (
            "optimize-portfolio total_value",
            amount(&optimize["total_value"]),
        ),
        (
            "calculate-metrics",
            amount(&metrics["results"]["Spot"]["equity"]),
        ),
        (
            "generate-report",
            amount(&report["results"]["Spot"]["summary"]["equity"]),
        ),
    ];
    for (job, equity) in seen {
        assert_eq!(equity, 27001.25, "{job} reports equity {equity}");
    }
    // Holdings are positions everywhere: 0.5 BTC (21000) and 2 ETH (4401) of 27001.25.
    let r = &risk["results"]["Spot"];
    assert_eq!(r["total_position_value"], 25401.0, "{r}");
    assert_eq!(r["state"], "success");
    assert_eq!(
        optimize["current_allocation"]["BTCUSDT"].as_f64().unwrap(),
        21000.0 / 27001.25
    );
    assert_eq!(rebalance["allocation_before"]["BTCUSDT"], 0.777742);
    // BTC 77.8% → 10% wants 0.4357 BTC sold: only the free 0.4 can be; ETH 16.3% → 30%.
    let sell = &rebalance["orders"][0];
    assert_eq!(
        (&sell["symbol"], &sell["side"], &sell["quantity"]),
        (
            &serde_json::json!("BTCUSDT"),
            &serde_json::json!("SELL"),
            &serde_json::json!("0.4")
        ),
        "{rebalance}"
    );
    assert_eq!(rebalance["orders"][1]["symbol"], "ETHUSDT");
    assert_eq!(rebalance["cash_before"], 1500.25);
    assert_eq!(
        report["results"]["Spot"]["open_positions"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "BTC and ETH; XYZ has no price"
    );
}

/// The paper exchange lends nothing: margin is every position's notional at its mark, so an
/// unrealized gain cannot be spent on more exposure (at entry it could: leverage above 1).
fn paper_margin_is_leverage_one_at_the_marks(sb: &Sandbox) {
    run_json(
        sb.fks()
            .args(["account", "add", "P", "--cash", "1000", "--fee-rate", "0"]),
    );
    prices(sb, "BTCUSDT", &["100.00", "100.00"]);
    let order = |now: &str, qty: &str| {
        run_json(sb.fks().env("FKS_NOW", now).args([
            "paper",
            "order",
            "--account",
            "P",
            "--symbol",
            "BTCUSDT",
            "--side",
            "BUY",
            "--quantity",
            qty,
        ]))
    };
    let t2 = (T0 + 2 * H + 1).to_string();
    let (c, v, _) = order(&t2, "10.01");
    assert_eq!(c, 1, "1001 of exposure on 1000 of equity: {v}");
    let (c, v, _) = order(&t2, "10");
    assert_eq!(c, 0, "all of the cash: {v}");
    // BTC doubles: equity 2000, margin used 2000, nothing available.
    prices(sb, "BTCUSDT", &["100.00", "100.00", "200.00"]);
    let t3 = (T0 + 3 * H + 1).to_string();
    let (c, _, err) = order(&t3, "0.5");
    assert_eq!(c, 1);
    assert!(
        err.contains("insufficient margin") && err.contains("0 USDT is available"),
        "{err}"
    );
    let (_, v, _) = run_json(sb.fks().env("FKS_NOW", &t3).arg("sync-account-balance"));
    let a = &v["results"]["P"];
    assert_eq!(
        (
            &a["equity"],
            &a["margin_used"],
            &a["margin_available"],
            &a["cash"]
        ),
        (
            &serde_json::json!(2000.0),
            &serde_json::json!(2000.0),
            &serde_json::json!(0.0),
            &serde_json::json!(0.0)
        ),
        "{a}"
    );
}

#[test]
fn paper_margin_is_leverage_one_at_the_marks_sqlite() {
    paper_margin_is_leverage_one_at_the_marks(&Sandbox::new());
}

#[test]
fn paper_margin_is_leverage_one_at_the_marks_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        paper_margin_is_leverage_one_at_the_marks(&sb);
    }
}

/// Binance refuses a whole `symbols=[...]` ticker request when one symbol does not exist
/// (an asset with no USDT market): the valuation reads every ticker instead and lists that
/// asset as not valued, rather than failing the account.
#[test]
fn a_spot_asset_without_a_market_does_not_fail_the_valuation() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(method("GET"))
            .and(path("/api/v3/account"))
            .and(SignedBy { key: KEY.into(), secret: SECRET.into() })
            .respond_with(ResponseTemplate::new(200).set_body_raw(SPOT_ACCOUNT, "application/json"))
            .mount(&server)
            .await;
        // With `symbols` (which names XYZUSDT): Binance's answer for an unknown symbol.
        Mock::given(method("GET"))
            .and(path("/api/v3/ticker/price"))
            .and(wiremock::matchers::query_param_contains("symbols", "XYZUSDT"))
            .respond_with(ResponseTemplate::new(400).set_body_raw(
                r#"{"code":-1121,"msg":"Invalid symbol."}"#,
                "application/json",
            ))
            .with_priority(1)
            .mount(&server)
            .await;
        // Without parameters: every ticker.
        Mock::given(method("GET"))
            .and(path("/api/v3/ticker/price"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                r#"[{"symbol":"BNBUSDT","price":"300.00000000"},{"symbol":"BTCUSDT","price":"42000.00000000"},{"symbol":"ETHBTC","price":"0.05240000"},{"symbol":"ETHUSDT","price":"2200.50000000"}]"#,
                "application/json",
            ))
            .with_priority(5)
            .mount(&server)
            .await;
    });
    run_json(sb.fks().args([
        "account",
        "add",
        "Spot",
        "--kind",
        "binance-spot",
        "--baseline",
        "20000",
    ]));
    let (code, v, err) = run_json(
        sb.fks()
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("BINANCE_API_KEY", KEY)
            .env("BINANCE_API_SECRET", SECRET)
            .arg("sync-account-balance"),
    );
    assert_eq!(code, 0, "{v} {err}");
    let a = &v["results"]["Spot"];
    assert_eq!(a["equity"], 27001.25, "{a}");
    assert!(a["notes"][0].as_str().unwrap().contains("XYZ"), "{a}");
    let asked: Vec<String> = rt
        .block_on(server.received_requests())
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/v3/ticker/price")
        .map(|r| r.url.query().unwrap_or("").to_string())
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[1], "", "then every ticker");
}
