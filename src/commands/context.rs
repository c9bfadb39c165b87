//! The context every command gets: settings, clock, output format, and the store, HTTP and
//! exchange clients opened on first use.

use crate::cli::GlobalArgs;
use crate::core::clock::Clock;
use crate::core::config::{ConfigError, Settings};
use crate::core::exchange::Market;
use crate::core::exchange::binance::{self as binance, BanBook, BinanceClient, BinanceConfig};
use crate::core::store::{Store, StoreUrl};
use crate::output::Format;
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
