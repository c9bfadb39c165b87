//! Cutting text to a length, counted in characters (Unicode scalar values) unless a weight
//! says otherwise. One behaviour for every limit: at most `max`, the last character `…` when
//! cut. [`truncate_words`] is the other operation (news), cutting at a word.

/// The ellipsis appended to cut text (one character).
pub const ELLIPSIS: char = '…';

/// `s` cut to at most `limit` characters, the last being `…` when cut; and whether it was cut.
pub fn truncate(s: &str, limit: usize) -> (String, bool) {
    truncate_by(s, limit, |_| 1)
}

/// Like [`truncate`] with a per-character weight (1 for chars, UTF-16 units for
/// Telegram).
pub fn truncate_by(s: &str, limit: usize, weight: impl Fn(char) -> usize) -> (String, bool) {
    let total: usize = s.chars().map(&weight).sum();
    if total <= limit {
        return (s.to_string(), false);
    }
    if limit == 0 {
        return (String::new(), true);
    }
    let budget = limit - weight(ELLIPSIS);
    let mut used = 0;
    let mut out = String::new();
    for c in s.chars() {
        let w = weight(c);
        if used + w > budget {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push(ELLIPSIS);
    (out, true)
}

/// `s` cut to at most `max` characters, the last being `…` when cut (see [`truncate`]).
pub fn truncate_chars(s: &str, max: usize) -> String {
    truncate(s, max).0
}

/// At most `max` characters, cut at a word boundary when there is one (in the second half),
/// ending with `…`. For news summaries and titles made from them: a title feeds the id of an
/// item without link or guid, so this cut must not change.
pub fn truncate_words(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    let cut = match cut.rfind(' ') {
        Some(sp) if sp > cut.len() / 2 => &cut[..sp],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_chars_and_adds_ellipsis() {
        assert_eq!(truncate("abc", 3), ("abc".to_string(), false));
        assert_eq!(truncate("abcd", 3), ("ab…".to_string(), true));
        assert_eq!(truncate("ééééé", 4), ("ééé…".to_string(), true));
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(truncate_chars("äöü", 3), "äöü");
        // Nothing fits, not even the ellipsis: empty (never longer than `max`).
        assert_eq!(truncate("abc", 0), (String::new(), true));
        assert_eq!(truncate_chars("abc", 1), "…");
        // Telegram counts UTF-16 units: an emoji weighs two.
        assert_eq!(
            truncate_by("🚀🚀🚀", 4, char::len_utf16),
            ("🚀…".to_string(), true)
        );
    }

    #[test]
    fn truncate_words_cuts_at_a_word_in_the_second_half() {
        assert_eq!(truncate_words("short", 10), "short");
        assert_eq!(
            truncate_words("bitcoin rallies past resistance", 20),
            "bitcoin rallies…"
        );
        assert_eq!(
            truncate_words("a verylongwordwithoutspaces", 10),
            "a verylon…"
        );
    }
}
