//! Every alert the old platform sent is queued once, with its cool-down: BUY signals, the
//! daily signals, HIGH risk, stop-loss triggers, portfolio rebalancing, daily and weekly
//! reports, strategy validation failures (the job-failure alert: tests/cli/monitor.rs).

use crate::support::{Sandbox, binance, import_hourly, run_json};

const H: i64 = 3_600_000;
const MIN: i64 = 60_000;
const T0: i64 = 1_704_067_200_000;
/// 300 hourly candles from T0: the last closes at T0 + 300 h.
const NOW: i64 = T0 + 300 * H + 1;

/// A steady rise that is not overbought (+0.2, −0.1 in turn): MACD, SMA50 and SMA200 vote
/// BUY, RSI (about 67) and the Bollinger bands stay neutral.
fn rising() -> Vec<binance::Kline> {
    let mut k = binance::series(T0, H, 300, 100.0);
    for (i, c) in k.iter_mut().enumerate() {
        let p = 100.0 + 0.05 * i as f64 + 0.15 * (i % 2) as f64;
        let o = if i == 0 {
            p
        } else {
            100.0 + 0.05 * (i - 1) as f64 + 0.15 * ((i - 1) % 2) as f64
        };
        c.open = format!("{o:.8}");
        c.close = format!("{p:.8}");
        c.high = format!("{:.8}", o.max(p) + 0.01);
        c.low = format!("{:.8}", o.min(p) - 0.01);
    }
    k
}

/// Every message the file channel received: (kind, title).
fn sent(sb: &Sandbox) -> Vec<(String, String)> {
    std::fs::read_to_string(sb.path().join("n.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["kind"].as_str().unwrap().to_string(),
                v["title"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn count(sb: &Sandbox, title_starts: &str) -> usize {
    sent(sb)
        .iter()
        .filter(|(_, t)| t.starts_with(title_starts))
        .count()
}

/// Outbox rows whose dedup key starts with `prefix`, by status.
fn outbox(sb: &Sandbox, prefix: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let mut st = c
        .prepare("SELECT status FROM notifications WHERE dedup_key LIKE ? ORDER BY id")
        .unwrap();
    st.query_map([format!("{prefix}%")], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn at(sb: &Sandbox, ms: i64) -> assert_cmd::Command {
    let mut c = sb.fks();
    c.env("FKS_NOW", ms.to_string());
    c
}

fn ok(sb: &Sandbox, ms: i64, args: &[&str]) -> serde_json::Value {
    let (c, v, e) = run_json(at(sb, ms).args(args));
    assert!(c == 0 || c == 3, "{args:?}: exit {c}: {v} {e}");
    v
}

fn desk() -> Sandbox {
    let sb = Sandbox::new();
    sb.write(
        "fks.toml",
        "[trading]\nenabled = true\nmax_order_notional = \"100000\"\nmax_run_notional = \"100000\"\n\
         [notifications]\nfile = \"n.jsonl\"\ncooldown_minutes = 60\n\
         [backtest]\nmin_sharpe = 50.0\n\
         [schedule.jobs]\n",
    );
    import_hourly(&sb, "BTCUSDT", &rising());
    ok(
        &sb,
        T0,
        &["account", "add", "P", "--cash", "10000", "--fee-rate", "0"],
    );
    sb
}

#[test]
fn buy_signals_are_sent_once_per_candle() {
    let sb = desk();
    let v = ok(&sb, NOW, &["generate-signals"]);
    assert_eq!(v["rag_signals"]["BTCUSDT"]["action"], "BUY", "{v}");
    assert_eq!(count(&sb, "BUY BTCUSDT"), 1, "{:?}", sent(&sb));
    // The same candle ten minutes later: recorded, not re-sent.
    ok(&sb, NOW + 10 * MIN, &["generate-signals"]);
    assert_eq!(count(&sb, "BUY BTCUSDT"), 1);
    assert_eq!(outbox(&sb, "signal:BTCUSDT"), ["delivered", "suppressed"]);
}

#[test]
fn daily_signals_are_sent_once_a_day() {
    let sb = desk();
    let args = ["generate-daily-rag-signals", "--min-confidence", "0"];
    ok(&sb, NOW, &args);
    assert_eq!(count(&sb, "Daily signals"), 1, "{:?}", sent(&sb));
    ok(&sb, NOW + 30 * MIN, &args);
    assert_eq!(count(&sb, "Daily signals"), 1);
    assert_eq!(outbox(&sb, "daily-signals:"), ["delivered", "suppressed"]);
}

#[test]
fn high_risk_is_sent_once_per_cooldown() {
    let sb = desk();
    ok(
        &sb,
        NOW,
        &[
            "paper",
            "order",
            "--account",
            "P",
            "--symbol",
            "BTCUSDT",
            "--side",
            "BUY",
            "--quote-amount",
            "9500",
        ],
    );
    let v = ok(&sb, NOW, &["analyze-risk"]);
    assert_eq!(v["results"]["P"]["risk_level"], "HIGH", "{v}");
    ok(&sb, NOW + 10 * MIN, &["analyze-risk"]);
    assert_eq!(
        sent(&sb).iter().filter(|(k, _)| k == "alert").count(),
        1,
        "{:?}",
        sent(&sb)
    );
    // Still HIGH after the 60-minute cool-down: sent again.
    ok(&sb, NOW + 61 * MIN, &["analyze-risk"]);
    assert_eq!(
        outbox(&sb, "risk-high:"),
        ["delivered", "suppressed", "delivered"]
    );
}

#[test]
fn a_stop_loss_trigger_is_sent_once() {
    let sb = desk();
    ok(
        &sb,
        NOW,
        &[
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
        ],
    );
    // A stop above the price: hit at once.
    ok(
        &sb,
        NOW,
        &[
            "position",
            "stop",
            "--account-id",
            "1",
            "--symbol",
            "BTCUSDT",
            "--price",
            "500",
        ],
    );
    let v = ok(&sb, NOW, &["check-stop-loss"]);
    assert_eq!(v["triggered"], 1, "{v}");
    // Still hit later, even past the notification cool-down: never re-sent.
    ok(&sb, NOW + 10 * MIN, &["check-stop-loss"]);
    ok(&sb, NOW + 100 * MIN, &["check-stop-loss"]);
    assert_eq!(count(&sb, "Stop loss hit"), 1, "{:?}", sent(&sb));
    assert_eq!(outbox(&sb, "stop-loss:")[0], "delivered");
}

#[test]
fn a_rebalance_is_sent_once() {
    let sb = desk();
    sb.write("t.json", r#"{"BTCUSDT": 0.5}"#);
    let args = [
        "rebalance-portfolio",
        "--account-id",
        "1",
        "--targets",
        "t.json",
        "--execute",
    ];
    let v = ok(&sb, NOW, &args);
    assert_eq!(v["orders"][0]["side"], "BUY", "{v}");
    assert_eq!(count(&sb, "Rebalanced P"), 1, "{:?}", sent(&sb));
    // At its target now: nothing to trade, nothing sent.
    let v = ok(&sb, NOW + 5 * MIN, &args);
    assert_eq!(v["orders"], serde_json::json!([]), "{v}");
    assert_eq!(count(&sb, "Rebalanced P"), 1);
    // A dry run never sends.
    sb.write("t.json", r#"{"BTCUSDT": 0.1}"#);
    ok(
        &sb,
        NOW + 6 * MIN,
        &[
            "rebalance-portfolio",
            "--account-id",
            "1",
            "--targets",
            "t.json",
        ],
    );
    assert_eq!(count(&sb, "Rebalanced P"), 1);
}

#[test]
fn daily_and_weekly_reports_are_sent_once_per_period() {
    let sb = desk();
    ok(&sb, NOW, &["sync-account-balance"]);
    let daily = ["generate-report", "--report-type", "daily"];
    let weekly = ["generate-report", "--report-type", "weekly"];
    ok(&sb, NOW, &daily);
    ok(&sb, NOW + 10 * MIN, &daily);
    ok(&sb, NOW + 20 * MIN, &weekly);
    ok(&sb, NOW + 3 * H, &weekly);
    let reports = || sent(&sb).into_iter().filter(|(k, _)| k == "report").count();
    assert_eq!(reports(), 2, "one daily, one weekly: {:?}", sent(&sb));
    assert_eq!(outbox(&sb, "report:1:daily:"), ["delivered", "suppressed"]);
    assert_eq!(outbox(&sb, "report:1:weekly:"), ["delivered", "suppressed"]);
    // The next day's daily report is a new one.
    ok(&sb, NOW + 24 * H, &daily);
    assert_eq!(reports(), 3);
}

#[test]
fn a_validation_failure_is_sent_once_per_cooldown() {
    let sb = desk();
    ok(
        &sb,
        NOW,
        &[
            "strategy",
            "add",
            "loser",
            "--kind",
            "sma_cross",
            "--params",
            "fast=5,slow=20",
        ],
    );
    let v = ok(&sb, NOW, &["validate-strategies", "--days", "13"]);
    assert_eq!(v["results"]["loser"]["action"], "disabled", "{v}");
    assert_eq!(count(&sb, "Strategy loser disabled"), 1, "{:?}", sent(&sb));
    // Enabled again by hand and failing again within the cool-down: recorded, not re-sent.
    ok(&sb, NOW, &["strategy", "enable", "loser"]);
    let v = ok(
        &sb,
        NOW + 10 * MIN,
        &["validate-strategies", "--days", "13"],
    );
    assert_eq!(v["results"]["loser"]["action"], "disabled", "{v}");
    assert_eq!(count(&sb, "Strategy loser disabled"), 1);
    assert_eq!(
        outbox(&sb, "strategy-disabled:"),
        ["delivered", "suppressed"]
    );
}
