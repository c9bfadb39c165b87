//! `fks cron --as systemd|kubernetes`: the same schedule as the crontab, parsed back; the
//! copies in examples/deploy/ are what the generator writes.

use crate::support::{Sandbox, run_json};
use std::collections::BTreeMap;
use yaml_rust2::{Yaml, YamlLoader};

/// job arguments -> cron expression, from `fks cron`'s crontab.
fn crontab(sb: &Sandbox, config: &str) -> BTreeMap<String, String> {
    let out = sb
        .fks()
        .env_remove("DATABASE_URL")
        .args(["--config", config, "cron"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut m = BTreeMap::new();
    for l in text.lines() {
        if l.starts_with('#') || !l.contains(" --format json") {
            continue;
        }
        let f: Vec<&str> = l.splitn(6, ' ').collect();
        let cmd = f[5];
        // `... fks --config X <job args> --format json >> ...`
        let after = cmd.split(" --config ").nth(1).unwrap();
        let job = after.split_once(' ').unwrap().1;
        let job = job
            .split(" --format json")
            .next()
            .unwrap()
            .replace('\'', "");
        m.insert(job, f[..5].join(" "));
    }
    m
}

fn sandbox() -> (Sandbox, String) {
    let sb = Sandbox::new();
    let cfg = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/deploy/fks.toml"
    ))
    .unwrap();
    let p = sb.write("fks.toml", &cfg);
    (sb, p.display().to_string())
}

const SHARDED: [&str; 6] = [
    "sync-market-data",
    "update-indicators",
    "generate-daily-rag-signals",
    "run-strategies",
    "run-backtest",
    "validate-strategies",
];

#[test]
fn kubernetes_cronjobs_hold_the_crontab_schedule() {
    let (sb, cfg) = sandbox();
    let cron = crontab(&sb, &cfg);
    let out = sb
        .fks()
        .args([
            "--config",
            &cfg,
            "cron",
            "--as",
            "kubernetes",
            "--image",
            "registry.example/fks:1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = YamlLoader::load_from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    let kind = |d: &Yaml| d["kind"].as_str().unwrap().to_string();
    let cm = docs.iter().find(|d| kind(d) == "ConfigMap").unwrap();
    assert!(
        cm["data"]["fks.toml"]
            .as_str()
            .unwrap()
            .contains("shards = 3")
    );
    let secret = docs.iter().find(|d| kind(d) == "Secret").unwrap();
    for k in ["DATABASE_URL", "BINANCE_API_KEY", "BINANCE_API_SECRET"] {
        assert!(secret["stringData"][k].as_str().is_some(), "{k}");
    }
    let jobs: Vec<&Yaml> = docs.iter().filter(|d| kind(d) == "CronJob").collect();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut hosts = std::collections::BTreeSet::new();
    for j in &jobs {
        let name = j["metadata"]["name"].as_str().unwrap();
        let spec = &j["spec"];
        assert_eq!(spec["concurrencyPolicy"].as_str(), Some("Forbid"), "{name}");
        assert_eq!(spec["timeZone"].as_str(), Some("Etc/UTC"));
        let pod = &spec["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
        let c = &pod["containers"][0];
        assert_eq!(c["image"].as_str(), Some("registry.example/fks:1"));
        assert_eq!(
            c["envFrom"][0]["secretRef"]["name"].as_str(),
            Some("fks-secrets")
        );
        assert_eq!(
            pod["volumes"][0]["configMap"]["name"].as_str(),
            Some("fks-config")
        );
        let env = &c["env"][0];
        assert_eq!(env["name"].as_str(), Some("FKS_HOST"));
        assert_eq!(
            env["value"].as_str(),
            Some(name),
            "a stable host per CronJob"
        );
        hosts.insert(name.to_string());
        let args: Vec<&str> = c["args"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(&args[..2], ["--config", "/etc/fks/fks.toml"]);
        assert_eq!(&args[args.len() - 2..], ["--format", "json"]);
        let mut job: Vec<&str> = args[2..args.len() - 2].to_vec();
        if let Some(i) = job.iter().position(|a| *a == "--shard") {
            let shard = job[i + 1];
            assert!(name.ends_with(&shard.replace('/', "of")), "{name} {shard}");
            assert!(SHARDED.contains(&job[0]), "{job:?}");
            job.truncate(i);
        } else {
            assert!(!SHARDED.contains(&job[0]), "{job:?} should be sharded");
        }
        let sched = spec["schedule"].as_str().unwrap().to_string();
        let prev = seen.insert(job.join(" "), sched.clone());
        assert!(prev.is_none() || prev == Some(sched));
    }
    assert_eq!(hosts.len(), jobs.len());
    assert_eq!(
        jobs.len(),
        cron.len() + SHARDED.len() * 2,
        "three CronJobs per sharded job"
    );
    assert_eq!(
        seen, cron,
        "the CronJobs run the crontab's jobs on its schedule"
    );
}

fn ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut m: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut sec = String::new();
    for l in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some(s) = l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sec = s.to_string();
        } else {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {l}"));
            m.entry(sec.clone())
                .or_default()
                .insert(k.to_string(), v.to_string());
        }
    }
    m
}

#[test]
fn systemd_units_hold_the_crontab_schedule() {
    let (sb, cfg) = sandbox();
    let cron = crontab(&sb, &cfg);
    let dir = sb.path().join("units");
    let (code, v, err) = run_json(sb.fks().args([
        "--config",
        &cfg,
        "cron",
        "--as",
        "systemd",
        "--out-dir",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{v} {err}");
    let mut seen = BTreeMap::new();
    let mut timers = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let text = std::fs::read_to_string(e.path()).unwrap();
        let u = ini(&text);
        if let Some(stem) = name.strip_suffix(".timer") {
            timers += 1;
            assert_eq!(u["Timer"]["Unit"], format!("{stem}.service"));
            assert!(dir.join(format!("{stem}.service")).exists());
            assert_eq!(u["Install"]["WantedBy"], "timers.target");
            let svc = ini(&std::fs::read_to_string(dir.join(format!("{stem}.service"))).unwrap());
            let exec = &svc["Service"]["ExecStart"];
            let after = exec
                .split(&format!(" --config {cfg} "))
                .nth(1)
                .unwrap_or_else(|| panic!("{exec}"));
            let mut job = after.strip_suffix(" --format json").unwrap().to_string();
            if let Some(i) = job.find(" --shard ") {
                assert!(stem.ends_with(&job[i + 9..].replace('/', "of")));
                job.truncate(i);
            }
            let expr = &cron[&job];
            assert_eq!(
                u["Timer"]["OnCalendar"],
                fks::core::schedule::to_on_calendar(expr).unwrap(),
                "{stem}"
            );
            assert_eq!(svc["Service"]["Type"], "oneshot");
            assert_eq!(svc["Service"]["SuccessExitStatus"], "3 4");
            seen.insert(job, expr.clone());
        }
    }
    assert_eq!(timers, cron.len() + SHARDED.len() * 2);
    assert_eq!(seen, cron);
}

#[test]
fn a_config_with_secrets_is_not_put_in_a_configmap() {
    let sb = Sandbox::new();
    let p = sb.write("fks.toml", "[exchange]\napi_key = \"abc123\"\n");
    let (code, _, err) = run_json(sb.fks().args([
        "--config",
        p.to_str().unwrap(),
        "cron",
        "--as",
        "kubernetes",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("holds exchange.api_key: a ConfigMap is not secret"),
        "{err}"
    );
    assert!(!err.contains("abc123"));
}

/// examples/deploy/ is what the generator writes for examples/deploy/fks.toml (with the
/// binary at /usr/local/bin/fks and the install in /opt/fks). `FKS_REGENERATE_EXAMPLES=1`
/// rewrites them.
#[test]
fn examples_are_current() {
    let (sb, cfg) = sandbox();
    let regen = std::env::var("FKS_REGENERATE_EXAMPLES").is_ok();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deploy");
    let fks = || {
        let mut c = sb.fks();
        c.env_remove("DATABASE_URL")
            .env_remove("FKS_SYMBOLS")
            .env_remove("FKS_RETRY_BASE_DELAY_MS");
        c
    };
    let out = fks()
        .args(["--config", &cfg, "cron", "--as", "kubernetes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    let k8s = root.join("kubernetes/fks-cronjobs.yaml");
    if regen {
        std::fs::create_dir_all(k8s.parent().unwrap()).unwrap();
        std::fs::write(&k8s, &yaml).unwrap();
    }
    assert_eq!(
        yaml,
        std::fs::read_to_string(&k8s).unwrap_or_default(),
        "regenerate examples/deploy: FKS_REGENERATE_EXAMPLES=1 cargo test --test cli deploy::examples"
    );
    let dir = sb.path().join("units");
    let out = fks()
        .args([
            "--config",
            &cfg,
            "cron",
            "--as",
            "systemd",
            "--log-dir",
            "/var/log/fks",
            "--out-dir",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exe = assert_cmd::cargo::cargo_bin!("fks").display().to_string();
    let here = sb.path().canonicalize().unwrap().display().to_string();
    let sys = root.join("systemd");
    if regen {
        let _ = std::fs::remove_dir_all(&sys);
        std::fs::create_dir_all(&sys).unwrap();
    }
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let got = std::fs::read_to_string(e.path())
            .unwrap()
            .replace(&exe, "/usr/local/bin/fks")
            .replace(&here, "/opt/fks");
        if regen {
            std::fs::write(sys.join(e.file_name()), &got).unwrap();
        }
        let want = std::fs::read_to_string(sys.join(e.file_name())).unwrap_or_default();
        assert_eq!(got, want, "{:?}: regenerate examples/deploy", e.file_name());
        n += 1;
    }
    assert_eq!(n, std::fs::read_dir(&sys).unwrap().count());
}
