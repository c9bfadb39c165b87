//! Secrets in channel settings: showing a target without its secret, scrubbing error text.

use std::fmt;

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
