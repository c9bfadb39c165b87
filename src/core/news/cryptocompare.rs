//! CryptoCompare's news endpoint (`GET /data/v2/news/?lang=EN`), or any service answering in
//! its shape. The API key is optional and goes in the `authorization: Apikey KEY` header,
//! never in the URL, so it cannot leak through an error message or a log line.
//!
//! Success: `{"Type":100,"Message":"News list successfully returned","Data":[{...}], ...}`.
//! Error: `{"Response":"Error","Message":"...","Type":1,"Data":{}}` (often with HTTP 200).

use super::{
    NewsError, NewsItem, Source, SourceKind, clean_link, fetch_body, html_to_text, item_id,
    summary_text,
};
use serde::Deserialize;

/// Fetches and parses the news list of one CryptoCompare-shaped source.
pub async fn fetch(client: &reqwest::Client, source: &Source) -> Result<Vec<NewsItem>, NewsError> {
    let mut request = client
        .get(&source.url)
        .query(&[("lang", "EN")])
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(key) = source.api_key.as_ref().filter(|k| !k.expose().is_empty()) {
        let mut value = reqwest::header::HeaderValue::try_from(format!("Apikey {}", key.expose()))
            .map_err(|_| {
                NewsError::Config(format!(
                    "news source {:?}: api_key contains characters not allowed in a header",
                    source.name
                ))
            })?;
        value.set_sensitive(true);
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let body = fetch_body(source, request).await?;
    parse_news(&source.name, &body)
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "Response", default)]
    response: Option<String>,
    #[serde(rename = "Message", default)]
    message: Option<String>,
    #[serde(rename = "Data", default)]
    data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct WireItem {
    #[serde(default, deserialize_with = "string_or_number")]
    id: Option<String>,
    #[serde(default)]
    guid: Option<String>,
    #[serde(default)]
    published_on: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    tags: Option<String>,
    #[serde(default)]
    categories: Option<String>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Parses a news-list answer into items, in answer order, with `symbols` empty and
/// `sentiment` 0. An error answer becomes [`NewsError::Api`] with the service's message.
pub fn parse_news(source_name: &str, body: &[u8]) -> Result<Vec<NewsItem>, NewsError> {
    let parse_err = |message: String| NewsError::Parse {
        source_name: source_name.to_string(),
        kind: SourceKind::Cryptocompare,
        message,
    };
    let env: Envelope =
        serde_json::from_slice(body).map_err(|e| parse_err(format!("invalid JSON: {e}")))?;
    if env
        .response
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("error"))
    {
        return Err(NewsError::Api {
            source_name: source_name.to_string(),
            message: env.message.unwrap_or_else(|| "no message".to_string()),
        });
    }
    let serde_json::Value::Array(data) = env.data else {
        return Err(parse_err(format!(
            "expected \"Data\" to be a list of news items{}",
            env.message
                .map(|m| format!(" (message: {m})"))
                .unwrap_or_default()
        )));
    };
    let mut items = Vec::with_capacity(data.len());
    for (i, v) in data.into_iter().enumerate() {
        let w: WireItem =
            serde_json::from_value(v).map_err(|e| parse_err(format!("news item {i}: {e}")))?;
        if let Some(item) = wire_to_item(source_name, w) {
            items.push(item);
        }
    }
    Ok(items)
}

fn split_pipes(s: Option<&str>, into: &mut Vec<String>) {
    for part in s.unwrap_or("").split('|') {
        let part = part.trim();
        if !part.is_empty() && !into.iter().any(|c| c == part) {
            into.push(part.to_string());
        }
    }
}

fn wire_to_item(source_name: &str, w: WireItem) -> Option<NewsItem> {
    let raw_link = w.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let link = raw_link.and_then(clean_link);
    let title = html_to_text(w.title.as_deref().unwrap_or(""));
    let summary = summary_text(w.body.as_deref().unwrap_or(""));
    if title.is_empty() && link.is_none() {
        tracing::debug!(source = source_name, id = ?w.id, "skipping a news item with no title or link");
        return None;
    }
    let guid = w.guid.as_deref().or(w.id.as_deref());
    let mut categories = Vec::new();
    split_pipes(w.categories.as_deref(), &mut categories);
    split_pipes(w.tags.as_deref(), &mut categories);
    Some(NewsItem {
        source: source_name.to_string(),
        id: item_id(source_name, link.as_deref().or(raw_link), guid, &title),
        title,
        link,
        summary,
        published_ms: w
            .published_on
            .filter(|s| *s > 0)
            .and_then(|s| s.checked_mul(1000)),
        categories,
        symbols: Vec::new(),
        sentiment: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::news::test_support::{client, fixture, source};
    use crate::core::news::{ApiKey, fetch_source};
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    #[test]
    fn a_news_list_is_parsed() {
        let items = parse_news("cryptocompare", &fixture("cryptocompare_news.json")).unwrap();
        assert_eq!(items.len(), 2);
        let a = &items[0];
        assert_eq!(a.source, "cryptocompare");
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
        assert_eq!(a.published_ms, Some(1_709_632_692_000));
        assert_eq!(
            a.summary,
            "Bitcoin's price topped $69,000 and spot ETF inflows hit a record on Tuesday."
        );
        assert_eq!(
            a.categories,
            vec!["BTC", "Market", "Trading", "ETF", "Markets"]
        );
        let b = &items[1];
        assert_eq!(
            b.summary,
            "Over $300M in long liquidations hit ETH and SOL traders overnight."
        );
        assert_eq!(
            b.id,
            "https://other.example.net/analysis/altcoins-liquidations"
        );
    }

    #[test]
    fn an_error_answer_is_an_api_error_with_its_message() {
        let err = parse_news("cryptocompare", &fixture("cryptocompare_error.json")).unwrap_err();
        assert!(matches!(err, NewsError::Api { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "news source cryptocompare: the API answered with an error: You are over your rate limit please upgrade your account!"
        );
    }

    #[test]
    fn unexpected_shapes_are_parse_errors() {
        for body in [
            &b"{\"Type\":100,\"Message\":\"odd\",\"Data\":{}}"[..],
            b"{\"Data\":[{\"title\":5}]}",
            b"[1,2,3]",
            b"{\"Data\":[",
            b"<html>502</html>",
        ] {
            let err = parse_news("cc", body).unwrap_err();
            assert!(
                matches!(err, NewsError::Parse { .. }),
                "{:?}: {err:?}",
                String::from_utf8_lossy(body)
            );
            assert!(
                err.to_string()
                    .starts_with("news source cc: unparseable cryptocompare response"),
                "{err}"
            );
        }
        // an empty list is fine
        assert!(
            parse_news("cc", b"{\"Type\":100,\"Data\":[]}")
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn the_api_key_goes_in_the_authorization_header_only() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/data/v2/news/"))
            .and(query_param("lang", "EN"))
            .and(header("authorization", "Apikey k-123"))
            .respond_with(
                ResponseTemplate::new(200).set_body_bytes(fixture("cryptocompare_news.json")),
            )
            .expect(1)
            .mount(&server)
            .await;
        let mut src = source(
            "cryptocompare",
            SourceKind::Cryptocompare,
            &format!("{}/data/v2/news/", server.uri()),
        );
        src.api_key = Some(ApiKey::new("k-123"));
        let items = fetch_source(&client(), &src, 1).await.unwrap();
        assert_eq!(items.len(), 1, "limit applies");
        assert_eq!(
            items[0].published_ms,
            Some(1_709_632_692_000),
            "newest first"
        );
        let req: Vec<Request> = server.received_requests().await.unwrap();
        assert!(
            !req[0].url.as_str().contains("k-123"),
            "key leaked into the URL"
        );
    }

    #[tokio::test]
    async fn without_a_key_no_authorization_header_is_sent() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(query_param("lang", "EN"))
            .respond_with(
                ResponseTemplate::new(200).set_body_bytes(fixture("cryptocompare_news.json")),
            )
            .mount(&server)
            .await;
        let src = source("cryptocompare", SourceKind::Cryptocompare, &server.uri());
        assert_eq!(fetch_source(&client(), &src, 10).await.unwrap().len(), 2);
        let req = server.received_requests().await.unwrap();
        assert!(!req[0].headers.contains_key("authorization"));
    }

    #[tokio::test]
    async fn error_answers_over_http_are_reported_without_the_key() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/limited"))
            .respond_with(
                ResponseTemplate::new(200).set_body_bytes(fixture("cryptocompare_error.json")),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/broken"))
            .respond_with(ResponseTemplate::new(500).set_body_string("upstream down"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/denied"))
            .respond_with(ResponseTemplate::new(401).set_body_string(
                r#"{"Response":"Error","Message":"api key k-secret-9 is not valid","Type":1,"Data":{}}"#,
            ))
            .mount(&server)
            .await;
        let with = |p: &str| {
            let mut s = source(
                "cc",
                SourceKind::Cryptocompare,
                &format!("{}{p}", server.uri()),
            );
            s.api_key = Some(ApiKey::new("k-secret-9"));
            s
        };
        let err = fetch_source(&client(), &with("/limited"), 10)
            .await
            .unwrap_err();
        assert!(matches!(err, NewsError::Api { .. }), "{err:?}");

        let err = fetch_source(&client(), &with("/broken"), 10)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "news source cc: HTTP 500: upstream down");
        assert!(err.is_transient());

        let err = fetch_source(&client(), &with("/denied"), 10)
            .await
            .unwrap_err();
        assert!(
            matches!(err, NewsError::Http { status: 401, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "news source cc: HTTP 401: api key **** is not valid"
        );
        assert!(!format!("{err:?}").contains("k-secret-9"));
    }
}
