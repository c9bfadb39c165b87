//! `fks send-notifications`: send one message, or deliver everything pending in the outbox.

use super::Ctx;
use crate::core::notify::MessageKind;
use crate::core::outbox::{self, ChannelReport, Enqueued, NewMessage};
use crate::output::{Outcome, Report, Status};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// The report of `fks send-notifications`.
#[derive(Debug, Serialize)]
pub struct NotifyRun {
    /// The message of `--message`, as queued (null without one).
    pub queued: Option<Enqueued>,
    /// Failure-streak alerts and "recovered" messages this run queued.
    pub job_alerts: Vec<crate::core::monitor::streaks::Queued>,
    /// Per channel, what the delivery pass did.
    pub channels: BTreeMap<String, ChannelReport>,
    /// The outbox's messages by state, after the pass.
    pub outbox: BTreeMap<String, i64>,
}

impl Report for NotifyRun {
    /// Everything delivered (or no channel: the messages wait in the outbox) is a success,
    /// some delivered a partial run, none an error.
    fn status(&self) -> Status {
        let (delivered, failed, pending): (u64, u64, u64) =
            self.channels.values().fold((0, 0, 0), |a, c| {
                (a.0 + c.delivered, a.1 + c.failed, a.2 + c.pending)
            });
        if self.channels.is_empty() || failed + pending == 0 {
            Status::Success
        } else if delivered > 0 {
            Status::Partial
        } else {
            Status::Error
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    Trade,
    Alert,
    Report,
    Signal,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kind of the message given with --message (trade, alert, report or signal).
    #[arg(long, value_enum, default_value = "alert")]
    pub notification_type: Kind,
    /// Send this text (without it: deliver what is pending).
    #[arg(long)]
    pub message: Option<String>,
    /// Title of the message (default: "fks <type>").
    #[arg(long)]
    pub title: Option<String>,
    /// Mark the message urgent: on Discord a red embed, preceded by notifications.discord.mention
    /// when one is configured; Slack puts its mention in front; Telegram starts the title with 🚨;
    /// e-mail prefixes the subject with [URGENT]; the webhook and file channels get "urgent": true.
    #[arg(long)]
    pub urgent: bool,
    /// Alerts with the same key inside the cool-down are recorded but not re-sent.
    #[arg(long)]
    pub dedup_key: Option<String>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.notifications;
    let mut queued = None;
    if let Some(text) = &args.message {
        let kind = match args.notification_type {
            Kind::Trade => MessageKind::Trade,
            Kind::Alert => MessageKind::Alert,
            Kind::Report => MessageKind::Report,
            Kind::Signal => MessageKind::Signal,
        };
        let mut m = NewMessage::new(
            kind,
            args.title
                .clone()
                .unwrap_or_else(|| format!("fks {}", kind.as_str())),
            text.clone(),
        );
        m.urgent = args.urgent;
        if args.urgent {
            // Red whether or not a mention is configured: what --help promises.
            m.color = Some(crate::core::notify::COLOR_RED);
        }
        m.dedup_key = args.dedup_key.clone();
        queued = Some(outbox::enqueue(store, cfg, &m, ctx.now_ms()).await?);
    }
    // Cron runs this every minute: the failure alerts of jobs that stopped running go out
    // even when no other job runs.
    let job_alerts = super::check_failure_streaks(ctx, false).await;
    let channels = outbox::deliver_pending(store, cfg, ctx.http()?, ctx.now_ms()).await?;
    if channels.is_empty() && !ctx.global.quiet {
        crate::logging::stderr_line(
            "note",
            "no notification channel is configured (set DISCORD_WEBHOOK_URL or [notifications] in fks.toml); messages stay in the outbox",
        );
    }
    let outbox = outbox::summary(store).await?;
    Outcome::from_report(&NotifyRun {
        queued,
        job_alerts,
        channels,
        outbox,
    })
}
