//! News ingestion core: sources, fetching (RSS / Atom feeds and a CryptoCompare-shaped news
//! API), stable dedup keys, symbol tagging and a lexicon-based sentiment score.
//!
//! Nothing here touches the store or the CLI. The `fetch-news` command is expected to:
//! 1. build one [`SymbolTagger`] and one [`SentimentScorer`];
//! 2. call [`fetch_source`] for every configured [`Source`] (a failing source makes the run
//!    `partial`, the others are still fetched);
//! 3. [`annotate`] every item, [`dedup_items`] across sources, then upsert by [`NewsItem::id`]
//!    (which also deduplicates across runs).

pub mod cryptocompare;
pub mod feed;
pub mod sentiment;
pub mod tagging;

use crate::core::market::Symbol;
pub use crate::core::text::truncate_words;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

pub use sentiment::SentimentScorer;
pub use tagging::SymbolTagger;

/// Time allowed for one source (connect + response + body) unless its config says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// A response body larger than this is refused (a feed is a few hundred KiB at most).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Summaries are cut to this many characters (on a word boundary, with `…`).
pub const MAX_SUMMARY_CHARS: usize = 1000;
/// User-Agent sent to news sources (several feed hosts refuse requests without one).
pub const USER_AGENT: &str = concat!("fks/", env!("CARGO_PKG_VERSION"), " (news ingestion)");

/// One news item, as fetched from a source and annotated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewsItem {
    /// Name of the configured source it came from.
    pub source: String,
    /// Stable dedup key, see [`item_id`].
    pub id: String,
    pub title: String,
    /// The article's link with tracking parameters and fragment removed.
    pub link: Option<String>,
    /// Plain text (HTML stripped, entities decoded, whitespace collapsed), at most
    /// [`MAX_SUMMARY_CHARS`] characters.
    pub summary: String,
    /// Publication time, ms since the epoch (UTC); `None` when the source gave no usable date.
    pub published_ms: Option<i64>,
    /// The source's own categories / tags (RSS `<category>`, Atom `category`, CryptoCompare
    /// `categories` and `tags`), deduplicated, in source order.
    pub categories: Vec<String>,
    /// Symbols the item mentions, sorted; filled by [`annotate`].
    pub symbols: Vec<Symbol>,
    /// Sentiment in [-1, 1]; filled by [`annotate`].
    pub sentiment: f64,
}

/// What kind of endpoint a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Rss,
    Atom,
    /// CryptoCompare's news endpoint (`GET /data/v2/news/?lang=EN`) or anything answering in
    /// its shape.
    Cryptocompare,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Rss => "rss",
            SourceKind::Atom => "atom",
            SourceKind::Cryptocompare => "cryptocompare",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret that never prints: `Debug` shows `****`, there is no `Display`, and it does not
/// serialise. Read it with [`ApiKey::expose`] only where it goes on the wire.
pub type ApiKey = crate::core::config::Secret;

/// One configured news source: an element of the TOML `[[news.sources]]` list.
///
/// ```toml
/// [[news.sources]]
/// name = "coindesk"
/// kind = "rss"
/// url = "https://www.coindesk.com/arc/outboundfeeds/rss/"
///
/// [[news.sources]]
/// name = "cryptocompare"
/// kind = "cryptocompare"
/// url = "https://min-api.cryptocompare.com/data/v2/news/"
/// api_key = "..."        # optional
/// timeout_secs = 10      # optional, default 20
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    pub url: String,
    #[serde(default)]
    pub api_key: Option<ApiKey>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

impl Source {
    pub fn timeout(&self) -> Duration {
        self.timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// The `[news]` table of `fks.toml`.
///
/// ```toml
/// [news.aliases]          # merged over the built-in defaults, per symbol
/// BTCUSDT = ["bitcoin", "btc", "xbt"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewsConfig {
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Symbol → names and tickers that mean it. See [`SymbolTagger`] for the matching rules.
    #[serde(default)]
    pub aliases: BTreeMap<String, Vec<String>>,
    /// Use the built-in aliases for the top coins as well (default true).
    #[serde(default = "default_true")]
    pub default_aliases: bool,
}

fn default_true() -> bool {
    true
}

impl NewsConfig {
    /// Checks what serde cannot: names unique and non-empty, URLs http(s), symbols valid.
    pub fn validate(&self) -> Result<(), NewsError> {
        let mut names = BTreeSet::new();
        for s in &self.sources {
            if s.name.trim().is_empty() {
                return Err(NewsError::Config("news source with an empty name".into()));
            }
            if !names.insert(s.name.as_str()) {
                return Err(NewsError::Config(format!(
                    "news source {:?} is configured twice; names must be unique",
                    s.name
                )));
            }
            if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
                return Err(NewsError::Config(format!(
                    "news source {:?}: url must start with http:// or https://",
                    s.name
                )));
            }
            if s.timeout_secs == Some(0) {
                return Err(NewsError::Config(format!(
                    "news source {:?}: timeout_secs must be at least 1",
                    s.name
                )));
            }
        }
        self.tagger().map(|_| ())
    }

    /// The tagger this config describes.
    pub fn tagger(&self) -> Result<SymbolTagger, NewsError> {
        if self.default_aliases {
            SymbolTagger::with_defaults(&self.aliases)
        } else {
            SymbolTagger::new(&self.aliases)
        }
    }
}

/// Errors of the news core. Each names the source it concerns.
#[derive(Debug, thiserror::Error)]
pub enum NewsError {
    #[error("news source {source_name}: HTTP {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Http {
        source_name: String,
        status: u16,
        detail: Option<String>,
    },
    #[error("news source {source_name}: no answer within {secs}s")]
    Timeout { source_name: String, secs: u64 },
    #[error("news source {source_name}: request failed: {message}")]
    Request {
        source_name: String,
        message: String,
    },
    #[error("news source {source_name}: unparseable {kind} response: {message}")]
    Parse {
        source_name: String,
        kind: SourceKind,
        message: String,
    },
    #[error("news source {source_name}: the API answered with an error: {message}")]
    Api {
        source_name: String,
        message: String,
    },
    #[error("news source {source_name}: response larger than {limit} bytes")]
    TooLarge { source_name: String, limit: usize },
    #[error("news config: {0}")]
    Config(String),
}

impl NewsError {
    /// True for failures worth retrying later as they are (network, timeouts, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            NewsError::Timeout { .. } | NewsError::Request { .. } => true,
            NewsError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Fetches at most `limit` items (newest first) from one source, with the source's timeout.
/// Items come back with `symbols` empty and `sentiment` 0; see [`annotate`].
pub async fn fetch_source(
    client: &reqwest::Client,
    source: &Source,
    limit: usize,
) -> Result<Vec<NewsItem>, NewsError> {
    let mut items = match source.kind {
        SourceKind::Rss | SourceKind::Atom => feed::fetch(client, source).await?,
        SourceKind::Cryptocompare => cryptocompare::fetch(client, source).await?,
    };
    // Newest first (undated items last, in source order), then the limit.
    items.sort_by_key(|i| std::cmp::Reverse(i.published_ms.unwrap_or(i64::MIN)));
    items.truncate(limit);
    tracing::debug!(source = %source.name, items = items.len(), "fetched news");
    Ok(items)
}

/// The outcome of fetching one source in [`fetch_all`].
#[derive(Debug)]
pub struct SourceFetch {
    /// The source's configured name.
    pub source: String,
    pub result: Result<Vec<NewsItem>, NewsError>,
}

/// Fetches every source concurrently (each with its own timeout). One result per source, in
/// the order given; a failing source does not stop the others.
pub async fn fetch_all(
    client: &reqwest::Client,
    sources: &[Source],
    limit: usize,
) -> Vec<SourceFetch> {
    let handles: Vec<_> = sources
        .iter()
        .cloned()
        .map(|s| {
            let client = client.clone();
            tokio::spawn(async move { fetch_source(&client, &s, limit).await })
        })
        .collect();
    let mut out = Vec::with_capacity(sources.len());
    for (s, h) in sources.iter().zip(handles) {
        let result = h.await.unwrap_or_else(|e| {
            Err(NewsError::Request {
                source_name: s.name.clone(),
                message: format!("fetch task failed: {e}"),
            })
        });
        out.push(SourceFetch {
            source: s.name.clone(),
            result,
        });
    }
    out
}

/// Fills `symbols` and `sentiment` of an item.
pub fn annotate(item: &mut NewsItem, tagger: &SymbolTagger, scorer: &SentimentScorer) {
    item.symbols = tagger.tag_item(item);
    item.sentiment = scorer.score_item(&item.title, &item.summary);
}

/// Drops items whose `id` was already seen, keeping the first occurrence and the input order.
/// The kept item gains the symbols and categories of its duplicates, and their date and summary
/// when it had none.
pub fn dedup_items(items: Vec<NewsItem>) -> Vec<NewsItem> {
    let mut out: Vec<NewsItem> = Vec::with_capacity(items.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for item in items {
        match seen.get(&item.id) {
            Some(&at) => {
                let kept = &mut out[at];
                for s in item.symbols {
                    if !kept.symbols.contains(&s) {
                        kept.symbols.push(s);
                    }
                }
                kept.symbols.sort();
                for c in item.categories {
                    if !kept.categories.contains(&c) {
                        kept.categories.push(c);
                    }
                }
                if kept.published_ms.is_none() {
                    kept.published_ms = item.published_ms;
                }
                if kept.summary.is_empty() {
                    kept.summary = item.summary;
                }
            }
            None => {
                seen.insert(item.id.clone(), out.len());
                out.push(item);
            }
        }
    }
    out
}

/// Sends `request` for `source` with the source's timeout and returns the body, mapping
/// every failure to an error that names the source (and never the URL, which may carry a key).
pub(crate) async fn fetch_body(
    source: &Source,
    request: reqwest::RequestBuilder,
) -> Result<Vec<u8>, NewsError> {
    let timeout = source.timeout();
    let name = || source.name.clone();
    let map_err = |e: reqwest::Error| {
        if e.is_timeout() {
            NewsError::Timeout {
                source_name: name(),
                secs: timeout.as_secs(),
            }
        } else {
            NewsError::Request {
                source_name: name(),
                message: error_chain(&e.without_url()),
            }
        }
    };
    let read = async {
        let mut response = request
            .header(reqwest::header::USER_AGENT, USER_AGENT)
            .timeout(timeout)
            .send()
            .await
            .map_err(map_err)?;
        let status = response.status();
        if !status.is_success() {
            // A short piece of the body helps ("invalid api key"); keep it to one line.
            let body = response.text().await.unwrap_or_default();
            // a JSON error body: its message; anything else: its text
            let json_msg = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    ["Message", "message", "error"]
                        .iter()
                        .find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_string))
                });
            let mut detail = json_msg.unwrap_or_else(|| collapse_whitespace(&html_to_text(&body)));
            if let Some(key) = source.api_key.as_ref().filter(|k| !k.expose().is_empty()) {
                detail = crate::core::redact::hide(&detail, &[key.expose().to_string()]);
            }
            let detail = (!detail.is_empty()).then(|| truncate_words(&detail, 200));
            return Err(NewsError::Http {
                source_name: name(),
                status: status.as_u16(),
                detail,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_err)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(NewsError::TooLarge {
                    source_name: name(),
                    limit: MAX_BODY_BYTES,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    // The whole exchange, body included, is bounded (reqwest's own timeout covers it too;
    // this one also covers a server that trickles bytes).
    match tokio::time::timeout(timeout, read).await {
        Ok(r) => r,
        Err(_) => Err(NewsError::Timeout {
            source_name: name(),
            secs: timeout.as_secs(),
        }),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Dedup keys and links

/// Query parameters that only track the reader and never change the article.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "_ga",
    "_gl",
    "ref",
    "ref_src",
    "ref_url",
    "cmpid",
    "ncid",
    "sr_share",
    "guccounter",
    "spm",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "__twitter_impression",
    "s_cid",
];

fn is_tracking_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("utm_") || n.starts_with("hsa_") || TRACKING_PARAMS.contains(&n.as_str())
}

/// The link as shown to users: tracking parameters and fragment removed, otherwise unchanged.
/// `None` for anything that is not an absolute http(s) URL.
pub fn clean_link(url: &str) -> Option<String> {
    let p = Link::parse(url)?;
    Some(p.render(false))
}

/// The dedup form of a URL: [`clean_link`], plus scheme and host lowercased, `http` taken as
/// `https`, default port and trailing slash dropped. `None` if `url` is not an absolute
/// http(s) URL.
pub fn normalize_url(url: &str) -> Option<String> {
    let p = Link::parse(url)?;
    Some(p.render(true))
}

/// The stable dedup key of an item: its link normalised ([`normalize_url`]), else its guid
/// normalised when the guid is a URL, else `sha256:` + hex of `source`, a newline and the
/// guid (or the title when there is no guid).
///
/// The link comes first because it is what two sources share: the same article reached
/// through a publisher's feed and through an aggregator has one link but two guids.
pub fn item_id(source: &str, link: Option<&str>, guid: Option<&str>, title: &str) -> String {
    if let Some(id) = link.and_then(normalize_url) {
        return id;
    }
    let guid = guid.map(str::trim).filter(|g| !g.is_empty());
    if let Some(id) = guid.and_then(normalize_url) {
        return id;
    }
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update(b"\n");
    h.update(guid.unwrap_or(title.trim()).as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// A link that the `url` crate accepts as an absolute http(s) URL with a host.
///
/// The host and port come from the parsed [`url::Url`] (lowercased, default port known).
/// The authority, path and query are kept as the publisher wrote them: the parsed URL
/// percent-encodes non-ASCII text and resolves `.`/`..` segments, and the id of an article
/// stored before must not change (see the `id_pins` tests).
struct Link<'a> {
    url: url::Url,
    /// The authority as written (with any user info), for the displayed link.
    authority: &'a str,
    path: &'a str,
    /// The query's `&`-separated pieces as written, tracking parameters left out.
    query: Vec<&'a str>,
}

impl<'a> Link<'a> {
    fn parse(raw: &'a str) -> Option<Self> {
        let raw = raw.trim();
        let url = url::Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return None;
        }
        // `url` also accepts `https:example.com` and `https:///example.com`; a link is
        // written `scheme://authority`.
        let (_, rest) = raw.split_once("://")?;
        let rest = url
            .fragment()
            .map_or(rest, |_| rest.split('#').next().unwrap_or(""));
        let (authority, rest) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if authority.is_empty() {
            return None;
        }
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let query = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .filter(|kv| !is_tracking_param(kv.split('=').next().unwrap_or("")))
            .collect();
        Some(Link {
            url,
            authority,
            path,
            query,
        })
    }

    fn render(&self, canonical: bool) -> String {
        let mut out = String::new();
        if canonical {
            // User info dropped, host lowercased, ports 80 and 443 dropped.
            out.push_str("https://");
            out.push_str(self.url.host_str().unwrap_or(""));
            if let Some(port) = self.url.port().filter(|p| !matches!(p, 80 | 443)) {
                out.push_str(&format!(":{port}"));
            }
            out.push_str(self.path.trim_end_matches('/'));
        } else {
            out.push_str(self.url.scheme());
            out.push_str("://");
            out.push_str(self.authority);
            out.push_str(self.path);
        }
        if !self.query.is_empty() {
            out.push('?');
            out.push_str(&self.query.join("&"));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// HTML to text

/// Plain text from an HTML fragment: tags removed (the content of `script`, `style` and
/// comments too), block elements and `<br>` become spaces, entities decoded, whitespace
/// collapsed. A `<` that does not start a tag is kept, so `BTC < $4k` survives.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..lt]));
        let after = &rest[lt + 1..];
        if let Some(body) = after.strip_prefix("!--") {
            rest = body.find("-->").map(|e| &body[e + 3..]).unwrap_or("");
            out.push(' ');
            continue;
        }
        let starts_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!' || c == '?');
        if !starts_tag {
            out.push('<');
            rest = after;
            continue;
        }
        let Some(gt) = after.find('>') else {
            // an unterminated tag: drop the rest
            rest = "";
            break;
        };
        let tag = &after[..gt];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        rest = &after[gt + 1..];
        if !tag.starts_with('/') && (name == "script" || name == "style") {
            let close = format!("</{name}");
            rest = find_ci(rest, &close)
                .map(|i| {
                    rest[i..]
                        .find('>')
                        .map(|g| &rest[i + g + 1..])
                        .unwrap_or("")
                })
                .unwrap_or("");
        }
        if !is_inline_tag(&name) {
            out.push(' ');
        }
    }
    out.push_str(&decode_entities(rest));
    collapse_whitespace(&out)
}

fn is_inline_tag(name: &str) -> bool {
    matches!(
        name,
        "a" | "b"
            | "i"
            | "em"
            | "strong"
            | "span"
            | "u"
            | "s"
            | "sub"
            | "sup"
            | "small"
            | "mark"
            | "abbr"
            | "code"
            | "cite"
            | "q"
            | "font"
            | "del"
            | "ins"
            | "time"
    )
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.to_ascii_lowercase();
    h.find(&needle.to_ascii_lowercase())
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decodes HTML character references (every named one of HTML5, and numeric ones) with
/// `html-escape`. References without their `;` are left as they are. Numeric references to
/// the C1 controls (`&#146;`) mean Windows-1252 in feeds, as the HTML standard reads them:
/// `&#146;` is `’`.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    if !has_c1(s) {
        decode_into(s, &mut out);
        return out;
    }
    // A C1 control written as such is kept; only those decoded from a reference become
    // Windows-1252. No reference spans a C1 control, so decode the pieces between them.
    for piece in s.split_inclusive(is_c1) {
        let (text, raw) = match piece.chars().next_back() {
            Some(c) if is_c1(c) => (&piece[..piece.len() - c.len_utf8()], Some(c)),
            _ => (piece, None),
        };
        decode_into(text, &mut out);
        out.extend(raw);
    }
    out
}

/// Appends `text` (no C1 control in it) decoded, references to C1 controls as Windows-1252.
fn decode_into(text: &str, out: &mut String) {
    let decoded = html_escape::decode_html_entities(text);
    if has_c1(&decoded) {
        out.extend(decoded.chars().map(|c| windows_1252(c).unwrap_or(c)));
    } else {
        out.push_str(&decoded);
    }
}

fn is_c1(c: char) -> bool {
    ('\u{80}'..='\u{9f}').contains(&c)
}

/// Whether `s` holds a C1 control (UTF-8 `C2 80` to `C2 9F`).
fn has_c1(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]))
}

/// The character Windows-1252 has where Latin-1 has the C1 control `c` (the HTML
/// standard's table for numeric references); `None` outside U+0080..U+009F.
fn windows_1252(c: char) -> Option<char> {
    const TABLE: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    let i = (c as u32).checked_sub(0x80)?;
    TABLE.get(i as usize).copied()
}

/// Summary text from an HTML description: [`html_to_text`], the WordPress "The post … appeared
/// first on …" footer removed, cut to [`MAX_SUMMARY_CHARS`].
pub fn summary_text(html: &str) -> String {
    let mut text = html_to_text(html);
    if let Some(at) = text.rfind("The post ")
        && text[at..].contains(" appeared first on ")
    {
        text.truncate(at);
        text = text.trim_end().to_string();
    }
    truncate_words(&text, MAX_SUMMARY_CHARS)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::{Source, SourceKind};

    /// A reqwest client for loopback tests (installs the ring provider first).
    pub fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder().build().expect("client builds")
    }

    /// A fixture from `tests/fixtures/news/`.
    pub fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/news/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    pub fn source(name: &str, kind: SourceKind, url: &str) -> Source {
        Source {
            name: name.into(),
            kind,
            url: url.into(),
            api_key: None,
            timeout_secs: None,
        }
    }
}

#[cfg(test)]
mod id_pins;

#[cfg(test)]
mod tests {
    use super::*;

    fn item(source: &str, link: &str, symbols: &[&str]) -> NewsItem {
        NewsItem {
            source: source.into(),
            id: item_id(source, Some(link), None, "t"),
            title: "t".into(),
            link: clean_link(link),
            summary: String::new(),
            published_ms: None,
            categories: vec![],
            symbols: symbols.iter().map(|s| Symbol(s.to_string())).collect(),
            sentiment: 0.0,
        }
    }

    #[test]
    fn tracking_params_fragment_and_trailing_slash_do_not_change_the_id() {
        let a = item_id(
            "a",
            Some(
                "https://www.CoinDesk.com/markets/btc-rally/?utm_source=rss&utm_medium=feed#comments",
            ),
            None,
            "x",
        );
        let b = item_id(
            "b",
            Some("http://www.coindesk.com/markets/btc-rally"),
            None,
            "y",
        );
        assert_eq!(a, b);
        assert_eq!(a, "https://www.coindesk.com/markets/btc-rally");
        // a meaningful parameter stays
        let c = item_id(
            "a",
            Some("https://www.coindesk.com/?p=378230&utm_campaign=x"),
            None,
            "x",
        );
        assert_eq!(c, "https://www.coindesk.com?p=378230");
        assert_ne!(
            c,
            item_id("a", Some("https://www.coindesk.com/?p=378231"), None, "x")
        );
    }

    #[test]
    fn clean_link_keeps_the_link_but_drops_tracking() {
        assert_eq!(
            clean_link("https://example.com/a/?id=7&utm_source=x&fbclid=1#top").as_deref(),
            Some("https://example.com/a/?id=7")
        );
        assert_eq!(clean_link("not a url"), None);
        assert_eq!(clean_link("ftp://example.com/x"), None);
    }

    #[test]
    fn id_without_link_uses_guid_then_hash_of_source_and_title() {
        assert_eq!(
            item_id("s", None, Some("https://ex.com/p/1/"), "t"),
            "https://ex.com/p/1"
        );
        let h1 = item_id("s", None, None, "Bitcoin rallies");
        let h2 = item_id("s", None, None, "Bitcoin rallies");
        let h3 = item_id("other", None, None, "Bitcoin rallies");
        assert_eq!(h1, h2);
        assert_ne!(h1, h3);
        assert!(h1.starts_with("sha256:") && h1.len() == 7 + 64, "{h1}");
        assert_ne!(
            item_id("s", None, Some("tag:x,2019:1"), "t"),
            item_id("s", None, Some("tag:x,2019:2"), "t")
        );
    }

    #[test]
    fn dedup_keeps_first_and_merges_symbols() {
        let items = vec![
            item(
                "coindesk",
                "https://www.coindesk.com/a?utm_source=rss",
                &["BTCUSDT"],
            ),
            item("cryptocompare", "https://www.coindesk.com/a/", &["ETHUSDT"]),
            item("coindesk", "https://www.coindesk.com/b", &[]),
        ];
        let out = dedup_items(items);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].source, "coindesk");
        assert_eq!(
            out[0].symbols,
            vec![Symbol("BTCUSDT".into()), Symbol("ETHUSDT".into())]
        );
        assert_eq!(out[1].link.as_deref(), Some("https://www.coindesk.com/b"));
    }

    #[tokio::test]
    async fn sources_are_fetched_annotated_and_deduplicated_across_sources() {
        use test_support::{client, fixture, source};
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/feed/"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture("rss2_sample.xml")))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/data/v2/news/"))
            .respond_with(
                ResponseTemplate::new(200).set_body_bytes(fixture("cryptocompare_news.json")),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/broken.xml"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture("malformed.xml")))
            .mount(&server)
            .await;
        let sources = vec![
            source(
                "examplewire",
                SourceKind::Rss,
                &format!("{}/feed/", server.uri()),
            ),
            source(
                "brokenfeed",
                SourceKind::Rss,
                &format!("{}/broken.xml", server.uri()),
            ),
            source(
                "cryptocompare",
                SourceKind::Cryptocompare,
                &format!("{}/data/v2/news/", server.uri()),
            ),
        ];
        let fetched = fetch_all(&client(), &sources, 10).await;
        let names: Vec<&str> = fetched.iter().map(|f| f.source.as_str()).collect();
        assert_eq!(names, ["examplewire", "brokenfeed", "cryptocompare"]);
        let err = fetched[1].result.as_ref().unwrap_err();
        assert!(
            err.to_string()
                .contains("news source brokenfeed: unparseable rss"),
            "{err}"
        );

        let tagger = SymbolTagger::defaults();
        let scorer = SentimentScorer::new();
        let mut all = Vec::new();
        for f in fetched {
            if let Ok(items) = f.result {
                all.extend(items);
            }
        }
        assert_eq!(all.len(), 4 + 2);
        for it in &mut all {
            annotate(it, &tagger, &scorer);
        }
        let out = dedup_items(all);
        assert_eq!(out.len(), 5, "the ATH article is in both sources once");
        let ath: Vec<&NewsItem> = out
            .iter()
            .filter(|i| i.title.contains("All-Time High"))
            .collect();
        assert_eq!(ath.len(), 1);
        assert_eq!(ath[0].source, "examplewire");
        assert_eq!(ath[0].symbols, vec![Symbol("BTCUSDT".into())]);
        assert!(ath[0].sentiment > 0.3, "{}", ath[0].sentiment);
        let hack = out
            .iter()
            .find(|i| i.title.starts_with("Exchange Hacked"))
            .unwrap();
        assert_eq!(hack.symbols, vec![Symbol("ETHUSDT".into())]);
        assert!(hack.sentiment < -0.3, "{}", hack.sentiment);
        let alts = out
            .iter()
            .find(|i| i.title.contains("not bullish"))
            .unwrap();
        assert_eq!(
            alts.symbols,
            vec![Symbol("ETHUSDT".into()), Symbol("SOLUSDT".into())]
        );
        assert!(alts.sentiment < 0.0, "{}", alts.sentiment);
        // dedup across runs is by id: the same ids come back on a second fetch
        let again = fetch_all(&client(), &sources[..1], 10).await;
        let ids: Vec<String> = again[0]
            .result
            .as_ref()
            .unwrap()
            .iter()
            .map(|i| i.id.clone())
            .collect();
        assert!(ids.iter().all(|id| out.iter().any(|o| &o.id == id)));
    }

    #[test]
    fn entities_decode_as_html5_and_windows_1252_references() {
        // Every HTML5 name, not only the common ones.
        assert_eq!(decode_entities("&hearts; &frac12; &rarr;"), "♥ ½ →");
        // Without `;` a reference stays as written (`AT&T`, `&amp x`).
        assert_eq!(decode_entities("AT&T &amp x &copy"), "AT&T &amp x &copy");
        // Numeric references to C1 controls mean Windows-1252; a C1 control written as
        // such is kept.
        assert_eq!(decode_entities("&#146;n&#x93;&#128;"), "’n“€");
        assert_eq!(decode_entities("a\u{92}b &#146;"), "a\u{92}b ’");
        assert_eq!(decode_entities("&#0; &#xZZ;"), "&#0; &#xZZ;");
    }

    #[test]
    fn html_is_stripped_and_entities_decoded() {
        let html = r#"<img src="x.jpg"><p>Bitcoin&#8217;s price &amp; ether&rsquo;s <b>rose</b>
            5%&nbsp;today.</p><script>var a = "<p>no</p>";</script><!-- c --><p>BTC < $4k &foo; AT&T</p>"#;
        assert_eq!(
            html_to_text(html),
            "Bitcoin’s price & ether’s rose 5% today. BTC < $4k &foo; AT&T"
        );
    }

    #[test]
    fn wordpress_footer_is_removed_and_long_text_cut() {
        let html = r#"<p>Short intro.</p><p>The post <a href="x">Title</a> appeared first on <a href="y">Crypto Briefing</a>.</p>"#;
        assert_eq!(summary_text(html), "Short intro.");
        let long = "word ".repeat(400);
        let s = summary_text(&long);
        assert!(s.chars().count() <= MAX_SUMMARY_CHARS);
        assert!(s.ends_with("word…"));
    }

    #[test]
    fn api_key_never_prints() {
        let toml_src = r#"
            [[news.sources]]
            name = "cc"
            kind = "cryptocompare"
            url = "https://min-api.cryptocompare.com/data/v2/news/"
            api_key = "supersecret"

            [[news.sources]]
            name = "coindesk"
            kind = "rss"
            url = "https://www.coindesk.com/feed"
            timeout_secs = 5

            [news.aliases]
            BTCUSDT = ["bitcoin", "btc", "xbt"]
        "#;
        #[derive(Deserialize)]
        struct File {
            news: NewsConfig,
        }
        let cfg: File = toml::from_str(toml_src).unwrap();
        let cfg = cfg.news;
        cfg.validate().unwrap();
        assert_eq!(cfg.sources.len(), 2);
        assert_eq!(cfg.sources[0].kind, SourceKind::Cryptocompare);
        assert_eq!(
            cfg.sources[0].api_key.as_ref().unwrap().expose(),
            "supersecret"
        );
        assert_eq!(cfg.sources[1].timeout(), Duration::from_secs(5));
        assert_eq!(cfg.sources[0].timeout(), DEFAULT_TIMEOUT);
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("supersecret"), "{dbg}");
        assert!(dbg.contains("****"));
    }

    #[test]
    fn bad_config_is_refused() {
        let bad_kind = r#"
            [[sources]]
            name = "x"
            kind = "json"
            url = "https://x"
        "#;
        assert!(toml::from_str::<NewsConfig>(bad_kind).is_err());
        let typo = r#"
            [[sources]]
            name = "x"
            kind = "rss"
            url = "https://x"
            api-key = "k"
        "#;
        assert!(toml::from_str::<NewsConfig>(typo).is_err());
        let dup = r#"
            [[sources]]
            name = "x"
            kind = "rss"
            url = "https://x"
            [[sources]]
            name = "x"
            kind = "atom"
            url = "https://y"
        "#;
        let cfg: NewsConfig = toml::from_str(dup).unwrap();
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("configured twice")
        );
        let scheme = r#"
            [[sources]]
            name = "x"
            kind = "rss"
            url = "file:///etc/passwd"
        "#;
        let cfg: NewsConfig = toml::from_str(scheme).unwrap();
        assert!(cfg.validate().is_err());
    }
}
