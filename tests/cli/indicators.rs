//! update-indicators (incremental == full), the CSV export, analyze-risk with its alert.

use crate::support::{Sandbox, binance, import_hourly, run_json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000;

fn export(sb: &Sandbox) -> String {
    let out = sb
        .fks()
        .args(["indicators", "--symbol", "BTCUSDT", "--timeframe", "1h"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn incremental_equals_full(sb: &Sandbox) {
    let k = binance::series(T0, H, 1500, 30_000.0);
    // First 260 candles, then many small steps of 1..=37 candles.
    import_hourly(sb, "BTCUSDT", &k[..260]);
    let (c, v, _) = run_json(sb.fks().args(["update-indicators", "--timeframe", "1h"]));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["results"]["BTCUSDT"]["mode"], "full");
    assert_eq!(v["results"]["BTCUSDT"]["computed"], 260);
    let mut at = 260;
    let mut step = 1;
    while at < k.len() {
        let end = (at + step).min(k.len());
        import_hourly(sb, "BTCUSDT", &k[at..end]);
        let (c, v, _) = run_json(sb.fks().args(["update-indicators", "--timeframe", "1h"]));
        assert_eq!(c, 0, "{v}");
        assert_eq!(v["results"]["BTCUSDT"]["mode"], "incremental");
        assert_eq!(v["results"]["BTCUSDT"]["computed"], (end - at) as u64);
        at = end;
        step = step % 37 + 7;
    }
    let incremental = export(sb);
    let (_, v, _) = run_json(sb.fks().args(["update-indicators", "--timeframe", "1h"]));
    assert_eq!(v["results"]["BTCUSDT"]["mode"], "up_to_date");
    let (_, v, _) = run_json(
        sb.fks()
            .args(["update-indicators", "--timeframe", "1h", "--full"]),
    );
    assert_eq!(v["results"]["BTCUSDT"]["computed"], 1500);
    let full = export(sb);
    assert_eq!(
        incremental, full,
        "incremental runs give exactly the full result"
    );
    let lines: Vec<&str> = full.lines().collect();
    assert_eq!(
        lines[0],
        "open_time,rsi14,macd,macd_signal,macd_hist,bb_upper,bb_middle,bb_lower,atr14,sma20,sma50,sma200,ema12,ema26"
    );
    assert_eq!(lines.len(), 1501);
    // TA-Lib's warm-up: RSI defined from the 15th candle, SMA200 from the 200th.
    let cells = |i: usize| lines[i].split(',').map(String::from).collect::<Vec<_>>();
    assert!(cells(14)[1].is_empty() && !cells(15)[1].is_empty());
    assert!(cells(199)[11].is_empty() && !cells(200)[11].is_empty());
    // A changed old candle (a backfill) makes the next run recompute everything.
    let mut old = k[5].clone();
    old.close = format!("{:.8}", 31_000.0);
    old.high = old.close.clone(); // still a valid candle
    import_hourly(sb, "BTCUSDT", &[old]);
    let (_, v, _) = run_json(sb.fks().args(["update-indicators", "--timeframe", "1h"]));
    assert_eq!(
        v["results"]["BTCUSDT"]["mode"], "full",
        "a changed old candle invalidates the cache: {v}"
    );
    assert_ne!(export(sb), full);
}

#[test]
fn incremental_updates_equal_full_recompute_sqlite() {
    incremental_equals_full(&Sandbox::new());
}

#[test]
fn incremental_updates_equal_full_recompute_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        incremental_equals_full(&sb);
    }
}

#[test]
fn missing_candles_is_a_per_symbol_error() {
    let sb = Sandbox::new();
    import_hourly(&sb, "BTCUSDT", &binance::series(T0, H, 30, 10.0));
    let (c, v, _) = run_json(
        sb.fks()
            .env("FKS_SYMBOLS", "BTCUSDT,ETHUSDT")
            .args(["update-indicators"]),
    );
    assert_eq!(c, 3, "{v}");
    assert!(
        v["results"]["ETHUSDT"]["error"]
            .as_str()
            .unwrap()
            .contains("sync-market-data")
    );
}

#[test]
fn analyze_risk_levels_and_one_alert_per_cooldown() {
    let sb = Sandbox::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(path("/api/webhooks/1/tok"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server),
    );
    let hook = format!("{}/api/webhooks/1/tok", server.uri());
    // 200 hourly candles ending at 2024-01-09 07:00 with a steady rise, then a drop to 80% of entry.
    let mut k = binance::series(T0, H, 200, 100.0);
    for (i, c) in k.iter_mut().enumerate() {
        let p = 100.0 + i as f64 * 0.1;
        c.open = format!("{p:.8}");
        c.high = format!("{:.8}", p + 0.5);
        c.low = format!("{:.8}", p - 0.5);
        c.close = format!("{p:.8}");
    }
    import_hourly(&sb, "BTCUSDT", &k);
    let now = T0 + 200 * H + 1;
    run_json(sb.fks().args(["account", "add", "Main", "--cash", "1000"]));
    run_json(sb.fks().args(["account", "add", "Flat", "--cash", "1000"]));
    run_json(sb.fks().args(["account", "add", "Zero", "--cash", "0"]));
    let (c, v, _) = run_json(sb.fks().env("FKS_NOW", now.to_string()).args([
        "paper",
        "order",
        "--account",
        "Main",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--quote-amount",
        "900",
    ]));
    assert_eq!(c, 0, "{v}");
    let run = |sb: &Sandbox, now: i64| {
        run_json(
            sb.fks()
                .env("FKS_NOW", now.to_string())
                .env("DISCORD_WEBHOOK_URL", &hook)
                .arg("analyze-risk"),
        )
    };
    let (c, v, _) = run(&sb, now);
    assert_eq!(c, 0, "{v}");
    let m = &v["results"]["Main"];
    assert_eq!(m["risk_level"], "HIGH", "{m}");
    assert!(m["exposure_ratio"].as_f64().unwrap() > 0.8);
    assert_eq!(m["positions"][0]["var_method"], "historical");
    assert!(m["positions"][0]["var_95_1d"].as_f64().unwrap() >= 0.0);
    assert_eq!(m["alert"]["status"], "delivered");
    assert_eq!(v["results"]["Flat"]["state"], "no_positions");
    assert_eq!(v["results"]["Flat"]["risk_level"], "LOW");
    assert_eq!(v["results"]["Zero"]["state"], "zero_balance");
    // Still HIGH ten minutes later: recorded, not re-sent.
    let (_, v, _) = run(&sb, now + 600_000);
    assert_eq!(v["results"]["Main"]["alert"]["status"], "suppressed");
    rt.block_on(server.verify());
}
