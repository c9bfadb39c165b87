//! Notification channels: pure delivery of one [`Message`] to Discord, Slack, Telegram, a
//! signed JSON webhook or e-mail. No store and no CLI here: the outbox decides what to send
//! and records the [`Delivery`] or [`NotifyError`] each channel returns.
//!
//! - Every channel respects its service's limits: long text is split across several
//!   messages (Discord content, Telegram) or truncated with an ellipsis (embed fields, Slack),
//!   counting characters the way the service does.
//! - Rate limits (HTTP 429, Telegram `parameters.retry_after`) are waited out up to
//!   [`Policy::max_rate_limit_wait`]; beyond that the send fails with
//!   [`NotifyError::RateLimited`] and the message stays pending.
//! - Webhook URLs, tokens and passwords are [`Secret`]s: `Debug` prints `****`, and every
//!   error text is built from `reqwest::Error::without_url()` and scrubbed of the secrets
//!   before it leaves this module. Use [`redact`] to show a configured target.

pub mod discord;
pub mod email;
pub mod file;
pub mod slack;
pub mod telegram;
pub mod webhook;

mod channel;
mod config;
mod error;
mod http;
mod message;
mod policy;
mod text;

pub use crate::core::config::Secret;
pub(crate) use crate::core::redact::Scrubber;
pub use crate::core::redact::target as redact;
pub use crate::core::text::ELLIPSIS;
pub(crate) use crate::core::text::{truncate, truncate_by};
pub(crate) use crate::core::time::fmt_ms_millis as iso8601_utc;
pub use channel::{Channel, Notifier};
pub use config::NotifyConfig;
pub use discord::{Discord, DiscordConfig};
pub use email::{Email, EmailConfig, SmtpSecurity};
pub use error::{Delivery, DeliveryStatus, NotifyError};
pub(crate) use http::{Http, Verdict, header_seconds, seconds, snippet, verdict_for_status};
pub use message::{Attachment, COLOR_GREEN, COLOR_RED, Message, MessageKind, pnl_color};
pub use policy::{DEFAULT_MAX_RATE_LIMIT_WAIT, DEFAULT_TIMEOUT, Policy};
pub use slack::{Slack, SlackConfig};
pub use telegram::{Telegram, TelegramConfig};
pub(crate) use text::{count_chars, count_utf16, split_by};
pub use webhook::{Webhook, WebhookConfig};

#[cfg(test)]
mod loopback_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_lossless_and_within_limits() {
        let text: String = (0..700).map(|i| format!("line {i} é🚀\n")).collect();
        let parts = split_by(&text, 1990, 2000, |_| 1);
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), text);
        assert!(count_chars(&parts[0]) <= 1990);
        assert!(parts.iter().all(|p| count_chars(p) <= 2000));
        assert!(parts[..parts.len() - 1].iter().all(|p| p.ends_with('\n')));
        // No break opportunity at all: hard cut on a char boundary.
        let solid = "é".repeat(4500);
        let parts = split_by(&solid, 2000, 2000, |_| 1);
        assert_eq!(
            parts.iter().map(|p| count_chars(p)).collect::<Vec<_>>(),
            [2000, 2000, 500]
        );
        // UTF-16 weight: an emoji counts two.
        let emoji = "🚀".repeat(5);
        let parts = split_by(&emoji, 4, 4, |c| c.len_utf16());
        assert_eq!(parts, ["🚀🚀", "🚀🚀", "🚀"]);
    }

    #[test]
    fn iso8601_formats_known_instants() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(1_499_794_027_299), "2017-07-11T17:27:07.299Z");
        assert_eq!(iso8601_utc(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
    }
}
