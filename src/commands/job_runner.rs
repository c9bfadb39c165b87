//! The job runner: the job's lock, the run journal, the exchange back-offs around a run.

use super::{Ctx, Shard, one_line};
use crate::core::exchange::binance;
use crate::core::runs::{self as journal, Holder, LockResult};
use crate::core::store::Store;
use crate::output::{Outcome, Status};
use anyhow::{Context, Result};
use std::time::Duration;

/// Hide credentials that may sit in arguments (database URLs) before they reach the journal.
fn journal_args(argv: &[String]) -> String {
    let redacted: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| crate::core::store::redact_url(a))
        .collect();
    serde_json::to_string(&redacted).unwrap_or_default()
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
            &super::dispatch::active_schedule(ctx),
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
