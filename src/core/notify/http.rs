//! Shared HTTP delivery: one place for timeouts, rate-limit waits and error mapping.

use super::*;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use std::time::Duration;

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
    truncate(body, limit).0
}
