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
    Store::open(
        &store_url,
        std::time::Duration::from_millis(ctx.settings.file.store.busy_timeout_ms),
    )
    .await?;
    Outcome::new(
        Status::Success,
        serde_json::json!({
            "config": path.display().to_string(),
            "overwritten": existed,
            "store": store_url.display(),
        }),
    )
}
