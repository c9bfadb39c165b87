//! The job runner: the job's lock, the run journal, the exchange back-offs around a run.

use super::{Ctx, one_line};
use crate::core::exchange::binance;
use crate::core::runs::{self as journal, Holder, LockResult};
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

/// Run a job: take its lock (held → skipped, exit 4), journal the run, return its outcome.
pub async fn job(
    ctx: &Ctx,
    task: &str,
    lock_name: &str,
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
                    eprintln!("{msg}");
                }
                let id =
                    journal::start(store, task, &journal_args(argv), ctx.now_ms(), &me).await?;
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
    let id = journal::start(store, task, &journal_args(argv), ctx.now_ms(), &me).await?;
    ctx.run_id.store(id, std::sync::atomic::Ordering::SeqCst);
    // Bans and back-offs are in real time (the exchange's), not the job's clock.
    let mut res =
        match binance::bans::load(store, &ctx.exchange_bans, binance::bans::wall_now_ms()).await {
            Ok(()) => work.await,
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
            let error = (o.status == Status::Error).then(|| one_line(&o.ensure_error()));
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
    let out = res?;
    journal.context("record the run in the journal")?;
    released.context("release the job lock")?;
    Ok(out)
}
