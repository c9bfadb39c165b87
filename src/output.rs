//! Output: one JSON object per run, or a table. Rendering happens here, never in jobs.

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Partial,
    Error,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Partial => "partial",
            Status::Error => "error",
            Status::Skipped => "skipped",
        }
    }

    /// Exit code per DESIGN.md.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::Error => 1,
            Status::Partial => 3,
            Status::Skipped => 4,
        }
    }

    /// Status of a run from the statuses of its entities: `error` and `stale` (nothing was
    /// done for it: the freshness rule) count as failed, `partial` makes the run partial.
    pub fn combine<'a>(statuses: impl IntoIterator<Item = &'a str>) -> Status {
        let (mut ok, mut bad, mut part) = (0, 0, 0);
        for s in statuses {
            match s {
                "error" | "stale" => bad += 1,
                "partial" => part += 1,
                _ => ok += 1,
            }
        }
        match (ok, bad, part) {
            (_, 0, 0) => Status::Success,
            (0, _, 0) => Status::Error,
            _ => Status::Partial,
        }
    }
}

/// The status of one entity of a run (a symbol, an account, a file, a channel), written as
/// the strings of the JSON contract. [`Status::combine`] counts `error` and `stale` as failed
/// and `partial` as partial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityStatus {
    Success,
    Partial,
    Error,
    Stale,
    Skipped,
}

impl EntityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityStatus::Success => "success",
            EntityStatus::Partial => "partial",
            EntityStatus::Error => "error",
            EntityStatus::Stale => "stale",
            EntityStatus::Skipped => "skipped",
        }
    }
}

/// An entity that failed: `{"status": "error", "error": why}` (plus what a job adds).
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub status: EntityStatus,
    pub error: String,
}

impl Failure {
    /// A failure from an error and its causes (`{e:#}`).
    pub fn new(e: &anyhow::Error) -> Failure {
        Failure::msg(format!("{e:#}"))
    }

    pub fn msg(error: String) -> Failure {
        Failure {
            status: EntityStatus::Error,
            error,
        }
    }

    pub fn status(&self) -> EntityStatus {
        self.status
    }
}

/// A titled table of a report's table view (an empty title: the table alone).
pub type Section = (String, Table);

/// A job's typed report: its JSON is the serde serialization of the struct (so the contract
/// is the struct), its run status comes from its entities, and it decides what a person at a
/// terminal sees first.
pub trait Report: Serialize {
    /// The run's status, from the statuses of its entities.
    fn status(&self) -> Status;

    /// The `--format table` view: titled tables, key figures first. Empty: the generic
    /// table of the JSON.
    fn table_view(&self) -> Vec<Section> {
        Vec::new()
    }
}

/// What a command returns: its status and fields, plus optional human renderings.
#[derive(Debug)]
pub struct Outcome {
    pub status: Status,
    pub body: Map<String, Value>,
    /// A custom table for `--format table`.
    pub table: Option<Table>,
    /// A typed report's table view (titled tables), for `--format table`.
    pub sections: Vec<Section>,
    /// Raw text printed instead of JSON/table (CSV export, completions).
    pub raw: Option<Vec<u8>>,
}

impl Outcome {
    pub fn new(status: Status, report: impl Serialize) -> anyhow::Result<Outcome> {
        let mut value = serde_json::to_value(report)?;
        // The output contract: a zero is never printed as -0 (a sum of nothing in f64 is -0.0).
        crate::core::json_num::scrub_negative_zero(&mut value);
        let body = match value {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                let mut m = Map::new();
                m.insert("result".into(), other);
                m
            }
        };
        Ok(Outcome {
            status,
            body,
            table: None,
            sections: Vec::new(),
            raw: None,
        })
    }

    /// The outcome of a typed report: its JSON, its status, its table view.
    pub fn from_report<R: Report>(report: &R) -> anyhow::Result<Outcome> {
        let mut o = Outcome::new(report.status(), report)?;
        o.sections = report.table_view();
        Ok(o)
    }

    /// Status from `results.*.status`: all fine → success, all error → error, else partial.
    pub fn from_results(report: impl Serialize) -> anyhow::Result<Outcome> {
        let mut o = Outcome::new(Status::Success, report)?;
        if let Some(Value::Object(results)) = o.body.get("results") {
            o.status = Status::combine(
                results
                    .values()
                    .map(|r| r.get("status").and_then(Value::as_str).unwrap_or("success")),
            );
        }
        Ok(o)
    }

    pub fn raw(bytes: Vec<u8>) -> Outcome {
        Outcome {
            status: Status::Success,
            body: Map::new(),
            table: None,
            sections: Vec::new(),
            raw: Some(bytes),
        }
    }

    /// Why a failed run failed: its `error` field, else a summary of the errors of its
    /// entries (symbols, accounts, channels, orders). The summary is stored as `error`, so
    /// the JSON, the journal and the `error:` line on stderr say the same.
    pub fn ensure_error(&mut self) -> String {
        if let Some(Value::String(e)) = self.body.get("error")
            && !e.trim().is_empty()
        {
            return e.clone();
        }
        let msg = failure_summary(&self.body, self.status);
        self.body.insert("error".into(), Value::String(msg.clone()));
        msg
    }

    pub fn with_table(mut self, t: Table) -> Self {
        self.table = Some(t);
        self
    }

    /// The JSON object printed for this run.
    pub fn to_json(&self, command: &str) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), Value::String(self.status.as_str().into()));
        m.insert("command".into(), Value::String(command.into()));
        for (k, v) in &self.body {
            if k != "status" && k != "command" {
                m.insert(k.clone(), v.clone());
            }
        }
        Value::Object(m)
    }

    pub fn render(&self, command: &str, format: Format) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        match format {
            Format::Json => {
                let mut s =
                    serde_json::to_string(&self.to_json(command)).unwrap_or_else(|_| "{}".into());
                s.push('\n');
                s.into_bytes()
            }
            Format::Table => {
                let mut out = String::new();
                if let Some(t) = &self.table {
                    out.push_str(&format!("{command}: {}\n{t}\n", self.status.as_str()));
                } else if !self.sections.is_empty() {
                    out.push_str(&format!("{command}: {}\n", self.status.as_str()));
                    for (title, t) in &self.sections {
                        if title.is_empty() {
                            out.push_str(&format!("{t}\n"));
                        } else {
                            out.push_str(&format!("{title}\n{t}\n"));
                        }
                    }
                } else {
                    out.push_str(&generic_table(command, self.status, &self.body));
                }
                out.into_bytes()
            }
        }
    }
}

/// Errors found in a result body, labelled by the entry they belong to.
fn collect_errors(label: &str, v: &Value, depth: usize, out: &mut Vec<(String, String)>) {
    if depth > 4 {
        return;
    }
    match v {
        Value::Object(m) => {
            let mut own = false;
            if let Some(Value::String(e)) = m.get("error")
                && !e.trim().is_empty()
            {
                out.push((label.to_string(), e.clone()));
                own = true;
            }
            if let Some(Value::Array(es)) = m.get("errors") {
                for e in es.iter().filter_map(Value::as_str) {
                    out.push((label.to_string(), e.to_string()));
                    own = true;
                }
            }
            if own {
                return;
            }
            for (k, child) in m {
                if matches!(child, Value::Object(_) | Value::Array(_)) {
                    // Entries are named by their key (a symbol, an account, a channel);
                    // what is nested deeper belongs to that entry.
                    let l = if depth <= 1 { k.as_str() } else { label };
                    collect_errors(l, child, depth + 1, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let name = ["symbol", "name", "account", "source", "target", "key"]
                    .iter()
                    .find_map(|k| child.get(*k).and_then(Value::as_str))
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{label}[{i}]"));
                collect_errors(&name, child, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// The run's entries (symbols, strategy/symbol runs, files, accounts) with their names: the
/// `results` (or `signals`) object or array.
fn entries(body: &Map<String, Value>) -> Option<Vec<(String, &Value)>> {
    for key in ["results", "signals"] {
        match body.get(key) {
            Some(Value::Object(m)) if !m.is_empty() => {
                return Some(m.iter().map(|(k, v)| (k.clone(), v)).collect());
            }
            Some(Value::Array(a)) if !a.is_empty() => {
                return Some(
                    a.iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let name = ["symbol", "name", "account", "source", "target", "key"]
                                .iter()
                                .find_map(|k| v.get(*k).and_then(Value::as_str))
                                .map(str::to_string)
                                .unwrap_or_else(|| format!("{key}[{i}]"));
                            (name, v)
                        })
                        .collect(),
                );
            }
            _ => {}
        }
    }
    None
}

/// Why one failed entry failed: its error, else its reason, else its status.
fn entry_error(v: &Value) -> String {
    let mut errs = Vec::new();
    collect_errors("", v, 1, &mut errs);
    if let Some((_, e)) = errs.into_iter().next() {
        return e;
    }
    ["reason", "detail", "status"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .unwrap_or("failed")
        .to_string()
}

/// "N of M failed: a: why; b: why; and K more".
fn n_of_m(failed: &[(String, String)], total: usize) -> String {
    let shown: Vec<String> = failed
        .iter()
        .take(3)
        .map(|(k, e)| {
            if k.is_empty() {
                e.clone()
            } else {
                format!("{k}: {e}")
            }
        })
        .collect();
    let more = if failed.len() > 3 {
        format!("; and {} more", failed.len() - 3)
    } else {
        String::new()
    };
    format!(
        "{} of {total} failed: {}{more}",
        failed.len(),
        shown.join("; ")
    )
}

/// One sentence on why a run whose outcome is `error` or `partial` failed (in part): "N of M
/// failed" counted on its entries' statuses (`error` and `stale` fail, as in
/// [`Status::combine`]), with the first reasons.
fn failure_summary(body: &Map<String, Value>, status: Status) -> String {
    if let Some(entries) = entries(body) {
        let failed: Vec<(String, String)> = entries
            .iter()
            .filter(|(_, v)| {
                matches!(
                    v.get("status").and_then(Value::as_str),
                    Some("error" | "stale")
                )
            })
            .map(|(k, v)| (k.clone(), entry_error(v)))
            .collect();
        if !failed.is_empty() {
            return n_of_m(&failed, entries.len());
        }
    }
    // Symbols a job found no data for, or only stale data (generate-signals).
    let names = |key: &str| -> Vec<String> {
        match body.get(key) {
            Some(Value::Array(a)) => a.iter().map(cell).collect(),
            _ => Vec::new(),
        }
    };
    let missing = names("missing_data");
    let stale = names("stale_symbols");
    if !missing.is_empty() || !stale.is_empty() {
        let done = match body.get("suggestions") {
            Some(Value::Array(a)) => a
                .iter()
                .filter(|s| s.get("status").and_then(Value::as_str) != Some("stale"))
                .count(),
            _ => 0,
        };
        let mut failed: Vec<(String, String)> = missing
            .into_iter()
            .map(|s| (s, "no usable data".to_string()))
            .collect();
        for s in stale {
            if !failed.iter().any(|(k, _)| *k == s) {
                failed.push((s, "stale data".to_string()));
            }
        }
        let total = failed.len() + done;
        return n_of_m(&failed, total);
    }
    let mut errs = Vec::new();
    collect_errors("", &Value::Object(body.clone()), 0, &mut errs);
    if errs.is_empty() {
        return if status == Status::Partial {
            "part of the run did not complete (see the run's JSON result)".into()
        } else {
            "the run failed: no entry succeeded (see the run's JSON result)".into()
        };
    }
    let shown: Vec<String> = errs
        .iter()
        .take(3)
        .map(|(k, e)| {
            if k.is_empty() {
                e.clone()
            } else {
                format!("{k}: {e}")
            }
        })
        .collect();
    let more = if errs.len() > 3 {
        format!("; and {} more", errs.len() - 3)
    } else {
        String::new()
    };
    format!("failed: {}{more}", shown.join("; "))
}

pub fn new_table() -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(cell).collect::<Vec<_>>().join(", ")
        }
        Value::Array(a) => format!("[{} items]", a.len()),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A table of rows (objects), columns in first-seen order.
pub fn rows_table(key_name: Option<&str>, rows: &[(Option<String>, &Map<String, Value>)]) -> Table {
    let mut cols: Vec<String> = Vec::new();
    for (_, r) in rows {
        for (k, v) in r.iter() {
            let nested = v.as_array().is_some_and(|a| a.iter().any(Value::is_object));
            if !cols.contains(k) && !nested {
                cols.push(k.clone());
            }
        }
    }
    let mut t = new_table();
    let mut header: Vec<String> = key_name.map(|k| vec![k.to_string()]).unwrap_or_default();
    header.extend(cols.iter().cloned());
    t.set_header(header);
    for (key, r) in rows {
        let mut line: Vec<String> = key.iter().cloned().collect();
        line.extend(cols.iter().map(|c| r.get(c).map(cell).unwrap_or_default()));
        t.add_row(line);
    }
    t
}

fn generic_table(command: &str, status: Status, body: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut kv = new_table();
    kv.set_header(vec!["field".to_string(), "value".to_string()]);
    kv.add_row(vec!["status".to_string(), status.as_str().to_string()]);
    let mut sections = Vec::new();
    for (k, v) in body {
        match v {
            Value::Object(m) if !m.is_empty() && m.values().all(Value::is_object) => {
                sections.push((k, v))
            }
            Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object) => {
                sections.push((k, v))
            }
            _ => {
                kv.add_row(vec![k.clone(), cell(v)]);
            }
        }
    }
    out.push_str(&format!("{command}\n{kv}\n"));
    for (name, v) in sections {
        let t = match v {
            // Few entries with many fields read better as one field/value table each.
            Value::Object(m)
                if m.len() <= 3
                    && m.values()
                        .any(|r| r.as_object().is_some_and(|o| o.len() > 8)) =>
            {
                for (k, r) in m {
                    let Some(o) = r.as_object() else { continue };
                    let mut t = new_table();
                    t.set_header(vec!["field".to_string(), "value".to_string()]);
                    for (f, x) in o {
                        t.add_row(vec![f.clone(), cell(x)]);
                    }
                    out.push_str(&format!("{name}: {k}\n{t}\n"));
                }
                continue;
            }
            Value::Object(m) => {
                let rows: Vec<_> = m
                    .iter()
                    .filter_map(|(k, r)| r.as_object().map(|o| (Some(k.clone()), o)))
                    .collect();
                rows_table(Some("name"), &rows)
            }
            Value::Array(a) => {
                let rows: Vec<_> = a
                    .iter()
                    .filter_map(|r| r.as_object().map(|o| (None, o)))
                    .collect();
                rows_table(None, &rows)
            }
            _ => continue,
        };
        out.push_str(&format!("{name}\n{t}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn status_from_results() {
        let o = Outcome::from_results(
            serde_json::json!({"results": {"A": {"status": "success"}, "B": {"status": "error"}}}),
        )
        .unwrap();
        assert_eq!(o.status, Status::Partial);
        let o = Outcome::from_results(serde_json::json!({"results": {"A": {"status": "error"}}}))
            .unwrap();
        assert_eq!(o.status, Status::Error);
        let j = o.to_json("x");
        assert_eq!(j["status"], "error");
        assert_eq!(j["command"], "x");
    }

    #[test]
    fn a_failed_outcome_says_why() {
        let mut o = Outcome::from_results(serde_json::json!({"results": {
            "BTCUSDT": {"status": "error", "error": "binance rejected klines: -1121 Invalid symbol"},
            "ETHUSDT": {"status": "error", "error": "timeout"},
        }}))
        .unwrap();
        let msg = o.ensure_error();
        assert_eq!(
            msg,
            "2 of 2 failed: BTCUSDT: binance rejected klines: -1121 Invalid symbol; ETHUSDT: timeout"
        );
        // Partial: counted on the entries' statuses (a stale one fails, an entry with two
        // nested errors counts once, a success with a nested error does not count).
        assert_eq!(o.to_json("x")["error"], msg.as_str());
        let mut o = Outcome::from_results(serde_json::json!({"results": {
            "A": {"status": "success", "orders": [{"error": "x"}]},
            "B": {"status": "error", "errors": ["e1", "e2"]},
            "C": {"status": "stale", "reason": "last candle 3 days old"},
            "D": {"status": "success"},
        }}))
        .unwrap();
        assert_eq!(o.status, Status::Partial);
        assert_eq!(
            o.ensure_error(),
            "2 of 4 failed: B: e1; C: last candle 3 days old"
        );
        // An error of its own wins and is kept.
        let mut o = Outcome::new(Status::Error, serde_json::json!({"error": "boom"})).unwrap();
        assert_eq!(o.ensure_error(), "boom");
        // Channels with error lists, orders with nested fills.
        let mut o = Outcome::new(
            Status::Error,
            serde_json::json!({"channels": {"discord": {"failed": 1, "errors": ["HTTP 500"]}},
                "orders": [{"symbol": "BTCUSDT", "fill": {"status": "rejected", "error": "-2010 insufficient balance"}}]}),
        )
        .unwrap();
        let msg = o.ensure_error();
        assert!(msg.contains("discord: HTTP 500"), "{msg}");
        assert!(msg.contains("BTCUSDT: -2010 insufficient balance"), "{msg}");
        let mut o = Outcome::new(
            Status::Error,
            serde_json::json!({"missing_data": ["BTCUSDT"]}),
        )
        .unwrap();
        assert_eq!(o.ensure_error(), "1 of 1 failed: BTCUSDT: no usable data");
        let mut o = Outcome::new(Status::Error, serde_json::json!({})).unwrap();
        assert!(!o.ensure_error().is_empty());
    }
}
