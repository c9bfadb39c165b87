//! Watching fks itself: failure-streak alerts, `status --check`, the dashboard page (also in
//! a real headless browser) and JSON logs.

use crate::support::{Sandbox, run_json};

/// The lines the file channel received (one JSON object per message).
fn delivered(sb: &Sandbox) -> Vec<serde_json::Value> {
    std::fs::read_to_string(sb.path().join("n.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn config(sb: &Sandbox, schedule: &str) {
    sb.write(
        "fks.toml",
        &format!(
            "[notifications]\nfile = \"n.jsonl\"\n[schedule.jobs]\n{schedule}\n[monitor]\nfailure_cooldown_minutes = 60\n"
        ),
    );
}

fn at(sb: &Sandbox, t: &str) -> assert_cmd::Command {
    let mut c = sb.fks();
    c.env("FKS_NOW", format!("2024-01-01T{t}:00Z"));
    c
}

/// A dashboard run that fails (its folder does not exist) or succeeds.
fn dashboard(sb: &Sandbox, t: &str, ok: bool) -> (i32, serde_json::Value, String) {
    let out = if ok { "d.html" } else { "missing/d.html" };
    run_json(at(sb, t).args(["dashboard", "--output", out]))
}

fn streak_case(sb: &Sandbox) {
    config(sb, "\"dashboard\" = \"* * * * *\"");
    for t in ["10:00", "10:01"] {
        let (c, v, _) = dashboard(sb, t, false);
        assert_eq!(c, 2, "{v}");
        assert!(delivered(sb).is_empty(), "no alert before 3 in a row");
    }
    dashboard(sb, "10:02", false);
    let d = delivered(sb);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["title"], "dashboard is failing");
    assert_eq!(d[0]["urgent"], true);
    let body = d[0]["body"].as_str().unwrap();
    assert!(body.contains("3 failed runs in a row"), "{body}");
    assert!(
        body.contains("the folder missing does not exist"),
        "the last error: {body}"
    );
    // Quiet under the cool-down, also from send-notifications.
    dashboard(sb, "10:03", false);
    let (c, v, _) = run_json(at(sb, "10:04").arg("send-notifications"));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["job_alerts"], serde_json::json!([]), "{v}");
    assert_eq!(delivered(sb).len(), 1);
    // Still failing after the cool-down: repeated once.
    dashboard(sb, "11:05", false);
    assert_eq!(delivered(sb).len(), 2);
    // A success says "recovered", once.
    let (c, v, _) = dashboard(sb, "11:06", true);
    assert_eq!(c, 0, "{v}");
    dashboard(sb, "11:07", true);
    let d = delivered(sb);
    assert_eq!(d.len(), 3, "{d:?}");
    assert_eq!(d[2]["title"], "dashboard recovered");
    assert_eq!(d[2]["urgent"], false);
    // A new streak alerts again at once (the cool-down belonged to the old one).
    for t in ["11:10", "11:11", "11:12"] {
        dashboard(sb, t, false);
    }
    assert_eq!(delivered(sb).len(), 4);
}

#[test]
fn a_failing_job_alerts_once_then_says_recovered_sqlite() {
    streak_case(&Sandbox::new());
}

#[test]
fn a_failing_job_alerts_once_then_says_recovered_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        streak_case(&sb);
    }
}

#[test]
fn send_notifications_alerts_a_job_that_stopped_running() {
    let sb = Sandbox::new();
    config(
        &sb,
        "\"dashboard\" = \"*/5 * * * *\"\n\"send-notifications\" = \"* * * * *\"",
    );
    assert_eq!(dashboard(&sb, "10:00", true).0, 0);
    let (c, v, _) = run_json(at(&sb, "10:09").arg("send-notifications"));
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        v["job_alerts"],
        serde_json::json!([]),
        "two intervals: not yet"
    );
    // 20 minutes after its last start, a job due every 5 has missed 3 runs.
    let (c, v, _) = run_json(at(&sb, "10:20").arg("send-notifications"));
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["job_alerts"][0]["job"], "dashboard", "{v}");
    assert_eq!(v["job_alerts"][0]["kind"], "failing");
    let d = delivered(&sb);
    assert_eq!(d.len(), 1);
    assert!(
        d[0]["body"]
            .as_str()
            .unwrap()
            .contains("3 scheduled runs missed"),
        "{d:?}"
    );
}

#[test]
fn a_killed_run_counts_toward_the_streak() {
    let sb = Sandbox::new();
    config(&sb, "\"dashboard\" = \"* * * * *\"");
    dashboard(&sb, "10:00", false);
    // A run of this host whose process is gone: killed.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    c.execute(
        "INSERT INTO task_runs (task, args, started_ms, status, host, pid) VALUES ('dashboard', '[]', ?, 'running', ?, 4194303)",
        rusqlite::params![1_704_103_260_000_i64, host],
    )
    .unwrap();
    assert!(delivered(&sb).is_empty());
    dashboard(&sb, "10:02", false);
    let d = delivered(&sb);
    assert_eq!(d.len(), 1, "error, killed, error: 3 in a row");
    let (c, v, _) = run_json(at(&sb, "10:03").args(["runs", "--status", "killed"]));
    assert_eq!(c, 0);
    assert_eq!(v["count"], 1, "{v}");
}

fn runs_count(sb: &Sandbox) -> i64 {
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    c.query_row("SELECT COUNT(*) FROM task_runs", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn status_check_exits_1_on_a_failing_or_overdue_job_and_is_not_journaled() {
    let sb = Sandbox::new();
    config(&sb, "\"dashboard\" = \"*/5 * * * *\"");
    // Never ran: overdue.
    let (c, v, e) = run_json(at(&sb, "09:00").args(["status", "--check"]));
    assert_eq!(c, 1, "{v}");
    assert!(e.contains("dashboard is overdue: it never ran"), "{e}");
    assert_eq!(dashboard(&sb, "10:00", true).0, 0);
    let (c, v, e) = run_json(at(&sb, "10:01").args(["status", "--check"]));
    assert_eq!(c, 0, "{v} {e}");
    assert_eq!(v["problems"], serde_json::json!([]));
    dashboard(&sb, "10:02", false);
    let before = runs_count(&sb);
    let (c, v, e) = run_json(at(&sb, "10:03").args(["status", "--check"]));
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["status"], "error");
    assert!(
        e.lines()
            .any(|l| l.starts_with("error: ") && l.contains("dashboard is failing")),
        "{e}"
    );
    assert!(e.contains("does not exist"), "the error says why: {e}");
    // Without --check, status stays a report (exit 0).
    assert_eq!(run_json(at(&sb, "10:03").arg("status")).0, 0);
    assert_eq!(runs_count(&sb), before, "status is not journaled");
    // Succeeds again, then stops running: overdue.
    dashboard(&sb, "10:04", true);
    let (c, _, e) = run_json(at(&sb, "10:30").args(["status", "--check"]));
    assert_eq!(c, 1);
    assert!(e.contains("dashboard is overdue: last started"), "{e}");
    // Table output also exits 1.
    let out = at(&sb, "10:30")
        .args(["--format", "table", "status", "--check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// A store with a paper account, a failing job and a succeeding one; the page is written.
fn page_setup(sb: &Sandbox) -> std::path::PathBuf {
    config(
        sb,
        "\"dashboard\" = \"* * * * *\"\n\"sync-account-balance\" = \"*/15 * * * *\"",
    );
    let (c, v, _) =
        run_json(at(sb, "08:00").args(["account", "add", "main", "--cash", "12345.67"]));
    assert_eq!(c, 0, "{v}");
    let (c, v, e) = run_json(at(sb, "09:00").arg("sync-account-balance"));
    assert_eq!(c, 0, "{v} {e}");
    let (c, _, _) = run_json(at(sb, "09:30").args(["dashboard", "--output", "no<dir>/d.html"]));
    assert_eq!(c, 2);
    let (c, v, e) = run_json(at(sb, "10:00").args(["dashboard", "--output", "page.html"]));
    assert_eq!(c, 0, "{v} {e}");
    assert_eq!(v["failures_7d"], 1, "{v}");
    assert_eq!(v["notes"], serde_json::json!([]), "every section read: {v}");
    sb.path().join("page.html")
}

#[test]
fn dashboard_page_shows_jobs_failures_and_accounts_escaped() {
    let sb = Sandbox::new();
    let page = page_setup(&sb);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("12,345.67 USDT"), "equity of main");
    assert!(html.contains("sync-account-balance"));
    assert!(html.contains("no&lt;dir&gt;"), "the error, escaped");
    assert!(!html.contains("no<dir>"));
    assert!(
        !html.contains("http://")
            || html.matches("http://").count()
                == html.matches("http://www.w3.org/2000/svg").count(),
        "no external asset"
    );
    // No candle of BTCUSDT: stale market data.
    assert!(html.contains(r#"<span class="badge warn">no_data</span>"#));
    // A ban in force and an order journaled but not resolved show under Queues.
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    c.execute(
        "INSERT INTO kv (key, value, updated_ms) VALUES ('binance.backoff@api.binance.com:443', ?, 0)",
        [r#"{"until_ms":32503680000000,"status":418,"reason":"HTTP 418: banned"}"#],
    )
    .unwrap();
    c.execute(
        "INSERT INTO orders (account_id, client_order_id, symbol, side, type, quantity, status, reason, created_ms, updated_ms) \
         VALUES (1, 'fks-test-order-1', 'BTCUSDT', 'BUY', 'MARKET', '0.5', 'sent', 'rebalance', 1704099600000, 1704099600000)",
        [],
    )
    .unwrap();
    c.execute(
        "INSERT INTO notifications (kind, title, body, status, created_ms, updated_ms) VALUES ('alert', 't', 'b', 'pending', 0, 0)",
        [],
    )
    .unwrap();
    let (code, v, _) = run_json(at(&sb, "10:05").args(["dashboard", "--output", "page.html"]));
    assert_eq!(code, 0, "{v}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("api.binance.com:443"), "ban");
    assert!(html.contains("HTTP 418: banned"));
    assert!(html.contains("fks-test-order-1"), "unresolved order");
    assert!(html.contains("(not yet tried)"), "pending notification");
    // `fks cron` runs it every minute.
    let out = sb.fks().arg("cron").output().unwrap();
    let tab = String::from_utf8_lossy(&out.stdout);
    assert!(
        tab.lines()
            .any(|l| l.starts_with("* * * * *") && l.contains(" dashboard")),
        "{tab}"
    );
}

#[test]
fn dashboard_page_on_postgres() {
    let Some(sb) = Sandbox::postgres() else {
        return;
    };
    let page = page_setup(&sb);
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("12,345.67 USDT"));
    assert!(html.contains("no&lt;dir&gt;"));
}

/// A headless browser, if one can be had: Debian's `chromium`, or `chromium-browser` /
/// `google-chrome` on other systems.
fn browser() -> Option<String> {
    for b in ["chromium", "chromium-browser", "google-chrome"] {
        let ok = std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(b.to_string());
        }
    }
    None
}

#[test]
fn dashboard_renders_in_a_real_browser() {
    let Some(b) = browser() else {
        println!("skipped: no chromium found (.ci/run installs Debian's chromium)");
        return;
    };
    let sb = Sandbox::new();
    let page = page_setup(&sb);
    let profile = sb.path().join("chromium-profile");
    let out = std::process::Command::new(&b)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("run the browser");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("</html>"),
        "no DOM from {b}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Key figures, as the browser parsed them.
    assert!(dom.contains("12,345.67 USDT"), "equity");
    assert!(dom.contains("main"));
    assert!(dom.contains("sync-account-balance"));
    // The job failure: its error text, escaped (no element made of it), and its badge.
    assert!(
        dom.contains("the folder no&lt;dir&gt; does not exist"),
        "{dom}"
    );
    assert!(!dom.contains("<dir>"));
    assert!(dom.contains(r#"<span class="badge neg">error</span>"#));
    assert!(dom.contains("Failures, last 7 days"));
}

#[test]
fn json_logs_are_one_object_per_line_with_job_and_run_id() {
    let sb = Sandbox::new();
    config(&sb, "\"dashboard\" = \"* * * * *\"");
    let out = at(&sb, "10:00")
        .env("FKS_LOG_FORMAT", "json")
        .args([
            "-v",
            "--format",
            "json",
            "dashboard",
            "--output",
            "missing/x.html",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let error = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no ERROR line: {err}"));
    assert_eq!(error["job"], "dashboard");
    assert!(error["run_id"].as_i64().unwrap() >= 1, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{error}"
    );
    for k in ["time", "fields", "target"] {
        assert!(error.get(k).is_some(), "{k}: {error}");
    }
    // The flag works too, and text stays the default.
    let out = at(&sb, "10:01")
        .args([
            "--log-format",
            "json",
            "dashboard",
            "--output",
            "missing/x.html",
        ])
        .output()
        .unwrap();
    let first = String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        serde_json::from_str::<serde_json::Value>(&first).is_ok(),
        "{first}"
    );
    let out = at(&sb, "10:02")
        .args(["dashboard", "--output", "missing/x.html"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    // A usage error found by clap is a JSON line too.
    let out = at(&sb, "10:03")
        .env("FKS_LOG_FORMAT", "json")
        .args(["--format", "json", "dashboard", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_str(err.trim())
        .unwrap_or_else(|e| panic!("not one JSON line ({e}): {err}"));
    assert_eq!(v["level"], "ERROR");
    assert!(v["message"].as_str().unwrap().contains("--bogus"), "{v}");
}

#[test]
fn dashboard_refuses_a_folder_or_a_missing_folder_as_output() {
    let sb = Sandbox::new();
    config(&sb, "\"dashboard\" = \"* * * * *\"");
    std::fs::create_dir(sb.path().join("site")).unwrap();
    let (c, v, e) = run_json(at(&sb, "10:00").args(["dashboard", "--output", "site"]));
    assert_eq!(c, 2, "{v}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("is a folder"), "{e}");
    let (c, _, e) = run_json(at(&sb, "10:00").args(["dashboard", "--output", "nope/d.html"]));
    assert_eq!(c, 2);
    assert!(e.contains("the folder nope does not exist"), "{e}");
    assert!(!sb.path().join("site").join("dashboard.html").exists());
    // Defaults to monitor.dashboard_path.
    let (c, v, e) = run_json(at(&sb, "10:01").arg("dashboard"));
    assert_eq!(c, 0, "{v} {e}");
    assert_eq!(v["output"], "dashboard.html");
    assert!(sb.path().join("dashboard.html").is_file());
}
