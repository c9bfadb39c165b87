//! Telegram bot: `POST {base_url}/bot{token}/sendMessage` with `chat_id`, `text`,
//! `parse_mode = "HTML"` and `disable_web_page_preview`.
//!
//! The text is the bold title, then the body and fields, HTML-escaped. Telegram allows
//! 4,096 characters per message after entity parsing, counted in UTF-16 code units, so the
//! visible text is split at that limit (an emoji counts two). An attachment goes last, with
//! `sendPhoto` for PNG/JPEG/WebP images and `sendDocument` otherwise (multipart). Telegram
//! answers `{"ok":true,"result":{…}}` or `{"ok":false,"error_code":…,"description":…}`;
//! a 429 carries `parameters.retry_after`, which is honoured.

use super::Notifier;
use super::{
    Attachment, Http, Message, NotifyError, Policy, Scrubber, Secret, Verdict, count_utf16,
    header_seconds, redact, seconds, snippet, split_by, truncate_by, verdict_for_status,
};
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde_json::json;

pub const NAME: &str = "telegram";

pub const DEFAULT_BASE_URL: &str = "https://api.telegram.org";
/// Characters (UTF-16 code units) of one message's text after entity parsing.
pub const TEXT_LIMIT: usize = 4096;
pub const CAPTION_LIMIT: usize = 1024;
/// `sendPhoto` takes photos up to 10 MB; larger images go as documents (50 MB).
pub const PHOTO_LIMIT_BYTES: usize = 10 * 1000 * 1000;

/// `[notifications.telegram]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// `123456:AAE…` from @BotFather.
    pub bot_token: Secret,
    /// A numeric chat id (`-1001234567890`) or `@channelusername`; a TOML integer works too.
    pub chat_id: ChatId,
    /// Default `https://api.telegram.org`; tests point it at a loopback server.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Default true.
    #[serde(default)]
    pub disable_web_page_preview: Option<bool>,
}

impl TelegramConfig {
    pub fn new(bot_token: impl Into<Secret>, chat_id: impl Into<String>) -> Self {
        TelegramConfig {
            bot_token: bot_token.into(),
            chat_id: ChatId(chat_id.into()),
            base_url: None,
            disable_web_page_preview: None,
        }
    }
}

/// A chat id as Telegram takes it: the number or `@username`, kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatId(pub String);

impl<'de> Deserialize<'de> for ChatId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Int(i) => ChatId(i.to_string()),
            Raw::Text(s) => ChatId(s.trim().to_string()),
        })
    }
}

#[derive(Debug)]
pub struct Telegram {
    config: TelegramConfig,
    base_url: String,
    policy: Policy,
    scrubber: Scrubber,
}

/// One request: a text message or the attachment.
#[derive(Debug)]
enum Piece {
    Text(String),
    File,
}

impl Telegram {
    pub fn new(config: TelegramConfig, policy: Policy) -> Result<Self, NotifyError> {
        let base = config
            .base_url
            .as_deref()
            .unwrap_or(DEFAULT_BASE_URL)
            .trim()
            .trim_end_matches('/');
        let url = reqwest::Url::parse(base).map_err(|e| {
            NotifyError::config(NAME, format!("base_url {} is not a URL: {e}", redact(base)))
        })?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(NotifyError::config(
                NAME,
                format!("base_url {} is not http(s)", redact(base)),
            ));
        }
        let token = config.bot_token.expose().trim();
        if token.is_empty() || token.contains(['/', '?', '#', ' ']) {
            return Err(NotifyError::config(NAME, "bot_token is empty or malformed"));
        }
        if config.chat_id.0.is_empty() {
            return Err(NotifyError::config(NAME, "chat_id is empty"));
        }
        let scrubber = Scrubber::new(&[token]);
        Ok(Telegram {
            base_url: base.to_string(),
            config,
            policy,
            scrubber,
        })
    }

    fn method_url(&self, method: &str) -> String {
        format!(
            "{}/bot{}/{method}",
            self.base_url,
            self.config.bot_token.expose().trim()
        )
    }

    async fn deliver(
        &self,
        client: &reqwest::Client,
        msg: &Message,
        first_part: usize,
    ) -> Result<super::Delivery, NotifyError> {
        let mut parts: Vec<Piece> = self.render(msg).into_iter().map(Piece::Text).collect();
        if msg.attachment.is_some() {
            parts.push(Piece::File);
        }
        if parts.is_empty() {
            return Err(NotifyError::Permanent {
                channel: NAME.to_string(),
                status: None,
                code: None,
                reason: "message has no text to send".to_string(),
                parts_sent: 0,
            });
        }
        let preview_off = self.config.disable_web_page_preview.unwrap_or(true);
        let chat_id = self.config.chat_id.0.as_str();
        let http = Http {
            channel: NAME,
            policy: self.policy,
            scrubber: &self.scrubber,
        };
        http.deliver(
            &parts,
            first_part,
            false,
            |part| match (part, &msg.attachment) {
                (Piece::Text(text), _) => {
                    Ok(client.post(self.method_url("sendMessage")).json(&json!({
                        "chat_id": chat_id,
                        "text": text,
                        "parse_mode": "HTML",
                        "disable_web_page_preview": preview_off,
                    })))
                }
                (Piece::File, Some(a)) => {
                    let (method, field) = if as_photo(a) {
                        ("sendPhoto", "photo")
                    } else {
                        ("sendDocument", "document")
                    };
                    let file = Part::bytes(a.bytes.clone())
                        .file_name(a.filename.clone())
                        .mime_str(&a.content_type)
                        .or_else(|_| {
                            Part::bytes(a.bytes.clone())
                                .file_name(a.filename.clone())
                                .mime_str("application/octet-stream")
                        })
                        .map_err(|e| NotifyError::config(NAME, e.without_url().to_string()))?;
                    let form = Form::new()
                        .text("chat_id", chat_id.to_string())
                        .text("caption", caption(msg))
                        .text("parse_mode", "HTML")
                        .part(field, file);
                    Ok(client.post(self.method_url(method)).multipart(form))
                }
                (Piece::File, None) => unreachable!("a file part exists only with an attachment"),
            },
            judge,
        )
        .await
    }

    /// The `text` of each `sendMessage`, HTML: the first starts with the bold title.
    pub fn render(&self, msg: &Message) -> Vec<String> {
        let title = title_line(msg);
        let body = msg.text_with_fields();
        let head = if title.is_empty() {
            0
        } else {
            count_utf16(&title) + if body.trim().is_empty() { 0 } else { 2 }
        };
        let pieces: Vec<String> = split_by(
            &body,
            TEXT_LIMIT.saturating_sub(head),
            TEXT_LIMIT,
            char::len_utf16,
        )
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .collect();
        let mut out = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            if i == 0 && !title.is_empty() {
                out.push(format!("<b>{}</b>\n\n{}", escape(&title), escape(piece)));
            } else {
                out.push(escape(piece));
            }
        }
        if out.is_empty() && !title.is_empty() {
            out.push(format!("<b>{}</b>", escape(&title)));
        }
        out
    }
}

fn title_line(msg: &Message) -> String {
    let title = msg.title.trim();
    let line = match (msg.urgent, title.is_empty()) {
        (true, true) => "🚨".to_string(),
        (true, false) => format!("🚨 {title}"),
        (false, _) => title.to_string(),
    };
    truncate_by(&line, TEXT_LIMIT / 4, char::len_utf16).0
}

fn caption(msg: &Message) -> String {
    let (t, _) = truncate_by(&title_line(msg), CAPTION_LIMIT - 7, char::len_utf16);
    if t.is_empty() {
        String::new()
    } else {
        format!("<b>{}</b>", escape(&t))
    }
}

fn as_photo(a: &Attachment) -> bool {
    matches!(
        a.content_type.as_str(),
        "image/png" | "image/jpeg" | "image/webp"
    ) && a.bytes.len() <= PHOTO_LIMIT_BYTES
}

/// The escapes Telegram's HTML mode requires.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    result: Option<serde_json::Value>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<f64>,
    migrate_to_chat_id: Option<i64>,
}

fn judge(status: StatusCode, headers: &HeaderMap, body: &str) -> Verdict {
    let Ok(answer) = serde_json::from_str::<Answer>(body) else {
        if status.is_success() {
            return Verdict::Retryable(format!("unreadable answer: {}", snippet(body, 200)));
        }
        return verdict_for_status(
            status,
            header_seconds(headers, "retry-after"),
            None,
            snippet(body, 200),
        );
    };
    if answer.ok && status.is_success() {
        let remote_id = answer
            .result
            .as_ref()
            .and_then(|r| r.get("message_id"))
            .map(|id| id.to_string());
        return Verdict::Sent {
            remote_id,
            pause: None,
        };
    }
    let code = answer.error_code;
    let mut reason = answer
        .description
        .unwrap_or_else(|| "Telegram rejected the message".to_string());
    let params = answer.parameters;
    if let Some(new_id) = params.as_ref().and_then(|p| p.migrate_to_chat_id) {
        reason.push_str(&format!(" (the group moved: set chat_id = {new_id})"));
    }
    let retry_after = params
        .as_ref()
        .and_then(|p| p.retry_after)
        .and_then(seconds);
    let status = if code == Some(429) || retry_after.is_some() && !status.is_success() {
        StatusCode::TOO_MANY_REQUESTS
    } else if status.is_success() {
        // `ok:false` with 200 is not documented; read the error code instead.
        code.and_then(|c| u16::try_from(c).ok())
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST)
    } else {
        status
    };
    verdict_for_status(
        status,
        retry_after.or_else(|| header_seconds(headers, "retry-after")),
        code,
        reason,
    )
}

impl Notifier for Telegram {
    fn name(&self) -> &'static str {
        NAME
    }

    /// `https://api.telegram.org/bot123456:****` and the chat.
    fn target(&self) -> String {
        format!(
            "{}/bot{} chat {}",
            self.base_url,
            self.config.bot_token.redacted(),
            self.config.chat_id.0
        )
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

    #[test]
    fn answers_are_read() {
        let h = HeaderMap::new();
        assert_eq!(
            judge(
                StatusCode::OK,
                &h,
                r#"{"ok":true,"result":{"message_id":42,"chat":{"id":1}}}"#
            ),
            Verdict::Sent {
                remote_id: Some("42".into()),
                pause: None
            }
        );
        assert_eq!(
            judge(
                StatusCode::TOO_MANY_REQUESTS,
                &h,
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}"#
            ),
            Verdict::RateLimited {
                retry_after: std::time::Duration::from_secs(5)
            }
        );
        match judge(
            StatusCode::BAD_REQUEST,
            &h,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
        ) {
            Verdict::Permanent {
                status: Some(400),
                code: Some(400),
                reason,
            } => {
                assert_eq!(reason, "Bad Request: chat not found")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge(StatusCode::BAD_GATEWAY, &h, "<html>Bad Gateway</html>"),
            Verdict::Retryable(_)
        ));
    }
}
