//! Command-line interface: global options and one subcommand per job.

use crate::commands;
use crate::output::Format;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

const ENV_HELP: &str = "\
Environment (also read from ./.env; variables already set win):
  DATABASE_URL                  store: a file path, sqlite://PATH or postgres://...
  FKS_CONFIG                    config file (default ./fks.toml)
  FKS_SYMBOLS                   symbols, comma-separated (BTCUSDT,ETHUSDT)
  FKS_BINANCE_BASE_URL          Binance spot REST root (default https://api.binance.com)
  FKS_BINANCE_FUTURES_BASE_URL  Binance USD-M futures REST root (default https://fapi.binance.com)
  BINANCE_API_KEY, BINANCE_API_SECRET   credentials for Binance accounts
  DISCORD_WEBHOOK_URL           enables Discord notifications
  FKS_HOST                      this host's name in the journal and locks (default: host name)
  PGSSLMODE, PGSSLROOTCERT, PGPASSWORD  Postgres TLS mode, CA file, password (the URL wins)
  FKS_LOG_FORMAT                stderr log format: text (default) or json (one object per line)

Exit codes: 0 success, 1 failed, 2 usage or configuration error, 3 partial, 4 skipped (lock held).";

/// The command tree as fks parses it: every option that takes a value also takes a negative
/// number (`--fee -0.1`), so a bad value gets fks's own clear error instead of clap's
/// "unexpected argument '-0'".
pub fn command() -> clap::Command {
    fn allow_negative(cmd: clap::Command) -> clap::Command {
        let cmd = cmd.mut_args(|a| {
            if a.get_action().takes_values() {
                a.allow_negative_numbers(true)
            } else {
                a
            }
        });
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        names
            .into_iter()
            .fold(cmd, |c, n| c.mut_subcommand(n, allow_negative))
    }
    allow_negative(<Cli as clap::CommandFactory>::command())
}

impl Cli {
    /// Parse arguments (the first is the program name) with [`command`].
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut cmd = command();
        let m = cmd.try_get_matches_from_mut(args)?;
        let mut cli =
            <Cli as clap::FromArgMatches>::from_arg_matches(&m).map_err(|e| e.format(&mut cmd))?;
        cli.name = m.subcommand_name().and_then(subcommand_name);
        Ok(cli)
    }

    /// The subcommand's name as clap parsed it (`sync-market-data`); the name in the JSON
    /// output, the journal and the lock. `fks` for a `Cli` not made by [`Cli::try_parse_args`].
    pub fn name(&self) -> &'static str {
        self.name.unwrap_or("fks")
    }
}

/// The canonical name of a subcommand of fks (also found by an alias), from the command
/// tree clap builds once per process.
pub fn subcommand_name(name: &str) -> Option<&'static str> {
    static TREE: std::sync::OnceLock<clap::Command> = std::sync::OnceLock::new();
    TREE.get_or_init(command)
        .find_subcommand(name)
        .map(|c| c.get_name())
}

#[derive(Debug, Parser)]
#[command(name = "fks", version, about = "Automated crypto trading operations, one job per run", after_help = ENV_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
    /// Filled in by [`Cli::try_parse_args`] from what clap matched; see [`Cli::name`].
    #[arg(skip)]
    name: Option<&'static str>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Config file (else $FKS_CONFIG, else ./fks.toml, else built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Database URL: a file path, sqlite://PATH or postgres://... (overrides DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub db: Option<String>,
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,
    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Stderr log format: text, or json (one object per line: time, level, job, run_id,
    /// message, fields) for log shippers.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "FKS_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: crate::logging::LogFormat,
    /// When another run holds the job's lock, wait up to this many seconds instead of skipping.
    #[arg(long, global = true, value_name = "SECONDS")]
    pub wait: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch OHLCV candles from Binance into the store.
    SyncMarketData(commands::sync_market_data::Args),
    /// Snapshot balance, equity, margin and PnL of every active account.
    SyncAccountBalance(commands::sync_account_balance::Args),
    /// Mark open positions to the latest price (unrealized PnL, PnL %).
    UpdatePositions(commands::update_positions::Args),
    /// Load Binance public kline dump files (CSV or ZIP) into the store.
    ImportKlines(commands::import_klines::Args),
    /// Per symbol and timeframe: candle count, first and last open time, gaps.
    ListData(commands::list_data::Args),
    /// Export stored candles as CSV or JSON.
    Candles(commands::candles::Args),
    /// Compute indicators for new candles and cache them.
    UpdateIndicators(commands::update_indicators::Args),
    /// Export cached indicators as CSV or JSON.
    Indicators(commands::indicators::Args),
    /// Exposure, unrealized PnL, concentration, value-at-risk; alert on HIGH.
    AnalyzeRisk(commands::analyze_risk::Args),
    /// Return, Sharpe, drawdown, trades and win rate per account over a period.
    CalculateMetrics(commands::calculate_metrics::Args),
    /// Daily / weekly / monthly report (JSON, table, Markdown or HTML) delivered to the channels.
    GenerateReport(commands::generate_report::Args),
    /// Backtest strategies on stored candles; optional parameter optimisation.
    RunBacktest(commands::run_backtest::Args),
    /// Backtest enabled strategies on recent data; disable those that fail.
    ValidateStrategies(commands::validate_strategies::Args),
    /// Manage strategies (add, list, enable, disable, show).
    Strategy(commands::strategy::Args),
    /// Orders that move an account to its target allocation (dry run unless --execute).
    RebalancePortfolio(commands::rebalance_portfolio::Args),
    /// Find positions whose stop is hit; alert; close them only with --execute.
    CheckStopLoss(commands::check_stop_loss::Args),
    /// Trade enabled strategies bound to accounts, once per closed bar (dry run unless --execute).
    RunStrategies(commands::run_strategies::Args),
    /// Set or clear a position's stop loss.
    Position(commands::position::Args),
    /// Recommendations for an account from retrieval over fks's own history (or legacy rules).
    GenerateSignals(commands::generate_signals::Args),
    /// The daily recommendation for every configured symbol; notifies the top ones.
    GenerateDailyRagSignals(commands::daily_signals::Args),
    /// Target allocation (rag, legacy, risk-parity, min-variance), stored for rebalancing.
    OptimizePortfolio(commands::optimize_portfolio::Args),
    /// Walk-forward evaluation of the signals against legacy rules and buy-and-hold.
    EvaluateSignals(commands::evaluate_signals::Args),
    /// What the knowledge base holds; update or rebuild it.
    Knowledge(commands::knowledge::Args),
    /// Send one message to the configured channels, or deliver what is pending.
    SendNotifications(commands::send_notifications::Args),
    /// Ingest news from RSS/Atom feeds and a news API, with sentiment.
    FetchNews(commands::fetch_news::Args),
    /// List stored news items.
    News(commands::news::Args),
    /// Move old data to verified, compressed archive files (dry run unless --execute).
    ArchiveOldData(commands::archive_old_data::Args),
    /// Load archive files back into the store.
    RestoreArchive(commands::restore_archive::Args),
    /// Manage accounts (paper, binance-spot, binance-futures).
    Account(commands::account::Args),
    /// Trade a paper account by hand.
    Paper(commands::paper::Args),
    /// Run the whole daily cycle offline on generated data.
    Demo(commands::demo::Args),
    /// Write a commented default fks.toml and create the store.
    Init(commands::init::Args),
    /// The run journal: recent runs of every job.
    Runs(commands::runs::Args),
    /// Per job: last run, success rate and median duration, overdue jobs.
    Status(commands::status::Args),
    /// Write the status page: one self-contained HTML file (jobs, failures, queues, accounts).
    Dashboard(commands::dashboard::Args),
    /// Print the crontab for the configured schedule.
    Cron(commands::cron::Args),
    /// Print shell completions.
    Completions(commands::completions::Args),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every subcommand has a help line (`///` above it): `--help` is the
    /// reference a person at a terminal has.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if cmd.get_about().is_none() && path != "fks" {
                missing.push(format!("{path} (the subcommand itself)"));
            }
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                let has = a
                    .get_help()
                    .or_else(|| a.get_long_help())
                    .is_some_and(|h| !h.to_string().trim().is_empty());
                if !has {
                    missing.push(format!("{path} {id}"));
                }
            }
            for s in cmd.get_subcommands() {
                if s.get_name() == "help" {
                    continue;
                }
                walk(s, &format!("{path} {}", s.get_name()), missing);
            }
        }
        let mut cmd = command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "fks", &mut missing);
        assert!(
            missing.is_empty(),
            "arguments without help:\n{}",
            missing.join("\n")
        );
    }

    /// The name a run reports is the subcommand clap matched, for every subcommand.
    #[test]
    fn the_name_is_the_subcommand_clap_matched() {
        let cli = Cli::try_parse_args(["fks", "--quiet", "generate-daily-rag-signals"]).unwrap();
        assert_eq!(cli.name(), "generate-daily-rag-signals");
        assert!(matches!(cli.command, Command::GenerateDailyRagSignals(_)));
        let cli = Cli::try_parse_args(["fks", "runs"]).unwrap();
        assert_eq!(cli.name(), "runs");
        let mut n = 0;
        for s in command().get_subcommands() {
            assert_eq!(subcommand_name(s.get_name()), Some(s.get_name()));
            n += 1;
        }
        assert!(n >= 35, "{n} subcommands");
        assert_eq!(subcommand_name("no-such-job"), None);
    }

    #[test]
    fn negative_numbers_reach_the_value_parsers() {
        let cli = Cli::try_parse_args(["fks", "run-backtest", "--fee", "-0.1"]).unwrap();
        let Command::RunBacktest(a) = cli.command else {
            panic!("parsed another command")
        };
        assert_eq!(a.fee, Some(-0.1));
        // Flags are still flags.
        assert!(Cli::try_parse_args(["fks", "runs", "-q"]).is_ok());
    }
}
