//! The stderr log: plain text (the default) or one JSON object per line (`--log-format json`,
//! `FKS_LOG_FORMAT=json`) for log shippers such as journald, Vector or Loki.
//!
//! A JSON line has `time` (RFC 3339, UTC, milliseconds), `level`, `job` and `run_id` (`null`
//! outside a journaled run), `message`, `target` and `fields` (the event's other fields). The
//! lines fks prints itself on stderr (`error: ...`, `warning: ...`) take the same form, so a
//! shipper never meets a line that is not JSON.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// 0 text, 1 json.
static FORMAT: AtomicU8 = AtomicU8::new(0);
static JOB: OnceLock<String> = OnceLock::new();
static RUN_ID: AtomicI64 = AtomicI64::new(0);

/// Choose the format of the lines fks writes itself (the `tracing` subscriber is set up with
/// the same choice in `main`).
pub fn set_format(f: LogFormat) {
    FORMAT.store(u8::from(f == LogFormat::Json), Ordering::SeqCst);
}

pub fn format() -> LogFormat {
    match FORMAT.load(Ordering::SeqCst) {
        1 => LogFormat::Json,
        _ => LogFormat::Text,
    }
}

/// The format asked for before the arguments are parsed (for clap's own errors):
/// `--log-format json` / `--log-format=json` in `args`, else `FKS_LOG_FORMAT=json`.
pub fn format_before_parsing(args: &[String], env_value: Option<&str>) -> LogFormat {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let v = if a == "--log-format" {
            it.next().map(String::as_str)
        } else {
            a.strip_prefix("--log-format=")
        };
        if let Some(v) = v {
            return if v == "json" {
                LogFormat::Json
            } else {
                LogFormat::Text
            };
        }
    }
    if env_value == Some("json") {
        LogFormat::Json
    } else {
        LogFormat::Text
    }
}

/// The job this process runs (one per process), for every later line.
pub fn set_job(job: &str) {
    let _ = JOB.set(job.to_string());
}

/// The journal id of the run, once it is known.
pub fn set_run_id(id: i64) {
    RUN_ID.store(id, Ordering::SeqCst);
}

fn run_id() -> Option<i64> {
    match RUN_ID.load(Ordering::SeqCst) {
        0 => None,
        id => Some(id),
    }
}

/// One JSON log line (without the newline).
pub fn json_line(
    level: &str,
    message: &str,
    target: Option<&str>,
    fields: serde_json::Map<String, serde_json::Value>,
) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    serde_json::json!({
        "time": time,
        "level": level,
        "job": JOB.get(),
        "run_id": run_id(),
        "message": message,
        "target": target,
        "fields": fields,
    })
    .to_string()
}

/// A line fks writes on stderr itself: `error: msg` / `warning: msg` in text, a JSON object
/// (level ERROR / WARN / INFO) with `--log-format json`. `kind` is `error`, `warning` or
/// `note` (a note is printed as it is in text).
#[allow(clippy::print_stderr)]
pub fn stderr_line(kind: &str, msg: &str) {
    match format() {
        LogFormat::Text => match kind {
            "note" => eprintln!("{msg}"),
            k => eprintln!("{k}: {msg}"),
        },
        LogFormat::Json => {
            let level = match kind {
                "error" => "ERROR",
                "warning" => "WARN",
                _ => "INFO",
            };
            eprintln!("{}", json_line(level, msg, Some("fks"), Default::default()));
        }
    }
}

/// Collects an event's fields.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, v: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.rest.insert(field.name().to_string(), v);
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(
            field,
            serde_json::Number::from_f64(value)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| value.to_string().into()),
        );
    }
}

/// The `tracing` event formatter of `--log-format json`.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let mut f = Fields::default();
        event.record(&mut f);
        let meta = event.metadata();
        writeln!(
            writer,
            "{}",
            json_line(
                meta.level().as_str(),
                f.message.as_deref().unwrap_or(""),
                Some(meta.target()),
                f.rest
            )
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_found_before_parsing() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            format_before_parsing(&a(&["fks", "--log-format", "json", "x"]), None),
            LogFormat::Json
        );
        assert_eq!(
            format_before_parsing(&a(&["fks", "--log-format=json"]), None),
            LogFormat::Json
        );
        assert_eq!(
            format_before_parsing(&a(&["fks", "--log-format", "text"]), Some("json")),
            LogFormat::Text,
            "the flag wins over the environment"
        );
        assert_eq!(
            format_before_parsing(&a(&["fks"]), Some("json")),
            LogFormat::Json
        );
        assert_eq!(
            format_before_parsing(&a(&["fks", "--", "--log-format", "json"]), None),
            LogFormat::Text
        );
    }

    #[test]
    fn a_json_line_has_the_documented_keys() {
        let mut fields = serde_json::Map::new();
        fields.insert("symbol".into(), "BTCUSDT".into());
        let v: serde_json::Value =
            serde_json::from_str(&json_line("WARN", "slow \"x\"", Some("fks"), fields)).unwrap();
        for k in [
            "time", "level", "job", "run_id", "message", "target", "fields",
        ] {
            assert!(v.get(k).is_some(), "{k} missing in {v}");
        }
        assert_eq!(v["message"], "slow \"x\"");
        assert_eq!(v["fields"]["symbol"], "BTCUSDT");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }
}
