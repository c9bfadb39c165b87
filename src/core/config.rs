//! Settings: built-in defaults < `fks.toml` < environment (and `.env`) < flags.
//!
//! This is the only module that reads the process environment, so tests control
//! configuration completely.

use crate::core::market::{Symbol, Timeframe};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Environment variables fks reads (documented in README and `fks --help`).
pub mod env {
    pub const CONFIG: &str = "FKS_CONFIG";
    pub const DATABASE_URL: &str = "DATABASE_URL";
    pub const SYMBOLS: &str = "FKS_SYMBOLS";
    pub const BINANCE_BASE_URL: &str = "FKS_BINANCE_BASE_URL";
    pub const BINANCE_FUTURES_BASE_URL: &str = "FKS_BINANCE_FUTURES_BASE_URL";
    pub const BINANCE_API_KEY: &str = "BINANCE_API_KEY";
    pub const BINANCE_API_SECRET: &str = "BINANCE_API_SECRET";
    pub const DISCORD_WEBHOOK_URL: &str = "DISCORD_WEBHOOK_URL";
    /// Base delay of retry backoff in milliseconds (tests set 0).
    pub const RETRY_BASE_DELAY_MS: &str = "FKS_RETRY_BASE_DELAY_MS";
    /// How long SQLite waits for another writer, in milliseconds.
    pub const BUSY_TIMEOUT_MS: &str = "FKS_BUSY_TIMEOUT_MS";
    /// This host's name in the journal and locks (default: the system host name).
    pub const HOST: &str = "FKS_HOST";
    /// libpq's: TLS mode, CA file and password for a postgres:// store without them.
    pub const PGSSLMODE: &str = "PGSSLMODE";
    pub const PGSSLROOTCERT: &str = "PGSSLROOTCERT";
    pub const PGPASSWORD: &str = "PGPASSWORD";
}

/// A secret string: prints as `****` in Debug and Display.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The value as [`crate::core::redact::target`] shows it (URL path tail or token hidden).
    pub fn redacted(&self) -> String {
        crate::core::redact::target(&self.0)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("****")
    }
}

/// A configuration problem: exits 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A bad value given on the command line, found after parsing (`--fee 1.5`): exits 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Whether a configuration key names a secret (its value is never echoed in an error and
/// makes a group- or world-readable fks.toml worth a warning). `key` may be dotted
/// (`notifications.webhook.url`); names ending in `_env` hold the name of a variable, not
/// the secret itself.
pub fn is_secret_key(key: &str) -> bool {
    let k = key
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .to_ascii_lowercase();
    if k == "notifications.webhook.url" || k.ends_with("webhook.url") {
        return true;
    }
    let last = k.rsplit('.').next().unwrap_or(&k);
    if last.ends_with("_env") {
        return false;
    }
    [
        "secret",
        "password",
        "passwd",
        "token",
        "api_key",
        "apikey",
        "webhook_url",
        "private_key",
        "credential",
    ]
    .iter()
    .any(|m| last.contains(m))
}

/// Symbols in fks.toml obey the rules of `--symbol` (letters and digits, upper-cased).
fn symbol_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Symbol>, D::Error> {
    let raw: Vec<String> = Vec::deserialize(d)?;
    let mut out: Vec<Symbol> = Vec::with_capacity(raw.len());
    for r in raw {
        let s: Symbol = r
            .parse()
            .map_err(|e: anyhow::Error| serde::de::Error::custom(format!("{e:#}")))?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// A file path, `sqlite://PATH` or `postgres://...`. Relative paths are beside the config file.
    pub url: Option<String>,
    /// How long SQLite waits for another process's write lock, in milliseconds.
    pub busy_timeout_ms: u64,
    /// Postgres: give up connecting after this many seconds (0: no limit).
    pub connect_timeout_secs: u64,
    /// Postgres: cancel any one statement after this many seconds (0: the server's setting).
    pub statement_timeout_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            busy_timeout_ms: 30_000,
            connect_timeout_secs: 10,
            statement_timeout_secs: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketConfig {
    #[serde(deserialize_with = "symbol_list")]
    pub symbols: Vec<Symbol>,
    pub timeframe: Timeframe,
    /// Candles fetched on the first sync of a pair when no `--since` is given.
    pub initial_limit: usize,
    /// The older single freshness limit (seconds since the last close), for every timeframe.
    /// Entries of `max_candle_age_secs` win over it; unset, the per-timeframe default applies
    /// (see [`crate::core::freshness`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price_age_secs: Option<u64>,
    /// Per timeframe, how long (seconds) after its close the last candle still counts as
    /// fresh: `[market.max_candle_age_secs]` with `1h = 7500`. Default: two intervals + 5 min.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub max_candle_age_secs: BTreeMap<Timeframe, u64>,
}

impl MarketConfig {
    /// The freshness rule every job that acts on "now" applies.
    pub fn freshness(&self) -> crate::core::freshness::FreshnessRule {
        crate::core::freshness::FreshnessRule::from_market(self)
    }

    /// Refuse limits that would make every candle stale.
    pub fn validate(&self) -> std::result::Result<(), ConfigError> {
        if self.max_price_age_secs == Some(0) {
            return Err(ConfigError(
                "market.max_price_age_secs = 0 makes every price stale: give a number of seconds > 0"
                    .into(),
            ));
        }
        if let Some((tf, _)) = self.max_candle_age_secs.iter().find(|(_, s)| **s == 0) {
            return Err(ConfigError(format!(
                "market.max_candle_age_secs.{tf} = 0 makes every {tf} candle stale: give a number of seconds > 0"
            )));
        }
        Ok(())
    }
}

impl Default for MarketConfig {
    fn default() -> Self {
        MarketConfig {
            symbols: vec![Symbol("BTCUSDT".into()), Symbol("ETHUSDT".into())],
            timeframe: Timeframe::H1,
            initial_limit: 500,
            max_price_age_secs: None,
            max_candle_age_secs: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MarketKind {
    Spot,
    Usdm,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangeConfig {
    /// `spot` (api/v3) or `usdm` (USD-M futures, fapi/v1) market data.
    pub market: MarketKind,
    pub spot_base_url: String,
    pub futures_base_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_secret: Option<Secret>,
    pub recv_window_ms: u64,
    pub timeout_secs: u64,
    /// Attempts per request for 5xx and timeouts (429 waits do not count against a ban).
    pub max_attempts: u32,
    pub retry_base_delay_ms: u64,
    /// Requests in flight at once across symbols.
    pub max_parallel: usize,
    /// Request weight per minute; fks slows down before reaching it. 0 = exchange default.
    pub weight_limit: u32,
    /// Longest wait the exchange may ask for (a 429's `Retry-After`) before a run gives up at
    /// once: a longer back-off is stored, and no fks job talks to that host until it is over.
    pub max_retry_wait_secs: u64,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        ExchangeConfig {
            market: MarketKind::Spot,
            spot_base_url: "https://api.binance.com".into(),
            futures_base_url: "https://fapi.binance.com".into(),
            api_key: None,
            api_secret: None,
            recv_window_ms: 5000,
            timeout_secs: 10,
            max_attempts: 3,
            retry_base_delay_ms: 500,
            max_parallel: 4,
            weight_limit: 0,
            max_retry_wait_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Cron expression per job (five fields). A job missing here is not scheduled.
    pub jobs: BTreeMap<String, String>,
    /// Where `fks cron` sends each job's output.
    pub log_dir: Option<String>,
    /// How many shards (`--shard K/N`) `fks cron --as systemd|kubernetes` writes for each
    /// per-symbol job; 1 writes one unsharded unit per job.
    pub shards: u32,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        let jobs = crate::core::schedule::DEFAULT_SCHEDULE
            .iter()
            .map(|(j, c)| (j.to_string(), c.to_string()))
            .collect();
        ScheduleConfig {
            jobs,
            log_dir: None,
            shards: 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingConfig {
    /// Orders are only sent when this is true AND the command has `--execute`.
    pub enabled: bool,
    /// Largest notional of one order, in quote currency.
    pub max_order_notional: rust_decimal::Decimal,
    /// Largest total notional of one run.
    pub max_run_notional: rust_decimal::Decimal,
}

impl Default for TradingConfig {
    fn default() -> Self {
        TradingConfig {
            enabled: false,
            max_order_notional: rust_decimal::Decimal::from(1000),
            max_run_notional: rust_decimal::Decimal::from(5000),
        }
    }
}

/// What happens to a strategy's position when validate-strategies disables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnDisable {
    /// Close it with a market order (with `--execute` and trading enabled).
    Close,
    /// Keep it, with an alert.
    #[default]
    Keep,
}

/// What run-strategies does when the account's position is not what the strategy left
/// (changed by hand on the exchange).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnMismatch {
    /// Report it and trade nothing for that symbol (never fight the user).
    #[default]
    Report,
    /// Take the position as it is and go on from there.
    Adopt,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StrategyConfig {
    /// `close` or `keep` (default): a disabled strategy's position.
    pub on_disable: OnDisable,
    /// `report` (default) or `adopt`: a position changed by hand.
    pub on_mismatch: OnMismatch,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// HIGH when total position value / balance is above this.
    pub high_exposure: f64,
    /// HIGH when the unrealized loss is more than this % of balance.
    pub high_loss_pct: f64,
    /// MEDIUM above these.
    pub medium_exposure: f64,
    pub medium_loss_pct: f64,
    /// Warn when one position is more than this % of balance.
    pub concentration_pct: f64,
    /// Days of candles for historical value-at-risk.
    pub var_days: u32,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            high_exposure: 0.8,
            high_loss_pct: 10.0,
            medium_exposure: 0.5,
            medium_loss_pct: 5.0,
            concentration_pct: 20.0,
            var_days: 90,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BacktestSettings {
    pub initial_cash: f64,
    pub fee_rate: f64,
    pub slippage_bps: f64,
    /// validate-strategies passes a strategy when all of these hold.
    pub min_sharpe: f64,
    pub min_return_pct: f64,
    pub max_drawdown_pct: f64,
    /// Fewer bars than this in the validation window is "insufficient_data", not a failure.
    pub min_bars: usize,
    /// `run-backtest --optimize` refuses a grid with more points than this (the product of
    /// each parameter's number of values), before running anything.
    pub max_grid_combinations: u64,
    /// Grid runs stored per optimisation and symbol: the best ones by the objective.
    pub max_stored_grid_runs: usize,
}

impl Default for BacktestSettings {
    fn default() -> Self {
        BacktestSettings {
            initial_cash: 10_000.0,
            fee_rate: 0.001,
            slippage_bps: 0.0,
            min_sharpe: 1.0,
            min_return_pct: 0.0,
            max_drawdown_pct: 30.0,
            min_bars: 300,
            max_grid_combinations: 100_000,
            max_stored_grid_runs: 100,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelligenceConfig {
    /// Bars ahead over which a snapshot's outcome is measured.
    pub horizon: usize,
    /// Neighbours retrieved per decision.
    pub k: usize,
    /// Fewer known snapshots than this: fall back to the legacy indicator rules.
    pub min_sources: usize,
    /// OpenAI-compatible chat endpoint for the reasoning text (Ollama, llama.cpp, hosted).
    pub llm_url: Option<String>,
    pub llm_model: String,
    /// Environment variable holding the endpoint's API key, if it needs one.
    pub llm_api_key_env: Option<String>,
    pub llm_timeout_secs: u64,
    /// `fixed-fraction` (of available cash) or `risk` (of equity between entry and stop).
    pub sizing: String,
    pub sizing_fraction: f64,
    /// Main assets of the legacy 50/50 split.
    #[serde(deserialize_with = "symbol_list")]
    pub mains: Vec<Symbol>,
    /// Largest weight of one asset (rag, risk-parity, min-variance).
    pub max_weight: f64,
    /// Drift that makes optimize-portfolio say a rebalance is needed.
    pub rebalance_band: f64,
    /// Days of daily returns for covariances and volatilities.
    pub lookback_days: u32,
}

impl Default for IntelligenceConfig {
    fn default() -> Self {
        IntelligenceConfig {
            horizon: 24,
            k: 50,
            min_sources: 200,
            llm_url: None,
            llm_model: "llama3.1".into(),
            llm_api_key_env: None,
            llm_timeout_secs: 20,
            sizing: "fixed-fraction".into(),
            sizing_fraction: 0.02,
            mains: vec![Symbol("BTCUSDT".into()), Symbol("ETHUSDT".into())],
            max_weight: 0.4,
            rebalance_band: 0.05,
            lookback_days: 90,
        }
    }
}

/// The `fks.toml` file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub store: StoreConfig,
    pub market: MarketConfig,
    pub exchange: ExchangeConfig,
    pub schedule: ScheduleConfig,
    #[serde(skip_serializing)]
    pub notifications: crate::core::notify::NotifyConfig,
    #[serde(skip_serializing)]
    pub news: crate::core::news::NewsConfig,
    pub trading: TradingConfig,
    pub strategy: StrategyConfig,
    pub risk: RiskConfig,
    pub backtest: BacktestSettings,
    pub intelligence: IntelligenceConfig,
    pub monitor: crate::core::monitor::MonitorConfig,
}

/// Resolved settings for one run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub file: FileConfig,
    /// The config file that was read, if any.
    pub config_path: Option<PathBuf>,
    /// Resolved database URL.
    pub database_url: String,
    /// Things worth saying on stderr at every run (a readable fks.toml holding secrets).
    pub warnings: Vec<String>,
}

/// What the command line contributes.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub db: Option<String>,
    /// A named config file may be missing (for `fks init`, which creates it).
    pub config_may_be_missing: bool,
}

/// A view of the environment (the process's, plus `.env`), so tests can inject one.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment, with `.env` from the working directory filling what is unset.
pub struct ProcessEnv {
    dotenv: BTreeMap<String, String>,
}

impl ProcessEnv {
    pub fn load() -> Result<Self> {
        let mut dotenv = BTreeMap::new();
        if let Ok(iter) = dotenvy::from_filename_iter(".env") {
            for item in iter {
                // dotenvy's message quotes the whole line, which may hold a secret.
                let (k, v) = item.map_err(|e| {
                    ConfigError(match e {
                        dotenvy::Error::LineParse(_, at) => format!(
                            ".env: a line cannot be parsed (near character {at}); expected NAME=value"
                        ),
                        dotenvy::Error::Io(e) => format!(".env: {e}"),
                        _ => ".env: cannot be read".to_string(),
                    })
                })?;
                dotenv.insert(k, v);
            }
        }
        Ok(ProcessEnv { dotenv })
    }
}

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        #[allow(clippy::disallowed_methods)]
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
            .filter(|v| !v.is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.is_empty())
    }
}

impl Settings {
    pub fn load(ov: &Overrides, env: &dyn Env) -> Result<Settings> {
        let (path, explicit) = match (&ov.config, env.var(env::CONFIG)) {
            (Some(p), _) => (Some(p.clone()), true),
            (None, Some(p)) => (Some(PathBuf::from(p)), true),
            (None, None) => (Some(PathBuf::from("fks.toml")), false),
        };
        let mut warnings = Vec::new();
        let (mut file, config_path) = match path {
            Some(p) if p.exists() => {
                let file = read_file(&p)?;
                warnings.extend(exposed_secrets_warning(&p));
                (file, Some(p))
            }
            Some(p) if explicit && !ov.config_may_be_missing => {
                return Err(ConfigError(format!(
                    "config file {} does not exist (run `fks init` to create one)",
                    p.display()
                ))
                .into());
            }
            _ => (FileConfig::default(), None),
        };
        apply_env(&mut file, env)?;
        file.market.validate()?;
        check_exchange_urls(&file.exchange)?;
        let base_dir = config_path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let database_url = match ov.db.clone().or_else(|| env.var(env::DATABASE_URL)) {
            Some(u) => u,
            None => match &file.store.url {
                Some(u)
                    if !u.contains("://")
                        && !u.starts_with("sqlite:")
                        && Path::new(u).is_relative() =>
                {
                    base_dir.join(u).display().to_string()
                }
                Some(u) => u.clone(),
                None => base_dir.join("fks.db").display().to_string(),
            },
        };
        Ok(Settings {
            file,
            config_path,
            database_url,
            warnings,
        })
    }

    pub fn symbols(&self) -> &[Symbol] {
        &self.file.market.symbols
    }
}

fn apply_env(file: &mut FileConfig, env: &dyn Env) -> Result<()> {
    if let Some(s) = env.var(env::SYMBOLS) {
        file.market.symbols = s
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.parse::<Symbol>())
            .collect::<Result<_>>()
            .map_err(|e| ConfigError(format!("{}: {e:#}", env::SYMBOLS)))?;
    }
    if let Some(u) = env.var(env::BINANCE_BASE_URL) {
        file.exchange.spot_base_url = u;
    }
    if let Some(u) = env.var(env::BINANCE_FUTURES_BASE_URL) {
        file.exchange.futures_base_url = u;
    }
    if let Some(k) = env.var(env::BINANCE_API_KEY) {
        file.exchange.api_key = Some(Secret(k));
    }
    if let Some(k) = env.var(env::BINANCE_API_SECRET) {
        file.exchange.api_secret = Some(Secret(k));
    }
    if let Some(u) = env.var(env::DISCORD_WEBHOOK_URL) {
        match &mut file.notifications.discord {
            Some(d) => d.webhook_url = Secret(u),
            None => {
                file.notifications.discord =
                    Some(crate::core::notify::DiscordConfig::new(Secret(u)))
            }
        }
    }
    if let Some(v) = env.var(env::RETRY_BASE_DELAY_MS) {
        file.exchange.retry_base_delay_ms = v.parse().map_err(|_| {
            ConfigError(format!(
                "{}: {v:?} is not a number of milliseconds",
                env::RETRY_BASE_DELAY_MS
            ))
        })?;
    }
    if let Some(v) = env.var(env::BUSY_TIMEOUT_MS) {
        file.store.busy_timeout_ms = v.parse().map_err(|_| {
            ConfigError(format!(
                "{}: {v:?} is not a number of milliseconds",
                env::BUSY_TIMEOUT_MS
            ))
        })?;
    }
    Ok(())
}

/// The exchange base URLs must be http(s) URLs with a host: anything else (`notaurl`,
/// `file:///…`) is a configuration error, found before any job runs.
fn check_exchange_urls(x: &ExchangeConfig) -> Result<()> {
    for (key, var, url) in [
        ("spot_base_url", env::BINANCE_BASE_URL, &x.spot_base_url),
        (
            "futures_base_url",
            env::BINANCE_FUTURES_BASE_URL,
            &x.futures_base_url,
        ),
    ] {
        crate::core::exchange::binance::check_base_url(url).map_err(|why| {
            ConfigError(format!(
                "exchange.{key} (or ${var}) {url:?} {why}; expected an http(s) URL such as https://api.binance.com"
            ))
        })?;
    }
    Ok(())
}

/// Read and parse a config file; errors name the file, line and key.
pub fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    parse_config(&text, path)
}

pub fn parse_config(text: &str, path: &Path) -> Result<FileConfig> {
    let file = toml::from_str::<FileConfig>(text)
        .map_err(|e| {
            let mut place = String::new();
            let mut secret_here = false;
            if let Some(span) = e.span() {
                let start = span.start.min(text.len());
                let before = text.get(..start).unwrap_or(text);
                let line_no = before.matches('\n').count() + 1;
                place.push_str(&format!(", line {line_no}"));
                if let Some(key) = key_at(text, line_no) {
                    secret_here = is_secret_key(&key);
                    place.push_str(&format!(", key `{key}`"));
                }
                // An inline table or a dotted key may hold a secret on the same line.
                let line = text.lines().nth(line_no - 1).unwrap_or("");
                secret_here |= assignments(line).iter().any(|(k, _)| is_secret_key(k));
            }
            let mut msg = e.message().trim().replace('\n', " ");
            if secret_here {
                msg = crate::core::redact::hide_quoted(&msg);
            }
            msg = crate::core::redact::hide(&msg, &secret_values(text));
            anyhow::Error::from(ConfigError(format!(
                "bad config file {}{place}: {msg}",
                path.display()
            )))
        })
        .context("load configuration")?;
    file.validate()
        .map_err(|e| ConfigError(format!("bad config file {}: {e}", path.display())))
        .context("load configuration")?;
    Ok(file)
}

impl FileConfig {
    /// Checks of values serde cannot make (ranges), the same rules as the matching flags.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let b = &self.backtest;
        if !(b.fee_rate.is_finite() && (0.0..1.0).contains(&b.fee_rate)) {
            return Err(format!(
                "backtest.fee_rate = {}: must be at least 0 and below 1 (a fraction of notional, 0.001 = 0.1%)",
                b.fee_rate
            ));
        }
        if !(b.initial_cash.is_finite() && b.initial_cash > 0.0) {
            return Err(format!(
                "backtest.initial_cash = {}: must be greater than 0",
                b.initial_cash
            ));
        }
        if !(b.slippage_bps.is_finite() && b.slippage_bps >= 0.0) {
            return Err(format!(
                "backtest.slippage_bps = {}: must not be negative",
                b.slippage_bps
            ));
        }
        // News sources and aliases (symbols as `--symbol` takes them) are checked at load,
        // so every command reports a bad one, not only fetch-news.
        self.news.validate().map_err(|e| format!("news: {e}"))?;
        Ok(())
    }
}

/// `key = value` assignments on one line (also inside inline tables), as written.
fn assignments(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut key_start: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '#' => break,
            '"' | '\'' if key_start.is_none() => {
                // a quoted key: skip to its end
                key_start = Some(i);
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += 1;
                }
            }
            '=' => {
                let key: String = key_start
                    .map(|s| chars[s..i].iter().collect::<String>())
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let start = j;
                if j < chars.len() && matches!(chars[j], '{' | '[') {
                    // an inline table or array: its own assignments follow
                    out.push((key, String::new()));
                    key_start = None;
                    i = j;
                    continue;
                }
                if j < chars.len() && (chars[j] == '"' || chars[j] == '\'') {
                    let q = chars[j];
                    j += 1;
                    while j < chars.len() && chars[j] != q {
                        if chars[j] == '\\' && q == '"' {
                            j += 1;
                        }
                        j += 1;
                    }
                    j = (j + 1).min(chars.len());
                } else {
                    while j < chars.len() && !matches!(chars[j], ',' | '}' | '#') {
                        j += 1;
                    }
                }
                let value: String = chars[start.min(chars.len())..j].iter().collect();
                out.push((key, value.trim().to_string()));
                key_start = None;
                i = j;
                continue;
            }
            ',' | '{' | '[' | ']' | '}' => key_start = None,
            c if !c.is_whitespace() && key_start.is_none() => key_start = Some(i),
            _ => {}
        }
        i += 1;
    }
    out
}

/// The values written for secret keys anywhere in the text, raw and unquoted.
fn secret_values(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        for (k, v) in assignments(line) {
            if !is_secret_key(&k) {
                continue;
            }
            let unquoted = v.trim_matches(|c| c == '"' || c == '\'').to_string();
            for x in [v, unquoted] {
                if x.chars().count() >= 3 && !out.contains(&x) {
                    out.push(x);
                }
            }
        }
    }
    out.sort_by_key(|v| std::cmp::Reverse(v.len()));
    out
}

/// Whether a fks.toml that holds a secret is readable by group or others: a warning to
/// print at every run, or None.
fn exposed_secrets_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 == 0 {
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        let keys = secret_keys_set(&text);
        if keys.is_empty() {
            return None;
        }
        Some(format!(
            "{} holds secrets ({}) and is readable by group or others (mode {:o}): run `chmod 600 {}`, or better, move the secrets to environment variables",
            path.display(),
            keys.join(", "),
            mode & 0o777,
            path.display()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Dotted names of the secret keys that have a non-empty value in a config text.
pub fn secret_keys_set(text: &str) -> Vec<String> {
    let Ok(v) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    fn walk(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, x) in t {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, x, out);
                }
            }
            toml::Value::Array(a) => {
                for x in a {
                    walk(prefix, x, out);
                }
            }
            toml::Value::String(s) if s.trim().is_empty() => {}
            _ => {
                if is_secret_key(prefix) && !out.iter().any(|o| o == prefix) {
                    out.push(prefix.to_string());
                }
            }
        }
    }
    for (k, x) in &v {
        walk(k, x, &mut out);
    }
    out
}

/// The dotted key defined on (or containing) a line: `[section]` plus `key =`.
fn key_at(text: &str, line_no: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_no.checked_sub(1)?)?.trim();
    let mut section = String::new();
    for l in lines.iter().take(line_no) {
        let l = l.trim();
        if l.starts_with('[') {
            section = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    if line.starts_with('[') {
        return Some(section);
    }
    let key = line.split('=').next()?.trim().trim_matches('"');
    if key.is_empty() || line.starts_with('#') {
        return None;
    }
    Some(if section.is_empty() {
        key.to_string()
    } else {
        format!("{section}.{key}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_file() {
        let dir = tempfile::tempdir().unwrap();
        let ov = Overrides {
            config: None,
            db: Some(dir.path().join("x.db").display().to_string()),
            config_may_be_missing: false,
        };
        let s = Settings::load(&ov, &env(&[])).unwrap();
        assert_eq!(s.symbols().len(), 2);
        assert_eq!(s.file.exchange.spot_base_url, "https://api.binance.com");
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fks.toml");
        std::fs::write(
            &p,
            "[market]\nsymbols = [\"ADAUSDT\"]\n[store]\nurl = \"data/a.db\"\n",
        )
        .unwrap();
        let ov = Overrides {
            config: Some(p.clone()),
            db: None,
            config_may_be_missing: false,
        };
        let s = Settings::load(&ov, &env(&[])).unwrap();
        assert_eq!(s.symbols(), &[Symbol("ADAUSDT".into())]);
        assert_eq!(
            s.database_url,
            dir.path().join("data/a.db").display().to_string()
        );
        let e = env(&[
            ("FKS_SYMBOLS", "btcusdt, ETHUSDT"),
            ("DATABASE_URL", "postgres://h/db"),
            ("BINANCE_API_SECRET", "s3cr3t"),
        ]);
        let s = Settings::load(&ov, &e).unwrap();
        assert_eq!(s.symbols().len(), 2);
        assert_eq!(s.database_url, "postgres://h/db");
        assert!(!format!("{:?}", s).contains("s3cr3t"));
    }

    #[test]
    fn bad_config_names_file_line_and_key() {
        let text = "[market]\ntimeframe = \"1h\"\nsymbolz = [\"BTCUSDT\"]\n";
        let err = parse_config(text, Path::new("my.toml")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("my.toml"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("symbolz"), "{msg}");
        assert!(
            err.chain()
                .any(|c| c.downcast_ref::<ConfigError>().is_some())
        );
    }

    #[test]
    fn freshness_limits_per_timeframe_and_the_old_key() {
        use crate::core::freshness::LimitSource;
        let f = parse_config(
            "[market]\nmax_price_age_secs = 900\n[market.max_candle_age_secs]\n1h = 7500\n1d = 90000\n",
            Path::new("f.toml"),
        )
        .unwrap();
        let rule = f.market.freshness();
        assert_eq!(
            rule.max_age(Timeframe::H1),
            (7500, LimitSource::MaxCandleAgeSecs)
        );
        assert_eq!(rule.max_age(Timeframe::D1).0, 90_000);
        assert_eq!(
            rule.max_age(Timeframe::M5),
            (900, LimitSource::MaxPriceAgeSecs),
            "the old key still applies where the table is silent"
        );
        let d = FileConfig::default().market.freshness();
        assert_eq!(d.max_age(Timeframe::H4), (29_100, LimitSource::Default));
        // A timeframe that does not exist, or a zero limit, is refused with the key.
        let err = parse_config(
            "[market.max_candle_age_secs]\n7x = 10\n",
            Path::new("f.toml"),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("invalid timeframe"), "{err:#}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fks.toml");
        std::fs::write(&p, "[market.max_candle_age_secs]\n1h = 0\n").unwrap();
        let ov = Overrides {
            config: Some(p),
            db: Some(dir.path().join("x.db").display().to_string()),
            config_may_be_missing: false,
        };
        let err = Settings::load(&ov, &env(&[])).unwrap_err();
        assert!(
            err.chain()
                .any(|c| c.downcast_ref::<ConfigError>().is_some())
        );
        assert!(
            format!("{err:#}").contains("max_candle_age_secs.1h"),
            "{err:#}"
        );
    }

    use proptest::prelude::*;

    const EXAMPLE: &str = include_str!("../../fks.example.toml");

    fn is_config_error(e: &anyhow::Error) -> bool {
        e.chain().any(|c| c.downcast_ref::<ConfigError>().is_some())
    }

    #[test]
    fn settings_round_trip_through_toml() {
        let text = toml::to_string(&FileConfig::default()).unwrap();
        let back = parse_config(&text, Path::new("x.toml")).unwrap();
        assert_eq!(toml::to_string(&back).unwrap(), text);
        let example = parse_config(EXAMPLE, Path::new("fks.example.toml")).unwrap();
        let again = parse_config(&toml::to_string(&example).unwrap(), Path::new("y.toml")).unwrap();
        assert_eq!(
            toml::to_string(&again).unwrap(),
            toml::to_string(&example).unwrap()
        );
    }

    #[test]
    fn secret_keys_are_recognised() {
        for k in [
            "exchange.api_secret",
            "exchange.api_key",
            "notifications.discord.webhook_url",
            "notifications.webhook.url",
            "notifications.webhook.secret",
            "notifications.telegram.bot_token",
            "notifications.email.password",
            "news.sources.api_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "intelligence.llm_api_key_env",
            "exchange.spot_base_url",
            "market.max_price_age_secs",
            "store.url",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    /// A secret value of any TOML type, with a marker that must never appear in an error.
    fn secret_value() -> impl Strategy<Value = (String, String)> {
        let digits = (10_000_000_000u64..999_999_999_999_999).prop_map(|n| n.to_string());
        prop_oneof![
            digits.clone().prop_map(|d| (d.clone(), d)),
            digits.clone().prop_map(|d| (format!("{d}.5"), d)),
            digits.clone().prop_map(|d| (format!("-{d}"), d)),
            "[A-Za-z0-9]{10,20}".prop_map(|w| (format!("\"{w}\""), w)),
            "[A-Za-z0-9]{10,20}".prop_map(|w| (format!("'{w}'"), w)),
            "[A-Za-z0-9]{10,20}".prop_map(|w| (format!("[\"{w}\"]"), w)),
            "[A-Za-z0-9]{10,20}".prop_map(|w| (format!("{{ v = \"{w}\" }}"), w)),
            "[A-Za-z0-9]{10,20}".prop_map(|w| (w.clone(), w)),
            digits.prop_map(|d| (format!("\"\"\"{d}\"\"\""), d)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Arbitrary text: no panic; a refusal is a configuration error naming the file.
        #[test]
        fn arbitrary_config_text_never_panics(text in "\\PC{0,200}") {
            if let Err(e) = parse_config(&text, Path::new("fuzz.toml")) {
                prop_assert!(is_config_error(&e));
                let m = format!("{e:#}");
                prop_assert!(m.contains("fuzz.toml"));
            }
        }

        /// The shipped example with one byte changed, removed or added: no panic, and a
        /// refusal says where.
        #[test]
        fn mutated_example_never_panics(pos in any::<prop::sample::Index>(), byte in any::<u8>(), op in 0u8..3) {
            let mut bytes = EXAMPLE.as_bytes().to_vec();
            let i = pos.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Err(e) = parse_config(&text, Path::new("fks.toml")) {
                prop_assert!(is_config_error(&e));
                let m = format!("{e:#}");
                prop_assert!(!m.contains('\n'), "{}", m);
            }
        }

        /// A secret-named key's value never appears in an error, whatever its type and
        /// whatever else is wrong in the file.
        #[test]
        fn secrets_are_never_echoed(
            (value, marker) in secret_value(),
            place in 0usize..7,
            other in prop_oneof![Just(""), Just("recv_window_ms = \"x\"\n"), Just("nope = 1\n"), Just("timeout_secs = -1\n")],
        ) {
            let text = match place {
                0 => format!("[exchange]\n{other}api_secret = {value}\n"),
                1 => format!("[exchange]\napi_key = {value}\n{other}"),
                2 => format!("exchange.api_secret = {value}\n"),
                3 => format!("[notifications.discord]\nwebhook_url = {value}\n"),
                4 => format!("[notifications]\ntelegram = {{ bot_token = {value}, chat_id = 1 }}\n"),
                5 => format!("[notifications.email]\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\npassword = {value}\n"),
                _ => format!("[[news.sources]]\nname = \"n\"\nkind = \"rss\"\nurl = \"https://x.example\"\napi_key = {value}\n"),
            };
            if let Err(e) = parse_config(&text, Path::new("fks.toml")) {
                let m = format!("{e:#}");
                prop_assert!(!m.contains(&marker), "secret shown: {} (config {})", m, text);
            }
        }
    }
}
