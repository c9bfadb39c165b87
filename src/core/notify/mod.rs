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

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

pub use discord::{Discord, DiscordConfig};
pub use email::{Email, EmailConfig, SmtpSecurity};
pub use slack::{Slack, SlackConfig};
pub use telegram::{Telegram, TelegramConfig};
pub use webhook::{Webhook, WebhookConfig};

/// Default timeout of one HTTP request or SMTP command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default longest total time one send waits for rate limits before giving up.
pub const DEFAULT_MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(30);

/// Embed colour for a gain (Discord green).
pub const COLOR_GREEN: u32 = 0x2E_CC_71;
/// Embed colour for a loss or an urgent alert (Discord red).
pub const COLOR_RED: u32 = 0xE7_4C_3C;

// ---------------------------------------------------------------------------------------
// Messages

/// What a message is about; channels show it (Discord footer, Slack context, subject tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Trade,
    Alert,
    Report,
    Signal,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Trade => "trade",
            MessageKind::Alert => "alert",
            MessageKind::Report => "report",
            MessageKind::Signal => "signal",
        }
    }

    /// Embed colour used when the message sets none.
    pub fn default_color(self) -> u32 {
        match self {
            MessageKind::Trade => 0x34_98_DB,
            MessageKind::Alert => 0xE6_7E_22,
            MessageKind::Report => 0x95_A5_A6,
            MessageKind::Signal => 0x9B_59_B6,
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file sent with a message: the report chart PNG, a CSV.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Attachment {
    pub fn new(
        filename: impl Into<String>,
        content_type: impl Into<String>,
        bytes: Vec<u8>,
    ) -> Self {
        Attachment {
            filename: filename.into(),
            content_type: content_type.into(),
            bytes,
        }
    }

    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// One notification, independent of the channel it goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: MessageKind,
    pub title: String,
    /// Markdown-ish text: `**bold**` and line breaks survive on Discord and Slack; Telegram
    /// and e-mail show it as plain text.
    pub body: String,
    pub urgent: bool,
    /// Name/value pairs: an embed's fields on Discord, Slack section fields, lines elsewhere.
    pub fields: Vec<(String, String)>,
    /// Embed colour (`0xRRGGBB`), e.g. [`pnl_color`] of the day's PnL.
    pub color: Option<u32>,
    pub attachment: Option<Attachment>,
    /// When the message was created (the outbox row's time), Unix milliseconds UTC. Shown as
    /// the Discord embed timestamp; this module never reads the clock for it.
    pub created_at_ms: Option<i64>,
}

impl Message {
    pub fn new(kind: MessageKind, title: impl Into<String>, body: impl Into<String>) -> Self {
        Message {
            kind,
            title: title.into(),
            body: body.into(),
            urgent: false,
            fields: Vec::new(),
            color: None,
            attachment: None,
            created_at_ms: None,
        }
    }

    pub fn urgent(mut self, urgent: bool) -> Self {
        self.urgent = urgent;
        self
    }

    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    pub fn color(mut self, color: u32) -> Self {
        self.color = Some(color);
        self
    }

    pub fn attachment(mut self, attachment: Attachment) -> Self {
        self.attachment = Some(attachment);
        self
    }

    pub fn created_at_ms(mut self, ms: i64) -> Self {
        self.created_at_ms = Some(ms);
        self
    }

    /// Body followed by one `name: value` line per field: the text of channels without
    /// structured fields (Telegram, e-mail, the plain Discord form).
    pub fn text_with_fields(&self) -> String {
        let mut text = self.body.clone();
        if !self.fields.is_empty() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            let lines: Vec<String> = self
                .fields
                .iter()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect();
            text.push_str(&lines.join("\n"));
        }
        text
    }
}

/// Green for a gain or zero, red for a loss.
pub fn pnl_color(pnl: f64) -> u32 {
    if pnl < 0.0 { COLOR_RED } else { COLOR_GREEN }
}

// ---------------------------------------------------------------------------------------
// Results and errors

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

// ---------------------------------------------------------------------------------------
// Secrets and redaction

pub use crate::core::config::Secret;

/// Shows a webhook URL or token without its secret part:
///
/// - a URL keeps scheme, host, port and every path segment but the last, which becomes
///   `****`; user info and query are dropped (`?****`):
///   `https://discord.com/api/webhooks/12345/abcdef` → `https://discord.com/api/webhooks/12345/****`;
/// - a Telegram bot token keeps the bot id: `123456:AAE…` → `123456:****`;
/// - anything else is `****`.
pub fn redact(url_or_token: &str) -> String {
    let s = url_or_token.trim();
    if let Ok(url) = reqwest::Url::parse(s)
        && url.has_host()
    {
        let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        if let Some(port) = url.port() {
            out.push_str(&format!(":{port}"));
        }
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        if let Some((_, keep)) = segments.split_last() {
            for seg in keep {
                out.push('/');
                out.push_str(seg);
            }
            out.push_str("/****");
        }
        if url.query().is_some() {
            out.push_str("?****");
        }
        return out;
    }
    if let Some((id, rest)) = s.split_once(':')
        && !id.is_empty()
        && id.chars().all(|c| c.is_ascii_digit())
        && !rest.is_empty()
    {
        return format!("{id}:****");
    }
    "****".to_string()
}

/// Removes secrets from text that is about to become an error message or a log line.
#[derive(Clone, Default)]
pub(crate) struct Scrubber {
    needles: Vec<String>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} secrets)", self.needles.len())
    }
}

impl Scrubber {
    /// Scrubs the whole value and, for a URL, its last path segment and query values (the
    /// parts [`redact`] hides) when they are long enough to be secrets (8 characters or
    /// more: a token, not `true`).
    pub(crate) fn new(secrets: &[&str]) -> Self {
        let mut needles = Vec::new();
        for secret in secrets {
            let s = secret.trim();
            if s.is_empty() {
                continue;
            }
            needles.push(s.to_string());
            if let Ok(url) = reqwest::Url::parse(s) {
                needles.push(url.as_str().to_string());
                if let Some(last) = url.path_segments().and_then(|mut p| p.next_back())
                    && last.len() >= 8
                {
                    needles.push(last.to_string());
                }
                if let Some(q) = url.query()
                    && !q.is_empty()
                {
                    if q.len() >= 8 {
                        needles.push(q.to_string());
                    }
                    for (_, v) in url.query_pairs() {
                        if v.len() >= 8 {
                            needles.push(v.into_owned());
                        }
                    }
                }
            }
        }
        // Longest first, so a URL is replaced whole before its token is.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Scrubber { needles }
    }

    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), "****");
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// Channels

/// Timeouts and rate-limit patience shared by every channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Timeout of each request (each SMTP command for e-mail).
    pub timeout: Duration,
    /// Longest total time one `send` waits for rate limits; a longer wait is not made and
    /// the send fails with [`NotifyError::RateLimited`].
    pub max_rate_limit_wait: Duration,
    /// How many times one part is tried when the service keeps answering 429.
    pub max_attempts: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout: DEFAULT_TIMEOUT,
            max_rate_limit_wait: DEFAULT_MAX_RATE_LIMIT_WAIT,
            max_attempts: 5,
        }
    }
}

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
        let mut out = Vec::new();
        if let Some(c) = &self.discord {
            out.push(Channel::Discord(Discord::new(c.clone(), policy)?));
        }
        if let Some(c) = &self.slack {
            out.push(Channel::Slack(Slack::new(c.clone(), policy)?));
        }
        if let Some(c) = &self.telegram {
            out.push(Channel::Telegram(Telegram::new(c.clone(), policy)?));
        }
        if let Some(c) = &self.webhook {
            out.push(Channel::Webhook(Webhook::new(c.clone(), policy)?));
        }
        if let Some(c) = &self.email {
            out.push(Channel::Email(Box::new(Email::new(c.clone(), policy)?)));
        }
        if let Some(p) = &self.file {
            out.push(Channel::File(file::FileChannel { path: p.clone() }));
        }
        Ok(out)
    }
}

/// One configured delivery target.
#[derive(Debug)]
pub enum Channel {
    Discord(Discord),
    Slack(Slack),
    Telegram(Telegram),
    Webhook(Webhook),
    /// Boxed: the SMTP transport is much larger than the HTTP channels.
    Email(Box<Email>),
    File(file::FileChannel),
}

impl Channel {
    /// `discord`, `slack`, `telegram`, `webhook` or `email`: the key of the per-channel
    /// delivery status.
    pub fn name(&self) -> &'static str {
        match self {
            Channel::Discord(_) => discord::NAME,
            Channel::Slack(_) => slack::NAME,
            Channel::Telegram(_) => telegram::NAME,
            Channel::Webhook(_) => webhook::NAME,
            Channel::Email(_) => email::NAME,
            Channel::File(_) => file::NAME,
        }
    }

    /// Where the channel delivers, safe to print (see [`redact`]).
    pub fn target(&self) -> String {
        match self {
            Channel::Discord(c) => c.target(),
            Channel::Slack(c) => c.target(),
            Channel::Telegram(c) => c.target(),
            Channel::Webhook(c) => c.target(),
            Channel::Email(c) => c.target(),
            Channel::File(c) => c.path.display().to_string(),
        }
    }

    /// Delivers the whole message. `client` is unused by e-mail.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        msg: &Message,
    ) -> Result<Delivery, NotifyError> {
        self.send_from(client, msg, 0).await
    }

    /// Delivers the message's parts from `first_part` on: after a failure with
    /// `parts_sent() == k`, `send_from(.., k)` finishes the message without repeating the
    /// parts already accepted. Splitting is deterministic for a given message.
    pub async fn send_from(
        &self,
        client: &reqwest::Client,
        msg: &Message,
        first_part: usize,
    ) -> Result<Delivery, NotifyError> {
        match self {
            Channel::Discord(c) => c.send_from(client, msg, first_part).await,
            Channel::Slack(c) => c.send_from(client, msg, first_part).await,
            Channel::Telegram(c) => c.send_from(client, msg, first_part).await,
            Channel::Webhook(c) => c.send_from(client, msg, first_part).await,
            Channel::Email(c) => c.send_from(msg, first_part).await,
            Channel::File(c) => c.send(msg),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shared HTTP delivery: one place for timeouts, rate-limit waits and error mapping.

/// How a channel reads one answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Accepted. `pause`: wait this long before the next part (bucket exhausted).
    Sent {
        remote_id: Option<String>,
        pause: Option<Duration>,
    },
    RateLimited {
        retry_after: Duration,
    },
    Retryable(String),
    Permanent {
        status: Option<u16>,
        code: Option<i64>,
        reason: String,
    },
}

/// One HTTP channel's delivery context.
pub(crate) struct Http<'a> {
    pub channel: &'static str,
    pub policy: Policy,
    pub scrubber: &'a Scrubber,
}

impl Http<'_> {
    /// Sends `parts[first..]` in order. `build` makes a fresh request for a part (called
    /// again after a rate-limit wait); `judge` reads the answer.
    pub(crate) async fn deliver<P>(
        &self,
        parts: &[P],
        first: usize,
        truncated: bool,
        build: impl Fn(&P) -> Result<RequestBuilder, NotifyError>,
        judge: impl Fn(StatusCode, &HeaderMap, &str) -> Verdict,
    ) -> Result<Delivery, NotifyError> {
        let mut waited = Duration::ZERO;
        let mut remote_id = None;
        let total = parts.len();
        for (index, part) in parts.iter().enumerate().skip(first) {
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let request = build(part)?.timeout(self.policy.timeout);
                let verdict = match request.send().await {
                    Err(e) => Verdict::Retryable(self.describe(e)),
                    Ok(response) => {
                        let status = response.status();
                        let headers = response.headers().clone();
                        match response.text().await {
                            // Scrubbed before it is read or cut: a service that echoes the
                            // URL in an error must not leak it through a snippet.
                            Ok(body) => judge(status, &headers, &self.scrubber.scrub(&body)),
                            Err(e) if status.is_success() => Verdict::Retryable(format!(
                                "answer {status} could not be read: {}",
                                self.describe(e)
                            )),
                            Err(_) => judge(status, &headers, ""),
                        }
                    }
                };
                tracing::debug!(
                    channel = self.channel,
                    part = index + 1,
                    parts = total,
                    attempt,
                    verdict = ?verdict,
                    "notification request"
                );
                match verdict {
                    Verdict::Sent {
                        remote_id: id,
                        pause,
                    } => {
                        if remote_id.is_none() {
                            remote_id = id;
                        }
                        if let Some(p) = pause
                            && index + 1 < total
                            && waited + p <= self.policy.max_rate_limit_wait
                        {
                            tokio::time::sleep(p).await;
                            waited += p;
                        }
                        break;
                    }
                    Verdict::RateLimited { retry_after } => {
                        if attempt >= self.policy.max_attempts
                            || waited + retry_after > self.policy.max_rate_limit_wait
                        {
                            return Err(NotifyError::RateLimited {
                                channel: self.channel.to_string(),
                                retry_after_s: retry_after.as_secs_f64(),
                                parts_sent: index,
                            });
                        }
                        tracing::info!(
                            channel = self.channel,
                            retry_after_s = retry_after.as_secs_f64(),
                            "rate limited; waiting"
                        );
                        tokio::time::sleep(retry_after).await;
                        waited += retry_after;
                    }
                    Verdict::Retryable(reason) => {
                        return Err(NotifyError::Retryable {
                            channel: self.channel.to_string(),
                            reason: self.scrubber.scrub(&reason),
                            parts_sent: index,
                        });
                    }
                    Verdict::Permanent {
                        status,
                        code,
                        reason,
                    } => {
                        return Err(NotifyError::Permanent {
                            channel: self.channel.to_string(),
                            status,
                            code,
                            reason: self.scrubber.scrub(&reason),
                            parts_sent: index,
                        });
                    }
                }
            }
        }
        Ok(Delivery {
            channel: self.channel.to_string(),
            status: if truncated {
                DeliveryStatus::DeliveredTruncated
            } else {
                DeliveryStatus::Delivered
            },
            remote_id,
            parts: total,
        })
    }

    /// A reqwest error without its URL, with its causes, scrubbed.
    pub(crate) fn describe(&self, e: reqwest::Error) -> String {
        let e = e.without_url();
        let mut text = if e.is_timeout() {
            format!("request timed out after {:?}", self.policy.timeout)
        } else {
            e.to_string()
        };
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let s_text = s.to_string();
            if !text.contains(&s_text) {
                text.push_str(": ");
                text.push_str(&s_text);
            }
            source = s.source();
        }
        self.scrubber.scrub(&text)
    }
}

/// The usual reading of an HTTP status: 5xx and 408 retryable, 429 rate limited (with the
/// given wait), other 4xx permanent with `reason`.
pub(crate) fn verdict_for_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    code: Option<i64>,
    reason: String,
) -> Verdict {
    if status == StatusCode::TOO_MANY_REQUESTS {
        Verdict::RateLimited {
            retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
        }
    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        Verdict::Retryable(format!("{status}: {reason}"))
    } else {
        Verdict::Permanent {
            status: Some(status.as_u16()),
            code,
            reason,
        }
    }
}

/// A header holding seconds (`Retry-After: 65`, `X-RateLimit-Reset-After: 64.57`).
pub(crate) fn header_seconds(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let v = headers
        .get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()?;
    seconds(v)
}

pub(crate) fn seconds(v: f64) -> Option<Duration> {
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v.min(86_400.0 * 7.0)))
}

/// At most `limit` characters of a short answer body, for error messages.
pub(crate) fn snippet(body: &str, limit: usize) -> String {
    let body = body.trim();
    if body.is_empty() {
        return "(empty answer)".to_string();
    }
    truncate_chars(body, limit).0
}

// ---------------------------------------------------------------------------------------
// Text limits

/// The ellipsis appended to cut text (one character).
pub const ELLIPSIS: char = '…';

/// Unicode scalar values: how Discord and Slack count ("characters").
pub(crate) fn count_chars(s: &str) -> usize {
    s.chars().count()
}

/// UTF-16 code units: how Telegram counts message length.
pub(crate) fn count_utf16(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `s` cut to at most `limit` characters, the last being `…` when cut; and whether it was cut.
pub(crate) fn truncate_chars(s: &str, limit: usize) -> (String, bool) {
    truncate_by(s, limit, |_| 1)
}

/// Like [`truncate_chars`] with a per-character weight (1 for chars, UTF-16 units for
/// Telegram).
pub(crate) fn truncate_by(s: &str, limit: usize, weight: impl Fn(char) -> usize) -> (String, bool) {
    let total: usize = s.chars().map(&weight).sum();
    if total <= limit {
        return (s.to_string(), false);
    }
    if limit == 0 {
        return (String::new(), true);
    }
    let budget = limit - weight(ELLIPSIS);
    let mut used = 0;
    let mut out = String::new();
    for c in s.chars() {
        let w = weight(c);
        if used + w > budget {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push(ELLIPSIS);
    (out, true)
}

/// Splits `s` into pieces whose weight is at most `first_limit` (the first piece) and
/// `limit` (the others), preferring to cut after a line break, then after a space, within
/// the last quarter of a piece. Concatenating the pieces gives `s` back exactly.
pub(crate) fn split_by(
    s: &str,
    first_limit: usize,
    limit: usize,
    weight: impl Fn(char) -> usize,
) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = s;
    let mut cap = first_limit.max(1);
    while !rest.is_empty() {
        let mut used = 0;
        let mut end = rest.len();
        let mut last_newline = None;
        let mut last_space = None;
        for (i, c) in rest.char_indices() {
            let w = weight(c);
            if used + w > cap {
                end = i;
                break;
            }
            used += w;
            let after = i + c.len_utf8();
            if c == '\n' {
                last_newline = Some((after, used));
            } else if c.is_whitespace() {
                last_space = Some((after, used));
            }
        }
        if end < rest.len() {
            let min_used = cap - cap / 4;
            let cut = [last_newline, last_space]
                .into_iter()
                .flatten()
                .find(|&(_, u)| u >= min_used)
                .map(|(i, _)| i);
            if let Some(i) = cut {
                end = i;
            }
            if end == 0 {
                // A single character heavier than the cap: take it anyway.
                end = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
        }
        pieces.push(rest[..end].to_string());
        rest = &rest[end..];
        cap = limit.max(1);
    }
    pieces
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for Unix milliseconds (ISO 8601, what Discord expects).
pub(crate) fn iso8601_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

#[cfg(test)]
mod loopback_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_keeps_the_webhook_id_and_hides_the_token() {
        assert_eq!(
            redact("https://discord.com/api/webhooks/12345/abcDEF-token_x"),
            "https://discord.com/api/webhooks/12345/****"
        );
        assert_eq!(
            redact("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.com/services/T000/B000/****"
        );
        assert_eq!(
            redact("https://user:pw@example.com:8443/hook?token=abc"),
            "https://example.com:8443/****?****"
        );
        assert_eq!(
            redact("123456:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bo"),
            "123456:****"
        );
        assert_eq!(redact("hunter2"), "****");
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "****");
    }

    #[test]
    fn scrubber_removes_url_and_token() {
        let s = Scrubber::new(&["https://discord.com/api/webhooks/1/tok-en-value"]);
        assert_eq!(
            s.scrub("x https://discord.com/api/webhooks/1/tok-en-value y"),
            "x **** y"
        );
        assert_eq!(s.scrub("token tok-en-value"), "token ****");
    }

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
    fn truncate_counts_chars_and_adds_ellipsis() {
        assert_eq!(truncate_chars("abc", 3), ("abc".to_string(), false));
        assert_eq!(truncate_chars("abcd", 3), ("ab…".to_string(), true));
        assert_eq!(truncate_chars("ééééé", 4), ("ééé…".to_string(), true));
    }

    #[test]
    fn iso8601_formats_known_instants() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(1_499_794_027_299), "2017-07-11T17:27:07.299Z");
        assert_eq!(iso8601_utc(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
    }
}
