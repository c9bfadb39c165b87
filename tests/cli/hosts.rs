//! Several hosts, one store: shards split the symbols, each handled once per tick; locks
//! per job and shard; the exchange's back-off shared; `fks status` per host and shard; a
//! run killed on another host recognised through its server session.

use crate::support::binance::{self, KlinesResponder};
use crate::support::{Sandbox, rt, run_json};
use fks::core::runs::{self, Holder, LockResult};
use fks::core::store::{Store, StoreUrl};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const H: i64 = 3_600_000;
const T0: i64 = 1_704_067_200_000;
const SYMBOLS: &str = "BTCUSDT,ETHUSDT,SOLUSDT,ADAUSDT,XRPUSDT,DOGEUSDT,BNBUSDT,LTCUSDT,DOTUSDT";

fn now() -> String {
    (T0 + 48 * H + 5_000).to_string()
}

/// The real binary as a child process, for running several at once.
fn spawn(sb: &Sandbox, exchange: &str, host: &str, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin!("fks"))
        .current_dir(sb.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", sb.path())
        .env("DATABASE_URL", &sb.db)
        .env("RUST_BACKTRACE", "0")
        .env("FKS_RETRY_BASE_DELAY_MS", "0")
        .env("FKS_SYMBOLS", SYMBOLS)
        .env("FKS_BINANCE_BASE_URL", exchange)
        .env("FKS_NOW", now())
        .env("FKS_HOST", host)
        .args(["--format", "json"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start fks")
}

fn cmd(sb: &Sandbox, exchange: &str, host: &str) -> assert_cmd::Command {
    let mut c = sb.fks();
    c.env("FKS_SYMBOLS", SYMBOLS)
        .env("FKS_BINANCE_BASE_URL", exchange)
        .env("FKS_NOW", now())
        .env("FKS_HOST", host);
    c
}

fn klines_server(rt: &tokio::runtime::Runtime) -> MockServer {
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(binance::series(T0, H, 48, 100.0), H))
            .mount(&server),
    );
    server
}

#[test]
fn three_hosts_share_one_postgres() {
    let Some(sb) = Sandbox::postgres() else {
        return;
    };
    let rt = rt();
    let server = klines_server(&rt);
    let ex = server.uri();

    // A shard whose lock another host holds is skipped (exit 4); the other shards are not.
    let (code, _, err) = run_json(cmd(&sb, &ex, "host-0").arg("status"));
    assert_eq!(code, 0, "{err}");
    let other = rt.block_on(async {
        let s = Store::open(
            &StoreUrl::parse(&sb.db).unwrap(),
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
        let me = Holder {
            host: "host-9".into(),
            pid: 9,
        };
        let LockResult::Acquired(l) = runs::try_lock(&s, "sync-market-data#1/3", 60_000, 0, &me)
            .await
            .unwrap()
        else {
            panic!("lock")
        };
        (s, l)
    });
    let (code, v, _) =
        run_json(cmd(&sb, &ex, "host-1").args(["sync-market-data", "--shard", "1/3"]));
    assert_eq!(code, 4, "{v}");
    assert!(v["reason"].as_str().unwrap().contains("host-9:9"), "{v}");
    rt.block_on(runs::release(&other.0, other.1)).unwrap();
    drop(other.0);

    // Three processes with different host identities at once.
    let children: Vec<_> = (1..=3)
        .map(|k| {
            spawn(
                &sb,
                &ex,
                &format!("host-{k}"),
                &[
                    "sync-market-data",
                    "--since",
                    &T0.to_string(),
                    "--shard",
                    &format!("{k}/3"),
                ],
            )
        })
        .collect();
    let mut handled: Vec<String> = Vec::new();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "shard {}: {stdout} {}",
            i + 1,
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        let mine: Vec<String> = v["results"].as_object().unwrap().keys().cloned().collect();
        assert!(!mine.is_empty(), "shard {} got no symbol", i + 1);
        for s in &mine {
            assert_eq!(v["results"][s]["inserted"], 48, "{v}");
        }
        handled.extend(mine);
    }
    handled.sort();
    let mut want: Vec<String> = SYMBOLS.split(',').map(String::from).collect();
    want.sort();
    assert_eq!(handled, want, "every symbol exactly once across the shards");
    // ...and the exchange was asked once per symbol.
    let reqs = rt.block_on(server.received_requests()).unwrap();
    let mut asked: Vec<String> = reqs
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "symbol")
                .map(|(_, v)| v.to_string())
        })
        .collect();
    asked.sort();
    assert_eq!(asked, want);

    // The journal and `fks status` know every host and shard.
    let (code, v, _) =
        run_json(cmd(&sb, &ex, "host-0").args(["runs", "--task", "sync-market-data"]));
    assert_eq!(code, 0);
    let mut seen: Vec<(String, String, String)> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["shard"].as_str().unwrap().to_string(),
                r["host"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("1/3".into(), "host-1".into(), "skipped".into()),
            ("1/3".into(), "host-1".into(), "success".into()),
            ("2/3".into(), "host-2".into(), "success".into()),
            ("3/3".into(), "host-3".into(), "success".into()),
        ]
    );
    let (code, v, _) = run_json(cmd(&sb, &ex, "host-0").arg("status"));
    assert_eq!(code, 0);
    let shards = v["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3, "{v}");
    for (k, s) in shards.iter().enumerate() {
        assert_eq!(s["job"], "sync-market-data");
        assert_eq!(s["shard"], format!("{}/3", k + 1));
        assert_eq!(s["host"], format!("host-{}", k + 1));
        assert_eq!(s["last_status"], "success");
        assert_eq!(s["overdue"], false);
    }
    let hosts: Vec<&str> = v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    // (`status` and `runs` are not journaled: host-0 ran no job.)
    assert_eq!(hosts, vec!["host-1", "host-2", "host-3"]);

    // The exchange's 418 seen by one host stops the others (the back-off is in the store).
    let banned = rt.block_on(MockServer::start());
    rt.block_on(Mock::given(path("/api/v3/klines")).respond_with(
        ResponseTemplate::new(418).insert_header("retry-after", "600").set_body_raw(r#"{"code":-1003,"msg":"Way too much request weight used; IP banned until 1704070800000. Please use WebSocket Streams for live updates to avoid bans."}"#, "application/json"),
    ).mount(&banned));
    let later = (T0 + 60 * H).to_string();
    let (code, _, _) = run_json(
        cmd(&sb, &banned.uri(), "host-1")
            .env("FKS_NOW", &later)
            .args(["sync-market-data", "--shard", "1/3"]),
    );
    assert_eq!(code, 1);
    let n = rt.block_on(banned.received_requests()).unwrap().len();
    let (code, v, _) = run_json(
        cmd(&sb, &banned.uri(), "host-2")
            .env("FKS_NOW", &later)
            .args(["sync-market-data", "--shard", "2/3"]),
    );
    assert_eq!(code, 1);
    assert!(v.to_string().contains("waits it out"), "{v}");
    assert_eq!(
        rt.block_on(banned.received_requests()).unwrap().len(),
        n,
        "host-2 sent nothing"
    );

    // A run whose host died: its server session ends, and every host sees it as killed.
    rt.block_on(async {
        let url = StoreUrl::parse(&sb.db).unwrap();
        let doomed = Store::open(&url, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let far = Holder {
            host: "host-far".into(),
            pid: 4242,
        };
        let id = runs::start_sharded(&doomed, "run-backtest", "[]", 0, &far, Some("2/3"))
            .await
            .unwrap();
        let watcher = Store::open(&url, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            !runs::killed_runs(&watcher).await.unwrap().contains(&id),
            "alive while its session is"
        );
        drop(doomed);
        let mut dead = false;
        for _ in 0..50 {
            if runs::killed_runs(&watcher).await.unwrap().contains(&id) {
                dead = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(dead, "a run whose session ended is killed");
    });
    let (code, v, _) = run_json(cmd(&sb, &ex, "host-0").args(["runs", "--status", "killed"]));
    assert_eq!(code, 0);
    assert_eq!(v["runs"][0]["host"], "host-far", "{v}");
}

/// On SQLite too: the shard is journaled; a shard that has not run is overdue.
#[test]
fn missing_shard_is_overdue() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = klines_server(&rt);
    let ex = server.uri();
    for k in [1, 2] {
        let (code, v, _) = run_json(cmd(&sb, &ex, &format!("host-{k}")).args([
            "sync-market-data",
            "--shard",
            &format!("{k}/3"),
        ]));
        assert_eq!(code, 0, "{v}");
    }
    let (code, v, _) = run_json(cmd(&sb, &ex, "host-1").arg("status"));
    assert_eq!(code, 0);
    assert_eq!(
        v["overdue_shards"],
        serde_json::json!(["sync-market-data 3/3"]),
        "{v}"
    );
    let s3 = &v["shards"][2];
    assert_eq!(s3["shard"], "3/3");
    assert!(s3["host"].is_null() && s3["last_run_ms"].is_null());
    assert_eq!(v["shards"][1]["host"], "host-2");
}

/// Every shard gets some of the usual symbols (a hash spreads them, without balancing
/// exactly; before the finaliser, N = 3 left one shard empty).
#[test]
fn shards_spread_the_usual_symbols() {
    let syms = [
        "BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "TRXUSDT",
        "DOTUSDT", "LTCUSDT", "LINKUSDT", "AVAXUSDT",
    ];
    for n in 2..=4u32 {
        let mut per = vec![0; n as usize];
        for s in syms {
            let owners: Vec<u32> = (1..=n)
                .filter(|&k| fks::commands::Shard { k, n }.owns(s))
                .collect();
            assert_eq!(owners.len(), 1, "{s} in {owners:?} of {n}");
            per[owners[0] as usize - 1] += 1;
        }
        assert!(per.iter().all(|&c| c >= 1), "N={n}: {per:?}");
    }
}

/// The other per-symbol jobs take --shard, split their work the same way and journal it.
#[test]
fn per_symbol_jobs_take_a_shard() {
    let sb = Sandbox::new();
    let bars = binance::series(T0, H, 300, 100.0);
    let syms: Vec<&str> = SYMBOLS.split(',').take(6).collect();
    for s in &syms {
        crate::support::import_hourly(&sb, s, &bars);
    }
    let at = (T0 + 300 * H).to_string();
    let mut backtested: Vec<String> = Vec::new();
    let mut decided: Vec<String> = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let mut args: Vec<String> = [
            "run-backtest",
            "--kind",
            "sma_cross",
            "--params",
            "fast=5,slow=20",
            "--timeframe",
            "1h",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for s in &syms {
            args.extend(["--symbol".to_string(), s.to_string()]);
        }
        args.extend(["--shard".to_string(), shard.clone()]);
        let (code, v, err) = run_json(sb.fks().env("FKS_NOW", &at).args(&args));
        assert_eq!(code, 0, "{v} {err}");
        for r in v["results"].as_object().unwrap().values() {
            backtested.push(r["symbol"].as_str().unwrap().to_string());
        }
        let (code, v, err) = run_json(
            sb.fks()
                .env("FKS_SYMBOLS", syms.join(","))
                .env("FKS_NOW", &at)
                .args([
                    "generate-daily-rag-signals",
                    "--timeframe",
                    "1h",
                    "--shard",
                    &shard,
                ]),
        );
        assert!(code == 0 || code == 3, "{v} {err}");
        decided.extend(v["signals"].as_object().unwrap().keys().cloned());
        let (code, v, err) =
            run_json(
                sb.fks()
                    .env("FKS_NOW", &at)
                    .args(["validate-strategies", "--shard", &shard]),
            );
        assert_eq!(code, 0, "{v} {err}");
    }
    let mut want: Vec<String> = syms.iter().map(|s| s.to_string()).collect();
    want.sort();
    backtested.sort();
    decided.sort();
    assert_eq!(
        backtested, want,
        "each symbol backtested by exactly one shard"
    );
    assert_eq!(decided, want, "each symbol decided by exactly one shard");
    for job in [
        "run-backtest",
        "generate-daily-rag-signals",
        "validate-strategies",
    ] {
        let (_, v, _) = run_json(sb.fks().args(["runs", "--task", job]));
        let mut shards: Vec<&str> = v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["shard"].as_str().unwrap())
            .collect();
        shards.sort();
        assert_eq!(shards, vec!["1/3", "2/3", "3/3"], "{job}: {v}");
    }
}

/// Where no server session can tell (SQLite, or a role that cannot see other sessions), a
/// run on another host is killed once its heartbeat is older than the limit.
#[test]
fn stale_heartbeat_of_another_host_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = Store::open(
            &StoreUrl::Sqlite(dir.path().join("h.db")),
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
        let far = Holder {
            host: "host-far".into(),
            pid: 4242,
        };
        let fresh = runs::start(&s, "run-backtest", "[]", 0, &far)
            .await
            .unwrap();
        let old = runs::start(&s, "run-backtest", "[]", 0, &far)
            .await
            .unwrap();
        let beat_at = runs::wall_now_ms() - runs::HEARTBEAT_STALE_MS - 1_000;
        s.exec(
            "UPDATE task_runs SET heartbeat_ms = ? WHERE id = ?",
            fks::vals![beat_at, old],
        )
        .await
        .unwrap();
        let killed = runs::killed_runs(&s).await.unwrap();
        assert!(
            killed.contains(&old) && !killed.contains(&fresh),
            "{killed:?}"
        );
        // A heartbeat brings it back.
        runs::heartbeat(&s, old).await.unwrap();
        assert!(runs::killed_runs(&s).await.unwrap().is_empty());
    });
}
