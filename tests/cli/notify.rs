//! send-notifications through the outbox against loopback Discord and webhook servers;
//! fetch-news against loopback feeds.

use crate::support::{Sandbox, rt, run_json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DISCORD_MESSAGE: &str = r#"{"id":"1198765432109876543","type":0,"content":"x","channel_id":"1198765432100000000","author":{"id":"1198765432111111111","username":"fks","bot":true},"attachments":[],"embeds":[],"mentions":[],"mention_roles":[],"pinned":false,"mention_everyone":false,"tts":false,"timestamp":"2024-01-20T10:00:00.000000+00:00","edited_timestamp":null,"flags":0,"components":[],"webhook_id":"1198765432122222222"}"#;

fn outbox(sb: &Sandbox) -> Vec<(String, String, i64)> {
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let mut st = c.prepare("SELECT n.status, COALESCE(d.status, '-'), COALESCE(d.attempts, 0) FROM notifications n LEFT JOIN notification_deliveries d ON d.notification_id = n.id ORDER BY n.id").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn channel_down_then_up_delivers_once_and_secrets_stay_hidden() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    let hook = format!(
        "{}/api/webhooks/1198765432122222222/s3cr3t-t0ken-value",
        server.uri()
    );
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503).set_body_string("upstream connect error"))
            .mount(&server),
    );
    let (code, v, err) = run_json(sb.fks().env("DISCORD_WEBHOOK_URL", &hook).args([
        "send-notifications",
        "--message",
        "BTC stop hit",
        "--urgent",
    ]));
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["channels"]["discord"]["pending"], 1);
    assert!(!v.to_string().contains("s3cr3t"), "{v}");
    assert!(!err.contains("s3cr3t"), "{err}");
    assert!(
        v["channels"]["discord"]["target"]
            .as_str()
            .unwrap()
            .contains("****")
    );
    assert_eq!(outbox(&sb), vec![("pending".into(), "pending".into(), 1)]);

    // The channel comes back: the pending message is delivered, once.
    rt.block_on(server.reset());
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(DISCORD_MESSAGE, "application/json"),
            )
            .expect(1)
            .mount(&server),
    );
    let (code, v, _) = run_json(
        sb.fks()
            .env("DISCORD_WEBHOOK_URL", &hook)
            .arg("send-notifications"),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["channels"]["discord"]["delivered"], 1);
    let (code, v, _) = run_json(
        sb.fks()
            .env("DISCORD_WEBHOOK_URL", &hook)
            .arg("send-notifications"),
    );
    assert_eq!(code, 0);
    assert_eq!(v["channels"]["discord"]["delivered"], 0, "nothing twice");
    assert_eq!(
        outbox(&sb),
        vec![("delivered".into(), "delivered".into(), 2)]
    );
    rt.block_on(server.verify());
    // The journal holds no secret either.
    let c = rusqlite::Connection::open(&sb.db).unwrap();
    let journal: String = c
        .query_row(
            "SELECT group_concat(COALESCE(result,'') || COALESCE(error,'') || args) FROM task_runs",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!journal.contains("s3cr3t"), "{journal}");
    let body = String::from_utf8(
        rt.block_on(server.received_requests()).unwrap()[0]
            .body
            .clone(),
    )
    .unwrap();
    assert!(body.contains("BTC stop hit"), "{body}");
}

#[test]
fn dedup_key_inside_cooldown_is_recorded_not_resent() {
    let sb = Sandbox::new();
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("POST"))
            .and(path("/hook"))
            .respond_with(ResponseTemplate::new(204))
            .expect(2)
            .mount(&server),
    );
    sb.write("fks.toml", &format!("[notifications]\ncooldown_minutes = 60\n[notifications.webhook]\nurl = \"{}/hook\"\nsecret = \"k\"\n", server.uri()));
    let send = |now: &str| {
        run_json(sb.fks().env("FKS_NOW", now).args([
            "send-notifications",
            "--message",
            "risk HIGH",
            "--dedup-key",
            "risk:main",
        ]))
    };
    assert_eq!(send("2024-01-01T10:00:00Z").0, 0);
    let (code, v, _) = send("2024-01-01T10:30:00Z");
    assert_eq!(code, 0);
    assert_eq!(v["queued"]["status"], "suppressed", "{v}");
    assert_eq!(send("2024-01-01T11:30:01Z").0, 0);
    let statuses: Vec<String> = outbox(&sb).into_iter().map(|r| r.0).collect();
    assert_eq!(statuses, ["delivered", "suppressed", "delivered"]);
    rt.block_on(server.verify());
}

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Test feed</title><link>https://example.test/</link>
<item><title><![CDATA[Bitcoin surges to record high as ETF inflows soar]]></title><link>https://example.test/a?utm_source=rss</link>
<description><![CDATA[<p>BTC rallied <b>strongly</b> &amp; analysts are bullish.</p>]]></description><pubDate>Wed, 10 Jan 2024 14:00:00 +0000</pubDate><guid isPermaLink="false">a-1</guid></item>
<item><title>Ethereum exchange hacked, millions lost</title><link>https://example.test/b</link><description>A major exploit drained funds.</description><pubDate>Wed, 10 Jan 2024 12:00:00 +0000</pubDate></item>
</channel></rss>"#;

#[test]
fn fetch_news_dedups_tags_scores_and_survives_a_bad_source_sqlite() {
    fetch_news_case(&Sandbox::new());
}

#[test]
fn fetch_news_dedups_tags_scores_and_survives_a_bad_source_postgres() {
    if let Some(sb) = Sandbox::postgres() {
        fetch_news_case(&sb);
    }
}

fn fetch_news_case(sb: &Sandbox) {
    let rt = rt();
    let server = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(path("/feed.xml"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(RSS, "application/rss+xml"))
            .mount(&server)
            .await;
        Mock::given(path("/broken.xml"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw("<rss><channel><item><title>cut", "application/rss+xml"),
            )
            .mount(&server)
            .await;
    });
    sb.write(
        "fks.toml",
        &format!(
            "[[news.sources]]\nname = \"good\"\nkind = \"rss\"\nurl = \"{0}/feed.xml\"\n\n[[news.sources]]\nname = \"mirror\"\nkind = \"rss\"\nurl = \"{0}/feed.xml\"\n\n[[news.sources]]\nname = \"broken\"\nkind = \"rss\"\nurl = \"{0}/broken.xml\"\n",
            server.uri()
        ),
    );
    let (code, v, _) = run_json(sb.fks().args(["fetch-news"]));
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["results"]["broken"]["status"], "error");
    assert!(
        v["results"]["broken"]["error"]
            .as_str()
            .unwrap()
            .contains("broken")
    );
    assert_eq!(v["new"], 2, "the mirror's copies are the same items");
    let (_, v, _) = run_json(sb.fks().args(["fetch-news"]));
    assert_eq!(v["new"], 0, "dedup across runs");
    let (_, v, _) = run_json(sb.fks().args(["news", "--symbol", "BTCUSDT"]));
    assert_eq!(v["count"], 1);
    assert!(v["items"][0]["sentiment"].as_f64().unwrap() > 0.3, "{v}");
    assert_eq!(v["items"][0]["link"], "https://example.test/a");
    let (_, v, _) = run_json(sb.fks().args(["news", "--query", "hacked millions"]));
    assert_eq!(v["count"], 1);
    assert!(v["items"][0]["sentiment"].as_f64().unwrap() < -0.3, "{v}");
    assert_eq!(v["items"][0]["symbols"][0], "ETHUSDT");
    let (_, v, _) = run_json(sb.fks().args([
        "news",
        "--query",
        "\"unbalanced AND (",
        "--since",
        "2024-01-10",
    ]));
    assert_eq!(
        v["status"], "success",
        "user text never breaks the query: {v}"
    );
}
