//! From a parsed subcommand to its `run`, through the job runner for the scheduled jobs.

use super::*;
use crate::cli::Command;
use crate::output::Outcome;
use anyhow::Result;

/// Whether this binary has the subcommand a schedule entry names (`"generate-report --report-type daily"`).
pub fn implemented(job: &str) -> bool {
    let name = job.split_whitespace().next().unwrap_or(job);
    crate::cli::subcommand_name(name).is_some()
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

/// Run `command` (named `name`, see [`crate::cli::Cli::name`]).
pub(crate) async fn dispatch(
    ctx: &Ctx,
    name: &str,
    command: Command,
    argv: &[String],
) -> Result<Outcome> {
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
        Command::EvaluateSignals(a) => {
            job(ctx, name, name, argv, evaluate_signals::run(ctx, a)).await
        }
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
