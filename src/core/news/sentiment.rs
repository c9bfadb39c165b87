//! Lexicon-based sentiment for news headlines and summaries, in [-1, 1].
//!
//! The method follows VADER (Hutto & Gilbert 2014) in outline, with our own finance/crypto
//! lexicon (`lexicon.txt`, see its header for origin and licence):
//! - each known word or phrase ("rug pull", "all-time high") has a valence in -4..+4; at each
//!   position the longest phrase wins; unknown words are neutral;
//! - up to [`WINDOW`] words before a term (not across `,` `;` `:` `.` `!` `?` or a dash),
//!   boosters scale it ("very" ×1.3, "slightly" ×0.5, less the further away) and each negator
//!   ("not", "no", "never", any "n't" word) multiplies it by [`NEGATION_SCALAR`];
//! - in a sentence with "but" / "however", terms before it count half and terms after it
//!   half again as much;
//! - the sum `x` is normalised as `x / sqrt(x² + alpha)` with `alpha` = [`ALPHA`].
//!
//! Pure and deterministic: no I/O, no clock.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

/// Words looked back from a sentiment term for boosters and negators.
pub const WINDOW: usize = 3;
/// What a negator multiplies a term by: flips it and takes a quarter off ("not good" is less
/// bad than "bad").
pub const NEGATION_SCALAR: f64 = -0.74;
/// Normalisation constant of the compound score (VADER's value).
pub const ALPHA: f64 = 15.0;
/// A headline's terms weigh this many times those of the summary in [`SentimentScorer::score_item`].
pub const TITLE_WEIGHT: f64 = 2.0;
/// How a booster's effect fades with distance (1, 2 and 3 words before the term).
const BOOSTER_DECAY: [f64; WINDOW] = [1.0, 0.9, 0.8];

const LEXICON_SRC: &str = include_str!("lexicon.txt");

static BUILTIN: LazyLock<Arc<Lexicon>> = LazyLock::new(|| {
    Arc::new(
        Lexicon::parse(LEXICON_SRC).expect("the embedded lexicon.txt is valid (checked by tests)"),
    )
});

/// Valences, boosters and negators.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    words: HashMap<String, f64>,
    /// Phrases of two words or more, keyed by their first word.
    phrases: HashMap<String, Vec<(Vec<String>, f64)>>,
    boosters: Vec<(Vec<String>, f64)>,
    negators: HashSet<String>,
}

impl Lexicon {
    /// The lexicon shipped with fks.
    pub fn builtin() -> Arc<Lexicon> {
        BUILTIN.clone()
    }

    /// Parses the `lexicon.txt` format (see that file's header). Errors name the line.
    pub fn parse(src: &str) -> Result<Lexicon, String> {
        #[derive(Clone, Copy, PartialEq)]
        enum Section {
            None,
            Words,
            Boosters,
            Negators,
        }
        let mut lex = Lexicon::default();
        let mut section = Section::None;
        let mut seen: HashSet<(u8, Vec<String>)> = HashSet::new();
        for (n, raw) in src.lines().enumerate() {
            let line_no = n + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            section = match line {
                "[words]" => {
                    section = Section::Words;
                    continue;
                }
                "[boosters]" => {
                    section = Section::Boosters;
                    continue;
                }
                "[negators]" => {
                    section = Section::Negators;
                    continue;
                }
                _ if line.starts_with('[') => {
                    return Err(format!("line {line_no}: unknown section {line}"));
                }
                _ => section,
            };
            let (term, value) = if section == Section::Negators {
                (line, None)
            } else {
                let (term, num) = line.rsplit_once(char::is_whitespace).ok_or_else(|| {
                    format!("line {line_no}: expected a term and a value: {line:?}")
                })?;
                let v: f64 = num
                    .parse()
                    .map_err(|_| format!("line {line_no}: {num:?} is not a number"))?;
                (term.trim(), Some(v))
            };
            let words = words_of(term);
            if words.is_empty() {
                return Err(format!("line {line_no}: empty term"));
            }
            let kind = section as u8;
            if !seen.insert((kind, words.clone())) {
                return Err(format!("line {line_no}: {term:?} is listed twice"));
            }
            match (section, value) {
                (Section::None, _) => {
                    return Err(format!("line {line_no}: entry before any [section]"));
                }
                (Section::Words, Some(v)) => {
                    if !(-4.0..=4.0).contains(&v) {
                        return Err(format!("line {line_no}: valence {v} outside -4..4"));
                    }
                    if words.len() == 1 {
                        lex.words.insert(words[0].clone(), v);
                    } else {
                        lex.phrases
                            .entry(words[0].clone())
                            .or_default()
                            .push((words, v));
                    }
                }
                (Section::Boosters, Some(v)) => {
                    if !(-0.9..=1.0).contains(&v) {
                        return Err(format!("line {line_no}: booster {v} outside -0.9..1"));
                    }
                    lex.boosters.push((words, v));
                }
                (Section::Negators, None) => {
                    if words.len() != 1 {
                        return Err(format!("line {line_no}: a negator is one word"));
                    }
                    lex.negators.insert(words[0].clone());
                }
                _ => unreachable!("value presence follows the section"),
            }
        }
        for list in lex.phrases.values_mut() {
            // longest first, so the first hit is the longest
            list.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        }
        Ok(lex)
    }

    /// Number of words and phrases with a valence.
    pub fn len(&self) -> usize {
        self.words.len() + self.phrases.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Valence of one word, trying simple inflections ("surged" → "surge") when the exact
    /// form is not listed.
    fn valence(&self, w: &str) -> Option<f64> {
        if let Some(v) = self.words.get(w) {
            return Some(*v);
        }
        let w = w.strip_suffix("'s").unwrap_or(w);
        if let Some(v) = self.words.get(w) {
            return Some(*v);
        }
        for stem in stems(w) {
            if stem.chars().count() >= 3
                && let Some(v) = self.words.get(&stem)
            {
                return Some(*v);
            }
        }
        None
    }

    fn is_negator(&self, w: &str) -> bool {
        self.negators.contains(w) || w.ends_with("n't")
    }
}

/// Candidate base forms of an inflected word, most likely first.
fn stems(w: &str) -> Vec<String> {
    let mut out = Vec::new();
    let undouble = |s: &str| -> Option<String> {
        let b = s.as_bytes();
        (b.len() >= 2 && b[b.len() - 1] == b[b.len() - 2] && b[b.len() - 1].is_ascii_alphabetic())
            .then(|| s[..s.len() - 1].to_string())
    };
    if let Some(s) = w.strip_suffix("ies") {
        out.push(format!("{s}y"));
    }
    if let Some(s) = w.strip_suffix("ied") {
        out.push(format!("{s}y"));
    }
    if let Some(s) = w.strip_suffix("es") {
        out.push(s.to_string());
    }
    if let Some(s) = w.strip_suffix('s')
        && !s.ends_with('s')
    {
        out.push(s.to_string());
    }
    if let Some(s) = w.strip_suffix("ed") {
        out.push(s.to_string());
        out.push(format!("{s}e"));
        out.extend(undouble(s));
    }
    if let Some(s) = w.strip_suffix("ing") {
        out.push(s.to_string());
        out.push(format!("{s}e"));
        out.extend(undouble(s));
    }
    if let Some(s) = w.strip_suffix("ly") {
        out.push(s.to_string());
    }
    out
}

/// Scores text with a lexicon. Cheap to clone; build once per run.
#[derive(Debug, Clone)]
pub struct SentimentScorer {
    lexicon: Arc<Lexicon>,
    alpha: f64,
}

impl Default for SentimentScorer {
    fn default() -> Self {
        Self::new()
    }
}

impl SentimentScorer {
    /// The scorer with the built-in lexicon.
    pub fn new() -> Self {
        SentimentScorer {
            lexicon: Lexicon::builtin(),
            alpha: ALPHA,
        }
    }

    pub fn with_lexicon(lexicon: Lexicon) -> Self {
        SentimentScorer {
            lexicon: Arc::new(lexicon),
            alpha: ALPHA,
        }
    }

    /// Sentiment of a text in [-1, 1]; 0 when it has no sentiment terms.
    pub fn score(&self, text: &str) -> f64 {
        compound(self.raw(text), self.alpha)
    }

    /// Sentiment of a news item in [-1, 1]: title terms weigh [`TITLE_WEIGHT`] times more.
    pub fn score_item(&self, title: &str, summary: &str) -> f64 {
        compound(
            TITLE_WEIGHT * self.raw(title) + self.raw(summary),
            self.alpha,
        )
    }

    /// The unnormalised sum of term valences (after negation, boosters and "but").
    pub fn raw(&self, text: &str) -> f64 {
        tokenize(text).iter().map(|s| self.sentence_sum(s)).sum()
    }

    fn sentence_sum(&self, toks: &[Option<String>]) -> f64 {
        let lex = &*self.lexicon;
        // 1. sentiment terms: (start, len, valence)
        let mut terms: Vec<(usize, usize, f64)> = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let Some(w) = &toks[i] else {
                i += 1;
                continue;
            };
            if let Some((len, v)) = self.match_phrase(toks, i) {
                terms.push((i, len, v));
                i += len;
                continue;
            }
            if !lex.is_negator(w)
                && let Some(v) = lex.valence(w)
                && v != 0.0
            {
                terms.push((i, 1, v));
            }
            i += 1;
        }
        // 2. "but": before it counts half, after it 1.5 times
        let but_at = toks
            .iter()
            .rposition(|t| matches!(t.as_deref(), Some("but") | Some("however")));
        let mut sum = 0.0;
        for (start, _len, v0) in terms {
            let mut v = v0;
            // window: up to WINDOW words before the term, within its clause
            let mut window: Vec<usize> = Vec::with_capacity(WINDOW);
            let mut j = start;
            while j > 0 && window.len() < WINDOW {
                j -= 1;
                if toks[j].is_none() {
                    break;
                }
                window.push(j);
            }
            // boosters (multi-word ones must lie wholly in the window)
            for (bwords, bv) in &lex.boosters {
                let n = bwords.len();
                for (d, &end) in window.iter().enumerate() {
                    if end + 1 < n || start - (end + 1 - n) > WINDOW {
                        continue;
                    }
                    let from = end + 1 - n;
                    let hit = (from..=end)
                        .zip(bwords)
                        .all(|(k, bw)| toks[k].as_deref() == Some(bw.as_str()));
                    if hit {
                        v *= 1.0 + bv * BOOSTER_DECAY[d];
                    }
                }
            }
            for &k in &window {
                let Some(w) = toks[k].as_deref() else {
                    continue;
                };
                // "not only ... but also" is not a negation
                if lex.is_negator(w) && toks.get(k + 1).and_then(|t| t.as_deref()) != Some("only") {
                    v *= NEGATION_SCALAR;
                }
            }
            if let Some(b) = but_at {
                v *= if start < b { 0.5 } else { 1.5 };
            }
            sum += v;
        }
        sum
    }

    fn match_phrase(&self, toks: &[Option<String>], i: usize) -> Option<(usize, f64)> {
        let first = toks[i].as_deref()?;
        let cands = self.lexicon.phrases.get(first)?;
        cands.iter().find_map(|(words, v)| {
            let n = words.len();
            let hit = i + n <= toks.len()
                && words
                    .iter()
                    .zip(&toks[i..i + n])
                    .all(|(w, t)| t.as_deref() == Some(w.as_str()));
            hit.then_some((n, *v))
        })
    }
}

/// VADER-style normalisation of a raw sum into [-1, 1].
pub fn compound(raw: f64, alpha: f64) -> f64 {
    if !raw.is_finite() {
        return if raw.is_nan() { 0.0 } else { raw.signum() };
    }
    if raw == 0.0 {
        return 0.0;
    }
    (raw / (raw * raw + alpha).sqrt()).clamp(-1.0, 1.0)
}

/// Lowercased words of a lexicon term, split like text is.
fn words_of(term: &str) -> Vec<String> {
    tokenize(term).into_iter().flatten().flatten().collect()
}

/// Sentences, each a list of lowercased words with `None` at clause breaks. Words keep an
/// inner apostrophe ("don't", "bitcoin's"); hyphens split words ("sell-off" → "sell off").
fn tokenize(text: &str) -> Vec<Vec<Option<String>>> {
    let mut sentences: Vec<Vec<Option<String>>> = Vec::new();
    let mut cur: Vec<Option<String>> = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = text.chars().collect();
    let flush = |word: &mut String, cur: &mut Vec<Option<String>>| {
        if !word.is_empty() {
            cur.push(Some(std::mem::take(word)));
        }
    };
    for (k, &c) in chars.iter().enumerate() {
        let prev = k.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(k + 1).copied();
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if matches!(c, '\'' | '’' | '`')
            && !word.is_empty()
            && next.is_some_and(|n| n.is_alphabetic())
        {
            word.push('\'');
        } else if matches!(c, '.' | ',')
            && prev.is_some_and(|p| p.is_ascii_digit())
            && next.is_some_and(|n| n.is_ascii_digit())
        {
            word.push(c); // 4.5, 10,000
        } else {
            flush(&mut word, &mut cur);
            match c {
                '.' | '!' | '?' | '|' | '\n' => {
                    if cur.iter().any(Option::is_some) {
                        sentences.push(std::mem::take(&mut cur));
                    } else {
                        cur.clear();
                    }
                }
                ',' | ';' | ':' | '—' | '–' | '(' | ')' | '"' | '“' | '”'
                    if cur.last().is_some_and(Option::is_some) =>
                {
                    cur.push(None);
                }
                _ => {}
            }
        }
    }
    flush(&mut word, &mut cur);
    if cur.iter().any(Option::is_some) {
        sentences.push(cur);
    }
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> f64 {
        SentimentScorer::new().score(text)
    }

    #[test]
    fn embedded_lexicon_parses_and_is_a_few_hundred_entries() {
        let lex = Lexicon::parse(LEXICON_SRC).unwrap();
        assert!(lex.len() >= 300, "only {} entries", lex.len());
        assert!(lex.boosters.len() >= 20);
        assert!(lex.negators.contains("never"));
        assert!(lex.phrases.contains_key("rug"));
        // the header documents origin and licence
        let header: String = LEXICON_SRC
            .lines()
            .take_while(|l| l.starts_with('#'))
            .collect();
        assert!(
            header.contains("MIT") && header.contains("no entries"),
            "{header}"
        );
    }

    #[test]
    fn bad_lexicon_lines_are_reported_with_their_line() {
        assert!(
            Lexicon::parse("[words]\ngood x")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(
            Lexicon::parse("[words]\ngood 9")
                .unwrap_err()
                .contains("outside")
        );
        assert!(Lexicon::parse("good 1").unwrap_err().contains("before any"));
        assert!(
            Lexicon::parse("[words]\ngood 1\ngood 2")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            Lexicon::parse("[moods]")
                .unwrap_err()
                .contains("unknown section")
        );
    }

    #[test]
    fn clearly_positive_headlines_score_above_0_3() {
        for h in [
            "Bitcoin surges to all-time high as ETF approval nears",
            "Ethereum rallies strongly after successful upgrade",
            "Analysts turn bullish as institutional adoption grows",
            "Solana soars 20% on record inflows",
        ] {
            assert!(s(h) > 0.3, "{h:?} -> {}", s(h));
        }
    }

    #[test]
    fn clearly_negative_headlines_score_below_minus_0_3() {
        for h in [
            "Exchange hacked, $40M stolen in hot wallet exploit",
            "Bitcoin plunges as sell-off triggers mass liquidations",
            "DeFi protocol rug pull leaves investors with heavy losses",
            "SEC sues exchange over fraud; withdrawals halted",
            "Crypto lender files for bankruptcy amid contagion fears",
        ] {
            assert!(s(h) < -0.3, "{h:?} -> {}", s(h));
        }
    }

    #[test]
    fn negation_flips_sentiment() {
        assert!(s("Analysts are bullish on bitcoin") > 0.3);
        assert!(s("Analysts are not bullish on bitcoin") < 0.0);
        assert!(s("Traders aren't optimistic") < 0.0);
        assert!(s("Traders aren’t optimistic") < 0.0);
        assert!(s("The upgrade was never successful") < 0.0);
        assert!(s("No sign of panic among holders") > 0.0);
        // negation stops at a clause break
        assert!(s("Not today, but bitcoin is bullish") > 0.3);
        // "not only" is not a negation
        assert!(s("Not only bullish but euphoric") > 0.0);
        // a negated negative is milder than the positive word itself
        assert!(s("This is not a crash") > 0.0);
        assert!(s("This is not a crash").abs() < s("This is a crash").abs());
    }

    #[test]
    fn intensifiers_scale_magnitude() {
        let plain = s("Bitcoin is bullish");
        let very = s("Bitcoin is very bullish");
        let extremely = s("Bitcoin is extremely bullish");
        let slightly = s("Bitcoin is slightly bullish");
        assert!(
            very > plain && extremely > very,
            "{plain} {very} {extremely}"
        );
        assert!(slightly < plain && slightly > 0.0, "{slightly}");
        let neg = s("Markets are bearish");
        let very_neg = s("Markets are extremely bearish");
        assert!(very_neg < neg, "{neg} {very_neg}");
        assert!(s("Markets are a bit bearish") > neg);
    }

    #[test]
    fn neutral_text_scores_zero() {
        for h in [
            "Cboe resubmits the VanEck/SolidX bitcoin ETF proposal to the SEC",
            "NYDFS grants BitLicense to third bitcoin ATM operator",
            "What is a blockchain?",
            "",
            "   ",
        ] {
            assert!(s(h).abs() < 0.05, "{h:?} -> {}", s(h));
        }
    }

    #[test]
    fn but_shifts_weight_to_the_second_half() {
        let x = s("Bitcoin dipped slightly, but analysts remain very bullish");
        assert!(x > 0.3, "{x}");
        let y = s("Bitcoin rallied early, but a sharp sell-off erased the gains");
        assert!(y < 0.0, "{y}");
    }

    #[test]
    fn phrases_and_inflections_are_recognised() {
        assert!(s("short squeeze") > 0.0);
        assert!(s("a rug-pull") < 0.0);
        assert!(s("sell off") < 0.0 && s("selloff") < 0.0);
        assert!(s("51% attack on the chain") < -0.3);
        assert!(s("It surged") > 0.0 && s("surging") > 0.0 && s("plummeting") < 0.0);
        assert!(s("bitcoin's rally") > 0.0);
    }

    #[test]
    fn scores_always_stay_in_range() {
        let long_pos = "bullish rally surge moon ".repeat(500);
        let long_neg = "very extremely hacked scam crash ".repeat(500);
        let mixed = "not no never very extremely slightly but however , . ! ? — ' ’ `".repeat(50);
        for t in [
            long_pos.as_str(),
            long_neg.as_str(),
            mixed.as_str(),
            "\u{0}\u{feff}ßẞ ﬁ 𝔅𝔗ℭ",
        ] {
            let v = s(t);
            assert!((-1.0..=1.0).contains(&v) && v.is_finite(), "{v}");
        }
        assert!(s(&long_pos) > 0.99 && s(&long_neg) < -0.99);
        assert_eq!(compound(f64::NAN, ALPHA), 0.0);
        assert_eq!(compound(f64::INFINITY, ALPHA), 1.0);
        // item scoring weighs the title
        let sc = SentimentScorer::new();
        let v = sc.score_item("Bitcoin crashes", "Analysts see a recovery ahead.");
        assert!(v < 0.0 && (-1.0..=1.0).contains(&v), "{v}");
    }
}
