//! Every channel against a loopback server answering in the service's own format: wiremock
//! for the HTTP services, a small hand-written SMTP server for e-mail. No test reaches the
//! internet. Fixture bodies are written here in the shapes Discord, Slack and Telegram use.

use super::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const DISCORD_TOKEN: &str = "Zx9-SECRET_discord_token_Qq81";
const TELEGRAM_TOKEN: &str = "987654:AAH-SECRET_telegram_token_0x";
const SLACK_SECRET: &str = "SECRETslackPathPart42";
const HMAC_KEY: &str = "SECRET-hmac-key-7";
const SMTP_PASSWORD: &str = "SECRET-smtp-password";

/// A Discord message object as `?wait=true` returns it (shape of the API's Message).
fn discord_message_object(id: &str, content: &str) -> String {
    json!({
        "type": 0, "content": content, "mentions": [], "mention_roles": [], "attachments": [],
        "embeds": [], "timestamp": "2024-03-01T09:30:00.000000+00:00", "edited_timestamp": null,
        "flags": 0, "components": [], "id": id, "channel_id": "1100000000000000001",
        "author": {"bot": true, "id": "1200000000000000002", "username": "fks", "avatar": null,
                   "discriminator": "0000"},
        "pinned": false, "mention_everyone": false, "tts": false,
        "webhook_id": "1200000000000000002"
    })
    .to_string()
}

const DISCORD_UNKNOWN_WEBHOOK: &str = r#"{"message": "Unknown Webhook", "code": 10015}"#;
const DISCORD_INVALID_TOKEN: &str = r#"{"message": "Invalid Webhook Token", "code": 50027}"#;
const DISCORD_FORM_BODY: &str = r#"{"code": 50035, "errors": {"embeds": {"0": {"description": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 4096 or fewer in length."}]}}}}, "message": "Invalid Form Body"}"#;

fn provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn client() -> reqwest::Client {
    provider();
    reqwest::Client::builder()
        .build()
        .expect("client builds with the ring provider")
}

fn fast_policy() -> Policy {
    Policy {
        timeout: Duration::from_secs(5),
        max_rate_limit_wait: Duration::from_secs(2),
        max_attempts: 5,
    }
}

fn discord_url(server: &MockServer) -> String {
    format!("{}/api/webhooks/112233445566/{DISCORD_TOKEN}", server.uri())
}

fn discord(server: &MockServer, mention: Option<&str>) -> Discord {
    let mut cfg = DiscordConfig::new(discord_url(server));
    cfg.mention = mention.map(str::to_string);
    cfg.username = Some("fks".to_string());
    Discord::new(cfg, fast_policy()).expect("valid config")
}

fn discord_path() -> String {
    format!("/api/webhooks/112233445566/{DISCORD_TOKEN}")
}

async fn discord_ok(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(discord_path()))
        .and(query_param("wait", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            discord_message_object("1300000000000000003", "x"),
            "application/json",
        ))
        .mount(server)
        .await;
}

fn json_bodies(requests: &[Request]) -> Vec<Value> {
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("JSON body"))
        .collect()
}

/// Words and line breaks, `n` characters, some of them multi-byte.
fn long_text(n: usize) -> String {
    let words = [
        "BTCUSDT", "filled", "é", "at", "67000.01", "🚀", "stop", "moved",
    ];
    let mut s = String::new();
    let mut i = 0;
    while s.chars().count() < n {
        s.push_str(words[i % words.len()]);
        s.push(if i % 11 == 10 { '\n' } else { ' ' });
        i += 1;
    }
    s.chars().take(n).collect()
}

// --------------------------------------------------------------------------------------
// Discord

#[tokio::test]
async fn discord_plain_message_has_content_and_no_pings() {
    let server = MockServer::start().await;
    discord_ok(&server).await;
    let msg = Message::new(
        MessageKind::Trade,
        "Bought BTCUSDT",
        "0.01 @ 67000.01 @everyone",
    );
    let d = discord(&server, Some("<@&555>"))
        .send(&client(), &msg)
        .await
        .unwrap();
    assert_eq!(d.channel, "discord");
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(d.remote_id.as_deref(), Some("1300000000000000003"));
    assert_eq!(d.parts, 1);
    let req = server.received_requests().await.unwrap();
    assert_eq!(req.len(), 1);
    assert_eq!(
        req[0].headers.get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(
        json_bodies(&req)[0],
        json!({
            "content": "**Bought BTCUSDT**\n0.01 @ 67000.01 @everyone",
            "username": "fks",
            "allowed_mentions": {"parse": []}
        })
    );
}

#[tokio::test]
async fn discord_long_content_is_split_into_three_messages_losing_nothing() {
    let server = MockServer::start().await;
    discord_ok(&server).await;
    let body = long_text(5000);
    let msg = Message::new(MessageKind::Report, "", body.clone());
    let d = discord(&server, None).send(&client(), &msg).await.unwrap();
    assert_eq!(d.parts, 3);
    let bodies = json_bodies(&server.received_requests().await.unwrap());
    assert_eq!(bodies.len(), 3);
    let contents: Vec<&str> = bodies
        .iter()
        .map(|b| b["content"].as_str().unwrap())
        .collect();
    for c in &contents {
        assert!(c.chars().count() <= 2000, "{} chars", c.chars().count());
        assert!(!c.trim().is_empty());
    }
    assert_eq!(contents.concat(), body);

    // No place to break: hard cuts at exactly 2,000 characters (é is 2 bytes, 1 character).
    let solid = "é".repeat(5000);
    discord(&server, None)
        .send(
            &client(),
            &Message::new(MessageKind::Report, "", solid.clone()),
        )
        .await
        .unwrap();
    let bodies = json_bodies(&server.received_requests().await.unwrap()[3..]);
    let sizes: Vec<usize> = bodies
        .iter()
        .map(|b| b["content"].as_str().unwrap().chars().count())
        .collect();
    assert_eq!(sizes, [2000, 2000, 1000]);
}

#[tokio::test]
async fn discord_embeds_respect_every_limit() {
    let server = MockServer::start().await;
    discord_ok(&server).await;
    let body = long_text(9000);
    let mut msg = Message::new(MessageKind::Report, "T".repeat(300), body.clone())
        .color(COLOR_RED)
        .created_at_ms(1_709_285_400_000);
    for i in 0..30 {
        msg = msg.field(format!("field {i} {}", "n".repeat(300)), "v".repeat(1500));
    }
    let d = discord(&server, None).send(&client(), &msg).await.unwrap();
    assert_eq!(d.status, DeliveryStatus::DeliveredTruncated);
    let bodies = json_bodies(&server.received_requests().await.unwrap());
    assert_eq!(bodies.len(), d.parts);
    assert!(bodies.len() >= 2);
    let mut description = String::new();
    let mut field_names = Vec::new();
    for b in &bodies {
        let embeds = b["embeds"].as_array().unwrap();
        assert!(!embeds.is_empty() && embeds.len() <= 10);
        let mut total = 0;
        for e in embeds {
            let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
            assert!(len(&e["title"]) <= 256);
            assert!(len(&e["description"]) <= 4096);
            assert!(len(&e["footer"]["text"]) <= 2048);
            assert_eq!(e["color"], json!(COLOR_RED));
            let fields = e["fields"].as_array().cloned().unwrap_or_default();
            assert!(fields.len() <= 25);
            for f in &fields {
                assert!(len(&f["name"]) <= 256);
                assert!(len(&f["value"]) <= 1024);
                assert!(f["value"].as_str().unwrap().ends_with('…'));
                field_names.push(f["name"].as_str().unwrap().to_string());
            }
            total += len(&e["title"])
                + len(&e["description"])
                + len(&e["footer"]["text"])
                + fields
                    .iter()
                    .map(|f| len(&f["name"]) + len(&f["value"]))
                    .sum::<usize>();
            description.push_str(e["description"].as_str().unwrap_or_default());
        }
        assert!(total <= 6000, "{total}");
    }
    let first = &bodies[0]["embeds"][0];
    let title = first["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), 256);
    assert!(title.ends_with('…'));
    assert_eq!(first["timestamp"], "2024-03-01T09:30:00.000Z");
    assert_eq!(
        description, body,
        "the body is split across embeds, not lost"
    );
    assert_eq!(field_names.len(), 30, "every field is sent, in order");
    for (i, n) in field_names.iter().enumerate() {
        assert!(n.starts_with(&format!("field {i} ")), "{n}");
    }
    let last_embeds = bodies.last().unwrap()["embeds"].as_array().unwrap();
    assert_eq!(
        last_embeds.last().unwrap()["footer"]["text"],
        "fks · report"
    );
}

#[tokio::test]
async fn discord_429_waits_retry_after_from_the_body_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .insert_header("X-RateLimit-Limit", "5")
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset-After", "0.05")
                .insert_header("X-RateLimit-Bucket", "f00dcafe")
                .insert_header("X-RateLimit-Scope", "user")
                .set_body_raw(
                    r#"{"message": "You are being rate limited.", "retry_after": 0.05, "global": false}"#,
                    "application/json",
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    discord_ok(&server).await;
    let msg = Message::new(MessageKind::Alert, "Stop hit", "ETHUSDT");
    let (ch, client) = (discord(&server, None), client());
    let started = Instant::now();
    let d = ch.send(&client, &msg).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(900),
        "waited the body's 0.05 s, not Retry-After: {elapsed:?}"
    );
}

#[tokio::test]
async fn discord_429_longer_than_the_max_wait_leaves_the_message_pending() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "65")
                .insert_header("X-RateLimit-Global", "true")
                .insert_header("X-RateLimit-Scope", "global")
                .set_body_raw(
                    r#"{"message": "You are being rate limited.", "retry_after": 64.57, "global": true}"#,
                    "application/json",
                ),
        )
        .mount(&server)
        .await;
    let msg = Message::new(MessageKind::Alert, "Stop hit", "ETHUSDT");
    let started = Instant::now();
    let err = discord(&server, None)
        .send(&client(), &msg)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "did not wait 64 s"
    );
    assert!(err.is_retryable());
    match &err {
        NotifyError::RateLimited {
            retry_after_s,
            parts_sent,
            ..
        } => {
            assert!((retry_after_s - 64.57).abs() < 1e-6);
            assert_eq!(*parts_sent, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn discord_unknown_webhook_is_a_permanent_error_with_discords_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(404).set_body_raw(DISCORD_UNKNOWN_WEBHOOK, "application/json"),
        )
        .mount(&server)
        .await;
    let msg = Message::new(MessageKind::Trade, "t", "b");
    let err = discord(&server, None)
        .send(&client(), &msg)
        .await
        .unwrap_err();
    assert!(err.is_permanent());
    assert!(
        matches!(
            err,
            NotifyError::Permanent {
                status: Some(404),
                code: Some(10015),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "discord: rejected (404): Unknown Webhook (code 10015)"
    );
    assert!(!format!("{err} {err:?}").contains(DISCORD_TOKEN));
}

#[tokio::test]
async fn discord_invalid_token_and_form_errors_are_permanent_and_readable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401).set_body_raw(DISCORD_INVALID_TOKEN, "application/json"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_raw(DISCORD_FORM_BODY, "application/json"),
        )
        .mount(&server)
        .await;
    let msg = Message::new(MessageKind::Trade, "t", "b");
    let ch = discord(&server, None);
    let e1 = ch.send(&client(), &msg).await.unwrap_err();
    assert_eq!(
        e1.to_string(),
        "discord: rejected (401): Invalid Webhook Token (code 50027)"
    );
    let e2 = ch.send(&client(), &msg).await.unwrap_err();
    assert!(e2.is_permanent());
    assert_eq!(
        e2.to_string(),
        "discord: rejected (400): Invalid Form Body (code 50035): embeds.0.description: Must be 4096 or fewer in length."
    );
}

#[tokio::test]
async fn discord_5xx_is_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(502).set_body_raw("<html>502 Bad Gateway</html>", "text/html"),
        )
        .mount(&server)
        .await;
    let err = discord(&server, None)
        .send(&client(), &Message::new(MessageKind::Trade, "t", "b"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Retryable { .. }), "{err:?}");
}

#[tokio::test]
async fn discord_report_uploads_the_png_as_multipart() {
    let server = MockServer::start().await;
    discord_ok(&server).await;
    let png: Vec<u8> = [
        &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A][..],
        &[0, 0, 0, 13, b'I', b'H', b'D', b'R', 0xFF, 0x00, 0x7F],
    ]
    .concat();
    let msg = Message::new(MessageKind::Report, "Daily report", "PnL **+12.5 USDT**")
        .color(pnl_color(12.5))
        .field("Return", "+1.2%")
        .attachment(Attachment::new(
            "equity curve.png",
            "image/png",
            png.clone(),
        ));
    let d = discord(&server, None).send(&client(), &msg).await.unwrap();
    assert_eq!(d.parts, 1);
    let req = server.received_requests().await.unwrap();
    assert_eq!(req.len(), 1);
    let ct = req[0]
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let raw = &req[0].body;
    let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"name=\"payload_json\""));
    assert!(has(b"name=\"files[0]\"; filename=\"equity_curve.png\""));
    assert!(has(b"Content-Type: image/png"));
    assert!(has(&png), "the PNG bytes are in the body");
    // The payload_json part: between its headers and the next boundary.
    let text = String::from_utf8_lossy(raw);
    let start = text.find("name=\"payload_json\"").unwrap();
    let json_start = start + text[start..].find("\r\n\r\n").unwrap() + 4;
    let json_end = json_start + text[json_start..].find("\r\n--").unwrap();
    let payload: Value = serde_json::from_str(&text[json_start..json_end]).unwrap();
    assert_eq!(
        payload["attachments"],
        json!([{"id": 0, "filename": "equity_curve.png"}])
    );
    let embed = &payload["embeds"][0];
    assert_eq!(embed["image"]["url"], "attachment://equity_curve.png");
    assert_eq!(embed["color"], json!(COLOR_GREEN));
    assert_eq!(embed["title"], "Daily report");
    assert_eq!(embed["description"], "PnL **+12.5 USDT**");
    assert_eq!(
        embed["fields"],
        json!([{"name": "Return", "value": "+1.2%", "inline": true}])
    );
}

#[tokio::test]
async fn discord_urgent_message_mentions_the_configured_role_only() {
    let server = MockServer::start().await;
    discord_ok(&server).await;
    let ch = discord(&server, Some("<@&123456789012345678>"));
    let urgent = Message::new(MessageKind::Alert, "Drawdown 12%", "limit 10%").urgent(true);
    ch.send(&client(), &urgent).await.unwrap();
    ch.send(&client(), &urgent.clone().urgent(false))
        .await
        .unwrap();
    let embedded = urgent.clone().color(COLOR_RED);
    ch.send(&client(), &embedded).await.unwrap();
    let bodies = json_bodies(&server.received_requests().await.unwrap());
    assert_eq!(
        bodies[0]["content"],
        "<@&123456789012345678>\n**Drawdown 12%**\nlimit 10%"
    );
    assert_eq!(
        bodies[0]["allowed_mentions"],
        json!({"parse": [], "roles": ["123456789012345678"]})
    );
    assert_eq!(bodies[1]["content"], "**Drawdown 12%**\nlimit 10%");
    assert_eq!(bodies[1]["allowed_mentions"], json!({"parse": []}));
    assert_eq!(bodies[2]["content"], "<@&123456789012345678>");
    assert_eq!(bodies[2]["embeds"][0]["title"], "Drawdown 12%");
    assert_eq!(
        bodies[2]["allowed_mentions"]["roles"],
        json!(["123456789012345678"])
    );
}

#[tokio::test]
async fn discord_resend_from_a_part_skips_the_parts_already_delivered() {
    let server = MockServer::start().await;
    discord_ok(&server).await;
    let body = long_text(5000);
    let msg = Message::new(MessageKind::Report, "", body.clone());
    let ch: Channel = Box::new(discord(&server, None));
    let d = ch.send_from(&client(), &msg, 1).await.unwrap();
    assert_eq!(d.parts, 3);
    let bodies = json_bodies(&server.received_requests().await.unwrap());
    assert_eq!(bodies.len(), 2);
    let all = ch.send(&client(), &msg).await.unwrap();
    let every = json_bodies(&server.received_requests().await.unwrap());
    assert_eq!(all.parts, 3);
    assert_eq!(every[0..2], every[3..5], "the same parts in the same order");
}

#[tokio::test]
async fn request_timeout_is_a_retryable_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(800)))
        .mount(&server)
        .await;
    let mut policy = fast_policy();
    policy.timeout = Duration::from_millis(150);
    let ch = Discord::new(DiscordConfig::new(discord_url(&server)), policy).unwrap();
    let err = ch
        .send(&client(), &Message::new(MessageKind::Trade, "t", "b"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Retryable { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(!err.to_string().contains(DISCORD_TOKEN));
}

// --------------------------------------------------------------------------------------
// Telegram

fn telegram(server: &MockServer) -> Telegram {
    let mut cfg = TelegramConfig::new(TELEGRAM_TOKEN, "-1001234567890");
    cfg.base_url = Some(server.uri());
    Telegram::new(cfg, fast_policy()).unwrap()
}

fn telegram_ok(message_id: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        json!({"ok": true, "result": {"message_id": message_id,
            "sender_chat": {"id": -1001234567890_i64, "title": "fks alerts", "type": "channel"},
            "chat": {"id": -1001234567890_i64, "title": "fks alerts", "type": "channel"},
            "date": 1709285400, "text": "x"}})
        .to_string(),
        "application/json",
    )
}

#[tokio::test]
async fn telegram_sends_html_with_escaping() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TELEGRAM_TOKEN}/sendMessage")))
        .respond_with(telegram_ok(77))
        .expect(1)
        .mount(&server)
        .await;
    let msg = Message::new(MessageKind::Signal, "RSI < 30 & falling", "BTCUSDT <buy>")
        .field("RSI", "28.4");
    let d = telegram(&server).send(&client(), &msg).await.unwrap();
    assert_eq!(d.remote_id.as_deref(), Some("77"));
    assert_eq!(d.parts, 1);
    let body = &json_bodies(&server.received_requests().await.unwrap())[0];
    assert_eq!(
        body,
        &json!({
            "chat_id": "-1001234567890",
            "text": "<b>RSI &lt; 30 &amp; falling</b>\n\nBTCUSDT &lt;buy&gt;\n\nRSI: 28.4",
            "parse_mode": "HTML",
            "disable_web_page_preview": true
        })
    );
}

#[tokio::test]
async fn telegram_429_honours_parameters_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_raw(
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}"#,
            "application/json",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(telegram_ok(78))
        .mount(&server)
        .await;
    let started = Instant::now();
    let d = telegram(&server)
        .send(&client(), &Message::new(MessageKind::Alert, "a", "b"))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(d.remote_id.as_deref(), Some("78"));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    // Longer than the max wait: pending, one request.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_raw(
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let err = telegram(&server)
        .send(&client(), &Message::new(MessageKind::Alert, "a", "b"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.to_string(), "telegram: rate limited, retry after 5.00s");
}

fn unescape_html(s: &str) -> String {
    s.replace("<b>", "")
        .replace("</b>", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn telegram_splits_at_4096_utf16_units() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(telegram_ok(1))
        .mount(&server)
        .await;
    let body = long_text(9000).replace("at", "a&t<");
    let msg = Message::new(MessageKind::Report, "Weekly", body.clone());
    let d = telegram(&server).send(&client(), &msg).await.unwrap();
    let bodies = json_bodies(&server.received_requests().await.unwrap());
    assert_eq!(bodies.len(), d.parts);
    assert!(d.parts >= 3);
    let visible: Vec<String> = bodies
        .iter()
        .map(|b| unescape_html(b["text"].as_str().unwrap()))
        .collect();
    for v in &visible {
        assert!(
            v.encode_utf16().count() <= 4096,
            "{}",
            v.encode_utf16().count()
        );
    }
    assert!(visible[0].starts_with("Weekly\n\n"));
    let rebuilt = format!(
        "{}{}",
        &visible[0]["Weekly\n\n".len()..],
        visible[1..].concat()
    );
    assert_eq!(rebuilt, body);

    // Telegram counts UTF-16 units: 🚀 is two. The first message is full to the unit.
    let rockets = "🚀".repeat(3000);
    telegram(&server)
        .send(
            &client(),
            &Message::new(MessageKind::Report, "Weekly", rockets.clone()),
        )
        .await
        .unwrap();
    let bodies = json_bodies(&server.received_requests().await.unwrap()[d.parts..]);
    let visible: Vec<String> = bodies
        .iter()
        .map(|b| unescape_html(b["text"].as_str().unwrap()))
        .collect();
    let units: Vec<usize> = visible.iter().map(|v| v.encode_utf16().count()).collect();
    assert_eq!(units, [4096, 1912]);
}

#[tokio::test]
async fn telegram_sends_a_png_with_send_photo() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TELEGRAM_TOKEN}/sendMessage")))
        .respond_with(telegram_ok(5))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TELEGRAM_TOKEN}/sendPhoto")))
        .respond_with(telegram_ok(6))
        .expect(1)
        .mount(&server)
        .await;
    let png = b"\x89PNG\r\n\x1a\nfake-png-bytes".to_vec();
    let msg = Message::new(MessageKind::Report, "Daily", "PnL +3").attachment(Attachment::new(
        "chart.png",
        "image/png",
        png.clone(),
    ));
    let d = telegram(&server).send(&client(), &msg).await.unwrap();
    assert_eq!(d.parts, 2);
    assert_eq!(d.remote_id.as_deref(), Some("5"));
    let req = server.received_requests().await.unwrap();
    let raw = &req[1].body;
    let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"name=\"photo\"; filename=\"chart.png\""));
    assert!(has(b"name=\"chat_id\"\r\n\r\n-1001234567890"));
    assert!(has(&png));
}

#[tokio::test]
async fn telegram_chat_not_found_is_permanent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let err = telegram(&server)
        .send(&client(), &Message::new(MessageKind::Alert, "a", "b"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "telegram: rejected (400): Bad Request: chat not found"
    );
}

// --------------------------------------------------------------------------------------
// Slack

fn slack(server: &MockServer) -> Slack {
    let mut cfg = SlackConfig::new(format!(
        "{}/services/T0001/B0002/{SLACK_SECRET}",
        server.uri()
    ));
    cfg.mention = Some("<!here>".to_string());
    Slack::new(cfg, fast_policy()).unwrap()
}

#[tokio::test]
async fn slack_ok_answer_is_delivered_with_blocks() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/services/T0001/B0002/{SLACK_SECRET}")))
        .respond_with(ResponseTemplate::new(200).set_body_raw("ok", "text/html"))
        .expect(1)
        .mount(&server)
        .await;
    let msg = Message::new(
        MessageKind::Alert,
        "Stop hit",
        "**ETHUSDT** closed <at> 3,100 & done",
    )
    .urgent(true)
    .field("PnL", "-12.3");
    let d = slack(&server).send(&client(), &msg).await.unwrap();
    assert_eq!(d.status, DeliveryStatus::Delivered);
    let body = &json_bodies(&server.received_requests().await.unwrap())[0];
    assert_eq!(
        body,
        &json!({
            "text": "<!here> *Stop hit*\n*ETHUSDT* closed &lt;at&gt; 3,100 &amp; done",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Stop hit", "emoji": true}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "<!here> *ETHUSDT* closed &lt;at&gt; 3,100 &amp; done"}},
                {"type": "section", "fields": [{"type": "mrkdwn", "text": "*PnL*\n-12.3"}]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "fks · alert"}]}
            ]
        })
    );
}

#[tokio::test]
async fn slack_invalid_payload_is_permanent_and_429_waits() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_raw("invalid_payload", "text/html"))
        .mount(&server)
        .await;
    let err = slack(&server)
        .send(&client(), &Message::new(MessageKind::Alert, "a", "b"))
        .await
        .unwrap_err();
    assert!(err.is_permanent());
    assert_eq!(err.to_string(), "slack: rejected (400): invalid_payload");

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_raw("rate_limited", "text/html"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("ok", "text/html"))
        .mount(&server)
        .await;
    slack(&server)
        .send(&client(), &Message::new(MessageKind::Alert, "a", "b"))
        .await
        .unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn slack_truncates_text_at_40000() {
    let ch = Slack::new(
        SlackConfig::new("https://hooks.slack.com/services/T/B/X"),
        Policy::default(),
    )
    .unwrap();
    let (p, truncated) = ch.render(&Message::new(MessageKind::Report, "r", "y".repeat(50_000)));
    assert!(truncated);
    let text = p["text"].as_str().unwrap();
    assert_eq!(text.chars().count(), 40_000);
    assert!(text.ends_with('…'));
    assert!(p["blocks"].as_array().unwrap().len() <= 50);
}

// --------------------------------------------------------------------------------------
// Generic webhook

/// Accepts a request only if `X-Fks-Signature` is the HMAC of the raw body under `key`
/// and the timestamp header matches the signed `sent_at`.
struct SignedBy(&'static str);

impl wiremock::Match for SignedBy {
    fn matches(&self, request: &Request) -> bool {
        use hmac::{Hmac, KeyInit, Mac};
        let Some(sig) = request
            .headers
            .get("x-fks-signature")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some(hex_sig) = sig.strip_prefix("sha256=") else {
            return false;
        };
        let Ok(expected) = hex::decode(hex_sig) else {
            return false;
        };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.0.as_bytes()).unwrap();
        mac.update(&request.body);
        if mac.verify_slice(&expected).is_err() {
            return false;
        }
        let ts = request
            .headers
            .get("x-fks-timestamp")
            .and_then(|v| v.to_str().ok());
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        ts.and_then(|t| t.parse::<u64>().ok()) == body["sent_at"].as_u64()
    }
}

#[tokio::test]
async fn webhook_signature_verifies_on_the_server() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(SignedBy(HMAC_KEY))
        .respond_with(
            ResponseTemplate::new(202).set_body_raw(r#"{"id":"evt_1"}"#, "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_raw("bad signature", "text/plain"))
        .with_priority(10)
        .mount(&server)
        .await;
    let url = format!("{}/hooks/fks?token=SECRETquerytoken", server.uri());
    let msg = Message::new(MessageKind::Trade, "Sold", "x")
        .field("qty", "0.1")
        .attachment(Attachment::new("a.csv", "text/csv", b"a,b\n1,2\n".to_vec()));
    let good = Webhook::new(
        WebhookConfig::new(url.as_str(), Some(Secret::new(HMAC_KEY))),
        fast_policy(),
    )
    .unwrap();
    let d = good.send(&client(), &msg).await.unwrap();
    assert_eq!(d.remote_id.as_deref(), Some("evt_1"));
    let body = &json_bodies(&server.received_requests().await.unwrap())[0];
    assert_eq!(body["kind"], "trade");
    assert_eq!(body["fields"], json!([{"name": "qty", "value": "0.1"}]));
    assert_eq!(body["attachment"]["data_base64"], "YSxiCjEsMgo=");

    let wrong = Webhook::new(
        WebhookConfig::new(url.as_str(), Some(Secret::new("other-key"))),
        fast_policy(),
    )
    .unwrap();
    let err = wrong.send(&client(), &msg).await.unwrap_err();
    assert_eq!(err.to_string(), "webhook: rejected (401): bad signature");
}

// --------------------------------------------------------------------------------------
// E-mail

/// A one-connection SMTP server speaking plain SMTP (no TLS). It answers `rcpt_reply` to
/// RCPT TO and returns the whole conversation the client sent.
fn smtp_sink(rcpt_reply: &'static str) -> (u16, std::thread::JoinHandle<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut seen = String::new();
        let mut in_data = false;
        out.write_all(b"220 sink.test ESMTP ready\r\n").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            seen.push_str(&line);
            let cmd = line.trim_end().to_ascii_uppercase();
            let reply: &str = if in_data {
                if cmd == "." {
                    in_data = false;
                    "250 2.0.0 Ok: queued as 4F2A1B\r\n"
                } else {
                    continue;
                }
            } else if cmd.starts_with("EHLO") {
                "250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
            } else if cmd.starts_with("MAIL FROM") {
                "250 2.1.0 Ok\r\n"
            } else if cmd.starts_with("RCPT TO") {
                rcpt_reply
            } else if cmd == "DATA" {
                in_data = true;
                "354 End data with <CR><LF>.<CR><LF>\r\n"
            } else if cmd == "QUIT" {
                let _ = out.write_all(b"221 2.0.0 Bye\r\n");
                break;
            } else if cmd == "RSET" || cmd == "NOOP" {
                "250 2.0.0 Ok\r\n"
            } else {
                "502 5.5.2 Error: command not recognized\r\n"
            };
            if out.write_all(reply.as_bytes()).is_err() {
                break;
            }
        }
        seen
    });
    (port, handle)
}

fn email_config(port: u16, security: SmtpSecurity) -> EmailConfig {
    let mut cfg = EmailConfig::new(
        "127.0.0.1",
        "fks <fks@example.test>",
        vec![
            "ops@example.test".to_string(),
            "cto@example.test".to_string(),
        ],
    );
    cfg.port = Some(port);
    cfg.security = security;
    cfg
}

#[tokio::test]
async fn email_reaches_a_loopback_smtp_server() {
    let (port, sink) = smtp_sink("250 2.1.5 Ok\r\n");
    let ch = Email::new(email_config(port, SmtpSecurity::None), fast_policy()).unwrap();
    let msg = Message::new(
        MessageKind::Alert,
        "Stop loss hit on ETHUSDT",
        "Closed 0.5 ETH at 3100.",
    )
    .urgent(true)
    .field("PnL", "-42.10 USDT")
    .attachment(Attachment::new(
        "fills.csv",
        "text/csv",
        b"symbol,qty\nETHUSDT,0.5\n".to_vec(),
    ));
    let ch: Channel = Box::new(ch);
    let d = ch.send(&client(), &msg).await.unwrap();
    assert_eq!(d.channel, "email");
    assert_eq!(d.remote_id.as_deref(), Some("2.0.0 Ok: queued as 4F2A1B"));
    let seen = tokio::task::spawn_blocking(move || sink.join().unwrap())
        .await
        .unwrap();
    assert!(seen.contains("MAIL FROM:<fks@example.test>"), "{seen}");
    assert!(seen.contains("RCPT TO:<ops@example.test>"));
    assert!(seen.contains("RCPT TO:<cto@example.test>"));
    assert!(
        seen.contains("Subject: [URGENT] Stop loss hit on ETHUSDT"),
        "{seen}"
    );
    assert!(seen.contains("Closed 0.5 ETH at 3100."));
    assert!(seen.contains("PnL: -42.10 USDT"));
    assert!(seen.contains("multipart/mixed"));
    assert!(seen.contains("filename=\"fills.csv\""));
}

#[tokio::test]
async fn email_rejected_recipient_is_permanent_and_a_busy_server_retryable() {
    let (port, sink) = smtp_sink("550 5.1.1 <ops@example.test>: Recipient address rejected\r\n");
    let ch = Email::new(email_config(port, SmtpSecurity::None), fast_policy()).unwrap();
    let err = ch
        .send(&client(), &Message::new(MessageKind::Trade, "t", "b"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NotifyError::Permanent {
                code: Some(550),
                ..
            }
        ),
        "{err:?}"
    );
    drop(tokio::task::spawn_blocking(move || sink.join()).await);

    let (port, sink) = smtp_sink("451 4.3.0 Try again later\r\n");
    let ch = Email::new(email_config(port, SmtpSecurity::None), fast_policy()).unwrap();
    let err = ch
        .send(&client(), &Message::new(MessageKind::Trade, "t", "b"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    drop(tokio::task::spawn_blocking(move || sink.join()).await);
}

#[tokio::test]
async fn email_starttls_never_falls_back_to_plain_text() {
    // The sink offers no STARTTLS: a required upgrade must fail before MAIL FROM.
    let (port, sink) = smtp_sink("250 2.1.5 Ok\r\n");
    let mut cfg = email_config(port, SmtpSecurity::Starttls);
    cfg.username = Some("fks".to_string());
    cfg.password = Some(Secret::new(SMTP_PASSWORD));
    let ch = Email::new(cfg, fast_policy()).unwrap();
    let err = ch
        .send(&client(), &Message::new(MessageKind::Trade, "t", "b"))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert!(!format!("{err} {err:?} {ch:?}").contains(SMTP_PASSWORD));
    let seen = tokio::task::spawn_blocking(move || sink.join().unwrap())
        .await
        .unwrap();
    assert!(!seen.contains("MAIL FROM"), "{seen}");
    assert!(!seen.contains("AUTH"), "{seen}");
}

#[test]
fn email_tls_and_starttls_transports_configure() {
    provider();
    for security in [SmtpSecurity::Tls, SmtpSecurity::Starttls] {
        let mut cfg = EmailConfig::new(
            "smtp.example.test",
            "fks@example.test",
            vec!["a@example.test".into()],
        );
        cfg.security = security;
        let ch = Email::new(cfg, Policy::default()).unwrap();
        let port = security.default_port();
        assert!(
            ch.target().contains(&format!(":{port} → a@example.test")),
            "{}",
            ch.target()
        );
    }
    let bad = EmailConfig::new(
        "smtp.example.test",
        "not an address",
        vec!["a@example.test".into()],
    );
    assert!(matches!(
        Email::new(bad, Policy::default()),
        Err(NotifyError::Config { .. })
    ));
}

// --------------------------------------------------------------------------------------
// Redaction

#[tokio::test]
async fn no_url_or_token_appears_in_any_error_or_debug_output() {
    // A closed port: connection errors carry the URL unless it is removed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{closed}");
    // And a server that echoes the request URL in its error body.
    let echo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(|req: &Request| {
            ResponseTemplate::new(400)
                .set_body_raw(format!("bad request to {}", req.url), "text/plain")
        })
        .mount(&echo)
        .await;
    let secrets = [
        DISCORD_TOKEN,
        TELEGRAM_TOKEN,
        SLACK_SECRET,
        HMAC_KEY,
        "SECRETquerytoken",
    ];
    let mut texts = Vec::new();
    for base in [base.clone(), echo.uri()] {
        let config = NotifyConfig {
            file: None,
            cooldown_minutes: None,
            timeout_s: Some(5.0),
            max_rate_limit_wait_s: Some(1.0),
            discord: Some(DiscordConfig::new(format!(
                "{base}/api/webhooks/1/{DISCORD_TOKEN}"
            ))),
            slack: Some(SlackConfig::new(format!(
                "{base}/services/T/B/{SLACK_SECRET}"
            ))),
            telegram: Some(TelegramConfig {
                base_url: Some(base.clone()),
                ..TelegramConfig::new(TELEGRAM_TOKEN, "42")
            }),
            webhook: Some(WebhookConfig::new(
                format!("{base}/hook?token=SECRETquerytoken"),
                Some(Secret::new(HMAC_KEY)),
            )),
            email: None,
        };
        texts.push(format!("{config:?}"));
        let channels = config.channels().unwrap();
        assert_eq!(channels.len(), 4);
        for ch in &channels {
            texts.push(format!("{ch:?}"));
            texts.push(ch.target());
            let err = ch
                .send(&client(), &Message::new(MessageKind::Alert, "t", "b"))
                .await
                .unwrap_err();
            if base.contains(&closed.to_string()) {
                assert!(matches!(err, NotifyError::Retryable { .. }), "{err:?}");
            } else {
                assert!(err.is_permanent(), "{err:?}");
                assert!(err.to_string().contains("bad request to"), "{err}");
            }
            texts.push(err.to_string());
            texts.push(format!("{err:?}"));
            texts.push(format!(
                "{:#}",
                anyhow::Error::new(err).context("send notification")
            ));
        }
    }
    // Bad URLs in config: the error shows the redacted form.
    for bad in [
        format!("discord.com/api/webhooks/1/{DISCORD_TOKEN}"),
        format!("ftp://x/api/webhooks/1/{DISCORD_TOKEN}"),
    ] {
        let err = Discord::new(DiscordConfig::new(bad), Policy::default()).unwrap_err();
        texts.push(err.to_string());
    }
    for t in &texts {
        for s in secrets {
            assert!(!t.contains(s), "secret {s} leaked in: {t}");
        }
    }
    assert!(
        texts.iter().any(|t| t.contains("/api/webhooks/1/****")),
        "redacted targets are shown"
    );
}

#[test]
fn notify_config_reads_from_json_like_toml_would() {
    // serde_json stands in for toml here: the same Deserialize impls.
    let cfg: NotifyConfig = serde_json::from_value(json!({
        "timeout_s": 3,
        "discord": {"webhook_url": "https://discord.com/api/webhooks/1/tok", "mention": "@here"},
        "telegram": {"bot_token": "1:abc", "chat_id": -100123},
        "email": {"host": "smtp.example.test", "security": "tls", "from": "a@b.test", "to": ["c@d.test"]}
    }))
    .unwrap();
    assert_eq!(cfg.policy().timeout, Duration::from_secs(3));
    assert_eq!(cfg.telegram.as_ref().unwrap().chat_id.0, "-100123");
    assert_eq!(cfg.email.as_ref().unwrap().security, SmtpSecurity::Tls);
    provider();
    let names: Vec<&str> = cfg.channels().unwrap().iter().map(Channel::name).collect();
    assert_eq!(names, ["discord", "telegram", "email"]);
    let debug = format!("{cfg:?}");
    assert!(
        !debug.contains("/1/tok") && !debug.contains("1:abc"),
        "{debug}"
    );
}

#[tokio::test]
async fn transport_errors_carry_no_url_even_before_scrubbing() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = client();
    let nothing = Scrubber::default();
    let http = Http {
        channel: "test",
        policy: fast_policy(),
        scrubber: &nothing,
    };
    let err = client
        .post(format!(
            "http://127.0.0.1:{closed}/api/webhooks/1/{DISCORD_TOKEN}"
        ))
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{err}").contains(DISCORD_TOKEN),
        "reqwest's own text has the URL"
    );
    let text = http.describe(err);
    assert!(!text.contains(DISCORD_TOKEN), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
}

#[tokio::test]
async fn discord_waits_for_an_exhausted_bucket_between_parts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Limit", "5")
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "1709285400.250")
                .insert_header("X-RateLimit-Reset-After", "0.25")
                .insert_header("X-RateLimit-Bucket", "f00dcafe")
                .set_body_raw(
                    discord_message_object("1300000000000000009", "x"),
                    "application/json",
                ),
        )
        .mount(&server)
        .await;
    let (ch, client) = (discord(&server, None), client());
    let msg = Message::new(MessageKind::Report, "", "x".repeat(4000));
    let started = Instant::now();
    let d = ch.send(&client, &msg).await.unwrap();
    assert_eq!(d.parts, 2);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(500),
        "no wait after the last part: {elapsed:?}"
    );
}
