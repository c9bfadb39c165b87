//! What a channel did with a message, or why it did not deliver it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Every part was accepted, nothing cut.
    Delivered,
    /// Every part was accepted, but some text was cut (with an ellipsis) to fit the
    /// channel's limits.
    DeliveredTruncated,
}

/// What a channel did with a message that it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub channel: String,
    pub status: DeliveryStatus,
    /// The service's id of the (first) message it created: Discord message id, Telegram
    /// `message_id`, the SMTP server's queue answer. `None` where the service returns none.
    pub remote_id: Option<String>,
    /// How many requests (messages) the message took.
    pub parts: usize,
}

/// Why a channel did not deliver. [`NotifyError::is_retryable`] tells the outbox whether
/// to keep the message pending. `parts_sent` counts the parts already accepted before the
/// failure (a resend can start there with `send_from`).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The service asked us to wait longer than the configured limit.
    #[error("{channel}: rate limited, retry after {retry_after_s:.2}s")]
    RateLimited {
        channel: String,
        retry_after_s: f64,
        parts_sent: usize,
    },
    /// Network failure, timeout, 5xx or an unreadable answer: try again later.
    #[error("{channel}: temporary failure: {reason}")]
    Retryable {
        channel: String,
        reason: String,
        parts_sent: usize,
    },
    /// The service refused the message (4xx other than 429, SMTP 5xx): resending the same
    /// message will fail the same way.
    #[error("{channel}: rejected{}: {reason}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    Permanent {
        channel: String,
        status: Option<u16>,
        /// The service's own error code: Discord `code`, Telegram `error_code`, SMTP code.
        code: Option<i64>,
        reason: String,
        parts_sent: usize,
    },
    /// The channel's configuration cannot work (bad URL, bad address).
    #[error("{channel}: bad configuration: {reason}")]
    Config { channel: String, reason: String },
}

impl NotifyError {
    /// Retryable and rate-limited errors leave the message pending.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            NotifyError::RateLimited { .. } | NotifyError::Retryable { .. }
        )
    }

    pub fn is_permanent(&self) -> bool {
        !self.is_retryable()
    }

    pub fn channel(&self) -> &str {
        match self {
            NotifyError::RateLimited { channel, .. }
            | NotifyError::Retryable { channel, .. }
            | NotifyError::Permanent { channel, .. }
            | NotifyError::Config { channel, .. } => channel,
        }
    }

    pub fn parts_sent(&self) -> usize {
        match self {
            NotifyError::RateLimited { parts_sent, .. }
            | NotifyError::Retryable { parts_sent, .. }
            | NotifyError::Permanent { parts_sent, .. } => *parts_sent,
            NotifyError::Config { .. } => 0,
        }
    }

    pub(crate) fn config(channel: &str, reason: impl Into<String>) -> Self {
        NotifyError::Config {
            channel: channel.to_string(),
            reason: reason.into(),
        }
    }
}
