//! Strategies that trade: bindings, and the parity of `run-strategies --execute` stepped bar
//! by bar on paper with `run-backtest` over the same real candles (skips cleanly when
//! ../shared/data is absent).

use crate::support::binance::Kline;
use crate::support::{Sandbox, import_hourly, run_json};

const H: i64 = 3_600_000;

/// The strategies of the parity runs: every kind, long-only and long/short, percent and ATR
/// stops, take profits; each on its own paper account.
const KINDS: &[(&str, &str, &[&str])] = &[
    (
        "sma",
        "sma_cross",
        &[
            "--params",
            "fast=5,slow=20",
            "--stop-loss",
            "2%",
            "--take-profit",
            "3%",
            "--long-short",
            "--allocation",
            "0.5",
        ],
    ),
    (
        "ema",
        "ema_cross",
        &["--params", "fast=8,slow=21", "--stop-loss", "1.5atr"],
    ),
    (
        "rsi",
        "rsi_reversion",
        &["--take-profit", "2%", "--long-short", "--allocation", "0.8"],
    ),
    ("macd", "macd_cross", &["--long-short"]),
    (
        "boll",
        "bollinger_reversion",
        &["--stop-loss", "3%", "--allocation", "0.3"],
    ),
];

/// The last `n` gap-free hourly candles of the real LTCUSDT file, or None (with a note).
fn real_window(n: usize) -> Option<Vec<Kline>> {
    let rel =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ltc_usdt_1h.csv");
    let path = if rel.exists() {
        rel
    } else {
        std::path::PathBuf::from("/work/shared/data/ltc_usdt_1h.csv")
    };
    if !path.exists() {
        eprintln!("note: shared data absent; skipping the strategy parity test");
        return None;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let rows: Vec<Kline> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Kline {
                open_time: f[0].parse().unwrap(),
                open: f[1].into(),
                high: f[2].into(),
                low: f[3].into(),
                close: f[4].into(),
                volume: f[5].into(),
            }
        })
        .collect();
    // Walk back from the end to the latest gap-free run of n candles.
    let mut end = rows.len();
    let mut i = end - 1;
    while end - i < n {
        if rows[i].open_time - rows[i - 1].open_time != H {
            end = i;
            i = end - 1;
        } else {
            i -= 1;
        }
    }
    Some(rows[i..end].to_vec())
}

fn setup(sb: &Sandbox, bars: &[Kline]) {
    import_hourly(sb, "LTCUSDT", bars);
    // Caps far above the accounts (10,000 each): parity is about the fills, not the caps.
    sb.write(
        "fks.toml",
        "[trading]\nenabled = true\nmax_order_notional = \"10000000\"\nmax_run_notional = \"10000000\"\n",
    );
    for (i, (name, kind, extra)) in KINDS.iter().enumerate() {
        let (c, v, e) = run_json(sb.fks().args([
            "account",
            "add",
            &format!("A{name}"),
            "--cash",
            "10000",
            "--fee-rate",
            "0.001",
        ]));
        assert_eq!(c, 0, "{v} {e}");
        let id = (i + 1).to_string();
        let mut args = vec![
            "strategy",
            "add",
            name,
            "--kind",
            kind,
            "--symbols",
            "LTCUSDT",
            "--timeframe",
            "1h",
            "--account-id",
            &id,
        ];
        args.extend_from_slice(extra);
        let (c, v, e) = run_json(sb.fks().args(&args));
        assert_eq!(c, 0, "{v} {e}");
    }
}

fn now_after(bar: &Kline) -> String {
    (bar.open_time + H + 1_000).to_string()
}

fn step(sb: &Sandbox, bar: &Kline) -> serde_json::Value {
    let (c, v, e) = run_json(sb.fks().env("FKS_NOW", now_after(bar)).args([
        "run-strategies",
        "--execute",
        "--no-sync",
    ]));
    assert_eq!(c, 0, "run-strategies at {}: {v} {e}", bar.open_time);
    v
}

/// (time, price, size) of every fill the backtest implies, in order: entry then exit of each
/// trade; a trade still open at the end (end_of_data) gives its entry only.
fn backtest_fills(sb: &Sandbox, name: &str, last: &Kline) -> Vec<(i64, f64, f64)> {
    let out = sb.path().join(format!("bt-{name}"));
    let (c, v, e) = run_json(sb.fks().env("FKS_NOW", now_after(last)).args([
        "run-backtest",
        "--strategy",
        name,
        "--fee",
        "0.001",
        "--output-dir",
        out.to_str().unwrap(),
    ]));
    assert_eq!(c, 0, "{v} {e}");
    let text = std::fs::read_to_string(out.join("trades.csv")).unwrap();
    let mut fills = Vec::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        let size: f64 = f[4].parse().unwrap();
        fills.push((f[0].parse().unwrap(), f[1].parse().unwrap(), size));
        if f[7] != "end_of_data" {
            fills.push((f[2].parse().unwrap(), f[3].parse().unwrap(), size));
        }
    }
    fills
}

/// (time, price, size, side) of the account's fills, in booking order.
fn live_fills(sb: &Sandbox, account: usize) -> Vec<(i64, f64, f64, String)> {
    let sql = format!(
        "SELECT time_ms, price, quantity, side FROM fills WHERE account_id = {account} ORDER BY id"
    );
    let rows: Vec<(i64, String, String, String)> = if sb.db.starts_with("postgres") {
        let out = std::process::Command::new("psql")
            .args([sb.db.as_str(), "-AtF,", "-c", &sql])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].parse().unwrap(), f[1].into(), f[2].into(), f[3].into())
            })
            .collect()
    } else {
        let c = rusqlite::Connection::open(&sb.db).unwrap();
        let mut st = c.prepare(&sql).unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    rows.into_iter()
        .map(|(t, p, q, s)| (t, p.parse().unwrap(), q.parse().unwrap(), s))
        .collect()
}

fn assert_parity(sb: &Sandbox, bars: &[Kline]) -> usize {
    let last = bars.last().unwrap();
    let mut total = 0;
    for (i, (name, _, _)) in KINDS.iter().enumerate() {
        let want = backtest_fills(sb, name, last);
        let got = live_fills(sb, i + 1);
        assert_eq!(
            got.len(),
            want.len(),
            "{name}: {} fills on paper, {} in the backtest\npaper: {got:?}\nbacktest: {want:?}",
            got.len(),
            want.len()
        );
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.0, w.0,
                "{name} fill {k}: time\npaper {g:?}\nbacktest {w:?}"
            );
            assert!(
                (g.1 - w.1).abs() <= 1e-9 * w.1,
                "{name} fill {k}: price\npaper {g:?}\nbacktest {w:?}"
            );
            // Sizes to one lot step (the paper exchange's 1e-8) plus the float's own error.
            assert!(
                (g.2 - w.2).abs() <= 1.0e-8 + 1e-9 * w.2,
                "{name} fill {k}: size\npaper {g:?}\nbacktest {w:?}"
            );
            if k % 2 == 1 {
                assert_ne!(got[k - 1].3, g.3, "{name}: an exit trades the other side");
            }
        }
        total += want.len();
        // `strategy show` puts the two side by side and finds them equal.
        let (c, v, e) = run_json(
            sb.fks()
                .env("FKS_NOW", now_after(last))
                .args(["strategy", "show", name]),
        );
        assert_eq!(c, 0, "{e}");
        assert_eq!(v["diverged"], false, "{name}: {}", v["live_vs_backtest"]);
        assert_eq!(v["live_vs_backtest"]["LTCUSDT"]["differences"], 0);
    }
    total
}

/// Where stepping starts: the second bar (strategies warm up inside the window, exactly as
/// the backtest over the same bars does).
const START: usize = 1;

fn parity(sb: &Sandbox, n: usize) {
    let Some(bars) = real_window(n) else {
        return;
    };
    setup(sb, &bars);
    for bar in &bars[START..] {
        step(sb, bar);
    }
    // A rerun in the same bar trades nothing.
    let again = step(sb, bars.last().unwrap());
    assert_eq!(again["orders"], 0, "{again}");
    let fills = assert_parity(sb, &bars);
    assert!(fills > 20, "the window trades ({fills} fills)");
}

/// The long window: every bar of `FKS_PARITY_BARS` (default 2000) real candles.
#[test]
fn paper_trading_equals_the_backtest_sqlite() {
    let n = std::env::var("FKS_PARITY_BARS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    parity(&Sandbox::new(), n);
}

#[test]
fn paper_trading_equals_the_backtest_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        parity(&sb, 400);
    }
}

/// 200 bars with runs killed (SIGKILL) part-way and runs repeated: the same trades.
#[test]
fn kills_and_reruns_change_nothing() {
    let Some(bars) = real_window(200 + START) else {
        return;
    };
    let sb = Sandbox::new();
    setup(&sb, &bars);
    let bin = assert_cmd::cargo::cargo_bin!("fks");
    #[allow(clippy::needless_range_loop)] // t picks the runs to kill and repeat
    for t in START..bars.len() {
        if t % 7 == 3 {
            // Start a run and kill it after a few milliseconds (wherever it is).
            let mut child = std::process::Command::new(bin)
                .current_dir(sb.path())
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("DATABASE_URL", &sb.db)
                .env("FKS_SYMBOLS", "LTCUSDT")
                .env("FKS_NOW", now_after(&bars[t]))
                .args([
                    "run-strategies",
                    "--execute",
                    "--no-sync",
                    "--format",
                    "json",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis((t % 5) as u64 * 7));
            let _ = child.kill();
            let _ = child.wait();
        }
        // A run killed while it held the job lock leaves it to the next run (stale holder).
        let v = loop {
            let (c, v, e) = run_json(sb.fks().env("FKS_NOW", now_after(&bars[t])).args([
                "run-strategies",
                "--execute",
                "--no-sync",
            ]));
            if c == 4 {
                continue;
            }
            assert_eq!(c, 0, "{v} {e}");
            break v;
        };
        if t % 5 == 0 {
            let again = step(&sb, &bars[t]);
            assert_eq!(
                again["orders"], 0,
                "a rerun in the same bar trades nothing: {again} (first: {v})"
            );
        }
    }
    assert_parity(&sb, &bars);
    // A fill changed behind its back: `strategy show` flags the divergence.
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let n = c
        .execute(
            "UPDATE fills SET price = '1' WHERE id = (SELECT MIN(id) FROM fills WHERE account_id = 1)",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    let (code, v, _) = run_json(
        sb.fks()
            .env("FKS_NOW", now_after(bars.last().unwrap()))
            .args(["strategy", "show", "sma"]),
    );
    assert_eq!(code, 0);
    assert_eq!(v["diverged"], true);
    assert_eq!(
        v["live_vs_backtest"]["LTCUSDT"]["fills"][0]["differs"], "price",
        "{v}"
    );
}

#[test]
fn two_enabled_strategies_may_not_trade_one_symbol_on_one_account() {
    let sb = Sandbox::new();
    run_json(sb.fks().args(["account", "add", "P", "--cash", "1000"]));
    let (c, v, _) = run_json(sb.fks().args([
        "strategy",
        "add",
        "a",
        "--kind",
        "sma_cross",
        "--symbols",
        "BTCUSDT,ETHUSDT",
        "--account-id",
        "1",
    ]));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["strategy"]["allocation"], "1");
    let (c, v, e) = run_json(sb.fks().args([
        "strategy",
        "add",
        "b",
        "--kind",
        "ema_cross",
        "--symbols",
        "ETHUSDT",
        "--account-id",
        "1",
    ]));
    assert_eq!(c, 2, "{v}");
    assert!(e.contains("already trades ETHUSDT on account 1"), "{e}");
    // Unbound it is stored; binding it to the account is refused the same way.
    let (c, _, _) = run_json(sb.fks().args([
        "strategy",
        "add",
        "b",
        "--kind",
        "ema_cross",
        "--symbols",
        "ETHUSDT",
    ]));
    assert_eq!(c, 0);
    let (c, _, e) = run_json(
        sb.fks()
            .args(["strategy", "bind", "b", "--account-id", "1"]),
    );
    assert_eq!(c, 2, "{e}");
    // Once `a` is disabled, `b` may take the symbol; enabling `a` again is then refused.
    run_json(sb.fks().args(["strategy", "disable", "a"]));
    let (c, v, _) = run_json(sb.fks().args([
        "strategy",
        "bind",
        "b",
        "--account-id",
        "1",
        "--allocation",
        "0.25",
    ]));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["strategy"]["allocation"], "0.25");
    let (c, _, e) = run_json(sb.fks().args(["strategy", "enable", "a"]));
    assert_eq!(c, 2, "{e}");
    // ETHUSDT now belongs to `b` on P: a manual paper order on it needs --force.
    let (c, _, e) = run_json(sb.fks().args([
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
    assert_eq!(c, 2, "{e}");
    assert!(e.contains("belongs to strategy b"), "{e}");
    let (c, _, e) = run_json(sb.fks().args([
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
        "--force",
    ]));
    assert_eq!(
        c, 1,
        "past the ownership check, refused for want of a price: {e}"
    );
    assert!(e.contains("no price"), "{e}");
    let (c, _, e) = run_json(sb.fks().args([
        "strategy",
        "bind",
        "b",
        "--account-id",
        "1",
        "--allocation",
        "1.5",
    ]));
    assert_eq!(c, 2, "{e}");
    assert!(e.contains("at most 1"), "{e}");
}

#[test]
fn without_execute_nothing_is_journaled_or_sent() {
    let Some(bars) = real_window(120) else {
        return;
    };
    let sb = Sandbox::new();
    setup(&sb, &bars);
    for b in &bars[START..] {
        let (c, v, e) = run_json(
            sb.fks()
                .env("FKS_NOW", now_after(b))
                .args(["run-strategies", "--no-sync"]),
        );
        assert_eq!(c, 0, "{v} {e}");
        assert_eq!(v["dry_run"], true);
    }
    for i in 1..=KINDS.len() {
        assert!(live_fills(&sb, i).is_empty());
    }
    // A strategy that is not bound cannot be run by name.
    run_json(sb.fks().args([
        "strategy",
        "add",
        "loose",
        "--kind",
        "sma_cross",
        "--symbols",
        "LTCUSDT",
    ]));
    let (c, _, e) = run_json(
        sb.fks()
            .args(["run-strategies", "--strategy", "loose", "--no-sync"]),
    );
    assert_eq!(c, 2, "{e}");
    assert!(e.contains("not bound"), "{e}");
}
