//! `fks init`: write a commented default `fks.toml` and create the store.

use super::Ctx;
use crate::core::config::{ConfigError, parse_config};
use crate::core::store::{Store, StoreUrl};
use crate::output::{Outcome, Status};
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Overwrite an existing config file.
    #[arg(long)]
    pub force: bool,
}

/// The default config, with every section and a comment on each setting.
pub const DEFAULT_CONFIG: &str = include_str!("../../fks.example.toml");

/// Write a file readable only by its owner (mode 0600, also when it existed before): fks.toml
/// may come to hold secrets.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("make {} private (mode 0600)", path.display()))?;
    }
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("write {}", path.display()))
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let path = ctx
        .global
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("fks.toml"));
    let existed = path.exists();
    if existed && !args.force {
        return Err(ConfigError(format!(
            "{} already exists; keep it, or run `fks init --force` to overwrite it",
            path.display()
        ))
        .into());
    }
    // The template must itself be valid.
    parse_config(DEFAULT_CONFIG, &path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    write_private(&path, DEFAULT_CONFIG.as_bytes())?;
    // The store: the resolved URL if one was given, else fks.db beside the config.
    let url = if ctx.global.db.is_some()
        || ctx
            .env_var(crate::core::config::env::DATABASE_URL)
            .is_some()
        || ctx.settings.config_path.is_some()
    {
        ctx.settings.database_url.clone()
    } else {
        path.parent()
            .unwrap_or(std::path::Path::new(""))
            .join("fks.db")
            .display()
            .to_string()
    };
    let store_url = StoreUrl::parse(&url).map_err(|e| ConfigError(format!("{e:#}")))?;
    // Only init creates the store's folder; every other command refuses a missing one.
    if let StoreUrl::Sqlite(p) = &store_url
        && let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    Store::open_with(&store_url, &ctx.store_options()).await?;
    Outcome::new(
        Status::Success,
        serde_json::json!({
            "config": path.display().to_string(),
            "overwritten": existed,
            "store": store_url.display(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::FileConfig;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Dotted paths of the leaves of a TOML table, with their values.
    fn leaves(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, toml::Value>) {
        match v {
            toml::Value::Table(t) => {
                for (k, x) in t {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&p, x, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }

    /// The template with every commented-out setting and section turned on.
    fn uncommented(text: &str) -> String {
        text.lines()
            .map(|l| {
                let Some(rest) = l.strip_prefix("# ") else {
                    return l.to_string();
                };
                let r = rest.trim();
                let header = r.starts_with('[') && r.ends_with(']') && !r.contains(' ');
                let setting = r.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                if header || setting {
                    rest.to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `fks init` writes every setting with the default the code uses: a setting added to
    /// the code, or a default changed, without the template following fails here.
    #[test]
    fn the_written_config_lists_every_setting_with_the_code_default() {
        // 1. Every serialisable setting is written, active, with its default value.
        let written: toml::Value = toml::from_str(DEFAULT_CONFIG).unwrap();
        let defaults = toml::Value::try_from(FileConfig::default()).unwrap();
        let (mut w, mut d) = (BTreeMap::new(), BTreeMap::new());
        leaves("", &written, &mut w);
        leaves("", &defaults, &mut d);
        let parsed = parse_config(DEFAULT_CONFIG, Path::new("fks.toml")).unwrap();
        let reparsed = toml::Value::try_from(&parsed).unwrap();
        let mut r = BTreeMap::new();
        leaves("", &reparsed, &mut r);
        for (k, v) in &d {
            assert!(
                w.contains_key(k),
                "setting {k} (default {v}) is missing from fks.example.toml"
            );
            assert_eq!(
                &r[k], v,
                "setting {k}: the template's value is not the code's default"
            );
        }
        for k in w.keys() {
            let known =
                d.contains_key(k) || k.starts_with("notifications.") || k.starts_with("news.");
            assert!(
                known,
                "{k} in fks.example.toml is not a setting with a default"
            );
        }
        // 2. The sections the code does not serialise: their written values are the defaults.
        let n = &parsed.notifications;
        let code = crate::core::notify::NotifyConfig::default();
        assert_eq!(n.policy(), code.policy());
        assert_eq!(n.cooldown_ms(), code.cooldown_ms());
        assert!(!n.any(), "no channel is on by default");
        let news_default: crate::core::news::NewsConfig = toml::from_str("").unwrap();
        assert_eq!(parsed.news, news_default);
        for k in [
            "notifications.timeout_s",
            "notifications.max_rate_limit_wait_s",
            "notifications.cooldown_minutes",
            "news.default_aliases",
        ] {
            assert!(w.contains_key(k), "{k} is not written");
        }
        // 3. Every commented-out setting is a real one: turned on, the file still parses
        //    (unknown keys are refused), and no optional setting is left unset.
        let on = uncommented(DEFAULT_CONFIG);
        let all =
            parse_config(&on, Path::new("fks.toml")).unwrap_or_else(|e| panic!("{e:#}\n{on}"));
        let debug = format!("{all:?}");
        assert!(
            !debug.contains("None"),
            "an optional setting is not in the template: {debug}"
        );
        // the commented defaults are the code's
        let email = all.notifications.email.as_ref().unwrap();
        assert_eq!(Some(email.security.default_port()), email.port);
        let tg = all.notifications.telegram.as_ref().unwrap();
        assert_eq!(
            tg.base_url.as_deref(),
            Some(crate::core::notify::telegram::DEFAULT_BASE_URL)
        );
        assert_eq!(tg.disable_web_page_preview, Some(true));
        assert_eq!(all.news.sources[0].timeout_secs, Some(20));
        for section in [
            "[store]",
            "[market]",
            "[exchange]",
            "[schedule]",
            "[schedule.jobs]",
            "[notifications]",
            "# [notifications.discord]",
            "# [notifications.slack]",
            "# [notifications.telegram]",
            "# [notifications.webhook]",
            "# [notifications.email]",
            "[news]",
            "# [[news.sources]]",
            "[trading]",
            "[risk]",
            "[backtest]",
            "[intelligence]",
        ] {
            assert!(
                DEFAULT_CONFIG.lines().any(|l| l == section),
                "{section} missing"
            );
        }
    }
}
