//! The process edge: load settings, run the command, print the outcome or one `error:` line,
//! and pick the exit code (also for clap's usage errors and for panics).

use super::{Ctx, dispatch};
use crate::cli::Command;
use crate::core::clock::{Clock, SystemClock};
use crate::core::config::{ConfigError, Overrides, ProcessEnv, Settings, UsageError};
use crate::output::{Format, Status};
use std::io::IsTerminal;
use std::sync::Arc;

/// Parse args, load settings, run the command; returns the exit code.
pub async fn main_entry(cli: crate::cli::Cli, argv: Vec<String>) -> u8 {
    let global = cli.global.clone();
    let name = cli.name();
    let explicit_format = global.format;
    let loaded = ProcessEnv::load().and_then(|env| {
        let s = Settings::load(
            &Overrides {
                config: global.config.clone(),
                db: global.db.clone(),
                config_may_be_missing: matches!(cli.command, Command::Init(_)),
            },
            &env,
        )?;
        Ok((s, env))
    });
    let (settings, env) = match loaded {
        Ok(s) => s,
        Err(e) => {
            return report_error(
                name,
                explicit_format.unwrap_or_else(default_format),
                &e,
                global.verbose,
            );
        }
    };
    if !global.quiet {
        for w in &settings.warnings {
            crate::logging::stderr_line("warning", &one_line(w));
        }
    }
    let clock: Arc<dyn Clock> = match crate::core::clock::from_env(&env) {
        Ok(Some(c)) => c,
        Ok(None) => Arc::new(SystemClock),
        Err(e) => {
            return report_error(
                name,
                explicit_format.unwrap_or_else(default_format),
                &e,
                global.verbose,
            );
        }
    };
    if let Some(h) = crate::core::config::Env::var(&env, crate::core::config::env::HOST) {
        crate::core::runs::set_host(&h);
    }
    let mut ctx = Ctx::new(global, settings, clock, Arc::new(env));
    ctx.command = name;
    let result = dispatch(&ctx, name, cli.command, &argv).await;
    match result {
        Ok(mut outcome) => {
            // A run that failed without an error of its own (every symbol failed) still
            // says why, on stderr and in its JSON.
            let failed = matches!(outcome.status, Status::Error | Status::Partial)
                .then(|| outcome.ensure_error());
            let bytes = outcome.render(name, ctx.format);
            write_stdout(&bytes);
            if let Some(msg) = failed {
                crate::logging::stderr_line("error", &one_line(&msg));
            }
            outcome.status.exit_code()
        }
        Err(e) => report_error(name, ctx.format, &e, ctx.global.verbose),
    }
}

fn default_format() -> Format {
    if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    }
}

/// Write to stdout; a closed pipe (`fks ... | head`) is not an error.
pub fn write_stdout(bytes: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|_| out.flush());
}

/// A message on one line: line breaks (Postgres DETAIL/HINT, multi-line causes) become `; `.
pub fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether an error is the user's to fix by changing a flag or the configuration (exit 2).
pub fn is_usage_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<ConfigError>().is_some() || c.downcast_ref::<UsageError>().is_some()
    })
}

/// A bad value given on the command line (exit 2), e.g. `usage(format!("--fee {x}: ..."))`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Print one clear line on stderr (and the JSON object in JSON mode); pick the exit code.
pub fn report_error(command: &str, format: Format, e: &anyhow::Error, verbose: u8) -> u8 {
    let msg = one_line(&format!("{e:#}"));
    if format == Format::Json {
        let v = serde_json::json!({"status": "error", "command": command, "error": msg});
        write_stdout(format!("{v}\n").as_bytes());
    }
    crate::logging::stderr_line("error", &msg);
    if verbose > 0 {
        for c in e.chain().skip(1) {
            crate::logging::stderr_line(
                "note",
                &format!("  caused by: {}", one_line(&c.to_string())),
            );
        }
    }
    if is_usage_error(e) { 2 } else { 1 }
}

/// Global options that take a value (`--format json`), to find the subcommand in argv.
const GLOBAL_VALUE_FLAGS: [&str; 5] = ["--config", "--db", "--format", "--wait", "--log-format"];

/// The `--format` given on the command line, read without clap (for its own errors).
fn format_in_argv(argv: &[String]) -> Option<Format> {
    let mut found = None;
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let v = if a == "--format" {
            it.next().map(String::as_str)
        } else {
            a.strip_prefix("--format=")
        };
        match v {
            Some("json") => found = Some(Format::Json),
            Some("table") => found = Some(Format::Table),
            _ => {}
        }
    }
    found
}

/// The subcommand named in argv, if it is one of ours.
fn subcommand_in_argv(argv: &[String]) -> Option<String> {
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            return None;
        }
        if GLOBAL_VALUE_FLAGS.contains(&a.as_str()) {
            it.next();
            continue;
        }
        if a.starts_with('-') {
            continue;
        }
        return crate::cli::subcommand_name(a).map(str::to_string);
    }
    None
}

/// A usage error found by clap: help and version go to stdout (exit 0); anything else is
/// one JSON object on stdout when the output is JSON, one `error:` line on stderr, exit 2.
pub fn report_usage_error(argv: &[String], e: &clap::Error) -> u8 {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return 0;
    }
    let format = format_in_argv(argv).unwrap_or_else(default_format);
    let command = subcommand_in_argv(argv);
    let see = match &command {
        Some(c) => format!("see `fks {c} --help`"),
        None => "see `fks --help`".to_string(),
    };
    let rendered = e.render().to_string();
    let msg = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        format!("a subcommand is required; {see}")
    } else {
        let mut parts: Vec<String> = Vec::new();
        // The lines under `error:` up to the first blank one belong to it (the missing
        // arguments of "the following required arguments were not provided:").
        let mut in_error = false;
        for raw in rendered.lines() {
            let l = raw.trim();
            if let Some(m) = l.strip_prefix("error: ") {
                parts.push(m.to_string());
                in_error = true;
            } else if l.starts_with("tip:") || l.starts_with("[possible values:") {
                parts.push(l.to_string());
                in_error = false;
            } else if l.is_empty() {
                in_error = false;
            } else if in_error && let Some(last) = parts.last_mut() {
                let sep = if last.ends_with(':') { " " } else { ", " };
                last.push_str(sep);
                last.push_str(l);
            }
        }
        if parts.is_empty() {
            parts.push(one_line(&rendered));
        }
        parts.push(see);
        parts.join("; ")
    };
    if format == Format::Json {
        let v = serde_json::json!({
            "status": "error",
            "command": command.as_deref().unwrap_or("fks"),
            "error": msg,
        });
        write_stdout(format!("{v}\n").as_bytes());
        crate::logging::stderr_line("error", &msg);
    } else if std::io::stderr().is_terminal() {
        // A person at a terminal gets clap's full message with the usage line.
        let _ = e.print();
    } else {
        crate::logging::stderr_line("error", &msg);
    }
    2
}

static PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Panic hook: keep the message for [`report_panic`] instead of printing several lines.
pub fn remember_panic(info: &std::panic::PanicHookInfo<'_>) {
    let what = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into());
    let at = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    if let Ok(mut p) = PANIC.lock()
        && p.is_none()
    {
        *p = Some(format!("{what}{at}"));
    }
}

/// A panic (a bug in fks) still ends as one `error:` line and the JSON object, exit 1.
pub fn report_panic(
    command: &str,
    format: Option<Format>,
    payload: &(dyn std::any::Any + Send),
) -> u8 {
    let what = PANIC
        .lock()
        .ok()
        .and_then(|p| p.clone())
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into());
    let e = anyhow::anyhow!(
        "internal error (a bug in fks, please report it): {}",
        one_line(&what)
    );
    report_error(command, format.unwrap_or_else(default_format), &e, 0)
}
