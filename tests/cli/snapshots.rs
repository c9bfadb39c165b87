//! Snapshots of what fks prints: every subcommand's `--help` (the clap command tree is walked,
//! so a new subcommand is covered without touching this file) and every job's JSON on a store
//! built once through the CLI under a fixed FKS_NOW (the contract test's sequence: loopback
//! exchange and news feed, paper accounts in USDT and BTC). The JSON is the contract: a field
//! renamed, retyped, reordered or dropped changes a snapshot. Only what truly varies between
//! runs is filtered (temp paths, durations, wall-clock times).
//!
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test --test cli
//! snapshots::` and read the diff of tests/cli/snapshots/).

use crate::support::Sandbox;
use std::collections::BTreeMap;

/// Every command path of the tree: `[]`, `["account"]`, `["account", "add"]`, ...
fn command_paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut p = prefix.clone();
        p.push(sub.get_name().to_string());
        command_paths(sub, p, out);
    }
}

fn slug(parts: &[String]) -> String {
    let s: String = parts
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('_').to_string();
    if s.is_empty() { "root".into() } else { s }
}

#[test]
fn every_subcommand_help() {
    let sb = Sandbox::new();
    let mut paths = Vec::new();
    command_paths(&fks::cli::command(), Vec::new(), &mut paths);
    assert!(
        paths.len() > 20,
        "the walk found the subcommands: {paths:?}"
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for p in &paths {
            let out = sb
                .fks()
                .env("COLUMNS", "100")
                .args(p)
                .arg("--help")
                .output()
                .expect("run fks");
            assert!(out.status.success(), "{p:?} --help failed");
            let text = String::from_utf8(out.stdout).expect("help is UTF-8");
            insta::assert_snapshot!(format!("help__{}", slug(p)), text);
        }
    });
}

/// The store's random id (in archive file names and client order ids), from the outputs.
fn store_id(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => m
            .get("store_id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .or_else(|| m.values().find_map(store_id)),
        serde_json::Value::Array(a) => a.iter().find_map(store_id),
        _ => None,
    }
}

/// Filters for what varies between runs; everything else is compared byte for byte.
fn filters(sb: &Sandbox, store: Option<&str>) -> Vec<(String, String)> {
    let dir = regex_escape(&sb.path().display().to_string());
    let mut f = vec![
        (dir, "[SANDBOX]".into()),
        (r"/tmp/\.tmp[A-Za-z0-9]+".into(), "[TMP]".into()),
        (
            r#""(duration_ms|elapsed_ms|took_ms)": \d+"#.into(),
            r#""$1": "[MS]""#.into(),
        ),
        // Process ids of the runs' journal.
        (r#""pid": \d+"#.into(), r#""pid": "[PID]""#.into()),
        // Client order ids: the store id and random characters.
        (
            r#""client_order_id": "fks-[A-Za-z0-9]+""#.into(),
            r#""client_order_id": "fks-[CLIENT_ID]""#.into(),
        ),
        // Archive files end in a hash of their name's parts (the store id among them).
        (r"-[0-9a-f]{16}\.csv\.gz".into(), "-[HASH].csv.gz".into()),
    ];
    if let Some(id) = store {
        f.push((regex_escape(id), "[STORE]".into()));
    }
    f
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

#[test]
fn every_job_output() {
    let sb = Sandbox::new();
    let (outputs, _) = crate::contract::every_subcommand(&sb);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let store = outputs.iter().find_map(|(_, v)| store_id(v));
    assert!(store.is_some(), "archive-old-data reports the store id");
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for (re, with) in filters(&sb, store.as_deref()) {
        settings.add_filter(&re, with);
    }
    settings.bind(|| {
        for (args, v) in &outputs {
            // A file argument (an archive's temp path) is named FILE.
            let parts: Vec<String> = args
                .split(' ')
                .map(|a| {
                    if a.contains('/') {
                        "FILE".into()
                    } else {
                        a.to_string()
                    }
                })
                .collect();
            let base = format!("job__{}", slug(&parts));
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            let name = if *n == 1 {
                base
            } else {
                format!("{base}__{n}")
            };
            let text = serde_json::to_string_pretty(v).expect("JSON");
            let described = parts.join(" ");
            insta::with_settings!({ description => described.as_str() }, {
                insta::assert_snapshot!(name, text);
            });
        }
    });
}
