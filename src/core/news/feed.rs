//! RSS (0.9x, 1.0, 2.0) and Atom feeds, parsed with feed-rs.

use super::{
    NewsError, NewsItem, Source, clean_link, fetch_body, html_to_text, item_id, summary_text,
    truncate_words,
};
use feed_rs::model::{Entry, Text};

const ACCEPT: &str =
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5";

/// Fetches and parses one feed.
pub async fn fetch(client: &reqwest::Client, source: &Source) -> Result<Vec<NewsItem>, NewsError> {
    let request = client
        .get(&source.url)
        .header(reqwest::header::ACCEPT, ACCEPT);
    let body = fetch_body(source, request).await?;
    parse_feed(source, &body)
}

/// Parses a feed document (raw bytes: the XML prolog's encoding is honoured) into items, in
/// document order, with `symbols` empty and `sentiment` 0.
///
/// Entries with neither a title, a summary nor a link are skipped. RSS and Atom are both
/// accepted whatever the source's `kind` says (feeds change format; the kind is a hint).
pub fn parse_feed(source: &Source, body: &[u8]) -> Result<Vec<NewsItem>, NewsError> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(&source.url))
        // We make our own ids; leave missing guids empty instead of inventing one.
        .id_generator(|_, _, _| String::new())
        .build();
    let feed = parser.parse(body).map_err(|e| NewsError::Parse {
        source_name: source.name.clone(),
        kind: source.kind,
        message: match e {
            feed_rs::parser::ParseFeedError::ParseError(
                feed_rs::parser::ParseErrorKind::NoFeedRoot,
            ) => "not an RSS or Atom document (no <rss>, <rdf:RDF> or <feed> root)".to_string(),
            e => e.to_string(),
        },
    })?;
    tracing::debug!(source = %source.name, format = ?feed.feed_type, entries = feed.entries.len(), "parsed feed");
    Ok(feed
        .entries
        .into_iter()
        .filter_map(|e| entry_to_item(&source.name, e))
        .collect())
}

fn text_of(t: &Option<Text>) -> String {
    t.as_ref()
        .map(|t| html_to_text(&t.content))
        .unwrap_or_default()
}

fn entry_to_item(source_name: &str, e: Entry) -> Option<NewsItem> {
    let raw_link = e
        .links
        .iter()
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .or_else(|| e.links.first())
        .map(|l| l.href.trim().to_string());
    let link = raw_link.as_deref().and_then(clean_link);
    let guid = Some(e.id.trim()).filter(|g| !g.is_empty());

    let mut summary = e
        .summary
        .as_ref()
        .map(|t| summary_text(&t.content))
        .unwrap_or_default();
    if summary.is_empty()
        && let Some(body) = e.content.as_ref().and_then(|c| c.body.as_deref())
    {
        summary = summary_text(body);
    }

    let mut title = text_of(&e.title);
    if title.is_empty() {
        title = truncate_words(&summary, 120);
    }
    if title.is_empty() && link.is_none() {
        tracing::debug!(
            source = source_name,
            guid,
            "skipping an entry with no title, summary or link"
        );
        return None;
    }

    let mut categories: Vec<String> = Vec::new();
    for c in &e.categories {
        let name = html_to_text(c.label.as_deref().unwrap_or(&c.term));
        if !name.is_empty() && !categories.contains(&name) {
            categories.push(name);
        }
    }

    Some(NewsItem {
        source: source_name.to_string(),
        id: item_id(
            source_name,
            link.as_deref().or(raw_link.as_deref()),
            guid,
            &title,
        ),
        title,
        link,
        summary,
        published_ms: e.published.or(e.updated).map(|t| t.timestamp_millis()),
        categories,
        symbols: Vec::new(),
        sentiment: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::news::test_support::{client, fixture, source};
    use crate::core::news::{SourceKind, fetch_source, item_id};
    use std::time::Duration;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    fn wire() -> Source {
        source(
            "examplewire",
            SourceKind::Rss,
            "https://news.example.com/feed/",
        )
    }

    #[test]
    fn rss2_items_are_parsed_with_clean_text_links_and_dates() {
        let items = parse_feed(&wire(), &fixture("rss2_sample.xml")).unwrap();
        assert_eq!(items.len(), 4);

        let a = &items[0];
        assert_eq!(a.source, "examplewire");
        assert_eq!(
            a.title,
            "Bitcoin Surges to All-Time High as ETF Inflows Climb"
        );
        assert_eq!(
            a.link.as_deref(),
            Some("https://news.example.com/markets/bitcoin-all-time-high/")
        );
        assert_eq!(
            a.id,
            "https://news.example.com/markets/bitcoin-all-time-high"
        );
        assert_eq!(
            a.summary,
            "Bitcoin’s price topped $69,000 & spot ETF inflows hit a record."
        );
        assert_eq!(a.published_ms, Some(ms("2024-03-05T09:58:12Z")));
        assert_eq!(a.categories, vec!["Markets", "Bitcoin"]);
        assert!(a.symbols.is_empty() && a.sentiment == 0.0);

        let b = &items[1];
        assert_eq!(
            b.link.as_deref(),
            Some("https://news.example.com/security/exchange-hack-40m")
        );
        assert_eq!(
            b.summary,
            "Attackers exploited a signing flaw; withdrawals are halted & users are told not to deposit."
        );
        assert_eq!(b.published_ms, Some(ms("2024-03-05T08:30:00Z")));

        // the WordPress footer is dropped and content:encoded is used instead
        let c = &items[2];
        assert_eq!(c.title, "Weekly Digest: What’s Next for Solana?");
        assert_eq!(
            c.summary,
            "Solana Network activity on Solana kept growing this week."
        );
        assert_eq!(c.published_ms, Some(ms("2024-03-04T17:00:00Z")));

        // no link, no date: id from the guid, hashed with the source name
        let d = &items[3];
        assert_eq!(d.link, None);
        assert_eq!(d.published_ms, None);
        assert_eq!(
            d.id,
            item_id("examplewire", None, Some("press-release-7781"), "ignored")
        );
        assert!(d.id.starts_with("sha256:"));
    }

    #[test]
    fn atom_entries_are_parsed() {
        let src = source(
            "chainblog",
            SourceKind::Atom,
            "https://blog.example.org/atom.xml",
        );
        let items = parse_feed(&src, &fixture("atom_sample.xml")).unwrap();
        assert_eq!(items.len(), 2);
        let a = &items[0];
        assert_eq!(a.title, "Ethereum Dencun upgrade goes live successfully");
        assert_eq!(
            a.link.as_deref(),
            Some("https://blog.example.org/2024/03/dencun-live")
        );
        assert_eq!(a.id, "https://blog.example.org/2024/03/dencun-live");
        assert_eq!(a.summary, "Blob transactions cut layer-2 fees sharply.");
        assert_eq!(a.published_ms, Some(ms("2024-03-05T09:00:00Z")));
        assert_eq!(a.categories, vec!["Ethereum"]);
        let b = &items[1];
        assert_eq!(b.title, "Quarterly research note");
        assert_eq!(b.link, None);
        assert_eq!(
            b.published_ms,
            Some(ms("2024-02-28T09:00:00Z")),
            "falls back to <updated>"
        );
        assert_eq!(
            b.id,
            item_id(
                "chainblog",
                None,
                Some("tag:blog.example.org,2024:post-298"),
                ""
            )
        );
        assert!(
            b.summary.contains("Fees were stable this quarter"),
            "{:?}",
            b.summary
        );
    }

    #[test]
    fn the_prolog_encoding_is_honoured() {
        let bytes = fixture("rss_latin1.xml");
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "fixture must be Latin-1 bytes"
        );
        let items = parse_feed(&wire(), &bytes).unwrap();
        assert_eq!(items[0].title, "Zürich crypto bank café opens");
        assert!(
            items[0].summary.contains("½ Preis für"),
            "{}",
            items[0].summary
        );
    }

    #[test]
    fn malformed_feeds_are_errors_naming_the_source() {
        for name in ["malformed.xml", "not_a_feed.html"] {
            let err = parse_feed(&wire(), &fixture(name)).unwrap_err();
            assert!(matches!(err, NewsError::Parse { .. }), "{name}: {err:?}");
            let msg = err.to_string();
            assert!(
                msg.contains("news source examplewire") && msg.contains("unparseable rss"),
                "{msg}"
            );
            assert!(!err.is_transient());
        }
        let err = parse_feed(&wire(), b"").unwrap_err();
        assert!(err.to_string().contains("examplewire"), "{err}");
    }

    #[tokio::test]
    async fn a_served_feed_is_fetched_newest_first_and_limited() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/feed/"))
            .and(header("user-agent", crate::core::news::USER_AGENT))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/rss+xml; charset=UTF-8")
                    .set_body_bytes(fixture("rss2_sample.xml")),
            )
            .expect(1)
            .mount(&server)
            .await;
        let src = source(
            "examplewire",
            SourceKind::Rss,
            &format!("{}/feed/", server.uri()),
        );
        let items = fetch_source(&client(), &src, 3).await.unwrap();
        let titles: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Bitcoin Surges to All-Time High as ETF Inflows Climb",
                "Exchange Hacked: $40M in Ether Drained From Hot Wallet",
                "Weekly Digest: What’s Next for Solana?",
            ]
        );
    }

    #[tokio::test]
    async fn http_errors_name_the_source_and_status() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/down"))
            .respond_with(
                ResponseTemplate::new(500).set_body_string("<h1>Internal Server Error</h1>"),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/gone"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        let down = source(
            "coindesk",
            SourceKind::Rss,
            &format!("{}/down", server.uri()),
        );
        let err = fetch_source(&client(), &down, 10).await.unwrap_err();
        assert!(
            matches!(err, NewsError::Http { status: 500, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "news source coindesk: HTTP 500: Internal Server Error"
        );
        assert!(err.is_transient());

        let gone = source(
            "coindesk",
            SourceKind::Atom,
            &format!("{}/gone", server.uri()),
        );
        let err = fetch_source(&client(), &gone, 10).await.unwrap_err();
        assert_eq!(err.to_string(), "news source coindesk: HTTP 404");
        assert!(!err.is_transient());
    }

    #[tokio::test]
    async fn a_malformed_feed_over_http_is_a_parse_error() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture("malformed.xml")))
            .mount(&server)
            .await;
        let src = source("brokenfeed", SourceKind::Rss, &server.uri());
        let err = fetch_source(&client(), &src, 10).await.unwrap_err();
        assert!(matches!(err, NewsError::Parse { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("news source brokenfeed: unparseable rss response"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_slow_source_times_out() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_bytes(fixture("rss2_sample.xml"))
                    .set_delay(Duration::from_secs(5)),
            )
            .mount(&server)
            .await;
        let mut src = source("slowfeed", SourceKind::Rss, &server.uri());
        src.timeout_secs = Some(1);
        let started = std::time::Instant::now();
        let err = fetch_source(&client(), &src, 10).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(4));
        assert_eq!(err.to_string(), "news source slowfeed: no answer within 1s");
        assert!(err.is_transient());
    }

    #[tokio::test]
    async fn an_unreachable_source_is_a_request_error_without_the_url() {
        // a port nothing listens on: bind, note it, drop the listener
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let src = source(
            "nowhere",
            SourceKind::Rss,
            &format!("http://127.0.0.1:{port}/feed?token=secret"),
        );
        let err = fetch_source(&client(), &src, 10).await.unwrap_err();
        assert!(matches!(err, NewsError::Request { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("news source nowhere: request failed"),
            "{msg}"
        );
        assert!(!msg.contains("secret"), "{msg}");
    }

    /// The three real 2019 feeds kept in shared/reference, when that folder is present.
    #[test]
    fn real_reference_feeds_parse() {
        let candidates = [
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/reference/exchange/news"),
            std::path::PathBuf::from("/work/shared/reference/exchange/news"),
        ];
        let Some(dir) = candidates.iter().find(|d| d.is_dir()) else {
            println!("skipped: reference feeds not found (looked in {candidates:?})");
            return;
        };
        let tagger = crate::core::news::SymbolTagger::defaults();
        let scorer = crate::core::news::SentimentScorer::new();
        for (file, min_items) in [
            ("coindesk_2019.rss.xml", 10),
            ("cointelegraph_2019.rss.xml", 10),
            ("cryptobriefing_2019.rss.xml", 5),
        ] {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            let name = file.split('_').next().unwrap();
            let src = source(name, SourceKind::Rss, "https://example.invalid/feed");
            let mut items = parse_feed(&src, &bytes).unwrap();
            assert!(items.len() >= min_items, "{file}: {} items", items.len());
            let mut ids = std::collections::HashSet::new();
            for it in &mut items {
                crate::core::news::annotate(it, &tagger, &scorer);
                assert!(!it.title.is_empty(), "{file}: empty title");
                assert!(
                    it.link
                        .as_deref()
                        .is_some_and(|l| l.starts_with("https://")),
                    "{file}: {:?}",
                    it.link
                );
                assert!(
                    it.published_ms.is_some_and(|t| t > 1_546_300_800_000),
                    "{file}: {:?}",
                    it.published_ms
                );
                assert!(
                    !it.summary.contains('<') || it.summary.contains("< "),
                    "{file}: html left: {}",
                    it.summary
                );
                assert!(
                    !it.summary.contains("&#") && !it.summary.contains("&amp;"),
                    "{file}: {}",
                    it.summary
                );
                assert!(
                    !it.summary.contains("appeared first on"),
                    "{file}: {}",
                    it.summary
                );
                assert!(it.summary.chars().count() <= crate::core::news::MAX_SUMMARY_CHARS);
                assert!((-1.0..=1.0).contains(&it.sentiment));
                assert!(ids.insert(it.id.clone()), "{file}: duplicate id {}", it.id);
            }
            let tagged = items.iter().filter(|i| !i.symbols.is_empty()).count();
            assert!(tagged > 0, "{file}: nothing tagged");
            println!("{file}: {} items, {tagged} tagged", items.len());
        }
    }
}
