//! `send-notifications --urgent` does what its help says on Discord: a red embed, with the
//! configured mention in front when there is one.

use crate::support::{Sandbox, rt, run_json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const DISCORD_MESSAGE: &str = r#"{"id":"1198765432109876543","type":0,"content":"x","channel_id":"1198765432100000000","author":{"id":"1198765432111111111","username":"fks","bot":true},"attachments":[],"embeds":[],"mentions":[],"mention_roles":[],"pinned":false,"mention_everyone":false,"tts":false,"timestamp":"2024-01-20T10:00:00.000000+00:00","edited_timestamp":null,"flags":0,"components":[],"webhook_id":"1198765432122222222"}"#;

/// The JSON body Discord received for one `send-notifications` run.
fn sent(mention: Option<&str>, urgent: bool) -> serde_json::Value {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(DISCORD_MESSAGE, "application/json"),
            )
            .expect(1)
            .mount(&server),
    );
    let hook = format!("{}/api/webhooks/1198765432122222222/t0ken", server.uri());
    let mut toml = format!("[notifications.discord]\nwebhook_url = \"{hook}\"\n");
    if let Some(m) = mention {
        toml.push_str(&format!("mention = \"{m}\"\n"));
    }
    let cfg = sb.write("fks.toml", &toml);
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut args = vec!["send-notifications", "--message", "BTC stop hit at 41,000"];
    if urgent {
        args.push("--urgent");
    }
    let (code, v, _) = run_json(sb.fks().args(&args));
    assert_eq!(code, 0, "{v}");
    let reqs = rt.block_on(server.received_requests()).unwrap();
    assert_eq!(reqs.len(), 1);
    serde_json::from_slice(&reqs[0].body).unwrap()
}

#[test]
fn urgent_is_red_and_mentions_when_configured() {
    const RED: u64 = 0xE7_4C_3C;
    // Without a mention: still red, which a plain message is not.
    let plain = sent(None, false);
    assert!(
        plain.get("embeds").is_none_or(|e| e[0]["color"] != RED),
        "{plain}"
    );
    let urgent = sent(None, true);
    assert_eq!(urgent["embeds"][0]["color"], RED, "{urgent}");
    assert!(
        urgent.to_string().contains("BTC stop hit at 41,000"),
        "{urgent}"
    );
    // With a mention: red, and the mention in front.
    let urgent = sent(Some("<@&123456789012345678>"), true);
    assert_eq!(urgent["embeds"][0]["color"], RED, "{urgent}");
    assert!(
        urgent["content"]
            .as_str()
            .unwrap_or_default()
            .starts_with("<@&123456789012345678>"),
        "{urgent}"
    );
    assert!(
        urgent["allowed_mentions"].is_object(),
        "the mention must be allowed to ping: {urgent}"
    );
    // Not urgent: no mention.
    let calm = sent(Some("<@&123456789012345678>"), false);
    assert!(
        !calm.to_string().contains("<@&123456789012345678>"),
        "{calm}"
    );
}
