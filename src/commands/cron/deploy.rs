//! `fks cron --as systemd|kubernetes`: the schedule as systemd service + timer units, or as
//! Kubernetes CronJobs, generated from the same [schedule] as the crontab so they cannot
//! drift. Per-symbol jobs (those with `--shard`) get one unit / CronJob per shard when
//! `schedule.shards` (or `--shards`) is above 1: several hosts or pods share the work
//! through one Postgres store.

use super::{Args, CARRIED, Target, log_name, shell_quote};
use crate::commands::Ctx;
use crate::core::config::{ConfigError, env};
use crate::output::Outcome;
use anyhow::{Context, Result};
use std::collections::BTreeSet;

/// One scheduled run: a schedule entry, for one shard or whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `fks-sync-market-data-1of3`: unit file stem, CronJob name and `FKS_HOST`.
    pub name: String,
    /// The cron expression (UTC).
    pub schedule: String,
    /// The arguments after `fks` (without --config / --format).
    pub args: Vec<String>,
}

/// Whether a job's subcommand takes `--shard` (the per-symbol jobs).
pub fn takes_shard(job: &str) -> bool {
    use clap::CommandFactory;
    let name = job.split_whitespace().next().unwrap_or(job);
    crate::cli::Cli::command()
        .find_subcommand(name)
        .is_some_and(|c| c.get_arguments().any(|a| a.get_long() == Some("shard")))
}

/// The units of a schedule: entries of jobs this binary has, sharded where they can be.
pub fn units(jobs: &[(String, String)], shards: u32) -> Result<Vec<Unit>, String> {
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    for (job, expr) in jobs {
        crate::core::schedule::validate(expr).map_err(|e| format!("schedule.jobs.{job}: {e}"))?;
        if !crate::commands::implemented(job) {
            continue;
        }
        let base: String = log_name(job)
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let mut stem = format!("fks-{base}");
        let mut n = 2;
        while !used.insert(stem.clone()) {
            stem = format!("fks-{base}-{n}");
            n += 1;
        }
        let args: Vec<String> = job.split_whitespace().map(String::from).collect();
        if shards > 1 && takes_shard(job) && !job.contains("--shard") {
            for k in 1..=shards {
                let mut a = args.clone();
                a.extend(["--shard".to_string(), format!("{k}/{shards}")]);
                out.push(Unit {
                    name: format!("{stem}-{k}of{shards}"),
                    schedule: expr.clone(),
                    args: a,
                });
            }
        } else {
            out.push(Unit {
                name: stem,
                schedule: expr.clone(),
                args,
            });
        }
    }
    Ok(out)
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let shards = args.shards.unwrap_or(ctx.settings.file.schedule.shards);
    if shards == 0 {
        return Err(crate::commands::usage(
            "--shards 0: need at least 1".to_string(),
        ));
    }
    let jobs: Vec<(String, String)> = ctx
        .settings
        .file
        .schedule
        .jobs
        .iter()
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect();
    let units = units(&jobs, shards).map_err(ConfigError)?;
    let files = match args.target {
        Target::Systemd => systemd(ctx, &args, &units)?,
        _ => vec![(
            "fks-cronjobs.yaml".to_string(),
            kubernetes(ctx, &args, &units)?,
        )],
    };
    match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            for (name, text) in &files {
                let p = dir.join(name);
                std::fs::write(&p, text).with_context(|| format!("write {}", p.display()))?;
            }
            let names: Vec<&String> = files.iter().map(|f| &f.0).collect();
            Outcome::new(
                crate::output::Status::Success,
                serde_json::json!({"dir": dir.display().to_string(), "files": names}),
            )
        }
        None => {
            let mut out = String::new();
            for (name, text) in &files {
                if files.len() > 1 {
                    out.push_str(&format!("### file: {name}\n"));
                }
                out.push_str(text);
            }
            Ok(Outcome::raw(out.into_bytes()))
        }
    }
}

fn systemd(ctx: &Ctx, args: &Args, units: &[Unit]) -> Result<Vec<(String, String)>> {
    let exe = std::env::current_exe().context("find the fks binary")?;
    let cwd = std::env::current_dir().context("current directory")?;
    let abs = |p: std::path::PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
    let log_dir = abs(args
        .log_dir
        .clone()
        .or_else(|| ctx.settings.file.schedule.log_dir.clone().map(Into::into))
        .unwrap_or_else(|| "logs".into()));
    let config = ctx.settings.config_path.clone().map(abs);
    // What the crontab carries: the non-secret fks variables of this shell, and a store URL
    // given here without a password (one with a password belongs in .env).
    let mut environment = String::new();
    for name in CARRIED {
        if let Some(v) = ctx.env_var(name) {
            environment.push_str(&format!(
                "Environment={}\n",
                systemd_quote(&format!("{name}={v}"))
            ));
        }
    }
    if ctx.global.db.is_some() || ctx.env_var(env::DATABASE_URL).is_some() {
        let url = &ctx.settings.database_url;
        if crate::core::store::redact_url(url) == *url {
            let url = match crate::core::store::StoreUrl::parse(url) {
                Ok(crate::core::store::StoreUrl::Sqlite(p)) => abs(p).display().to_string(),
                _ => url.clone(),
            };
            environment.push_str(&format!(
                "Environment={}\n",
                systemd_quote(&format!("{}={url}", env::DATABASE_URL))
            ));
        }
    }
    let mut files = Vec::new();
    for u in units {
        let on_calendar = crate::core::schedule::to_on_calendar(&u.schedule)
            .map_err(|e| ConfigError(format!("schedule of {}: {e}", u.name)))?;
        let mut exec = vec![shell_quote(&exe.display().to_string())];
        if let Some(c) = &config {
            exec.extend(["--config".into(), shell_quote(&c.display().to_string())]);
        }
        exec.extend(u.args.iter().map(|a| shell_quote(a)));
        exec.extend(["--format".into(), "json".into()]);
        let log = log_dir.display().to_string();
        let service = format!(
            "# Generated by `fks cron --as systemd` from [schedule]; do not edit, regenerate.\n\
             [Unit]\n\
             Description=fks {args}\n\
             Wants=network-online.target\n\
             After=network-online.target\n\
             \n\
             [Service]\n\
             Type=oneshot\n\
             WorkingDirectory={cwd}\n\
             # Secrets (DATABASE_URL with its password, API keys, webhooks) go in .env.\n\
             EnvironmentFile=-{cwd}/.env\n\
             {environment}\
             ExecStartPre=/bin/mkdir -p {log}\n\
             ExecStart={exec}\n\
             StandardOutput=append:{log}/{name}.log\n\
             StandardError=append:{log}/{name}.err\n\
             # 3 (partial) and 4 (skipped: another run holds the lock) are not failures.\n\
             SuccessExitStatus=3 4\n",
            args = u.args.join(" "),
            cwd = cwd.display(),
            exec = exec.join(" "),
            name = u.name,
        );
        let timer = format!(
            "# Generated by `fks cron --as systemd` from [schedule]; do not edit, regenerate.\n\
             [Unit]\n\
             Description=fks {args} at {expr} (cron, UTC)\n\
             \n\
             [Timer]\n\
             OnCalendar={on_calendar}\n\
             AccuracySec=1s\n\
             Unit={name}.service\n\
             \n\
             [Install]\n\
             WantedBy=timers.target\n",
            args = u.args.join(" "),
            expr = u.schedule,
            name = u.name,
        );
        files.push((format!("{}.service", u.name), service));
        files.push((format!("{}.timer", u.name), timer));
    }
    Ok(files)
}

/// A systemd `Environment=` assignment, quoted when it needs to be.
fn systemd_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,@".contains(c))
    {
        s.to_string()
    } else {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('%', "%%")
        )
    }
}

/// A YAML double-quoted scalar (a JSON string is one).
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The ConfigMap's fks.toml: the config file fks ran with, which must hold no secret.
fn config_text(ctx: &Ctx) -> Result<String> {
    let Some(path) = &ctx.settings.config_path else {
        return Ok("# No fks.toml was used when this was generated: put yours here.\n".into());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    let mut secret = Vec::new();
    fn walk(t: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => walk(t, &key, out),
                _ if crate::core::config::is_secret_key(&key) => out.push(key),
                _ if key == "store.url" => out.push(key),
                _ => {}
            }
        }
    }
    walk(&table, "", &mut secret);
    if !secret.is_empty() {
        return Err(ConfigError(format!(
            "{} holds {}: a ConfigMap is not secret; move them to the environment (DATABASE_URL, BINANCE_API_KEY, ...), which the generated Secret provides",
            path.display(),
            secret.join(", ")
        ))
        .into());
    }
    Ok(text)
}

fn kubernetes(ctx: &Ctx, args: &Args, units: &[Unit]) -> Result<String> {
    let mut y = String::from(
        "# Generated by `fks cron --as kubernetes` from [schedule] (the same as `fks cron`).\n\
         # fks needs a Postgres store here (pods have no shared disk for SQLite); fill in the\n\
         # Secret, then: kubectl apply -f fks-cronjobs.yaml\n",
    );
    let mut cfg = String::new();
    for line in config_text(ctx)?.lines() {
        if line.trim().is_empty() {
            cfg.push('\n');
        } else {
            cfg.push_str(&format!("    {line}\n"));
        }
    }
    y.push_str(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fks-config\n  labels:\n    app.kubernetes.io/name: fks\ndata:\n  fks.toml: |\n{cfg}"
    ));
    y.push_str(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: fks-secrets\n  labels:\n    app.kubernetes.io/name: fks\ntype: Opaque\nstringData:\n",
    );
    let url_hint = "postgres://fks:CHANGE-ME@db.example.com:5432/fks?sslmode=verify-full";
    for (k, v) in [
        (env::DATABASE_URL, url_hint),
        (env::BINANCE_API_KEY, "CHANGE-ME"),
        (env::BINANCE_API_SECRET, "CHANGE-ME"),
        (env::DISCORD_WEBHOOK_URL, ""),
    ] {
        y.push_str(&format!("  {k}: {}\n", q(v)));
    }
    for u in units {
        let mut argv: Vec<String> = vec!["--config".into(), "/etc/fks/fks.toml".into()];
        argv.extend(u.args.iter().cloned());
        argv.extend(["--format".into(), "json".into()]);
        let argv: Vec<String> = argv.iter().map(|a| q(a)).collect();
        let job = u.args.first().cloned().unwrap_or_default();
        y.push_str(&format!(
            "---\n\
             apiVersion: batch/v1\n\
             kind: CronJob\n\
             metadata:\n  name: {name}\n  labels:\n    app.kubernetes.io/name: fks\n    fks/job: {job}\n\
             spec:\n\
             \x20 schedule: {sched}\n\
             \x20 timeZone: \"Etc/UTC\"\n\
             \x20 # One run at a time per job and shard (fks's own lock says the same).\n\
             \x20 concurrencyPolicy: Forbid\n\
             \x20 startingDeadlineSeconds: 120\n\
             \x20 successfulJobsHistoryLimit: 1\n\
             \x20 failedJobsHistoryLimit: 3\n\
             \x20 jobTemplate:\n\
             \x20   spec:\n\
             \x20     backoffLimit: 0\n\
             \x20     template:\n\
             \x20       metadata:\n\
             \x20         labels:\n\
             \x20           app.kubernetes.io/name: fks\n\
             \x20       spec:\n\
             \x20         restartPolicy: Never\n\
             \x20         containers:\n\
             \x20           - name: fks\n\
             \x20             image: {image}\n\
             \x20             args: [{argv}]\n\
             \x20             env:\n\
             \x20               # Pod names change every run: a stable host identity per CronJob.\n\
             \x20               - name: FKS_HOST\n\
             \x20                 value: {name_q}\n\
             \x20             envFrom:\n\
             \x20               - secretRef:\n\
             \x20                   name: fks-secrets\n\
             \x20             volumeMounts:\n\
             \x20               - name: config\n\
             \x20                 mountPath: /etc/fks\n\
             \x20                 readOnly: true\n\
             \x20         volumes:\n\
             \x20           - name: config\n\
             \x20             configMap:\n\
             \x20               name: fks-config\n",
            name = u.name,
            name_q = q(&u.name),
            sched = q(&u.schedule),
            image = q(&args.image),
            argv = argv.join(", "),
        ));
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_symbol_jobs_are_sharded_others_not() {
        let jobs = vec![
            ("sync-market-data".to_string(), "*/5 * * * *".to_string()),
            ("analyze-risk".to_string(), "*/30 * * * *".to_string()),
            (
                "generate-report --report-type daily".to_string(),
                "30 23 * * *".to_string(),
            ),
        ];
        let u = units(&jobs, 2).unwrap();
        let names: Vec<&str> = u.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "fks-sync-market-data-1of2",
                "fks-sync-market-data-2of2",
                "fks-analyze-risk",
                "fks-generate-report-daily"
            ]
        );
        assert_eq!(u[1].args, vec!["sync-market-data", "--shard", "2/2"]);
        assert!(takes_shard("run-backtest") && takes_shard("validate-strategies"));
        assert!(!takes_shard("analyze-risk"));
    }
}
