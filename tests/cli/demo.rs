//! `fks demo`: the whole cycle offline on generated data, every step successful.

use crate::support::{Sandbox, run_json};

#[test]
fn demo_runs_every_job_offline_and_writes_its_report() {
    let sb = Sandbox::new();
    let dir = sb.path().join("demo");
    let (code, v, err) = run_json(sb.fks().env_remove("DATABASE_URL").args([
        "demo",
        "--dir",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["failed_steps"], serde_json::json!([]), "{v}");
    assert!(v["data"].as_str().unwrap().contains("generated"));
    let steps = v["steps"].as_object().unwrap();
    for job in [
        "sync-market-data",
        "fetch-news",
        "update-indicators",
        "sync-account-balance",
        "update-positions",
        "analyze-risk",
        "run-backtest",
        "validate-strategies",
        "generate-signals",
        "generate-daily-rag-signals",
        "optimize-portfolio",
        "evaluate-signals",
        "rebalance-portfolio",
        "check-stop-loss",
        "calculate-metrics",
        "generate-report",
        "send-notifications",
        "archive-old-data",
    ] {
        assert_eq!(steps[job]["status"], "success", "{job}: {}", steps[job]);
    }
    assert_eq!(
        steps["sync-market-data"]["results"]["BTCUSDT"]["inserted"],
        2000
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("Daily report") && html.contains("<svg"));
    let notes = std::fs::read_to_string(dir.join("notifications.jsonl")).unwrap();
    assert!(
        notes.lines().count() >= 2,
        "report and message went to the file channel"
    );
    assert!(dir.join("backtest").read_dir().unwrap().count() >= 2);
    // A second demo in the same folder is refused rather than mixed into the first.
    let (code, _, err) = run_json(sb.fks().args(["demo", "--dir", dir.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(err.contains("already holds a store"), "{err}");
}
