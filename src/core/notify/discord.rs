//! Discord webhook: `POST {webhook_url}?wait=true` with `content` and `embeds`, or
//! `multipart/form-data` with `payload_json` and `files[0]` when the message has an
//! attachment.
//!
//! A message without fields, colour or attachment is sent as plain `content`
//! (`**title**` then the body), split into messages of at most 2,000 characters. Any other
//! message becomes embeds: title (256), description (4,096 per embed; a longer body goes on
//! in further embeds), fields (name 256, value 1,024, 25 per embed), footer `fks · kind`
//! (2,048) and the message's timestamp; at most 10 embeds and 6,000 characters of embed text
//! per message, further embeds in further messages. Discord counts Unicode characters (code
//! points), and so does this module. An urgent message starts with the configured mention,
//! and `allowed_mentions` lets only that mention ping (never an `@everyone` in the body).

use super::Notifier;
use super::{
    Http, Message, NotifyError, Policy, Scrubber, Secret, Verdict, count_chars, header_seconds,
    iso8601_utc, redact, seconds, snippet, split_by, truncate, verdict_for_status,
};
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub const NAME: &str = "discord";

pub const CONTENT_LIMIT: usize = 2000;
pub const EMBED_TITLE_LIMIT: usize = 256;
pub const EMBED_DESCRIPTION_LIMIT: usize = 4096;
pub const EMBED_FIELDS_LIMIT: usize = 25;
pub const FIELD_NAME_LIMIT: usize = 256;
pub const FIELD_VALUE_LIMIT: usize = 1024;
pub const FOOTER_LIMIT: usize = 2048;
pub const AUTHOR_LIMIT: usize = 256;
/// Title + description + field names and values + footer + author, over all embeds of one
/// message.
pub const EMBED_TOTAL_LIMIT: usize = 6000;
pub const EMBEDS_PER_MESSAGE: usize = 10;
pub const USERNAME_LIMIT: usize = 80;
/// Largest attachment sent (Discord's default upload limit, 10 MiB).
pub const ATTACHMENT_LIMIT_BYTES: usize = 10 * 1024 * 1024;

/// `[notifications.discord]`. `DISCORD_WEBHOOK_URL` alone is enough.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// `https://discord.com/api/webhooks/{id}/{token}`; may carry `?thread_id=`.
    pub webhook_url: Secret,
    /// Put in front of urgent messages: `<@&ROLE_ID>`, `<@USER_ID>`, `@here`, `@everyone`.
    #[serde(default)]
    pub mention: Option<String>,
    /// Overrides the webhook's display name.
    #[serde(default)]
    pub username: Option<String>,
}

impl DiscordConfig {
    pub fn new(webhook_url: impl Into<Secret>) -> Self {
        DiscordConfig {
            webhook_url: webhook_url.into(),
            mention: None,
            username: None,
        }
    }
}

/// The JSON payloads one message becomes, in sending order.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub payloads: Vec<Value>,
    /// Some text was cut to fit a limit.
    pub truncated: bool,
}

#[derive(Debug)]
pub struct Discord {
    config: DiscordConfig,
    /// The webhook URL with `wait=true`.
    endpoint: Secret,
    policy: Policy,
    scrubber: Scrubber,
}

impl Discord {
    pub fn new(config: DiscordConfig, policy: Policy) -> Result<Self, NotifyError> {
        let raw = config.webhook_url.expose().trim();
        let mut url = reqwest::Url::parse(raw).map_err(|e| {
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
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "wait")
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair("wait", "true");
        // The endpoint only adds `wait=true`, which is not secret: scrub the configured URL.
        let scrubber = Scrubber::new(&[raw]);
        Ok(Discord {
            endpoint: Secret::new(url.to_string()),
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
        if let Some(a) = &msg.attachment
            && a.bytes.len() > ATTACHMENT_LIMIT_BYTES
        {
            return Err(NotifyError::Permanent {
                channel: NAME.to_string(),
                status: None,
                code: None,
                reason: format!(
                    "attachment {} is {} bytes, over Discord's {} byte limit",
                    a.filename,
                    a.bytes.len(),
                    ATTACHMENT_LIMIT_BYTES
                ),
                parts_sent: 0,
            });
        }
        let rendered = self.render(msg);
        if rendered.payloads.is_empty() {
            return Err(NotifyError::Permanent {
                channel: NAME.to_string(),
                status: None,
                code: None,
                reason: "message has no text to send".to_string(),
                parts_sent: 0,
            });
        }
        let parts: Vec<(usize, &Value)> = rendered.payloads.iter().enumerate().collect();
        let http = Http {
            channel: NAME,
            policy: self.policy,
            scrubber: &self.scrubber,
        };
        http.deliver(
            &parts,
            first_part,
            rendered.truncated,
            |(index, payload)| {
                let request = client.post(self.endpoint.expose());
                match (&msg.attachment, *index) {
                    (Some(a), 0) => {
                        let file = Part::bytes(a.bytes.clone()).file_name(attachment_name(a));
                        let file = file
                            .mime_str(&a.content_type)
                            .or_else(|_| {
                                Part::bytes(a.bytes.clone())
                                    .file_name(attachment_name(a))
                                    .mime_str("application/octet-stream")
                            })
                            .map_err(|e| NotifyError::config(NAME, e.without_url().to_string()))?;
                        let json_part = Part::text(payload.to_string())
                            .mime_str("application/json")
                            .map_err(|e| NotifyError::config(NAME, e.without_url().to_string()))?;
                        let form = Form::new()
                            .part("payload_json", json_part)
                            .part("files[0]", file);
                        Ok(request.multipart(form))
                    }
                    _ => Ok(request.json(payload)),
                }
            },
            judge,
        )
        .await
    }

    /// The payloads for `msg`, without the attachment bytes (they go in `files[0]` of the
    /// first request).
    pub fn render(&self, msg: &Message) -> Rendered {
        let mention = if msg.urgent {
            self.config
                .mention
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
        } else {
            None
        };
        let embed_mode = !msg.fields.is_empty() || msg.color.is_some() || msg.attachment.is_some();
        let (mut payloads, truncated) = if embed_mode {
            render_embeds(msg, mention)
        } else {
            (render_plain(msg, mention), false)
        };
        let mut truncated = truncated;
        let username = self
            .config
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        for (i, p) in payloads.iter_mut().enumerate() {
            let obj = p.as_object_mut().expect("payloads are objects");
            if let Some(u) = username {
                let (u, cut) = truncate(u, USERNAME_LIMIT);
                truncated |= cut;
                obj.insert("username".into(), Value::String(u));
            }
            let has_mention = i == 0 && mention.is_some();
            obj.insert(
                "allowed_mentions".into(),
                allowed_mentions(if has_mention { mention } else { None }),
            );
            if i == 0
                && let Some(a) = &msg.attachment
            {
                obj.insert(
                    "attachments".into(),
                    json!([{ "id": 0, "filename": attachment_name(a) }]),
                );
            }
        }
        Rendered {
            payloads,
            truncated,
        }
    }
}

/// Plain text: `**title**\nbody` split at 2,000 characters; the mention leads the first
/// message.
fn render_plain(msg: &Message, mention: Option<&str>) -> Vec<Value> {
    let title = msg.title.trim();
    let mut text = String::new();
    if !title.is_empty() {
        text.push_str(&format!("**{title}**"));
        if !msg.body.is_empty() {
            text.push('\n');
        }
    }
    text.push_str(&msg.body);
    let prefix = mention.map(|m| format!("{m}\n")).unwrap_or_default();
    let first_limit = CONTENT_LIMIT.saturating_sub(count_chars(&prefix));
    let mut pieces: Vec<String> = split_by(&text, first_limit, CONTENT_LIMIT, |_| 1)
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .collect();
    if pieces.is_empty() && !prefix.is_empty() {
        pieces.push(String::new());
    }
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let content = if i == 0 {
                format!("{prefix}{piece}")
            } else {
                piece
            };
            json!({ "content": content })
        })
        .collect()
}

/// Characters an embed counts toward the 6,000 limit.
fn embed_len(e: &Map<String, Value>) -> usize {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, count_chars);
    let mut n = s(e.get("title")) + s(e.get("description"));
    n += s(e.get("footer").and_then(|f| f.get("text")));
    n += s(e.get("author").and_then(|a| a.get("name")));
    if let Some(fields) = e.get("fields").and_then(Value::as_array) {
        for f in fields {
            n += s(f.get("name")) + s(f.get("value"));
        }
    }
    n
}

fn render_embeds(msg: &Message, mention: Option<&str>) -> (Vec<Value>, bool) {
    let mut truncated = false;
    let color = msg.color.unwrap_or(if msg.urgent {
        super::COLOR_RED
    } else {
        msg.kind.default_color()
    });
    let footer = format!("fks · {}", msg.kind);
    let (footer, cut) = truncate(&footer, FOOTER_LIMIT);
    truncated |= cut;
    // Every embed keeps room for the footer, which goes on the last one.
    let budget = EMBED_TOTAL_LIMIT - count_chars(&footer);

    let mut embeds: Vec<Map<String, Value>> = Vec::new();
    let mut first = Map::new();
    first.insert("color".into(), json!(color));
    let title = msg.title.trim();
    if !title.is_empty() {
        let (t, cut) = truncate(title, EMBED_TITLE_LIMIT);
        truncated |= cut;
        first.insert("title".into(), Value::String(t));
    }
    if let Some(ms) = msg.created_at_ms {
        first.insert("timestamp".into(), Value::String(iso8601_utc(ms)));
    }
    if let Some(a) = &msg.attachment
        && a.is_image()
    {
        first.insert(
            "image".into(),
            json!({ "url": format!("attachment://{}", attachment_name(a)) }),
        );
    }
    let description: Vec<String> = split_by(
        &msg.body,
        EMBED_DESCRIPTION_LIMIT,
        EMBED_DESCRIPTION_LIMIT,
        |_| 1,
    )
    .into_iter()
    .filter(|p| !p.trim().is_empty())
    .collect();
    let mut chunks = description.into_iter();
    if let Some(d) = chunks.next() {
        first.insert("description".into(), Value::String(d));
    }
    embeds.push(first);
    for d in chunks {
        let mut e = Map::new();
        e.insert("color".into(), json!(color));
        e.insert("description".into(), Value::String(d));
        embeds.push(e);
    }

    for (name, value) in &msg.fields {
        let name = if name.trim().is_empty() {
            "\u{200b}"
        } else {
            name.as_str()
        };
        let value = if value.trim().is_empty() {
            "\u{200b}"
        } else {
            value.as_str()
        };
        let (name, cut_n) = truncate(name, FIELD_NAME_LIMIT);
        let (value, cut_v) = truncate(value, FIELD_VALUE_LIMIT);
        truncated |= cut_n | cut_v;
        let add = count_chars(&name) + count_chars(&value);
        let last = embeds.last_mut().expect("at least one embed");
        let n_fields = last
            .get("fields")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if n_fields >= EMBED_FIELDS_LIMIT || embed_len(last) + add > budget {
            let mut e = Map::new();
            e.insert("color".into(), json!(color));
            e.insert("fields".into(), json!([]));
            embeds.push(e);
        }
        let last = embeds.last_mut().expect("at least one embed");
        let fields = last.entry("fields").or_insert_with(|| json!([]));
        if let Value::Array(a) = fields {
            a.push(json!({ "name": name, "value": value, "inline": true }));
        }
    }
    if let Some(last) = embeds.last_mut() {
        last.insert("footer".into(), json!({ "text": footer }));
    }

    // Pack embeds into messages: at most 10 and 6,000 characters each.
    let mut messages: Vec<Vec<Map<String, Value>>> = vec![Vec::new()];
    let mut total = 0;
    for e in embeds {
        let len = embed_len(&e);
        let current = messages.last().expect("at least one message");
        if !current.is_empty()
            && (current.len() >= EMBEDS_PER_MESSAGE || total + len > EMBED_TOTAL_LIMIT)
        {
            messages.push(Vec::new());
            total = 0;
        }
        total += len;
        messages.last_mut().expect("at least one message").push(e);
    }
    let payloads = messages
        .into_iter()
        .enumerate()
        .map(|(i, embeds)| {
            let mut p = json!({ "embeds": embeds });
            if i == 0
                && let Some(m) = mention
            {
                let (m, _) = truncate(m, CONTENT_LIMIT);
                p["content"] = Value::String(m);
            }
            p
        })
        .collect();
    (payloads, truncated)
}

/// Only the configured mention may ping: role and user ids in `<@&…>`/`<@…>`, and
/// `everyone` for `@here`/`@everyone`.
fn allowed_mentions(mention: Option<&str>) -> Value {
    let mut parse: Vec<&str> = Vec::new();
    let mut roles: Vec<String> = Vec::new();
    let mut users: Vec<String> = Vec::new();
    if let Some(m) = mention {
        if m.contains("@everyone") || m.contains("@here") {
            parse.push("everyone");
        }
        let mut rest = m;
        while let Some(start) = rest.find("<@") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('>') else { break };
            let inner = &after[..end];
            if let Some(id) = inner.strip_prefix('&') {
                if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
                    roles.push(id.to_string());
                }
            } else {
                let id = inner.strip_prefix('!').unwrap_or(inner);
                if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
                    users.push(id.to_string());
                }
            }
            rest = &after[end + 1..];
        }
    }
    let mut v = json!({ "parse": parse });
    if !roles.is_empty() {
        v["roles"] = json!(roles);
    }
    if !users.is_empty() {
        v["users"] = json!(users);
    }
    v
}

/// A file name `attachment://` can reference: ASCII letters, digits, `.`, `_`, `-`.
pub fn attachment_name(a: &super::Attachment) -> String {
    let name: String = a
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.trim_matches(['.', '_']).is_empty() {
        "attachment.bin".to_string()
    } else {
        name
    }
}

#[derive(Deserialize)]
struct RateLimitBody {
    retry_after: Option<f64>,
    #[serde(default)]
    global: bool,
}

fn judge(status: StatusCode, headers: &HeaderMap, body: &str) -> Verdict {
    if status.is_success() {
        let remote_id = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| match v.get("id") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            });
        let exhausted = headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0");
        let pause = if exhausted {
            header_seconds(headers, "x-ratelimit-reset-after")
        } else {
            None
        };
        return Verdict::Sent { remote_id, pause };
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let parsed = serde_json::from_str::<RateLimitBody>(body).ok();
        let from_body = parsed
            .as_ref()
            .and_then(|b| b.retry_after)
            .and_then(seconds);
        let retry_after = from_body
            .or_else(|| header_seconds(headers, "x-ratelimit-reset-after"))
            .or_else(|| header_seconds(headers, "retry-after"));
        if parsed.is_some_and(|b| b.global) {
            tracing::warn!(channel = NAME, "global rate limit");
        }
        return verdict_for_status(status, retry_after, None, String::new());
    }
    let (code, reason) = describe_error(body);
    verdict_for_status(status, None, code, reason)
}

/// Discord's error body as one line: `Invalid Form Body (code 50035): embeds.0.title: Must
/// be 256 or fewer in length.`; also the legacy v6 shape `{"content": ["…"]}`.
fn describe_error(body: &str) -> (Option<i64>, String) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return (None, snippet(body, 200));
    };
    let code = v.get("code").and_then(Value::as_i64);
    let message = v.get("message").and_then(Value::as_str);
    let mut details = Vec::new();
    match (message, v.get("errors")) {
        (Some(_), Some(errors)) => flatten_errors(errors, "", &mut details),
        (Some(_), None) => {}
        (None, _) => flatten_errors(&v, "", &mut details),
    }
    let mut reason = message
        .unwrap_or("Discord rejected the message")
        .to_string();
    if let Some(c) = code {
        reason.push_str(&format!(" (code {c})"));
    }
    if !details.is_empty() {
        reason.push_str(": ");
        reason.push_str(&details.join("; "));
    }
    (code, reason)
}

fn flatten_errors(v: &Value, path: &str, out: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "_errors" {
                    for e in child.as_array().into_iter().flatten() {
                        let msg = e
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("invalid");
                        let at = if path.is_empty() { "body" } else { path };
                        out.push(format!("{at}: {msg}"));
                    }
                } else if k != "code" || !path.is_empty() {
                    flatten_errors(child, &join(k), out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) => out.push(format!(
                        "{}: {s}",
                        if path.is_empty() { "body" } else { path }
                    )),
                    other => flatten_errors(other, path, out),
                }
            }
        }
        Value::String(s) if !path.is_empty() => out.push(format!("{path}: {s}")),
        _ => {}
    }
}

impl Notifier for Discord {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The webhook URL, redacted.
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

    #[test]
    fn error_bodies_read_as_one_line() {
        let (code, r) = describe_error(
            r#"{"code": 50035, "errors": {"embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."}]}}}}, "message": "Invalid Form Body"}"#,
        );
        assert_eq!(code, Some(50035));
        assert_eq!(
            r,
            "Invalid Form Body (code 50035): embeds.0.title: Must be 256 or fewer in length."
        );
        let (code, r) = describe_error(r#"{"content": ["Must be 2000 or fewer in length."]}"#);
        assert_eq!(code, None);
        assert_eq!(
            r,
            "Discord rejected the message: content: Must be 2000 or fewer in length."
        );
        let (_, r) =
            describe_error(r#"{"message": "Cannot send an empty message", "code": 50006}"#);
        assert_eq!(r, "Cannot send an empty message (code 50006)");
        let (_, r) = describe_error("<html>502 Bad Gateway</html>");
        assert_eq!(r, "<html>502 Bad Gateway</html>");
    }

    #[test]
    fn allowed_mentions_follow_the_mention() {
        assert_eq!(allowed_mentions(None), json!({"parse": []}));
        assert_eq!(
            allowed_mentions(Some("<@&123> <@!456>")),
            json!({"parse": [], "roles": ["123"], "users": ["456"]})
        );
        assert_eq!(
            allowed_mentions(Some("@here")),
            json!({"parse": ["everyone"]})
        );
    }

    #[test]
    fn rate_limit_prefers_body_then_reset_after_then_retry_after() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "1337".parse().unwrap());
        h.insert("x-ratelimit-reset-after", "64.57".parse().unwrap());
        let body = r#"{"message": "The resource is being rate limited.", "retry_after": 1336.57, "global": false}"#;
        let wait = |v: Verdict| match v {
            Verdict::RateLimited { retry_after } => retry_after.as_secs_f64(),
            other => panic!("{other:?}"),
        };
        assert!((wait(judge(StatusCode::TOO_MANY_REQUESTS, &h, body)) - 1336.57).abs() < 1e-6);
        assert!((wait(judge(StatusCode::TOO_MANY_REQUESTS, &h, "")) - 64.57).abs() < 1e-6);
        h.remove("x-ratelimit-reset-after");
        assert!((wait(judge(StatusCode::TOO_MANY_REQUESTS, &h, "")) - 1337.0).abs() < 1e-6);
    }
}
