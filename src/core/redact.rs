//! Keeping secrets out of output, logs and error messages: one place for every way fks
//! hides a secret. Secrets themselves are [`crate::core::config::Secret`] (prints `****`).

use std::fmt;

/// What a hidden secret prints as.
pub const MASK: &str = "****";

/// Shows a webhook URL or token without its secret part:
///
/// - a URL keeps scheme, host, port and every path segment but the last, which becomes
///   `****`; user info and query are dropped (`?****`):
///   `https://discord.com/api/webhooks/12345/abcdef` → `https://discord.com/api/webhooks/12345/****`;
/// - a Telegram bot token keeps the bot id: `123456:AAE…` → `123456:****`;
/// - anything else is `****`.
pub fn target(url_or_token: &str) -> String {
    let s = url_or_token.trim();
    if let Ok(url) = url::Url::parse(s)
        && url.has_host()
    {
        let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        if let Some(port) = url.port() {
            out.push_str(&format!(":{port}"));
        }
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        if let Some((_, keep)) = segments.split_last() {
            for seg in keep {
                out.push('/');
                out.push_str(seg);
            }
            out.push_str("/****");
        }
        if url.query().is_some() {
            out.push_str("?****");
        }
        return out;
    }
    if let Some((id, rest)) = s.split_once(':')
        && !id.is_empty()
        && id.chars().all(|c| c.is_ascii_digit())
        && !rest.is_empty()
    {
        return format!("{id}:****");
    }
    MASK.to_string()
}

/// Removes secrets from text that is about to become an error message or a log line.
#[derive(Clone, Default)]
pub struct Scrubber {
    needles: Vec<String>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} secrets)", self.needles.len())
    }
}

impl Scrubber {
    /// Scrubs the whole value and, for a URL, its last path segment and query values (the
    /// parts [`redact`] hides) when they are long enough to be secrets (8 characters or
    /// more: a token, not `true`).
    pub fn new(secrets: &[&str]) -> Self {
        let mut needles = Vec::new();
        for secret in secrets {
            let s = secret.trim();
            if s.is_empty() {
                continue;
            }
            needles.push(s.to_string());
            if let Ok(url) = url::Url::parse(s) {
                needles.push(url.as_str().to_string());
                if let Some(last) = url.path_segments().and_then(|mut p| p.next_back())
                    && last.len() >= 8
                {
                    needles.push(last.to_string());
                }
                if let Some(q) = url.query()
                    && !q.is_empty()
                {
                    if q.len() >= 8 {
                        needles.push(q.to_string());
                    }
                    for (_, v) in url.query_pairs() {
                        if v.len() >= 8 {
                            needles.push(v.into_owned());
                        }
                    }
                }
            }
        }
        // Longest first, so a URL is replaced whole before its token is.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Scrubber { needles }
    }

    pub fn scrub(&self, text: &str) -> String {
        hide(text, &self.needles)
    }
}

/// Hide the password of a URL (`postgres://user:****@host/db`), also one given as a
/// `?password=` query parameter.
pub fn url_password(u: &str) -> String {
    let mut out = u.to_string();
    if let Some(scheme_end) = u.find("://") {
        let rest = &u[scheme_end + 3..];
        let auth_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..auth_end].rfind('@') {
            let auth = &rest[..at];
            let user = auth.split(':').next().unwrap_or("");
            let masked = if auth.contains(':') {
                format!("{user}:{MASK}")
            } else {
                user.to_string()
            };
            out = format!("{}://{}@{}", &u[..scheme_end], masked, &rest[at + 1..]);
        }
    }
    // A password may also be a query parameter (`?password=`, as libpq and tokio-postgres
    // take it).
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={MASK}"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// `msg` with each of `values` replaced by `****`.
pub fn hide(msg: &str, values: &[String]) -> String {
    let mut out = msg.to_string();
    for v in values {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), MASK);
        }
    }
    out
}

/// `msg` with every quoted fragment (`…`, "…", '…') replaced by `****`: serde and toml
/// quote the offending value, whatever its type.
pub fn hide_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut open: Option<char> = None;
    for c in msg.chars() {
        match open {
            Some(q) if c == q => {
                out.push_str(MASK);
                out.push(c);
                open = None;
            }
            Some(_) => {}
            None if matches!(c, '`' | '"' | '\'') => {
                out.push(c);
                open = Some(c);
            }
            None => out.push(c),
        }
    }
    if open.is_some() {
        out.push_str(MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_keeps_the_webhook_id_and_hides_the_token() {
        assert_eq!(
            target("https://discord.com/api/webhooks/12345/abcDEF-token_x"),
            "https://discord.com/api/webhooks/12345/****"
        );
        assert_eq!(
            target("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.com/services/T000/B000/****"
        );
        assert_eq!(
            target("https://user:pw@example.com:8443/hook?token=abc"),
            "https://example.com:8443/****?****"
        );
        assert_eq!(
            target("123456:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bo"),
            "123456:****"
        );
        assert_eq!(target("hunter2"), "****");
        assert_eq!(
            format!("{:?}", crate::core::config::Secret::new("hunter2")),
            MASK
        );
    }

    #[test]
    fn scrubber_removes_url_and_token() {
        let s = Scrubber::new(&["https://discord.com/api/webhooks/1/tok-en-value"]);
        assert_eq!(
            s.scrub("x https://discord.com/api/webhooks/1/tok-en-value y"),
            "x **** y"
        );
        assert_eq!(s.scrub("token tok-en-value"), "token ****");
    }

    #[test]
    fn url_password_hides_only_the_password() {
        assert_eq!(
            url_password("postgres://fks:s3cret@db.example:5432/fks"),
            "postgres://fks:****@db.example:5432/fks"
        );
        assert_eq!(
            url_password("postgres://fks@db/fks"),
            "postgres://fks@db/fks"
        );
        assert_eq!(url_password("/var/lib/fks.db"), "/var/lib/fks.db");
        assert_eq!(
            url_password("postgres://u@h/db?sslmode=disable&password=p@ss&x=1"),
            "postgres://u@h/db?sslmode=disable&password=****&x=1"
        );
        assert_eq!(
            url_password("postgres://u:a@h/db?PASSWORD=b"),
            "postgres://u:****@h/db?PASSWORD=****"
        );
        assert_eq!(url_password("./o.db?password"), "./o.db?password");
    }

    #[test]
    fn hide_replaces_values_and_quoted_fragments() {
        assert_eq!(
            hide("key abcdef in abcdef!", &["abcdef".to_string()]),
            "key **** in ****!"
        );
        assert_eq!(
            hide_quoted("invalid value `x1`, expected \"y\""),
            "invalid value `****`, expected \"****\""
        );
        assert_eq!(hide_quoted("open 'abc"), "open '****");
    }
}
