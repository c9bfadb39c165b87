//! Slack incoming webhook: one `POST` of `{"text": …, "blocks": […]}` per message.
//!
//! `text` (the notification and fallback text) is cut at 40,000 characters; the blocks are
//! a `header` (150), `section`s of `mrkdwn` text of at most 3,000 characters each, sections
//! of up to 10 fields (2,000 each) and a `context` line `fks · kind`, at most 50 blocks.
//! Slack answers `ok` as plain text, or an error word (`invalid_payload`, `no_text`,
//! `invalid_blocks`, `channel_not_found`, …) with a 4xx status, or 429 with `Retry-After`.

use super::Notifier;
use super::{
    Http, Message, NotifyError, Policy, Scrubber, Secret, Verdict, header_seconds, redact, snippet,
    split_by, truncate, truncate_by, verdict_for_status,
};
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

pub const NAME: &str = "slack";

pub const TEXT_LIMIT: usize = 40_000;
pub const SECTION_TEXT_LIMIT: usize = 3000;
pub const SECTION_FIELDS_LIMIT: usize = 10;
pub const FIELD_TEXT_LIMIT: usize = 2000;
pub const HEADER_LIMIT: usize = 150;
pub const BLOCKS_LIMIT: usize = 50;

/// `[notifications.slack]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// `https://hooks.slack.com/services/T…/B…/…`
    pub webhook_url: Secret,
    /// Put in front of urgent messages, in Slack syntax: `<!here>`, `<!channel>`,
    /// `<!subteam^ID>`, `<@USER_ID>`.
    #[serde(default)]
    pub mention: Option<String>,
}

impl SlackConfig {
    pub fn new(webhook_url: impl Into<Secret>) -> Self {
        SlackConfig {
            webhook_url: webhook_url.into(),
            mention: None,
        }
    }
}

#[derive(Debug)]
pub struct Slack {
    config: SlackConfig,
    policy: Policy,
    scrubber: Scrubber,
}

impl Slack {
    pub fn new(config: SlackConfig, policy: Policy) -> Result<Self, NotifyError> {
        let raw = config.webhook_url.expose().trim();
        let url = reqwest::Url::parse(raw).map_err(|e| {
            NotifyError::config(
                NAME,
                format!("webhook_url {} is not a URL: {e}", redact(raw)),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(NotifyError::config(
                NAME,
                format!("webhook_url {} is not an http(s) URL", redact(raw)),
            ));
        }
        let scrubber = Scrubber::new(&[raw]);
        Ok(Slack {
            config,
            policy,
            scrubber,
        })
    }

    async fn deliver(
        &self,
        client: &reqwest::Client,
        msg: &Message,
        first_part: usize,
    ) -> Result<super::Delivery, NotifyError> {
        let (payload, truncated) = self.render(msg);
        let http = Http {
            channel: NAME,
            policy: self.policy,
            scrubber: &self.scrubber,
        };
        http.deliver(
            &[payload],
            first_part,
            truncated,
            |p| Ok(client.post(self.config.webhook_url.expose().trim()).json(p)),
            judge,
        )
        .await
    }

    /// The payload for `msg` and whether anything was cut. Attachments are not sent (an
    /// incoming webhook cannot upload files); the file name is listed in the context line.
    pub fn render(&self, msg: &Message) -> (Value, bool) {
        let mut truncated = false;
        let mention = if msg.urgent {
            self.config
                .mention
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
        } else {
            None
        };
        let body = to_mrkdwn(&msg.body);
        let title = msg.title.trim();

        // Fallback text: mention, *title*, body.
        let mut text = String::new();
        if let Some(m) = mention {
            text.push_str(m);
            text.push(' ');
        }
        if !title.is_empty() {
            text.push_str(&format!("*{}*", escape(title)));
            if !body.is_empty() {
                text.push('\n');
            }
        }
        let (body_cut, cut) = truncate_by(
            &body,
            TEXT_LIMIT.saturating_sub(text.chars().count()),
            escaped_len,
        );
        truncated |= cut;
        text.push_str(&escape(&body_cut));
        if text.trim().is_empty() {
            text = format!("fks {}", msg.kind);
        }

        let mut blocks: Vec<Value> = Vec::new();
        if !title.is_empty() {
            let (t, cut) = truncate(title, HEADER_LIMIT);
            truncated |= cut;
            blocks.push(
                json!({"type": "header", "text": {"type": "plain_text", "text": t, "emoji": true}}),
            );
        }
        let prefix = mention.map(|m| format!("{m} ")).unwrap_or_default();
        let first_limit = SECTION_TEXT_LIMIT - prefix.chars().count();
        let pieces: Vec<String> = split_by(&body_cut, first_limit, SECTION_TEXT_LIMIT, escaped_len)
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .collect();
        if pieces.is_empty() && !prefix.is_empty() {
            blocks.push(section(prefix.trim_end().to_string()));
        }
        for (i, piece) in pieces.iter().enumerate() {
            let t = if i == 0 {
                format!("{prefix}{}", escape(piece))
            } else {
                escape(piece)
            };
            blocks.push(section(t));
        }
        for chunk in msg.fields.chunks(SECTION_FIELDS_LIMIT) {
            let fields: Vec<Value> = chunk
                .iter()
                .map(|(n, v)| {
                    let raw = format!("*{}*\n{}", escape(n), escape(&to_mrkdwn(v)));
                    let (t, cut) = truncate(&raw, FIELD_TEXT_LIMIT);
                    truncated |= cut;
                    json!({"type": "mrkdwn", "text": t})
                })
                .collect();
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        let mut context = format!("fks · {}", msg.kind);
        if let Some(a) = &msg.attachment {
            context.push_str(&format!(" · attachment {} not sent", escape(&a.filename)));
        }
        let context_block =
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]});
        if blocks.len() + 1 > BLOCKS_LIMIT {
            blocks.truncate(BLOCKS_LIMIT - 1);
            truncated = true;
        }
        blocks.push(context_block);
        (json!({"text": text, "blocks": blocks}), truncated)
    }
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// Slack's three escapes; everything else is literal mrkdwn.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Length of a character once escaped, so that limits hold after [`escape`].
fn escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    }
}

/// `**bold**` (Discord/Markdown) is `*bold*` in mrkdwn.
fn to_mrkdwn(s: &str) -> String {
    s.replace("**", "*")
}

fn judge(status: StatusCode, headers: &HeaderMap, body: &str) -> Verdict {
    if status.is_success() {
        return Verdict::Sent {
            remote_id: None,
            pause: None,
        };
    }
    let retry_after = header_seconds(headers, "retry-after");
    verdict_for_status(status, retry_after, None, snippet(body, 200))
}

impl Notifier for Slack {
    fn name(&self) -> &'static str {
        NAME
    }

    fn target(&self) -> String {
        self.config.webhook_url.redacted()
    }

    fn send_from<'a>(
        &'a self,
        client: &'a reqwest::Client,
        msg: &'a Message,
        first_part: usize,
    ) -> BoxFuture<'a, Result<super::Delivery, NotifyError>> {
        Box::pin(self.deliver(client, msg, first_part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::notify::MessageKind;

    #[test]
    fn sections_stay_within_3000_after_escaping() {
        let slack = Slack::new(
            SlackConfig::new("https://hooks.slack.com/services/T/B/X"),
            Policy::default(),
        )
        .unwrap();
        let body = "a < b & c > d\n".repeat(600); // 8,400 chars, more once escaped
        let msg = Message::new(MessageKind::Report, "Daily", body);
        let (p, truncated) = slack.render(&msg);
        assert!(!truncated);
        let sections: Vec<&str> = p["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| {
                b["text"]["text"]
                    .as_str()
                    .filter(|_| b["type"] == "section")
            })
            .collect();
        assert!(sections.len() >= 4);
        assert!(
            sections
                .iter()
                .all(|s| s.chars().count() <= SECTION_TEXT_LIMIT)
        );
        assert!(sections.iter().all(|s| !s.contains(" < ")));
    }
}
