//! The `[notifications]` settings and the channels they configure.

use super::*;
use serde::Deserialize;
use std::time::Duration;

/// The `[notifications]` channel settings, as they appear in `fks.toml`:
///
/// ```toml
/// [notifications]
/// timeout_s = 10
/// max_rate_limit_wait_s = 30
/// [notifications.discord]
/// webhook_url = "https://discord.com/api/webhooks/…"
/// mention = "<@&123456789012345678>"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default)]
    pub timeout_s: Option<f64>,
    #[serde(default)]
    pub max_rate_limit_wait_s: Option<f64>,
    #[serde(default)]
    pub discord: Option<DiscordConfig>,
    #[serde(default)]
    pub slack: Option<SlackConfig>,
    #[serde(default)]
    pub telegram: Option<TelegramConfig>,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// A local file that receives every message as one JSON line (for the demo, for
    /// testing a setup, or for piping into another tool).
    #[serde(default)]
    pub file: Option<std::path::PathBuf>,
    /// Alerts with the same dedup key within this many minutes are recorded but not re-sent.
    #[serde(default)]
    pub cooldown_minutes: Option<u64>,
}

impl NotifyConfig {
    /// The alert cool-down (default 60 minutes).
    pub fn cooldown_ms(&self) -> i64 {
        self.cooldown_minutes.unwrap_or(60) as i64 * 60_000
    }

    /// Whether any channel is configured.
    pub fn any(&self) -> bool {
        self.discord.is_some()
            || self.slack.is_some()
            || self.telegram.is_some()
            || self.webhook.is_some()
            || self.email.is_some()
            || self.file.is_some()
    }

    pub fn policy(&self) -> Policy {
        let mut p = Policy::default();
        if let Some(t) = self.timeout_s.filter(|t| t.is_finite() && *t > 0.0) {
            p.timeout = Duration::from_secs_f64(t);
        }
        if let Some(w) = self
            .max_rate_limit_wait_s
            .filter(|w| w.is_finite() && *w >= 0.0)
        {
            p.max_rate_limit_wait = Duration::from_secs_f64(w);
        }
        p
    }

    /// Every configured channel, in a fixed order (discord, slack, telegram, webhook, email).
    pub fn channels(&self) -> Result<Vec<Channel>, NotifyError> {
        let policy = self.policy();
        let mut out: Vec<Channel> = Vec::new();
        if let Some(c) = &self.discord {
            out.push(Box::new(Discord::new(c.clone(), policy)?));
        }
        if let Some(c) = &self.slack {
            out.push(Box::new(Slack::new(c.clone(), policy)?));
        }
        if let Some(c) = &self.telegram {
            out.push(Box::new(Telegram::new(c.clone(), policy)?));
        }
        if let Some(c) = &self.webhook {
            out.push(Box::new(Webhook::new(c.clone(), policy)?));
        }
        if let Some(c) = &self.email {
            out.push(Box::new(Email::new(c.clone(), policy)?));
        }
        if let Some(p) = &self.file {
            out.push(Box::new(file::FileChannel { path: p.clone() }));
        }
        Ok(out)
    }
}
