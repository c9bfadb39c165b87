//! Subcommands: each file has its clap `Args` and `run(ctx, args) -> Result<Outcome>`.

pub mod account;
pub mod analyze_risk;
pub mod archive_old_data;
pub mod calculate_metrics;
pub mod candles;
pub mod check_stop_loss;
pub mod completions;
pub mod cron;
pub mod daily_signals;
pub mod dashboard;
pub mod demo;
pub mod evaluate_signals;
pub mod fetch_news;
pub mod generate_report;
pub mod generate_signals;
pub mod import_klines;
pub mod indicators;
pub mod init;
pub mod intel_common;
pub mod knowledge;
pub mod list_data;
pub mod news;
pub mod optimize_portfolio;
pub mod paper;
pub mod position;
pub mod rebalance_portfolio;
pub mod restore_archive;
pub mod run_backtest;
pub mod run_strategies;
pub mod runs;
pub mod send_notifications;
pub mod status;
pub mod strategy;
pub mod sync_account_balance;
pub mod sync_market_data;
pub mod update_indicators;
pub mod update_positions;
pub mod validate_strategies;

use crate::cli::{Command, GlobalArgs};
use crate::core::clock::{Clock, SystemClock};
use crate::core::config::{ConfigError, Overrides, ProcessEnv, Settings, UsageError};
use crate::core::exchange::Market;
use crate::core::exchange::binance::{self as binance, BanBook, BinanceClient, BinanceConfig};
use crate::core::market::Symbol;
use crate::core::runs::{self as journal, Holder, LockResult};
use crate::core::store::{Store, StoreUrl};
use crate::output::{Format, Outcome, Status};
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// Everything a command needs, opened lazily.
pub struct Ctx {
    pub settings: Settings,
    pub format: Format,
    pub clock: Arc<dyn Clock>,
    pub global: GlobalArgs,
    env: Arc<dyn crate::core::config::Env + Send + Sync>,
    store: tokio::sync::OnceCell<Store>,
    http: std::sync::OnceLock<reqwest::Client>,
    binance: std::sync::Mutex<std::collections::HashMap<(Market, String), BinanceClient>>,
    /// Exchange bans and back-offs per host, shared by every client of this process; loaded
    /// from the store before a job and saved after it, so every job honours them.
    pub exchange_bans: Arc<BanBook>,
    /// The journal id of the running job (0 outside a job).
    pub run_id: std::sync::atomic::AtomicI64,
    /// The subcommand being run (Postgres `application_name` = `fks/<command>`).
    pub command: &'static str,
}

impl Ctx {
    pub fn new(
        global: GlobalArgs,
        settings: Settings,
        clock: Arc<dyn Clock>,
        env: Arc<dyn crate::core::config::Env + Send + Sync>,
    ) -> Ctx {
        let format = global.format.unwrap_or(if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        });
        Ctx {
            settings,
            format,
            clock,
            global,
            env,
            store: Default::default(),
            http: Default::default(),
            binance: Default::default(),
            exchange_bans: Default::default(),
            run_id: Default::default(),
            command: "",
        }
    }

    fn binance_config(&self, market: Market) -> BinanceConfig {
        let x = &self.settings.file.exchange;
        let mut c = BinanceConfig::new(market);
        c.spot_base_url = x.spot_base_url.trim_end_matches('/').to_string();
        c.futures_base_url = x.futures_base_url.trim_end_matches('/').to_string();
        c.recv_window_ms = x.recv_window_ms;
        c.timeout = Duration::from_secs(x.timeout_secs.max(1));
        c.max_attempts = x.max_attempts.max(1);
        c.retry_base_delay = Duration::from_millis(x.retry_base_delay_ms);
        if x.weight_limit > 0 {
            c.weight_limit_per_minute = x.weight_limit;
        }
        c.max_parallel = x.max_parallel.max(1);
        c.max_retry_wait = Duration::from_secs(x.max_retry_wait_secs);
        c.bans = Some(self.exchange_bans.clone());
        c
    }

    /// Build a client; an unusable base URL is a configuration error (exit 2).
    fn binance_new(cfg: BinanceConfig) -> Result<BinanceClient> {
        BinanceClient::new(cfg).map_err(|e| match e {
            binance::ExchangeError::BaseUrl { .. } => ConfigError(e.to_string()).into(),
            e => e.into(),
        })
    }

    fn binance_cached(
        &self,
        market: Market,
        key: &str,
        make: impl FnOnce() -> Result<BinanceClient>,
    ) -> Result<BinanceClient> {
        let mut map = self
            .binance
            .lock()
            .map_err(|_| anyhow::anyhow!("binance client cache poisoned"))?;
        if let Some(c) = map.get(&(market, key.to_string())) {
            return Ok(c.clone());
        }
        let c = make()?;
        map.insert((market, key.to_string()), c.clone());
        Ok(c)
    }

    /// A variable of the environment (and .env) fks was started with.
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env.var(name)
    }

    /// The market data of the configured market (spot or USD-M futures).
    pub fn market_venue(&self) -> Result<crate::core::exchange::binance::venue::BinanceVenue> {
        Ok(
            crate::core::exchange::binance::venue::BinanceVenue::market_data(
                self.binance_market()?,
            ),
        )
    }

    /// An account's venue (the one factory, `core::exchange::venue::for_account`): its market
    /// data, state and orders.
    pub async fn venue_for(
        &self,
        acct: &crate::core::accounts::Account,
    ) -> Result<Box<dyn crate::core::exchange::venue::Venue + '_>> {
        let store = self.store().await?;
        crate::core::exchange::venue::for_account(store, acct, self.now_ms(), |m| {
            self.binance_for(acct, m)
        })
    }

    /// The market-data client for the configured market (spot or USD-M futures).
    fn binance_market(&self) -> Result<BinanceClient> {
        let market = match self.settings.file.exchange.market {
            crate::core::config::MarketKind::Spot => Market::Spot,
            crate::core::config::MarketKind::Usdm => Market::UsdM,
        };
        self.binance_cached(market, "", || {
            Self::binance_new(self.binance_config(market))
        })
    }

    /// A signed client for an exchange account; credentials from the account's environment
    /// variables (default BINANCE_API_KEY / BINANCE_API_SECRET).
    fn binance_for(
        &self,
        acct: &crate::core::accounts::Account,
        market: Market,
    ) -> Result<BinanceClient> {
        let key_env = acct
            .api_key_env
            .clone()
            .unwrap_or_else(|| crate::core::config::env::BINANCE_API_KEY.into());
        let secret_env = acct
            .api_secret_env
            .clone()
            .unwrap_or_else(|| crate::core::config::env::BINANCE_API_SECRET.into());
        let key = self.env.var(&key_env).or_else(|| {
            (key_env == crate::core::config::env::BINANCE_API_KEY)
                .then(|| {
                    self.settings
                        .file
                        .exchange
                        .api_key
                        .as_ref()
                        .map(|s| s.expose().to_string())
                })
                .flatten()
        });
        let secret = self.env.var(&secret_env).or_else(|| {
            (secret_env == crate::core::config::env::BINANCE_API_SECRET)
                .then(|| {
                    self.settings
                        .file
                        .exchange
                        .api_secret
                        .as_ref()
                        .map(|s| s.expose().to_string())
                })
                .flatten()
        });
        let (Some(key), Some(secret)) = (key, secret) else {
            anyhow::bail!(
                "account {} needs its API key and secret in ${key_env} and ${secret_env}",
                acct.name
            );
        };
        self.binance_cached(market, &format!("{}:{}", acct.id, key_env), || {
            let cfg = self
                .binance_config(market)
                .with_credentials(key, crate::core::exchange::binance::Secret::new(secret));
            Self::binance_new(cfg)
        })
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The store, opened (and migrated) on first use.
    pub async fn store(&self) -> Result<&Store> {
        self.store
            .get_or_try_init(|| async {
                let url = StoreUrl::parse(&self.settings.database_url)
                    .map_err(|e| ConfigError(format!("{e:#}")))?;
                Store::open_with(&url, &self.store_options()).await
            })
            .await
    }

    /// How to open the store: the [store] settings, the PG* variables, `fks/<command>`.
    pub fn store_options(&self) -> crate::core::store::OpenOptions {
        use crate::core::config::env;
        let st = &self.settings.file.store;
        crate::core::store::OpenOptions {
            busy_timeout: Duration::from_millis(st.busy_timeout_ms),
            connect_timeout: Duration::from_secs(st.connect_timeout_secs),
            statement_timeout: Duration::from_secs(st.statement_timeout_secs),
            application_name: Some(if self.command.is_empty() {
                "fks".to_string()
            } else {
                format!("fks/{}", self.command)
            }),
            pgsslmode: self.env.var(env::PGSSLMODE),
            pgsslrootcert: self.env.var(env::PGSSLROOTCERT),
            pgpassword: self.env.var(env::PGPASSWORD),
            ..Default::default()
        }
    }

    /// Show progress bars only on an interactive stderr and when not quiet.
    pub fn progress_enabled(&self) -> bool {
        !self.global.quiet && std::io::stderr().is_terminal()
    }

    /// One HTTP client for the run.
    pub fn http(&self) -> Result<&reqwest::Client> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(
                self.settings.file.exchange.timeout_secs.max(1),
            ))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("fks/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("build HTTP client")?;
        Ok(self.http.get_or_init(|| c))
    }
}

impl Ctx {
    /// Queue a message in the outbox and try to deliver it now. Never fails the calling job:
    /// what could not be delivered stays pending for `send-notifications`.
    pub async fn notify(&self, m: crate::core::outbox::NewMessage) -> serde_json::Value {
        let res: Result<serde_json::Value> = async {
            let store = self.store().await?;
            let cfg = &self.settings.file.notifications;
            let q = crate::core::outbox::enqueue(store, cfg, &m, self.now_ms()).await?;
            if q.status == "pending" && cfg.any() {
                crate::core::outbox::deliver_pending(store, cfg, self.http()?, self.now_ms())
                    .await?;
            }
            let st = store
                .query_one(
                    "SELECT status FROM notifications WHERE id = ?",
                    crate::vals![q.id],
                )
                .await?
                .text(0)?;
            Ok(serde_json::json!({"id": q.id, "status": st}))
        }
        .await;
        res.unwrap_or_else(|e| {
            tracing::warn!("notification not queued: {e:#}");
            serde_json::json!({"status": "error", "error": format!("{e:#}")})
        })
    }
}

/// Check the failure streaks of the scheduled jobs and queue the alerts due
/// ([`crate::core::monitor::streaks`]); with `deliver`, try to deliver what was queued now.
/// Never fails the calling job: a problem is logged.
pub async fn check_failure_streaks(
    ctx: &Ctx,
    deliver: bool,
) -> Vec<crate::core::monitor::streaks::Queued> {
    let res: Result<Vec<crate::core::monitor::streaks::Queued>> = async {
        let store = ctx.store().await?;
        let cfg = &ctx.settings.file.notifications;
        let queued = crate::core::monitor::streaks::check(
            store,
            cfg,
            &ctx.settings.file.monitor,
            &active_schedule(ctx),
            ctx.now_ms(),
        )
        .await?;
        if deliver && cfg.any() && queued.iter().any(|q| q.status == "pending") {
            crate::core::outbox::deliver_pending(store, cfg, ctx.http()?, ctx.now_ms()).await?;
        }
        Ok(queued)
    }
    .await;
    res.unwrap_or_else(|e| {
        tracing::warn!("could not check the jobs' failure streaks: {e:#}");
        Vec::new()
    })
}

/// Whether this binary has the subcommand a schedule entry names (`"generate-report --report-type daily"`).
pub fn implemented(job: &str) -> bool {
    use clap::CommandFactory;
    let name = job.split_whitespace().next().unwrap_or(job);
    crate::cli::Cli::command().find_subcommand(name).is_some()
}

/// The configured schedule, limited to the jobs this binary has.
pub fn active_schedule(ctx: &Ctx) -> Vec<(String, String)> {
    ctx.settings
        .file
        .schedule
        .jobs
        .iter()
        .filter(|(j, _)| implemented(j))
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect()
}

/// The symbols a per-symbol job works on: the flags, else config; then the shard's share.
pub fn pick_symbols(ctx: &Ctx, flags: &[Symbol], shard: Option<Shard>) -> Vec<Symbol> {
    let mut v: Vec<Symbol> = if flags.is_empty() {
        ctx.settings.symbols().to_vec()
    } else {
        flags.to_vec()
    };
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
    if let Some(s) = shard {
        v.retain(|x| s.owns(x.as_str()));
    }
    v
}

/// Parse-time helper for `--shard K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard {s:?}: expected K/N such as 1/3"))?;
        let (k, n): (u32, u32) = (
            k.trim()
                .parse()
                .map_err(|_| format!("--shard {s:?}: K is not a number"))?,
            n.trim()
                .parse()
                .map_err(|_| format!("--shard {s:?}: N is not a number"))?,
        );
        if n == 0 || k == 0 || k > n {
            return Err(format!("--shard {s:?}: need 1 <= K <= N"));
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// Whether this shard owns `key` (a stable hash, so every host agrees).
    pub fn owns(&self, key: &str) -> bool {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in key.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        // FNV-1a's low bits spread badly over small N (its prime is 1 mod 3: with N = 3 the
        // usual USDT symbols nearly all fell in two shards); murmur3's finaliser mixes them.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51afd7ed558ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ceb9fe1a85ec53);
        h ^= h >> 33;
        (h % self.n as u64) as u32 == self.k - 1
    }

    /// Whether a run with this `--shard` (or none: everything) works on `key`.
    pub fn keeps(shard: Option<Shard>, key: &str) -> bool {
        shard.is_none_or(|s| s.owns(key))
    }

    pub fn suffix(shard: Option<Shard>) -> String {
        shard
            .map(|s| format!("#{}/{}", s.k, s.n))
            .unwrap_or_default()
    }
}

/// Parse args, load settings, run the command; returns the exit code.
pub async fn main_entry(cli: crate::cli::Cli, argv: Vec<String>) -> u8 {
    let global = cli.global.clone();
    let name = command_name(&cli.command);
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
        journal::set_host(&h);
    }
    let mut ctx = Ctx::new(global, settings, clock, Arc::new(env));
    ctx.command = name;
    let result = dispatch(&ctx, cli.command, &argv).await;
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
    use clap::CommandFactory;
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
        return crate::cli::Cli::command()
            .find_subcommand(a)
            .map(|c| c.get_name().to_string());
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

pub fn command_name(c: &Command) -> &'static str {
    match c {
        Command::SyncMarketData(_) => "sync-market-data",
        Command::SyncAccountBalance(_) => "sync-account-balance",
        Command::UpdatePositions(_) => "update-positions",
        Command::SendNotifications(_) => "send-notifications",
        Command::FetchNews(_) => "fetch-news",
        Command::News(_) => "news",
        Command::Knowledge(_) => "knowledge",
        Command::GenerateSignals(_) => "generate-signals",
        Command::GenerateDailyRagSignals(_) => "generate-daily-rag-signals",
        Command::OptimizePortfolio(_) => "optimize-portfolio",
        Command::EvaluateSignals(_) => "evaluate-signals",
        Command::RebalancePortfolio(_) => "rebalance-portfolio",
        Command::CheckStopLoss(_) => "check-stop-loss",
        Command::RunStrategies(_) => "run-strategies",
        Command::Position(_) => "position",
        Command::RunBacktest(_) => "run-backtest",
        Command::ValidateStrategies(_) => "validate-strategies",
        Command::Strategy(_) => "strategy",
        Command::CalculateMetrics(_) => "calculate-metrics",
        Command::GenerateReport(_) => "generate-report",
        Command::UpdateIndicators(_) => "update-indicators",
        Command::Indicators(_) => "indicators",
        Command::AnalyzeRisk(_) => "analyze-risk",
        Command::ArchiveOldData(_) => "archive-old-data",
        Command::RestoreArchive(_) => "restore-archive",
        Command::Account(_) => "account",
        Command::Paper(_) => "paper",
        Command::ImportKlines(_) => "import-klines",
        Command::ListData(_) => "list-data",
        Command::Candles(_) => "candles",
        Command::Init(_) => "init",
        Command::Demo(_) => "demo",
        Command::Runs(_) => "runs",
        Command::Status(_) => "status",
        Command::Dashboard(_) => "dashboard",
        Command::Cron(_) => "cron",
        Command::Completions(_) => "completions",
    }
}

async fn dispatch(ctx: &Ctx, command: Command, argv: &[String]) -> Result<Outcome> {
    let name = command_name(&command);
    match command {
        Command::SyncMarketData(a) => {
            job_sharded(ctx, name, a.shard, argv, sync_market_data::run(ctx, a)).await
        }
        Command::SyncAccountBalance(a) => {
            job(ctx, name, name, argv, sync_account_balance::run(ctx, a)).await
        }
        Command::UpdatePositions(a) => {
            job(ctx, name, name, argv, update_positions::run(ctx, a)).await
        }
        Command::SendNotifications(a) => {
            job(ctx, name, name, argv, send_notifications::run(ctx, a)).await
        }
        Command::FetchNews(a) => job(ctx, name, name, argv, fetch_news::run(ctx, a)).await,
        Command::News(a) => news::run(ctx, a).await,
        Command::Knowledge(a) => knowledge::run(ctx, a).await,
        Command::GenerateSignals(a) => {
            job(ctx, name, name, argv, generate_signals::run(ctx, a)).await
        }
        Command::GenerateDailyRagSignals(a) => {
            job_sharded(ctx, name, a.shard, argv, daily_signals::run(ctx, a)).await
        }
        Command::OptimizePortfolio(a) => {
            job(ctx, name, name, argv, optimize_portfolio::run(ctx, a)).await
        }
        Command::EvaluateSignals(a) => evaluate_signals::run(ctx, a).await,
        Command::RebalancePortfolio(a) => {
            let lock = format!("rebalance-portfolio#{}", a.account_id);
            job(ctx, name, &lock, argv, rebalance_portfolio::run(ctx, a)).await
        }
        Command::CheckStopLoss(a) => job(ctx, name, name, argv, check_stop_loss::run(ctx, a)).await,
        Command::RunStrategies(a) => {
            job_sharded(ctx, name, a.shard, argv, run_strategies::run(ctx, a)).await
        }
        Command::Position(a) => position::run(ctx, a).await,
        Command::RunBacktest(a) => {
            job_sharded(ctx, name, a.shard, argv, run_backtest::run(ctx, a)).await
        }
        Command::ValidateStrategies(a) => {
            job_sharded(ctx, name, a.shard, argv, validate_strategies::run(ctx, a)).await
        }
        Command::Strategy(a) => strategy::run(ctx, a).await,
        Command::CalculateMetrics(a) => {
            job(ctx, name, name, argv, calculate_metrics::run(ctx, a)).await
        }
        Command::GenerateReport(a) => {
            job(ctx, name, name, argv, generate_report::run(ctx, a)).await
        }
        Command::UpdateIndicators(a) => {
            job_sharded(ctx, name, a.shard, argv, update_indicators::run(ctx, a)).await
        }
        Command::Indicators(a) => indicators::run(ctx, a).await,
        Command::AnalyzeRisk(a) => job(ctx, name, name, argv, analyze_risk::run(ctx, a)).await,
        Command::ArchiveOldData(a) => {
            job(ctx, name, name, argv, archive_old_data::run(ctx, a)).await
        }
        Command::RestoreArchive(a) => {
            job(
                ctx,
                "restore-archive",
                "archive-old-data",
                argv,
                restore_archive::run(ctx, a),
            )
            .await
        }
        Command::Account(a) => account::run(ctx, a).await,
        Command::Paper(a) => paper::run(ctx, a).await,
        Command::ImportKlines(a) => job(ctx, name, name, argv, import_klines::run(ctx, a)).await,
        Command::ListData(a) => list_data::run(ctx, a).await,
        Command::Candles(a) => candles::run(ctx, a).await,
        Command::Init(a) => init::run(ctx, a).await,
        Command::Demo(a) => demo::run(ctx, a).await,
        Command::Runs(a) => runs::run(ctx, a).await,
        Command::Status(a) => status::run(ctx, a).await,
        Command::Dashboard(a) => job(ctx, name, name, argv, dashboard::run(ctx, a)).await,
        Command::Cron(a) => cron::run(ctx, a).await,
        Command::Completions(a) => completions::run(a),
    }
}

/// Run `work`, saying every [`journal::HEARTBEAT_EVERY_MS`] that run `id` is alive.
async fn with_heartbeat(
    store: &Store,
    id: i64,
    work: impl std::future::Future<Output = Result<Outcome>>,
) -> Result<Outcome> {
    let beat = async {
        loop {
            tokio::time::sleep(Duration::from_millis(journal::HEARTBEAT_EVERY_MS as u64)).await;
            if let Err(e) = journal::heartbeat(store, id).await {
                tracing::warn!("heartbeat of run {id}: {e:#}");
            }
        }
    };
    tokio::pin!(work);
    tokio::select! {
        biased;
        r = &mut work => r,
        _ = beat => unreachable!("the heartbeat loop never ends"),
    }
}

/// Hide credentials that may sit in arguments (database URLs) before they reach the journal.
fn journal_args(argv: &[String]) -> String {
    let redacted: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| crate::core::store::redact_url(a))
        .collect();
    serde_json::to_string(&redacted).unwrap_or_default()
}

/// Run a job: take its lock (held → skipped, exit 4), journal the run, return its outcome.
pub async fn job(
    ctx: &Ctx,
    task: &str,
    lock_name: &str,
    argv: &[String],
    work: impl std::future::Future<Output = Result<Outcome>>,
) -> Result<Outcome> {
    run_job(ctx, task, lock_name, None, argv, work).await
}

/// The lock of one shard of a job: `job#K/N`, or the job's own without a shard, so
/// shards run at once on several hosts while each shard runs once.
pub fn shard_lock_name(task: &str, shard: Option<Shard>) -> String {
    format!("{task}{}", Shard::suffix(shard))
}

/// Run a per-symbol job as one shard (`--shard K/N`) or whole: its lock is per job and
/// shard, and the journal records the shard.
pub async fn job_sharded(
    ctx: &Ctx,
    task: &str,
    shard: Option<Shard>,
    argv: &[String],
    work: impl std::future::Future<Output = Result<Outcome>>,
) -> Result<Outcome> {
    let lock = shard_lock_name(task, shard);
    let label = shard.map(|s| format!("{}/{}", s.k, s.n));
    run_job(ctx, task, &lock, label.as_deref(), argv, work).await
}

async fn run_job(
    ctx: &Ctx,
    task: &str,
    lock_name: &str,
    shard: Option<&str>,
    argv: &[String],
    work: impl std::future::Future<Output = Result<Outcome>>,
) -> Result<Outcome> {
    let store = ctx.store().await?;
    let me = Holder::current();
    let ttl_ms = 6 * 3600 * 1000;
    let deadline = ctx
        .global
        .wait
        .map(|s| std::time::Instant::now() + Duration::from_secs(s));
    let lock = loop {
        match journal::try_lock(store, lock_name, ttl_ms, ctx.now_ms(), &me).await? {
            LockResult::Acquired(l) => break l,
            LockResult::Held { holder, since_ms } => {
                if deadline.is_some_and(|d| std::time::Instant::now() < d) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                let msg = format!(
                    "another run of {task} holds its lock ({holder}, since {}); skipped",
                    crate::core::time::fmt_ms(since_ms)
                );
                if !ctx.global.quiet {
                    crate::logging::stderr_line("note", &msg);
                }
                let id = journal::start_sharded(
                    store,
                    task,
                    &journal_args(argv),
                    ctx.now_ms(),
                    &me,
                    shard,
                )
                .await?;
                let o = Outcome::new(Status::Skipped, serde_json::json!({"reason": msg}))?;
                journal::finish(
                    store,
                    id,
                    "skipped",
                    Some(&o.to_json(task).to_string()),
                    None,
                    ctx.now_ms(),
                )
                .await?;
                return Ok(o);
            }
        }
    };
    let id =
        journal::start_sharded(store, task, &journal_args(argv), ctx.now_ms(), &me, shard).await?;
    ctx.run_id.store(id, std::sync::atomic::Ordering::SeqCst);
    crate::logging::set_run_id(id);
    // Bans and back-offs are in real time (the exchange's), not the job's clock.
    let mut res =
        match binance::bans::load(store, &ctx.exchange_bans, binance::bans::wall_now_ms()).await {
            Ok(()) => with_heartbeat(store, id, work).await,
            Err(e) => Err(e),
        };
    if let Err(e) =
        binance::bans::save(store, &ctx.exchange_bans, binance::bans::wall_now_ms()).await
    {
        tracing::error!("could not store the exchange back-off: {e:#}");
    }
    let now = ctx.now_ms();
    let journal = match &mut res {
        Ok(o) => {
            // Every failed run says why in the journal's error column, also when the job
            // returned an outcome (every symbol failed) rather than an error.
            // A partial run says which of its entries failed the same way ("N of M failed").
            let error = matches!(o.status, Status::Error | Status::Partial)
                .then(|| one_line(&o.ensure_error()));
            journal::finish(
                store,
                id,
                o.status.as_str(),
                Some(&o.to_json(task).to_string()),
                error.as_deref(),
                now,
            )
            .await
        }
        Err(e) => {
            let msg = one_line(&format!("{e:#}"));
            journal::finish(store, id, "error", None, Some(&msg), now).await
        }
    };
    let released = journal::release(store, lock).await;
    // A dead job cannot report itself: every journaled run checks every job's streak.
    check_failure_streaks(ctx, true).await;
    let out = res?;
    journal.context("record the run in the journal")?;
    released.context("release the job lock")?;
    Ok(out)
}
