//! calculate-metrics and generate-report through the real binary.

use crate::support::{Sandbox, binance, run_json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const D: i64 = 86_400_000;
const T0: i64 = 1_704_067_200_000; // 2024-01-01

/// Insert balance snapshots directly (the history a year of cron runs would leave).
fn history(sb: &Sandbox, account_id: i64, points: &[(i64, &str)]) {
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    for (t, eq) in points {
        c.execute(
            "INSERT INTO balance_history (account_id, time_ms, balance, equity, unrealized_pnl, margin_used, margin_available, daily_pnl, cumulative_pnl) VALUES (?1, ?2, ?3, ?3, '0', '0', ?3, '0', '0')",
            rusqlite::params![account_id, t, eq],
        )
        .unwrap();
    }
}

#[test]
fn metrics_with_gaps_and_no_trades() {
    let sb = Sandbox::new();
    run_json(sb.fks().args(["account", "add", "A", "--cash", "1000"]));
    run_json(sb.fks().args(["account", "add", "Empty", "--cash", "1000"]));
    // Day closes 1000, 1100, (gap), (gap), 880, 990: the drawdown from 1100 to 880 is 20%.
    history(
        &sb,
        1,
        &[
            (T0 + 3_600_000, "1000"),
            (T0 + D + 3_600_000, "1050"),
            (T0 + D + 7_200_000, "1100"),
            (T0 + 4 * D, "880"),
            (T0 + 5 * D, "990"),
        ],
    );
    let (code, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", (T0 + 5 * D + 1000).to_string())
            .args(["calculate-metrics", "--period-days", "6"]),
    );
    assert_eq!(code, 0, "{v}");
    let a = &v["results"]["A"];
    assert_eq!(a["metrics_status"], "no_trades");
    assert!(
        (a["max_drawdown_pct"].as_f64().unwrap() - 20.0).abs() < 1e-9,
        "{a}"
    );
    assert!((a["total_return_pct"].as_f64().unwrap() - -1.0).abs() < 1e-9);
    assert_eq!(
        a["missing_days"],
        serde_json::json!(["2024-01-03", "2024-01-04"]),
        "gaps carried forward and reported"
    );
    assert_eq!(a["total_trades"], 0);
    assert_eq!(v["results"]["Empty"]["metrics_status"], "no_history");
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM account_metrics WHERE date = '2024-01-06' AND period_days = 6",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2, "stored per account and date");
}

#[test]
fn report_html_markdown_and_discord_png() {
    let sb = Sandbox::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/api/webhooks/9/tok"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                r#"{"id":"1","type":0,"content":"","channel_id":"2","attachments":[],"embeds":[]}"#,
                "application/json",
            ))
            .expect(1)
            .mount(&server),
    );
    run_json(
        sb.fks()
            .args(["account", "add", "Main <paper>", "--cash", "1000"]),
    );
    let mut k = binance::series(T0, 3_600_000, 24 * 8, 100.0);
    for (i, c) in k.iter_mut().enumerate() {
        let p = format!("{:.8}", 100.0 + (i as f64 / 10.0).sin() * 5.0);
        c.open.clone_from(&p);
        c.high.clone_from(&p);
        c.low.clone_from(&p);
        c.close = p;
    }
    crate::support::import_hourly(&sb, "BTCUSDT", &k);
    // One balance sync a day on the test clock: the missed-run alerts it would earn
    // (tests/cli/monitor.rs) would be a second Discord message.
    sb.write("fks.toml", "[monitor]\nfailure_streak = 0\n");
    for day in 0..7 {
        let now = (T0 + day * D + 20 * 3_600_000).to_string();
        let side = if day % 2 == 0 { "BUY" } else { "SELL" };
        let (c, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
            "paper",
            "order",
            "--account",
            "1",
            "--symbol",
            "BTCUSDT",
            "--side",
            side,
            "--quantity",
            "2",
        ]));
        assert_eq!(c, 0, "{v}");
        run_json(sb.fks().env("FKS_NOW", &now).arg("sync-account-balance"));
    }
    let now = (T0 + 7 * D + 1).to_string();
    let hook = format!("{}/api/webhooks/9/tok", server.uri());
    let html = sb.path().join("out/report.html");
    let (code, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", &now)
            .env("DISCORD_WEBHOOK_URL", &hook)
            .args([
                "generate-report",
                "--report-type",
                "weekly",
                "--output",
                html.to_str().unwrap(),
            ]),
    );
    assert_eq!(code, 0, "{v}");
    let r = &v["results"]["Main <paper>"];
    assert_eq!(r["delivery"]["status"], "delivered", "{r}");
    assert!(r["metrics"]["total_trades"].as_u64().unwrap() >= 3);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        page.matches("<svg").count(),
        2,
        "equity and drawdown charts"
    );
    assert!(
        page.contains("Main &lt;paper&gt;") && !page.contains("Main <paper>"),
        "names are escaped"
    );
    assert!(page.contains("<table"));
    assert!(
        !page.contains("src=\"http") && !page.contains("<script"),
        "self-contained"
    );
    // Discord got a multipart upload: the embed JSON and a real PNG.
    let req = &rt.block_on(server.received_requests()).unwrap()[0];
    let ct = req
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("multipart/form-data"), "{ct}");
    let body = &req.body;
    let hay = String::from_utf8_lossy(body);
    assert!(
        hay.contains("payload_json") && hay.contains("attachment://"),
        "embed references the attached image"
    );
    assert!(
        body.windows(8).any(|w| w == b"\x89PNG\r\n\x1a\n"),
        "a PNG is attached"
    );
    rt.block_on(server.verify());
    // Markdown too; a wrong extension is refused.
    let md = sb.path().join("r.md");
    let (code, _, _) = run_json(sb.fks().env("FKS_NOW", &now).args([
        "generate-report",
        "--output",
        md.to_str().unwrap(),
    ]));
    assert_eq!(code, 0);
    assert!(std::fs::read_to_string(md).unwrap().contains("| "));
    let (code, _, err) = run_json(sb.fks().args(["generate-report", "--output", "r.pdf"]));
    assert_eq!(code, 1);
    assert!(err.contains(".md") && err.contains(".html"), "{err}");
}

/// An exchange account whose snapshots predate stored valuations (or were restored from an
/// archive): the jobs that read its valuation fall back to the snapshot's own figures.
#[test]
fn snapshots_without_a_stored_valuation_still_give_the_equity() {
    let sb = Sandbox::new();
    run_json(sb.fks().args([
        "account",
        "add",
        "S",
        "--kind",
        "binance-spot",
        "--baseline",
        "1000",
    ]));
    history(&sb, 1, &[(T0 + 3_600_000, "1000"), (T0 + D, "1234.5")]);
    let now = (T0 + D + 1000).to_string();
    for (job, key) in [
        ("calculate-metrics", "equity"),
        ("analyze-risk", "equity"),
        ("update-positions", "equity"),
        ("generate-report", "equity"),
    ] {
        let (code, v, err) =
            run_json(
                sb.fks()
                    .env("FKS_NOW", &now)
                    .args([job, "--account-id", "1"]),
            );
        assert_eq!(code, 0, "{job}: {v} {err}");
        assert_eq!(v["results"]["S"][key], 1234.5, "{job}: {v}");
    }
    // Valued as of an earlier time: the snapshot then.
    let (_, v, _) = run_json(sb.fks().env("FKS_NOW", (T0 + 7_200_000).to_string()).args([
        "calculate-metrics",
        "--account-id",
        "1",
    ]));
    assert_eq!(v["results"]["S"]["equity"], 1000.0);
    // A damaged stored valuation is a clear error for that account, not a silent zero.
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    c.execute(
        "INSERT INTO account_valuations (balance_id, account_id, time_ms, valuation) VALUES (2, 1, ?1, '{\"equity\": ')",
        [T0 + D],
    )
    .unwrap();
    let (code, v, _) = run_json(sb.fks().env("FKS_NOW", &now).args(["analyze-risk"]));
    assert_eq!(code, 1, "{v}");
    let err = v["results"]["S"]["error"].as_str().unwrap();
    assert!(err.contains("read the stored valuation of S"), "{err}");
}

/// The merge of the one valuation with the clock bound: under `FKS_NOW`, every job that reads
/// an exchange account's stored valuation takes the snapshot at or before the clock, never a
/// later one (generate-report's summary included).
#[test]
fn stored_valuations_are_read_as_of_fks_now() {
    let sb = Sandbox::new();
    run_json(sb.fks().args([
        "account",
        "add",
        "S",
        "--kind",
        "binance-spot",
        "--baseline",
        "1000",
    ]));
    history(&sb, 1, &[(T0 + 3_600_000, "1000"), (T0 + D, "1234.5")]);
    let before_the_second = (T0 + 7_200_000).to_string();
    for job in [
        "generate-report",
        "analyze-risk",
        "update-positions",
        "calculate-metrics",
    ] {
        let mut c = sb.fks();
        c.env("FKS_NOW", &before_the_second)
            .args([job, "--account-id", "1"]);
        if job == "generate-report" {
            c.arg("--no-deliver");
        }
        let (code, v, err) = run_json(&mut c);
        assert_eq!(code, 0, "{job}: {v} {err}");
        assert_eq!(
            v["results"]["S"]["equity"], 1000.0,
            "{job}: the snapshot after FKS_NOW is not read: {v}"
        );
    }
}
