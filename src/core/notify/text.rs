//! Text limits: how each service counts characters, and splitting text.

/// Unicode scalar values: how Discord and Slack count ("characters").
pub(crate) fn count_chars(s: &str) -> usize {
    s.chars().count()
}

/// UTF-16 code units: how Telegram counts message length.
pub(crate) fn count_utf16(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Splits `s` into pieces whose weight is at most `first_limit` (the first piece) and
/// `limit` (the others), preferring to cut after a line break, then after a space, within
/// the last quarter of a piece. Concatenating the pieces gives `s` back exactly.
pub(crate) fn split_by(
    s: &str,
    first_limit: usize,
    limit: usize,
    weight: impl Fn(char) -> usize,
) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = s;
    let mut cap = first_limit.max(1);
    while !rest.is_empty() {
        let mut used = 0;
        let mut end = rest.len();
        let mut last_newline = None;
        let mut last_space = None;
        for (i, c) in rest.char_indices() {
            let w = weight(c);
            if used + w > cap {
                end = i;
                break;
            }
            used += w;
            let after = i + c.len_utf8();
            if c == '\n' {
                last_newline = Some((after, used));
            } else if c.is_whitespace() {
                last_space = Some((after, used));
            }
        }
        if end < rest.len() {
            let min_used = cap - cap / 4;
            let cut = [last_newline, last_space]
                .into_iter()
                .flatten()
                .find(|&(_, u)| u >= min_used)
                .map(|(i, _)| i);
            if let Some(i) = cut {
                end = i;
            }
            if end == 0 {
                // A single character heavier than the cap: take it anyway.
                end = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
        }
        pieces.push(rest[..end].to_string());
        rest = &rest[end..];
        cap = limit.max(1);
    }
    pieces
}
