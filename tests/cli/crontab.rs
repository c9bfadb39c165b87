//! The crontab `fks cron` prints works as installed: every line run through `sh -c` in a
//! fresh folder, on a fresh install with a loopback exchange, appends one JSON object per
//! run to `<job>.log` and its stderr to `<job>.err`.

use crate::support::binance::{self, KlinesResponder};
use crate::support::{Sandbox, rt};
use std::collections::BTreeSet;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer};

const H: i64 = 3_600_000;

/// (schedule, command) of each job line of a crontab, as cron would run it.
fn job_lines(crontab: &str) -> Vec<(String, String)> {
    crontab
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.is_empty()
                && !t.starts_with('#')
                && !t.split_whitespace().next().unwrap().contains('=')
        })
        .map(|l| {
            let fields: Vec<&str> = l.splitn(6, ' ').collect();
            assert_eq!(fields.len(), 6, "not a crontab line: {l}");
            // cron turns `\%` into `%` before handing the command to sh
            (fields[..5].join(" "), fields[5].replace("\\%", "%"))
        })
        .collect()
}

#[test]
fn every_crontab_line_runs_in_sh_and_logs_one_json_object_per_run() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = (now / H - 600) * H;
    rt.block_on(async {
        Mock::given(path("/api/v3/klines"))
            .respond_with(KlinesResponder::new(
                binance::series(start, H, 600, 100.0),
                H,
            ))
            .mount(&server)
            .await;
    });
    // A fresh install: init, then the crontab, from the install folder.
    let install = |c: &mut assert_cmd::Command| {
        c.env_remove("DATABASE_URL")
            .env("FKS_BINANCE_BASE_URL", server.uri());
    };
    let mut init = sb.fks();
    install(&mut init);
    let out = init.arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mut cron = sb.fks();
    install(&mut cron);
    let out = cron
        .args(["cron", "--log-dir", "var/log/fks"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let crontab = String::from_utf8(out.stdout).unwrap();
    let log_dir = sb.path().join("var/log/fks");
    assert!(log_dir.is_dir(), "fks cron creates the log folder");
    // The lines must not depend on it: they create it themselves.
    std::fs::remove_dir_all(sb.path().join("var")).unwrap();

    let lines = job_lines(&crontab);
    assert_eq!(lines.len(), 20, "{crontab}");
    let expected: BTreeSet<String> = [
        "analyze-risk",
        "archive-old-data",
        "calculate-metrics",
        "check-stop-loss",
        "evaluate-signals",
        "dashboard",
        "fetch-news",
        "generate-daily-rag-signals",
        "generate-report-daily",
        "generate-report-weekly",
        "generate-signals",
        "optimize-portfolio",
        "run-backtest",
        "run-strategies",
        "send-notifications",
        "sync-account-balance",
        "sync-market-data",
        "update-indicators",
        "update-positions",
        "validate-strategies",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Each line twice, from a fresh folder, with the bare environment cron gives.
    let elsewhere = tempfile::tempdir().unwrap();
    for round in 0..2 {
        for (when, command) in &lines {
            assert!(
                !command.contains("2>&1"),
                "stderr must not go to the JSON log: {command}"
            );
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(elsewhere.path())
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("HOME", elsewhere.path())
                .output()
                .unwrap();
            let code = out.status.code().unwrap_or(-1);
            assert!(
                matches!(code, 0..=4),
                "round {round} `{when} {command}` failed in sh ({code}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stdout.is_empty() && out.stderr.is_empty(),
                "{command}: output escaped the logs"
            );
        }
    }
    let mut logs = BTreeSet::new();
    for e in std::fs::read_dir(&log_dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains('\u{1b}'), "{name}: colour codes");
        if let Some(job) = name.strip_suffix(".log") {
            logs.insert(job.to_string());
            let runs: Vec<&str> = text.lines().collect();
            assert_eq!(runs.len(), 2, "{name}: one JSON line per run: {text}");
            let mut failed = 0;
            for l in runs {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {l}"));
                let command = v["command"].as_str().unwrap();
                assert!(job.starts_with(command), "{name}: {v}");
                let status = v["status"].as_str().unwrap();
                assert!(
                    ["success", "partial", "error", "skipped"].contains(&status),
                    "{v}"
                );
                if status == "error" {
                    // its reason is in the JSON, and on one line of the .err file
                    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
                    failed += 1;
                }
            }
            let err =
                std::fs::read_to_string(log_dir.join(format!("{job}.err"))).unwrap_or_default();
            assert_eq!(
                err.lines().filter(|l| l.starts_with("error:")).count(),
                failed,
                "{job}: one error line per failed run: {err}"
            );
        } else {
            assert!(name.ends_with(".err"), "{name}");
        }
    }
    assert_eq!(logs, expected);
    // The jobs a fresh install can do, did.
    let first = |job: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(log_dir.join(format!("{job}.log"))).unwrap();
        serde_json::from_str(text.lines().next().unwrap()).unwrap()
    };
    let news = first("fetch-news");
    assert_eq!(news["status"], "success", "{news}");
    assert_eq!(news["sources"], 0);
    assert!(
        news["note"].as_str().unwrap().contains("no news source"),
        "{news}"
    );
    let sync = first("sync-market-data");
    assert_eq!(sync["status"], "success", "{sync}");
    assert!(
        sync["results"]["BTCUSDT"]["inserted"].as_i64().unwrap() > 0,
        "{sync}"
    );
    assert_eq!(first("send-notifications")["status"], "success");
    assert_eq!(first("archive-old-data")["status"], "success");
}

#[test]
fn crontab_example_matches_what_fks_cron_prints() {
    let example = include_str!("../../crontab.example");
    let sb = Sandbox::new();
    let out = sb.fks().arg("cron").output().unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    let norm = |text: &str| -> BTreeSet<(String, String, String)> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter(|l| !l.split_whitespace().next().unwrap().contains('='))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let when = f[..5].join(" ");
                let log = f
                    .iter()
                    .find(|x| x.ends_with(".log"))
                    .map(|x| x.rsplit('/').next().unwrap().to_string())
                    .unwrap();
                let err = f
                    .iter()
                    .find(|x| x.ends_with(".err"))
                    .map(|x| x.rsplit('/').next().unwrap().to_string())
                    .unwrap_or_default();
                (when, log, err)
            })
            .collect()
    };
    assert_eq!(
        norm(example),
        norm(&printed),
        "crontab.example:\n{example}\nfks cron:\n{printed}"
    );
    for l in example.lines().filter(|l| l.contains(".log")) {
        assert!(
            l.contains("mkdir -p") || example.contains("mkdir -p"),
            "{l}"
        );
        assert!(!l.contains("2>&1"), "{l}");
    }
}
