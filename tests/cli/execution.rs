//! rebalance-portfolio and check-stop-loss: dry runs send nothing, exchange rules, exactly
//! once under a lost answer and a killed run, stop alerts once, paper execution.

use crate::support::signed::SignedBy;
use crate::support::{Sandbox, binance, rt, run_json};
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000;
const KEY: &str = "test-key-0123456789";
const SECRET: &str = "test-secret-abcdefghijklmnop";

fn q(req: &Request, k: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(a, _)| a == k)
        .map(|(_, v)| v.to_string())
}

pub(crate) const EXCHANGE_INFO: &str = r#"{"timezone":"UTC","serverTime":1704067200000,"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000}],"exchangeFilters":[],"symbols":[
{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","baseAssetPrecision":8,"quoteAsset":"USDT","quotePrecision":8,"quoteAssetPrecision":8,"baseCommissionPrecision":8,"quoteCommissionPrecision":8,"orderTypes":["LIMIT","MARKET"],"icebergAllowed":true,"ocoAllowed":true,"isSpotTradingAllowed":true,"isMarginTradingAllowed":true,"filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},{"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},{"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5},{"filterType":"MARKET_LOT_SIZE","minQty":"0.00000000","maxQty":"110.00000000","stepSize":"0.00000000"}],"permissions":[],"permissionSets":[["SPOT"]],"defaultSelfTradePreventionMode":"EXPIRE_MAKER","allowedSelfTradePreventionModes":["EXPIRE_TAKER","EXPIRE_MAKER","EXPIRE_BOTH"]},
{"symbol":"ETHUSDT","status":"TRADING","baseAsset":"ETH","baseAssetPrecision":8,"quoteAsset":"USDT","quotePrecision":8,"quoteAssetPrecision":8,"baseCommissionPrecision":8,"quoteCommissionPrecision":8,"orderTypes":["LIMIT","MARKET"],"icebergAllowed":true,"ocoAllowed":true,"isSpotTradingAllowed":true,"isMarginTradingAllowed":true,"filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},{"filterType":"LOT_SIZE","minQty":"0.00010000","maxQty":"9000.00000000","stepSize":"0.00010000"},{"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5}],"permissions":[],"permissionSets":[["SPOT"]]}]}"#;

const ACCOUNT: &str = r#"{"makerCommission":10,"takerCommission":10,"buyerCommission":0,"sellerCommission":0,"canTrade":true,"canWithdraw":true,"canDeposit":true,"brokered":false,"requireSelfTradePrevention":false,"preventSor":false,"updateTime":1704067200000,"accountType":"SPOT","balances":[{"asset":"BTC","free":"0.00200000","locked":"0.00000000"},{"asset":"ETH","free":"0.00000000","locked":"0.00000000"},{"asset":"USDT","free":"900.00000000","locked":"0.00000000"}],"permissions":["SPOT"],"uid":1}"#;

const PRICES: &str = r#"[{"symbol":"BTCUSDT","price":"50000.00000000"},{"symbol":"ETHUSDT","price":"2500.00000000"}]"#;

/// Accepts orders (remembering them by client id) and answers in Binance's FULL format,
/// optionally after a delay longer than fks's timeout (the answer is "lost").
#[derive(Clone, Default)]
struct OrderDesk {
    placed: Arc<Mutex<Vec<(String, String, String, String)>>>,
    lose_answer: bool,
    /// Orders for this symbol are refused with -2010 (insufficient balance).
    reject: Option<&'static str>,
}

fn order_json(cid: &str, symbol: &str, side: &str, qty: &str, fills: bool) -> String {
    let price = if symbol == "BTCUSDT" {
        "50000.00"
    } else {
        "2500.00"
    };
    let quote: f64 = qty.parse::<f64>().unwrap() * price.parse::<f64>().unwrap();
    let f = if fills {
        format!(
            r#","fills":[{{"price":"{price}","qty":"{qty}","commission":"{:.8}","commissionAsset":"USDT","tradeId":77}}]"#,
            quote * 0.001
        )
    } else {
        String::new()
    };
    format!(
        r#"{{"symbol":"{symbol}","orderId":9780331417,"orderListId":-1,"clientOrderId":"{cid}","transactTime":1704070800000,"price":"0.00000000","origQty":"{qty}","executedQty":"{qty}","origQuoteOrderQty":"0.00000000","cummulativeQuoteQty":"{quote:.8}","status":"FILLED","timeInForce":"GTC","type":"MARKET","side":"{side}","workingTime":1704070800000,"selfTradePreventionMode":"EXPIRE_MAKER"{f}}}"#
    )
}

impl Respond for OrderDesk {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let (cid, sym, side, qty) = (
            q(req, "newClientOrderId").unwrap_or_default(),
            q(req, "symbol").unwrap_or_default(),
            q(req, "side").unwrap_or_default(),
            q(req, "quantity").unwrap_or_default(),
        );
        if self.reject == Some(sym.as_str()) {
            return ResponseTemplate::new(400).set_body_raw(
                r#"{"code":-2010,"msg":"Account has insufficient balance for requested action."}"#,
                "application/json",
            );
        }
        self.placed
            .lock()
            .unwrap()
            .push((cid.clone(), sym.clone(), side.clone(), qty.clone()));
        let t = ResponseTemplate::new(200).set_body_raw(
            order_json(&cid, &sym, &side, &qty, true),
            "application/json",
        );
        if self.lose_answer {
            t.set_delay(std::time::Duration::from_secs(3))
        } else {
            t
        }
    }
}

/// `GET /api/v3/order?origClientOrderId=`: the remembered order, or -2013.
struct OrderQuery(Arc<Mutex<Vec<(String, String, String, String)>>>);
impl Respond for OrderQuery {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let cid = q(req, "origClientOrderId").unwrap_or_default();
        match self.0.lock().unwrap().iter().find(|o| o.0 == cid) {
            Some((c, s, side, qty)) => ResponseTemplate::new(200)
                .set_body_raw(order_json(c, s, side, qty, false), "application/json"),
            None => ResponseTemplate::new(400).set_body_raw(
                r#"{"code":-2013,"msg":"Order does not exist."}"#,
                "application/json",
            ),
        }
    }
}

async fn spot_exchange(server: &MockServer, desk: &OrderDesk) {
    spot_exchange_with(server, desk, ACCOUNT).await;
}

async fn spot_exchange_with(server: &MockServer, desk: &OrderDesk, account: &str) {
    let signed = || SignedBy {
        key: KEY.into(),
        secret: SECRET.into(),
    };
    Mock::given(path("/api/v3/exchangeInfo"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(EXCHANGE_INFO, "application/json"))
        .mount(server)
        .await;
    Mock::given(path("/api/v3/ticker/price"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(PRICES, "application/json"))
        .mount(server)
        .await;
    Mock::given(path("/api/v3/account"))
        .and(signed())
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(account.to_string(), "application/json"),
        )
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v3/order"))
        .and(signed())
        .respond_with(desk.clone())
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/order"))
        .and(signed())
        .respond_with(OrderQuery(desk.placed.clone()))
        .mount(server)
        .await;
}

fn spot_sandbox(
    server: &MockServer,
    trading: bool,
) -> (Sandbox, impl Fn(&Sandbox) -> assert_cmd::Command) {
    let sb = Sandbox::new();
    sb.write("fks.toml", &format!("[exchange]\ntimeout_secs = 1\n[trading]\nenabled = {trading}\nmax_order_notional = \"2000\"\nmax_run_notional = \"5000\"\n"));
    sb.write("targets.json", r#"{"BTCUSDT": 0.3, "ETHUSDT": 0.5}"#);
    run_json(sb.fks().args([
        "account",
        "add",
        "Spot",
        "--kind",
        "binance-spot",
        "--fee-rate",
        "0.001",
    ]));
    let uri = server.uri();
    let cmd = move |sb: &Sandbox| {
        let mut c = sb.fks();
        c.env("FKS_BINANCE_BASE_URL", &uri)
            .env("BINANCE_API_KEY", KEY)
            .env("BINANCE_API_SECRET", SECRET);
        c
    };
    (sb, cmd)
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
    let desk = OrderDesk::default();
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
    assert_eq!(v["total_value"], "1000");
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
        .map(|o| o["notional"].as_str().unwrap().parse::<f64>().unwrap() * 1.001)
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
    let desk = OrderDesk {
        lose_answer: true,
        ..Default::default()
    };
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
        desk.placed.lock().unwrap().len(),
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
        desk.placed.lock().unwrap()[0].0,
        cid,
        "the id sent is the one journaled before sending"
    );
    assert!(cid.starts_with("fks-") && cid.len() <= 36);
}

#[test]
fn killed_run_between_journal_and_send_is_never_resent() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = OrderDesk::default();
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
        "[trading]\nenabled = true\n[notifications]\nfile = \"alerts.jsonl\"\n",
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
}

#[test]
fn a_rejected_order_is_a_clear_per_order_error_and_the_run_is_partial() {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let desk = OrderDesk {
        reject: Some("ETHUSDT"),
        ..Default::default()
    };
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
        v["total_value"], "110079.3",
        "the equity, gain counted once: {v}"
    );
    assert_eq!(v["equity"], 110079.3);
    assert_eq!(
        v["cash_before"], "69769.8",
        "99969.80 − 30200 paid for the BTC"
    );
    assert_eq!(
        v["allocation_before"]["BTCUSDT"], "0.366186",
        "40309.50 / 110079.30"
    );
    let o = &v["orders"][0];
    assert_eq!(o["side"], "BUY");
    let notional: f64 = o["notional"].as_str().unwrap().parse().unwrap();
    // 0.5 × 110079.30 − 40309.50 = 14730.15, less than one step (1e-8 BTC) below.
    assert!(
        (14730.15 - notional) >= 0.0 && (14730.15 - notional) < 80619.0 * 1e-8,
        "buy notional {notional}"
    );
    assert_eq!(o["quantity"], "0.18271313");
    // After the buy's fee (14.73) the account is 50% BTC, to within that fee.
    let to: f64 = o["to_frac"].as_str().unwrap().parse().unwrap();
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
    let desk = OrderDesk::default();
    rt.block_on(spot_exchange_with(
        &server,
        &desk,
        &ACCOUNT.replace(
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
    assert_eq!(v["total_value"], "1500");
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
    assert_eq!(v["total_value"], "6000");
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
        serde_json::json!({"BTCUSDT": "0.1", "ETHUSDT": "0.85"})
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
