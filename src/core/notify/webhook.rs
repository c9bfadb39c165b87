//! Generic JSON webhook: `POST {url}` with the message as JSON and, when a secret is set,
//! `X-Fks-Signature: sha256=<hex HMAC-SHA256(secret, body bytes)>` and `X-Fks-Timestamp`
//! (Unix seconds, also in the signed body as `sent_at`, so a receiver can reject replays).
//! Any 2xx is success; 429 honours `Retry-After`; other 4xx are permanent, 5xx retryable.
//!
//! Body:
//! ```json
//! {"kind":"alert","title":"…","body":"…","urgent":true,
//!  "fields":[{"name":"…","value":"…"}],"color":15158332,"created_at_ms":…,"sent_at":…,
//!  "attachment":{"filename":"chart.png","content_type":"image/png","size":1234,"data_base64":"…"}}
//! ```

use super::Notifier;
use super::{
    Http, Message, NotifyError, Policy, Scrubber, Secret, Verdict, header_seconds, redact, snippet,
    verdict_for_status,
};
use futures_util::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};

pub const NAME: &str = "webhook";
pub const SIGNATURE_HEADER: &str = "X-Fks-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Fks-Timestamp";

/// `[notifications.webhook]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: Secret,
    /// HMAC key. Without it no signature header is sent.
    #[serde(default)]
    pub secret: Option<Secret>,
}

impl WebhookConfig {
    pub fn new(url: impl Into<Secret>, secret: Option<Secret>) -> Self {
        WebhookConfig {
            url: url.into(),
            secret,
        }
    }
}

#[derive(Debug)]
pub struct Webhook {
    config: WebhookConfig,
    policy: Policy,
    scrubber: Scrubber,
}

impl Webhook {
    pub fn new(config: WebhookConfig, policy: Policy) -> Result<Self, NotifyError> {
        let raw = config.url.expose().trim();
        let url = reqwest::Url::parse(raw).map_err(|e| {
            NotifyError::config(NAME, format!("url {} is not a URL: {e}", redact(raw)))
        })?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(NotifyError::config(
                NAME,
                format!("url {} is not http(s)", redact(raw)),
            ));
        }
        let secret = config
            .secret
            .as_ref()
            .map(|s| s.expose().to_string())
            .unwrap_or_default();
        let scrubber = Scrubber::new(&[raw, &secret]);
        Ok(Webhook {
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
        let http = Http {
            channel: NAME,
            policy: self.policy,
            scrubber: &self.scrubber,
        };
        http.deliver(
            &[()],
            first_part,
            false,
            |_| {
                let sent_at = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                let body = serde_json::to_vec(&payload(msg, sent_at))
                    .expect("a JSON value always serializes");
                let mut request = client
                    .post(self.config.url.expose().trim())
                    .header(CONTENT_TYPE, "application/json")
                    .header(TIMESTAMP_HEADER, sent_at.to_string());
                if let Some(secret) = &self.config.secret {
                    request = request.header(SIGNATURE_HEADER, signature(secret.expose(), &body));
                }
                Ok(request.body(body))
            },
            judge,
        )
        .await
    }
}

/// The JSON body for `msg` sent at `sent_at` (Unix seconds).
pub fn payload(msg: &Message, sent_at: u64) -> Value {
    let fields: Vec<Value> = msg
        .fields
        .iter()
        .map(|(n, v)| json!({ "name": n, "value": v }))
        .collect();
    let attachment = msg.attachment.as_ref().map(|a| {
        json!({
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.bytes.len(),
            "data_base64": base64(&a.bytes),
        })
    });
    json!({
        "kind": msg.kind,
        "title": msg.title,
        "body": msg.body,
        "urgent": msg.urgent,
        "fields": fields,
        "color": msg.color,
        "created_at_ms": msg.created_at_ms,
        "sent_at": sent_at,
        "attachment": attachment,
    })
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`: what a receiver recomputes over the raw body
/// bytes and compares (in constant time) with the header.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Standard base64 with padding (RFC 4648).
fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn judge(status: StatusCode, headers: &HeaderMap, body: &str) -> Verdict {
    if status.is_success() {
        let remote_id = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("id").cloned())
            .map(|id| match id {
                Value::String(s) => s,
                other => other.to_string(),
            });
        return Verdict::Sent {
            remote_id,
            pause: None,
        };
    }
    verdict_for_status(
        status,
        header_seconds(headers, "retry-after"),
        None,
        snippet(body, 200),
    )
}

impl Notifier for Webhook {
    fn name(&self) -> &'static str {
        NAME
    }

    fn target(&self) -> String {
        self.config.url.redacted()
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
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, want) in cases {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn signature_matches_rfc4231_case_2() {
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
