//! sync-market-data against a loopback Binance (wiremock) in the exact kline wire format.

use crate::support::binance::{self, KlinesResponder};
use crate::support::{Sandbox, rt, run_json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00Z

fn start_times(reqs: &[wiremock::Request]) -> Vec<i64> {
    reqs.iter()
        .filter(|r| r.url.path() == "/api/v3/klines")
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "startTime")
                .map(|(_, v)| v.parse().unwrap())
        })
        .collect()
}

/// 2,500 closed candles; "now" is just after the last one closes.
fn setup(sb: &Sandbox, server: &MockServer) -> assert_cmd::Command {
    let mut c = sb.fks();
    c.env("FKS_BINANCE_BASE_URL", server.uri())
        .env("FKS_NOW", (T0 + 2500 * H + 5_000).to_string());
    c
}

fn sync_paginates_and_is_idempotent(sb: &Sandbox) {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let data = binance::series(T0, H, 2500, 42_000.0);
    let responder = KlinesResponder::new(data.clone(), H);
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/api/v3/klines"))
            .respond_with(responder.clone())
            .mount(&server),
    );
    let (code, v, err) =
        run_json(setup(sb, &server).args(["sync-market-data", "--since", &T0.to_string()]));
    assert_eq!(code, 0, "{v} {err}");
    let r = &v["results"]["BTCUSDT"];
    assert_eq!(r["fetched"], 2500);
    assert_eq!(r["inserted"], 2500);
    assert_eq!(r["first_open_time"], T0);
    assert_eq!(r["last_open_time"], T0 + 2499 * H);
    assert_eq!(r["gaps"].as_array().unwrap().len(), 0);
    let reqs = rt.block_on(server.received_requests()).unwrap();
    assert_eq!(
        start_times(&reqs),
        vec![T0, T0 + 1000 * H, T0 + 2000 * H],
        "pages start where the last ended"
    );
    assert!(
        reqs.iter()
            .all(|r| r.url.query().unwrap().contains("limit=1000"))
    );

    // Nothing new: one request, nothing stored twice.
    let (code, v, _) = run_json(setup(sb, &server).arg("sync-market-data"));
    assert_eq!(code, 0);
    assert_eq!(v["results"]["BTCUSDT"]["inserted"], 0);
    assert_eq!(v["results"]["BTCUSDT"]["fetched"], 0);

    // 30 new candles appear (the last one still open): only those are fetched, from the right start.
    let more = binance::series(T0 + 2500 * H, H, 31, 43_000.0);
    responder.data.lock().unwrap().extend(more);
    let before = rt.block_on(server.received_requests()).unwrap().len();
    let (code, v, _) = run_json(
        sb.fks()
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("FKS_NOW", (T0 + 2530 * H + 60_000).to_string())
            .arg("sync-market-data"),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["results"]["BTCUSDT"]["inserted"], 30,
        "the still-open candle is not stored"
    );
    let reqs = rt.block_on(server.received_requests()).unwrap();
    assert_eq!(start_times(&reqs[before..]), vec![T0 + 2500 * H]);
    // A changed candle re-fetched by --since is updated and counted.
    {
        let mut d = responder.data.lock().unwrap();
        d[2499].close = "1.00000000".into();
        d[2499].low = "1.00000000".into(); // still a valid candle
    }
    let (_, v, _) = run_json(
        sb.fks()
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("FKS_NOW", (T0 + 2530 * H + 60_000).to_string())
            .args(["sync-market-data", "--since", &(T0 + 2490 * H).to_string()]),
    );
    assert_eq!(v["results"]["BTCUSDT"]["updated"], 1, "{v}");
    assert_eq!(v["results"]["BTCUSDT"]["inserted"], 0);
    let (_, v, _) = run_json(sb.fks().arg("list-data"));
    assert_eq!(v["series"][0]["candles"], 2530);
}

#[test]
fn sync_paginates_and_is_idempotent_sqlite() {
    sync_paginates_and_is_idempotent(&Sandbox::new());
}

#[test]
fn sync_paginates_and_is_idempotent_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        sync_paginates_and_is_idempotent(&sb);
    }
}

#[test]
fn first_sync_takes_last_limit_candles_and_reports_exchange_gaps() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let mut data = binance::series(T0, H, 100, 100.0);
    data.drain(40..43); // the exchange itself has a hole
    rt.block_on(
        Mock::given(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(data, H))
            .mount(&server),
    );
    let (code, v, _) = run_json(
        setup(&sb, &server)
            .env("FKS_NOW", (T0 + 100 * H + 1).to_string())
            .args(["sync-market-data", "--limit", "80"]),
    );
    assert_eq!(code, 0, "{v}");
    let r = &v["results"]["BTCUSDT"];
    assert_eq!(r["first_open_time"], T0 + 20 * H);
    assert_eq!(r["inserted"], 77);
    assert_eq!(r["gaps"][0]["from"], T0 + 40 * H);
    assert_eq!(r["gaps"][0]["missing"], 3);
    // Nothing new: the gaps found last time are reported again (from the sync status).
    let (_, v, _) = run_json(
        setup(&sb, &server)
            .env("FKS_NOW", (T0 + 100 * H + 1).to_string())
            .arg("sync-market-data"),
    );
    assert_eq!(v["results"]["BTCUSDT"]["fetched"], 0);
    assert_eq!(v["results"]["BTCUSDT"]["gaps"][0]["missing"], 3);
    // Filling the hole by import makes the next sync report no gap.
    let fill = binance::series(T0 + 40 * H, H, 3, 100.0);
    crate::support::import_hourly(&sb, "BTCUSDT", &fill);
    let (_, v, _) = run_json(
        setup(&sb, &server)
            .env("FKS_NOW", (T0 + 100 * H + 1).to_string())
            .arg("sync-market-data"),
    );
    assert_eq!(
        v["results"]["BTCUSDT"]["gaps"],
        serde_json::json!([]),
        "{v}"
    );
}

#[test]
fn rate_limit_429_is_honoured_then_completes() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(path("/api/v3/klines"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .set_body_raw(binance::TOO_MUCH_WEIGHT, "application/json"),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(binance::series(T0, H, 50, 10.0), H))
            .mount(&server)
            .await;
    });
    let t = std::time::Instant::now();
    let (code, v, _) = run_json(
        setup(&sb, &server)
            .env("FKS_NOW", (T0 + 50 * H).to_string())
            .args(["sync-market-data", "--since", "2024-01-01"]),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["BTCUSDT"]["inserted"], 50);
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(900),
        "Retry-After was not honoured"
    );
    assert_eq!(rt.block_on(server.received_requests()).unwrap().len(), 2);
}

#[test]
fn server_errors_are_retried_then_a_clear_error() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(path("/api/v3/klines"))
            .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable."))
            .mount(&server),
    );
    let (code, v, _) = run_json(setup(&sb, &server).args(["sync-market-data"]));
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["status"], "error");
    let err = v["results"]["BTCUSDT"]["error"].as_str().unwrap();
    assert!(err.contains("503") && err.contains("3 attempts"), "{err}");
    assert_eq!(rt.block_on(server.received_requests()).unwrap().len(), 3);
    let (_, v, _) = run_json(sb.fks().args(["runs", "--task", "sync-market-data"]));
    assert_eq!(v["runs"][0]["status"], "error");
}

#[test]
fn malformed_and_truncated_json_leave_the_store_as_it_was() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(binance::series(T0, H, 10, 10.0), H))
            .mount(&server),
    );
    let (code, _, _) = run_json(
        setup(&sb, &server)
            .env("FKS_NOW", (T0 + 10 * H).to_string())
            .args(["sync-market-data", "--since", "2024-01-01"]),
    );
    assert_eq!(code, 0);
    for body in [
        r#"[[1704103200000,"1.0","2.0""#,
        r#"{"not":"klines"}"#,
        "<html>oops</html>",
    ] {
        rt.block_on(server.reset());
        rt.block_on(
            Mock::given(path("/api/v3/klines"))
                .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
                .mount(&server),
        );
        let (code, v, _) = run_json(
            setup(&sb, &server)
                .env("FKS_NOW", (T0 + 20 * H).to_string())
                .arg("sync-market-data"),
        );
        assert_eq!(code, 1, "{v}");
        let err = v["results"]["BTCUSDT"]["error"].as_str().unwrap();
        assert!(err.contains("decode"), "{err}");
    }
    let (_, v, _) = run_json(sb.fks().arg("list-data"));
    assert_eq!(v["series"][0]["candles"], 10);
}

#[test]
fn invalid_symbol_is_partial_and_others_sync() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(path("/api/v3/klines"))
            .and(query_param("symbol", "NOPEUSDT"))
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_raw(binance::INVALID_SYMBOL, "application/json"),
            )
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(binance::series(T0, H, 10, 10.0), H))
            .mount(&server)
            .await;
    });
    let (code, v, _) = run_json(
        setup(&sb, &server)
            .env("FKS_SYMBOLS", "BTCUSDT,NOPEUSDT,ETHUSDT")
            .env("FKS_NOW", (T0 + 10 * H).to_string())
            .args(["sync-market-data", "--since", "2024-01-01"]),
    );
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["status"], "partial");
    assert!(
        v["results"]["NOPEUSDT"]["error"]
            .as_str()
            .unwrap()
            .contains("-1121 Invalid symbol.")
    );
    assert_eq!(v["results"]["BTCUSDT"]["inserted"], 10);
    assert_eq!(v["results"]["ETHUSDT"]["inserted"], 10);
}

#[test]
fn ban_418_stops_and_is_shared_through_the_store() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(Mock::given(path("/api/v3/klines")).respond_with(
        ResponseTemplate::new(418).insert_header("retry-after", "600").set_body_raw(r#"{"code":-1003,"msg":"Way too much request weight used; IP banned until 1704070800000. Please use WebSocket Streams for live updates to avoid bans."}"#, "application/json"),
    ).mount(&server));
    let (code, v, _) = run_json(setup(&sb, &server).arg("sync-market-data"));
    assert_eq!(code, 1, "{v}");
    assert!(
        v["results"]["BTCUSDT"]["error"]
            .as_str()
            .unwrap()
            .contains("418")
    );
    let n = rt.block_on(server.received_requests()).unwrap().len();
    assert_eq!(n, 1, "a 418 is never retried");
    // The next run (another process) sends nothing until the ban is over.
    let (code, v, _) = run_json(setup(&sb, &server).arg("sync-market-data"));
    assert_eq!(code, 1);
    assert!(
        v["results"]["BTCUSDT"]["error"]
            .as_str()
            .unwrap()
            .contains("waits it out"),
        "{v}"
    );
    assert_eq!(rt.block_on(server.received_requests()).unwrap().len(), n);
}

#[test]
fn shards_split_symbols_without_overlap() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(binance::series(T0, H, 5, 10.0), H))
            .mount(&server),
    );
    let syms = "BTCUSDT,ETHUSDT,SOLUSDT,ADAUSDT,XRPUSDT,DOGEUSDT,BNBUSDT";
    let mut seen = Vec::new();
    for k in 1..=3 {
        let (code, v, _) = run_json(
            setup(&sb, &server)
                .env("FKS_SYMBOLS", syms)
                .env("FKS_NOW", (T0 + 5 * H).to_string())
                .args(["sync-market-data", "--shard", &format!("{k}/3")]),
        );
        assert_eq!(code, 0);
        seen.extend(v["results"].as_object().unwrap().keys().cloned());
    }
    seen.sort();
    let mut want: Vec<String> = syms.split(',').map(String::from).collect();
    want.sort();
    assert_eq!(seen, want);
}

/// Two runs at once: the second exits 4 while the first (slow exchange) holds the lock; a run
/// killed with SIGKILL half-way leaves a consistent store that the next run completes.
#[test]
fn concurrent_run_skips_and_killed_run_resumes() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let mut responder = KlinesResponder::new(binance::series(T0, H, 5000, 100.0), H);
    responder.delay = std::time::Duration::from_millis(400);
    rt.block_on(
        Mock::given(path("/api/v3/klines"))
            .respond_with(responder)
            .mount(&server),
    );
    let now = (T0 + 5000 * H).to_string();
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin!("fks"));
    first
        .current_dir(sb.path())
        .env_clear()
        .env("DATABASE_URL", &sb.db)
        .env("FKS_SYMBOLS", "BTCUSDT")
        .env("FKS_BINANCE_BASE_URL", server.uri())
        .env("FKS_NOW", &now)
        .args([
            "sync-market-data",
            "--since",
            "2024-01-01",
            "--format",
            "json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = first.spawn().unwrap();
    // Wait until at least two pages are committed.
    let conn = rusqlite::Connection::open(&sb.db);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let n: i64 = conn
            .as_ref()
            .ok()
            .and_then(|c| {
                c.query_row("SELECT COUNT(*) FROM candles", [], |r| r.get(0))
                    .ok()
            })
            .unwrap_or(0);
        if n >= 2000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "first run made no progress"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, v, _) = run_json(
        sb.fks()
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("FKS_NOW", &now)
            .arg("sync-market-data"),
    );
    assert_eq!(code, 4, "{v}");
    assert_eq!(v["status"], "skipped");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let (n, max): (i64, i64) = c
        .query_row("SELECT COUNT(*), MAX(open_time) FROM candles", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(n < 5000 && n % 1000 == 0, "whole pages only: {n}");
    assert_eq!(max, T0 + (n - 1) * H, "no holes in what was committed");
    drop(c);
    let (code, v, _) = run_json(
        sb.fks()
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("FKS_NOW", &now)
            .arg("sync-market-data"),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["results"]["BTCUSDT"]["inserted"].as_i64().unwrap(),
        5000 - n
    );
    assert_eq!(
        v["results"]["BTCUSDT"]["first_open_time"],
        T0 + n * H,
        "resumes after the last stored candle"
    );
    let (_, v, _) = run_json(sb.fks().arg("list-data"));
    assert_eq!(v["series"][0]["candles"], 5000);
    assert_eq!(v["series"][0]["missing_candles"], 0);
    let (_, v, _) = run_json(sb.fks().args(["runs", "--task", "sync-market-data"]));
    let st: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(st, ["success", "skipped", "killed"]);
}

#[test]
fn a_slow_exchange_times_out_with_a_clear_error() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let mut slow = KlinesResponder::new(binance::series(T0, H, 10, 10.0), H);
    slow.delay = std::time::Duration::from_millis(2500);
    rt.block_on(
        Mock::given(path("/api/v3/klines"))
            .respond_with(slow)
            .mount(&server),
    );
    sb.write(
        "fks.toml",
        "[exchange]\ntimeout_secs = 1\nmax_attempts = 2\n",
    );
    let t = std::time::Instant::now();
    let (code, v, _) = run_json(
        setup(&sb, &server)
            .env("FKS_NOW", (T0 + 10 * H).to_string())
            .args(["sync-market-data", "--since", "2024-01-01"]),
    );
    assert_eq!(code, 1, "{v}");
    let err = v["results"]["BTCUSDT"]["error"].as_str().unwrap();
    assert!(err.contains("2 attempts"), "{err}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "the timeout bounds the run"
    );
    assert_eq!(rt.block_on(server.received_requests()).unwrap().len(), 2);
    let (_, v, _) = run_json(sb.fks().arg("list-data"));
    assert_eq!(v["series"], serde_json::json!([]), "nothing half-written");
}

// ---- Back-offs shared by every job (issue 12 §4) --------------------------------------------

/// A 429 whose Retry-After (an hour) is longer than exchange.max_retry_wait_secs ends the sync
/// at once, is stored, and no fks job sends anything to that host until it is over: not the
/// market data sync, not the account and position jobs, not orders, not exchange info.
fn long_retry_after(sb: Sandbox) {
    use crate::support::binance::{Desk, KEY, SECRET, mount_account};
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(path("/api/v3/klines"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "3600")
                    .set_body_raw(binance::TOO_MUCH_WEIGHT, "application/json"),
            )
            .mount(&server)
            .await;
        mount_account(&server, &Desk::default()).await;
    });
    sb.write(
        "fks.toml",
        "[trading]\nenabled = true\nmax_order_notional = \"2000\"\nmax_run_notional = \"5000\"\n",
    );
    sb.write("one.json", r#"{"BTCUSDT": 0.5}"#);
    run_json(
        sb.fks()
            .args(["account", "add", "Spot", "--kind", "binance-spot"]),
    );
    run_json(
        sb.fks()
            .args(["account", "add", "Fut", "--kind", "binance-futures"]),
    );
    let fks = |sb: &Sandbox| {
        let mut c = sb.fks();
        c.env("FKS_BINANCE_BASE_URL", server.uri())
            .env("FKS_BINANCE_FUTURES_BASE_URL", server.uri())
            .env("BINANCE_API_KEY", KEY)
            .env("BINANCE_API_SECRET", SECRET)
            .env("FKS_SYMBOLS", "BTCUSDT,ETHUSDT")
            .timeout(std::time::Duration::from_secs(60));
        c
    };
    let requests = || rt.block_on(server.received_requests()).unwrap().len();
    let (code, v, err) = run_json(fks(&sb).arg("sync-market-data"));
    assert_eq!(code, 1, "{v} {err}");
    let msg = v["results"]["BTCUSDT"]["error"].as_str().unwrap();
    assert!(
        msg.contains("429") && msg.contains("max_retry_wait_secs"),
        "{msg}"
    );
    assert!(err.contains("Retry-After"), "{err}");
    let after_first = requests();
    assert!(
        after_first <= 2,
        "one request per symbol at most, no retry: {after_first}"
    );

    // Every job that talks to that host honours the stored back-off: no request, a clear error.
    let jobs: Vec<Vec<&str>> = vec![
        vec!["sync-market-data"],
        vec!["sync-account-balance"],
        vec!["update-positions"],
        vec![
            "rebalance-portfolio",
            "--account-id",
            "1",
            "--targets",
            "one.json",
            "--execute",
        ],
        vec![
            "rebalance-portfolio",
            "--account-id",
            "1",
            "--targets",
            "one.json",
        ],
    ];
    for args in jobs {
        let (code, v, _) = run_json(fks(&sb).args(&args));
        assert_ne!(code, 0, "{args:?}: {v}");
        let text = v.to_string();
        assert!(
            text.contains("no request") && text.contains("429"),
            "{args:?}: a clear error naming the back-off: {v}"
        );
        assert_eq!(
            requests(),
            after_first,
            "{args:?} sent a request during the back-off"
        );
    }
    // An exchange account's stop check needs a price: it asks nothing either.
    let now = crate::support::binance::now_ms();
    let pos = format!(
        "INSERT INTO positions (account_id, symbol, side, quantity, entry_price, current_price, unrealized_pnl, pnl_pct, leverage, status, opened_ms, updated_ms, price_time, stop_loss) VALUES (1, 'BTCUSDT', 'LONG', '0.001', '50000', '50000', '0', 0, '1', 'open', {now}, {now}, {now}, '40000')"
    );
    if sb.db.starts_with("postgres") {
        assert!(
            std::process::Command::new("psql")
                .args([sb.db.as_str(), "-qc", &pos])
                .status()
                .unwrap()
                .success()
        );
    } else {
        rusqlite::Connection::open(&sb.db)
            .unwrap()
            .execute(&pos, [])
            .unwrap();
    }
    let (code, v, _) = run_json(fks(&sb).arg("check-stop-loss"));
    assert_ne!(code, 0, "{v}");
    assert!(v.to_string().contains("no request"), "{v}");
    assert_eq!(requests(), after_first);
}

#[test]
fn a_long_retry_after_is_stored_and_every_job_honours_it_sqlite() {
    long_retry_after(Sandbox::new());
}

#[test]
fn a_long_retry_after_is_stored_and_every_job_honours_it_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        long_retry_after(sb);
    }
}

/// A stored back-off ends: once it is over, jobs talk to the exchange again.
#[test]
fn a_stored_back_off_expires() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(path("/api/v3/klines"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "2")
                    .set_body_raw(binance::TOO_MUCH_WEIGHT, "application/json"),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(binance::series(T0, H, 10, 10.0), H))
            .mount(&server)
            .await;
    });
    sb.write("fks.toml", "[exchange]\nmax_retry_wait_secs = 1\n");
    let run = || {
        run_json(
            setup(&sb, &server)
                .env("FKS_NOW", (T0 + 10 * H).to_string())
                .args(["sync-market-data", "--since", "2024-01-01"]),
        )
    };
    let (code, v, _) = run();
    assert_eq!(code, 1, "{v}");
    assert_eq!(rt.block_on(server.received_requests()).unwrap().len(), 1);
    let (code, v, _) = run();
    assert_eq!(code, 1, "still backing off: {v}");
    assert_eq!(rt.block_on(server.received_requests()).unwrap().len(), 1);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (code, v, _) = run();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["results"]["BTCUSDT"]["inserted"], 10);
}

/// A base URL that is not http(s) is a configuration error: exit 2 at once, nothing retried.
#[test]
fn a_base_url_that_is_not_http_is_a_configuration_error() {
    let sb = Sandbox::new();
    for (var, url) in [
        ("FKS_BINANCE_BASE_URL", "notaurl"),
        ("FKS_BINANCE_BASE_URL", "file:///etc/passwd"),
        ("FKS_BINANCE_FUTURES_BASE_URL", "ftp://fapi.binance.com"),
    ] {
        let (code, v, err) = run_json(sb.fks().env(var, url).arg("sync-market-data"));
        assert_eq!(code, 2, "{var}={url}: {v} {err}");
        assert!(err.contains(url) && err.contains("http"), "{err}");
    }
    sb.write(
        "fks.toml",
        "[exchange]\nspot_base_url = \"api.binance.com\"\n",
    );
    let (code, _, err) = run_json(sb.fks().arg("sync-market-data"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("spot_base_url"), "{err}");
}

/// A 200 whose body is cut short or is not JSON is retried like a 5xx; a symbol that keeps
/// getting one fails clearly after the attempts, the others go on, the run is partial.
#[test]
fn garbled_answers_on_reads_are_retried() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        // ETHUSDT: always cut short. BTCUSDT: cut short once, then good.
        Mock::given(path("/api/v3/klines"))
            .and(query_param("symbol", "ETHUSDT"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(r#"[[1704067200000,"1.0","2.0""#, "application/json"),
            )
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(path("/api/v3/klines"))
            .and(query_param("symbol", "BTCUSDT"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw("<html>502 Bad Gateway", "text/html"),
            )
            .up_to_n_times(1)
            .with_priority(2)
            .mount(&server)
            .await;
        Mock::given(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(binance::series(T0, H, 10, 10.0), H))
            .mount(&server)
            .await;
    });
    let (code, v, _) = run_json(
        setup(&sb, &server)
            .env("FKS_SYMBOLS", "BTCUSDT,ETHUSDT")
            .env("FKS_NOW", (T0 + 10 * H).to_string())
            .args(["sync-market-data", "--since", "2024-01-01"]),
    );
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["results"]["BTCUSDT"]["inserted"], 10, "{v}");
    let err = v["results"]["ETHUSDT"]["error"].as_str().unwrap();
    assert!(err.contains("3 attempts"), "{err}");
    let reqs = rt.block_on(server.received_requests()).unwrap();
    let n = |s: &str| {
        reqs.iter()
            .filter(|r| r.url.query().unwrap_or("").contains(&format!("symbol={s}")))
            .count()
    };
    assert_eq!(n("ETHUSDT"), 3);
    assert_eq!(n("BTCUSDT"), 2);
}

const DAY: i64 = 86_400_000;

/// Sync a weekly or 3-day series from a fresh store, then incrementally, then `--since`:
/// every closed candle Binance serves on its grid is stored, no good candle refused, no gap.
fn long_timeframe_sync(sb: &Sandbox, tf: &str, first: i64, step: i64) {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let data = binance::series(first, step, 60, 30_000.0);
    let responder = KlinesResponder::new(data[..50].to_vec(), step);
    rt.block_on(
        Mock::given(path("/api/v3/klines"))
            .respond_with(responder.clone())
            .mount(&server),
    );
    // Every hour of day across one interval after candle 49 opened: candle 48 is the last closed.
    for (i, now) in [
        first + 49 * step + 1,
        first + 49 * step + step / 2,
        first + 50 * step - 1,
    ]
    .into_iter()
    .enumerate()
    {
        let fresh = Sandbox::new();
        let sbx = if i == 0 { sb } else { &fresh };
        let (code, v, err) = run_json(
            sbx.fks()
                .env("FKS_BINANCE_BASE_URL", server.uri())
                .env("FKS_NOW", now.to_string())
                .args(["sync-market-data", "--timeframe", tf, "--limit", "10"]),
        );
        assert_eq!(code, 0, "{tf} {v} {err}");
        let r = &v["results"]["BTCUSDT"];
        assert_eq!(r["inserted"], 10, "{tf} at {now}: {r}");
        assert_eq!(r["last_open_time"], first + 48 * step, "{tf} at {now}: {r}");
        assert_eq!(
            r["first_open_time"],
            first + 39 * step,
            "{tf} at {now}: {r}"
        );
        assert_eq!(r["gaps"], serde_json::json!([]), "{tf}: {r}");
    }
    // Incremental: 9 more intervals, the newest candle still open.
    responder
        .data
        .lock()
        .unwrap()
        .extend(data[50..].iter().cloned());
    let now = first + 58 * step + step / 3;
    let (code, v, err) = run_json(
        sb.fks()
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("FKS_NOW", now.to_string())
            .args(["sync-market-data", "--timeframe", tf]),
    );
    assert_eq!(code, 0, "{tf} {v} {err}");
    let r = &v["results"]["BTCUSDT"];
    assert_eq!(r["inserted"], 9, "{tf}: {r}");
    assert_eq!(r["first_open_time"], first + 49 * step, "{tf}: {r}");
    assert_eq!(r["last_open_time"], first + 57 * step, "{tf}: {r}");
    assert_eq!(r["gaps"], serde_json::json!([]), "{tf}: {r}");
    // --since the open of a stored candle backfills from exactly that candle.
    let since = first + 20 * step;
    let (code, v, err) = run_json(
        sb.fks()
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("FKS_NOW", now.to_string())
            .args([
                "sync-market-data",
                "--timeframe",
                tf,
                "--since",
                &since.to_string(),
            ]),
    );
    assert_eq!(code, 0, "{tf} {v} {err}");
    let r = &v["results"]["BTCUSDT"];
    assert_eq!(r["first_open_time"], since, "{tf}: {r}");
    assert_eq!(r["inserted"], 19, "{tf}: {r}");
    assert_eq!(r["gaps"], serde_json::json!([]), "{tf}: {r}");
    let (_, v, _) = run_json(sb.fks().arg("list-data"));
    let s = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["timeframe"] == tf)
        .unwrap()
        .clone();
    assert_eq!(s["candles"], 38, "{tf}: {v}");
}

/// Binance's weeks open on Monday 00:00 UTC (T0, 2024-01-01, is a Monday); its 3-day candles
/// (USD-M) on days ≡ 1 (mod 3) since the epoch, not on multiples of 3 days.
fn weekly_and_three_day_sync(sb: &Sandbox) {
    long_timeframe_sync(sb, "1w", T0 - 40 * 7 * DAY, 7 * DAY);
    let d3 = (T0 / DAY).div_euclid(3) * 3 * DAY + DAY - 40 * 3 * DAY;
    assert_ne!(d3.rem_euclid(3 * DAY), 0);
    long_timeframe_sync(sb, "3d", d3, 3 * DAY);
}

#[test]
fn weekly_and_three_day_candles_sync_on_binances_grid_sqlite() {
    weekly_and_three_day_sync(&Sandbox::new());
}

#[test]
fn weekly_and_three_day_candles_sync_on_binances_grid_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        weekly_and_three_day_sync(&sb);
    }
}

/// Binance's per-minute request-weight budget nearly spent (`x-mbx-used-weight-1m` near the
/// limit) is a normal short wait, at most until the next minute: it is waited out whatever
/// `exchange.max_retry_wait_secs` says, and nothing is stored as a back-off.
fn weight_budget_wait(sb: &Sandbox) {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let data = binance::series(T0, H, 1500, 42_000.0);
    let inner = KlinesResponder::new(data, H);
    #[derive(Clone)]
    struct NearLimit(KlinesResponder);
    impl wiremock::Respond for NearLimit {
        fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
            // 5,990 of spot's 6,000 used, 58 s into the server's minute: the next request
            // waits about 2 s for the next minute.
            self.0
                .respond(req)
                .insert_header("x-mbx-used-weight-1m", "5990")
                .insert_header("x-mbx-used-weight", "5990")
                .insert_header("date", "Mon, 01 Jan 2024 00:00:58 GMT")
        }
    }
    rt.block_on(
        Mock::given(path("/api/v3/klines"))
            .respond_with(NearLimit(inner))
            .mount(&server),
    );
    sb.write("fks.toml", "[exchange]\nmax_retry_wait_secs = 1\n");
    let (code, v, err) =
        run_json(setup(sb, &server).args(["sync-market-data", "--since", &T0.to_string()]));
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["results"]["BTCUSDT"]["inserted"], 1500, "{v}");
    assert!(v.get("banned_until").is_none(), "{v}");
    // Nothing recorded: the next run goes ahead at once.
    let (code, v, err) = run_json(setup(sb, &server).arg("sync-market-data"));
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["results"]["BTCUSDT"]["status"], "success", "{v}");
}

#[test]
fn a_weight_budget_wait_is_always_waited_out_sqlite() {
    weight_budget_wait(&Sandbox::new());
}

#[test]
fn a_weight_budget_wait_is_always_waited_out_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        weight_budget_wait(&sb);
    }
}

/// `--since` after the run's clock (a typo such as 2052 for 2025) asks for candles that
/// cannot exist: a usage error (exit 2) saying so, not a "success" that fetched nothing.
#[test]
fn a_since_after_now_is_a_usage_error() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let now = T0 + 10 * H;
    let out = sb
        .fks()
        .env("FKS_BINANCE_BASE_URL", server.uri())
        .env("FKS_NOW", now.to_string())
        .args(["sync-market-data", "--since", "2052-01-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: --since 2052-01-01T00:00:00Z is after now"),
        "{err}"
    );
    assert!(rt.block_on(server.received_requests()).unwrap().is_empty());
    // Up to the clock is allowed (nothing closed yet since then: nothing fetched, success).
    let (code, v, err) = run_json(
        sb.fks()
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("FKS_NOW", now.to_string())
            .args(["sync-market-data", "--since", &now.to_string()]),
    );
    assert_eq!(code, 0, "{v} {err}");
}
