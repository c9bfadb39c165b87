//! `fks cron`: print the crontab for the configured schedule.
//!
//! Each line works as installed on a fresh system: it creates the log folder, changes to
//! the folder `fks cron` ran in (so `./.env` is read), and appends the job's JSON result
//! to `<log_dir>/<job>.log` (one JSON object per line) and anything on stderr to
//! `<log_dir>/<job>.err`. Cron does not see the shell's environment, so the non-secret
//! fks variables set when `fks cron` ran are written into the lines; secrets are not (they
//! belong in `./.env` or the environment cron gives the jobs).

mod deploy;

use super::Ctx;
use crate::core::config::{ConfigError, env};
use crate::output::Outcome;
use anyhow::{Context, Result};
use std::collections::BTreeSet;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the jobs' logs (default: the config's schedule.log_dir, else ./logs).
    #[arg(long)]
    pub log_dir: Option<std::path::PathBuf>,
    /// What to write: a crontab, systemd service and timer units, or Kubernetes CronJobs
    /// (all from the same [schedule]).
    #[arg(long = "as", value_enum, default_value = "crontab")]
    pub target: Target,
    /// Write the files here instead of printing them (systemd: one file per unit).
    #[arg(long)]
    pub out_dir: Option<std::path::PathBuf>,
    /// Shards per per-symbol job for systemd / kubernetes (default: schedule.shards).
    #[arg(long)]
    pub shards: Option<u32>,
    /// The container image of the Kubernetes CronJobs.
    #[arg(long, default_value = concat!("fks:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Crontab,
    Systemd,
    Kubernetes,
}

/// Variables fks reads that are safe to write into a crontab and needed for the jobs to
/// see the same configuration as `fks cron` did.
const CARRIED: [&str; 5] = [
    env::SYMBOLS,
    env::BINANCE_BASE_URL,
    env::BINANCE_FUTURES_BASE_URL,
    env::RETRY_BASE_DELAY_MS,
    env::BUSY_TIMEOUT_MS,
];

/// Secrets cron will not see unless they are in `./.env` (or the crontab's environment).
const SECRETS: [&str; 3] = [
    env::BINANCE_API_KEY,
    env::BINANCE_API_SECRET,
    env::DISCORD_WEBHOOK_URL,
];

/// The log name of a schedule entry: the job and its flag values, without the flags
/// (`generate-report --report-type daily` → `generate-report-daily`).
pub fn log_name(job: &str) -> String {
    let parts: Vec<String> = job
        .split_whitespace()
        .filter(|t| !t.starts_with('-'))
        .map(|t| {
            t.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .filter(|t| !t.is_empty() && t != "." && t != "..")
        .collect();
    if parts.is_empty() {
        "job".into()
    } else {
        parts.join("-")
    }
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    match args.target {
        Target::Crontab => crontab(ctx, args).await,
        Target::Systemd | Target::Kubernetes => deploy::run(ctx, args).await,
    }
}

async fn crontab(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let exe = std::env::current_exe().context("find the fks binary")?;
    let cwd = std::env::current_dir().context("current directory")?;
    let abs = |p: std::path::PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
    let log_dir = abs(args
        .log_dir
        .or_else(|| ctx.settings.file.schedule.log_dir.clone().map(Into::into))
        .unwrap_or_else(|| "logs".into()));
    // The lines create the folder too; creating it now shows a permission problem at once.
    if let Err(e) = std::fs::create_dir_all(&log_dir)
        && !ctx.global.quiet
    {
        eprintln!(
            "warning: cannot create the log folder {} now ({e}); each crontab line creates it when it runs",
            log_dir.display()
        );
    }
    let config = ctx.settings.config_path.clone().map(abs);
    let mut notes: Vec<String> = Vec::new();
    let mut prefix = String::new();
    for name in CARRIED {
        if let Some(v) = ctx.env_var(name) {
            prefix.push_str(&format!("{name}={} ", shell_quote(&v)));
        }
    }
    // The store, when it was not chosen by the config file the lines name.
    let mut db_flag = String::new();
    if ctx.global.db.is_some() || ctx.env_var(env::DATABASE_URL).is_some() {
        let url = &ctx.settings.database_url;
        if crate::core::store::redact_url(url) != *url {
            notes.push(format!(
                "the store URL holds a password: put DATABASE_URL in {}/.env (not written here)",
                cwd.display()
            ));
        } else {
            let url = match crate::core::store::StoreUrl::parse(url) {
                Ok(crate::core::store::StoreUrl::Sqlite(p)) => abs(p).display().to_string(),
                _ => url.clone(),
            };
            db_flag = format!(" --db {}", shell_quote(&url));
        }
    }
    for name in SECRETS {
        if ctx.env_var(name).is_some() && !dotenv_has(&cwd, name) {
            notes.push(format!(
                "{name} is set in this shell but cron will not see it: put it in {}/.env",
                cwd.display()
            ));
        }
    }
    let mut out = String::from(
        "# fks crontab, generated by `fks cron`. Times are UTC (CRON_TZ=UTC where cron supports it).\n\
         # Install: fks cron | crontab -   (this replaces your crontab; merge by hand if you have one)\n\
         # Each job appends one JSON object per run to <job>.log and its stderr to <job>.err.\n\
         SHELL=/bin/sh\n\
         CRON_TZ=UTC\n",
    );
    out.push_str(&format!("# logs: {}\n", log_dir.display()));
    for n in &notes {
        out.push_str(&format!("# note: {n}\n"));
        if !ctx.global.quiet {
            eprintln!("warning: {n}");
        }
    }
    let log = shell_quote(&log_dir.display().to_string());
    let mut used = BTreeSet::new();
    for (job, expr) in &ctx.settings.file.schedule.jobs {
        crate::core::schedule::validate(expr)
            .map_err(|e| ConfigError(format!("schedule.jobs.{job}: {e}")))?;
        if !super::implemented(job) {
            out.push_str(&format!(
                "# {expr} {job}: not available in this version of fks\n"
            ));
            continue;
        }
        let mut name = log_name(job);
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = format!("{}-{n}", log_name(job));
            n += 1;
        }
        let cfg = config
            .as_ref()
            .map(|c| format!(" --config {}", shell_quote(&c.display().to_string())))
            .unwrap_or_default();
        let job_args: Vec<String> = job.split_whitespace().map(shell_quote).collect();
        let command = format!(
            "mkdir -p {log} && cd {} && {prefix}{}{cfg}{db_flag} {} --format json >> {log}/{name}.log 2>> {log}/{name}.err",
            shell_quote(&cwd.display().to_string()),
            shell_quote(&exe.display().to_string()),
            job_args.join(" "),
        );
        out.push_str(&format!("{expr} {}\n", cron_escape(&command)));
    }
    Ok(Outcome::raw(out.into_bytes()))
}

/// Whether `dir/.env` sets `name`.
fn dotenv_has(dir: &std::path::Path, name: &str) -> bool {
    dotenvy::from_path_iter(dir.join(".env"))
        .map(|it| it.flatten().any(|(k, _)| k == name))
        .unwrap_or(false)
}

/// Quote for sh when needed.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// In a crontab command `%` ends the command (the rest is stdin): escape it.
fn cron_escape(command: &str) -> String {
    command.replace('%', "\\%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_are_clean() {
        assert_eq!(
            log_name("generate-report --report-type daily"),
            "generate-report-daily"
        );
        assert_eq!(log_name("archive-old-data --execute"), "archive-old-data");
        assert_eq!(log_name("sync-market-data"), "sync-market-data");
        assert_eq!(log_name("x --a b/c"), "x-b_c");
        assert_eq!(log_name("--only"), "job");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/usr/bin/fks"), "/usr/bin/fks");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(cron_escape("date +%s"), "date +\\%s");
    }
}
