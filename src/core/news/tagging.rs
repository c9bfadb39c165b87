//! Which symbols a news item mentions.
//!
//! Matching rules:
//! - whole words only: text is split into runs of letters and digits, so "BTC", "$BTC",
//!   "BTC/USDT" and "bitcoin's" match, "subtc" and "method" do not;
//! - an alias of several words ("bitcoin cash", "shiba inu") matches those words in a row,
//!   whatever separates them ("Bitcoin-Cash"); at each place the longest alias wins, so
//!   "Bitcoin Cash" tags BCHUSDT and not BTCUSDT;
//! - case-insensitive, except an alias written all in capitals ("LINK", "DOT", "TON"),
//!   which must appear in capitals: that is how the defaults keep "a link", "a dot" and
//!   "a ton of" from tagging anything;
//! - every symbol also matches its base ticker in capitals ("ARB" for ARBUSDT), derived by
//!   removing a quote currency suffix (USDT, USDC, FDUSD, BUSD, TUSD, USD, EUR).
//!
//! - names of other coins that begin with an alias ("Bitcoin SV", "Ethereum Classic", see
//!   [`NOT_ALIASES`]) tag nothing.
//!
//! Items are tagged from their title and summary.

use super::{NewsError, NewsItem};
use crate::core::market::Symbol;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Built-in aliases for the largest coins against USDT. Lowercase aliases match in any
/// case; capitalised ones only in capitals (they are also ordinary English words).
pub const DEFAULT_ALIASES: &[(&str, &[&str])] = &[
    ("BTCUSDT", &["bitcoin", "btc", "xbt"]),
    ("ETHUSDT", &["ethereum", "eth", "ether"]),
    ("BNBUSDT", &["bnb", "binance coin"]),
    ("SOLUSDT", &["solana", "SOL"]),
    ("XRPUSDT", &["xrp", "ripple"]),
    ("ADAUSDT", &["cardano", "ADA"]),
    ("DOGEUSDT", &["dogecoin", "doge"]),
    ("TRXUSDT", &["tron", "trx"]),
    ("TONUSDT", &["toncoin", "TON"]),
    (
        "AVAXUSDT",
        &[
            "avax",
            "avalanche network",
            "avalanche blockchain",
            "avalanche c-chain",
        ],
    ),
    ("DOTUSDT", &["polkadot", "DOT"]),
    ("LINKUSDT", &["chainlink", "LINK"]),
    ("LTCUSDT", &["litecoin", "ltc"]),
    ("BCHUSDT", &["bitcoin cash", "bch"]),
    ("XLMUSDT", &["stellar lumens", "xlm", "lumens"]),
    ("SHIBUSDT", &["shiba inu", "shib"]),
    ("POLUSDT", &["polygon", "matic", "POL"]),
];

/// Names that start like an alias but mean another coin ("Bitcoin SV" is not bitcoin). They
/// tag nothing, unless a configured alias of the same length names them.
pub const NOT_ALIASES: &[&str] = &[
    "bitcoin sv",
    "bitcoin gold",
    "bitcoin diamond",
    "bitcoin satoshi vision",
    "ethereum classic",
    "ethereum pow",
    "ethereum name service",
];

const QUOTES: &[&str] = &["FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR"];

#[derive(Debug, Clone)]
struct Alias {
    /// Words of the alias, lowercased unless `exact`.
    words: Vec<String>,
    exact: bool,
    /// `None` for a [`NOT_ALIASES`] entry.
    symbol: Option<Symbol>,
}

/// Tags items with the symbols they mention. Build once, use for every item.
#[derive(Debug, Clone)]
pub struct SymbolTagger {
    /// Aliases keyed by their first word, lowercased.
    by_first: HashMap<String, Vec<Alias>>,
    symbols: BTreeSet<Symbol>,
}

impl SymbolTagger {
    /// A tagger with exactly these aliases (symbol → names), plus each symbol's base ticker.
    pub fn new(aliases: &BTreeMap<String, Vec<String>>) -> Result<Self, NewsError> {
        let mut t = SymbolTagger {
            by_first: HashMap::new(),
            symbols: BTreeSet::new(),
        };
        for name in NOT_ALIASES {
            t.insert(name, None);
        }
        for (sym, names) in aliases {
            t.add(sym, names.iter().map(String::as_str))?;
        }
        Ok(t)
    }

    /// The built-in [`DEFAULT_ALIASES`], with `overrides` replacing the aliases of the symbols
    /// they name and adding new symbols.
    pub fn with_defaults(overrides: &BTreeMap<String, Vec<String>>) -> Result<Self, NewsError> {
        let mut merged: BTreeMap<String, Vec<String>> = DEFAULT_ALIASES
            .iter()
            .map(|(s, a)| (s.to_string(), a.iter().map(|x| x.to_string()).collect()))
            .collect();
        for (sym, names) in overrides {
            let key = normalize_symbol(sym)?.0;
            merged.insert(key, names.clone());
        }
        Self::new(&merged)
    }

    /// The tagger with only the built-in aliases.
    pub fn defaults() -> Self {
        Self::with_defaults(&BTreeMap::new())
            .expect("built-in aliases are valid (checked by tests)")
    }

    /// Every symbol this tagger can report.
    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.symbols.iter()
    }

    fn add<'a>(
        &mut self,
        sym: &str,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), NewsError> {
        let symbol = normalize_symbol(sym)?;
        let mut all: Vec<String> = names.map(str::to_string).collect();
        if let Some(base) = base_ticker(symbol.as_str()) {
            all.push(base.to_string());
        }
        for name in all {
            let words = words_of(&name);
            if words.is_empty() {
                return Err(NewsError::Config(format!(
                    "news alias {name:?} for {symbol} has no letters or digits"
                )));
            }
            self.insert(&name, Some(symbol.clone()));
        }
        self.symbols.insert(symbol);
        Ok(())
    }

    fn insert(&mut self, name: &str, symbol: Option<Symbol>) {
        let words = words_of(name);
        if words.is_empty() {
            return;
        }
        let exact =
            name.chars().any(|c| c.is_alphabetic()) && !name.chars().any(|c| c.is_lowercase());
        let words: Vec<String> = if exact {
            words.iter().map(|w| w.to_string()).collect()
        } else {
            words.iter().map(|w| w.to_lowercase()).collect()
        };
        let first = words[0].to_lowercase();
        let list = self.by_first.entry(first).or_default();
        if !list
            .iter()
            .any(|a| a.words == words && a.exact == exact && a.symbol == symbol)
        {
            list.push(Alias {
                words,
                exact,
                symbol,
            });
        }
    }

    /// Symbols mentioned in `text`, sorted.
    pub fn tag_text(&self, text: &str) -> Vec<Symbol> {
        let mut found = BTreeSet::new();
        self.scan(text, &mut found);
        found.into_iter().collect()
    }

    /// Symbols mentioned in an item's title or summary, sorted. The source's categories are
    /// not used: feeds such as Cointelegraph's put "Bitcoin" on most items whatever they are
    /// about.
    pub fn tag_item(&self, item: &NewsItem) -> Vec<Symbol> {
        let mut found = BTreeSet::new();
        self.scan(&item.title, &mut found);
        self.scan(&item.summary, &mut found);
        found.into_iter().collect()
    }

    fn scan(&self, text: &str, found: &mut BTreeSet<Symbol>) {
        let words = words_of(text);
        let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        let mut i = 0;
        while i < words.len() {
            let mut best: Option<&Alias> = None;
            if let Some(cands) = self.by_first.get(&lower[i]) {
                for a in cands {
                    let n = a.words.len();
                    if i + n > words.len() || best.is_some_and(|b| b.words.len() >= n) {
                        continue;
                    }
                    let hit = if a.exact {
                        a.words.iter().zip(&words[i..i + n]).all(|(x, y)| x == y)
                    } else {
                        a.words.iter().zip(&lower[i..i + n]).all(|(x, y)| x == y)
                    };
                    if hit {
                        best = Some(a);
                    }
                }
            }
            match best {
                Some(a) => {
                    // Several symbols may share the longest alias; report them all.
                    let n = a.words.len();
                    for b in self.by_first.get(&lower[i]).into_iter().flatten() {
                        let same = b.words.len() == n
                            && if b.exact {
                                b.words.iter().zip(&words[i..i + n]).all(|(x, y)| x == y)
                            } else {
                                b.words.iter().zip(&lower[i..i + n]).all(|(x, y)| x == y)
                            };
                        if same && let Some(sym) = &b.symbol {
                            found.insert(sym.clone());
                        }
                    }
                    i += n;
                }
                None => i += 1,
            }
        }
    }
}

fn normalize_symbol(sym: &str) -> Result<Symbol, NewsError> {
    sym.parse::<Symbol>()
        .map_err(|e| NewsError::Config(format!("news aliases: {e:#}")))
}

/// "BTCUSDT" → "BTC"; `None` when no known quote suffix is found.
fn base_ticker(sym: &str) -> Option<&str> {
    QUOTES
        .iter()
        .find_map(|q| sym.strip_suffix(q))
        .filter(|b| !b.is_empty())
}

/// Runs of letters and digits.
fn words_of(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms(v: &[&str]) -> Vec<Symbol> {
        v.iter().map(|s| Symbol(s.to_string())).collect()
    }

    fn config_tagger() -> SymbolTagger {
        let mut m = BTreeMap::new();
        m.insert(
            "BTCUSDT".to_string(),
            vec!["bitcoin".into(), "btc".into(), "xbt".into()],
        );
        m.insert(
            "ETHUSDT".to_string(),
            vec!["ethereum".into(), "eth".into(), "ether".into()],
        );
        SymbolTagger::new(&m).unwrap()
    }

    #[test]
    fn tickers_and_names_are_found_in_any_case() {
        let t = config_tagger();
        assert_eq!(t.tag_text("BTC tops $4k"), syms(&["BTCUSDT"]));
        assert_eq!(
            t.tag_text("Bitcoin's hashrate hits a record"),
            syms(&["BTCUSDT"])
        );
        assert_eq!(t.tag_text("bitcoin’s rally"), syms(&["BTCUSDT"]));
        assert_eq!(t.tag_text("$btc and $ETH"), syms(&["BTCUSDT", "ETHUSDT"]));
        assert_eq!(
            t.tag_text("BTC/USDT and ETH-PERP"),
            syms(&["BTCUSDT", "ETHUSDT"])
        );
        assert_eq!(t.tag_text("XBT futures"), syms(&["BTCUSDT"]));
        assert_eq!(
            t.tag_text("Ethereum-based tokens, (ether)"),
            syms(&["ETHUSDT"])
        );
    }

    #[test]
    fn words_inside_other_words_do_not_match() {
        let t = config_tagger();
        for text in [
            "subtc",
            "A new method for testing",
            "Ethernet cables and ethics",
            "the bitcoiner meetup",
            "Something else entirely",
            "Bethany wrote a poem",
            "",
        ] {
            assert!(
                t.tag_text(text).is_empty(),
                "{text:?} -> {:?}",
                t.tag_text(text)
            );
        }
    }

    #[test]
    fn defaults_cover_the_top_coins_and_avoid_common_words() {
        let t = SymbolTagger::defaults();
        assert_eq!(t.symbols().count(), DEFAULT_ALIASES.len());
        assert_eq!(
            t.tag_text("Solana and Cardano gain"),
            syms(&["ADAUSDT", "SOLUSDT"])
        );
        assert_eq!(
            t.tag_text("LINK and DOT rise"),
            syms(&["DOTUSDT", "LINKUSDT"])
        );
        assert_eq!(t.tag_text("Click the link, a dot, a ton of sol"), syms(&[]));
        // longest alias wins: Bitcoin Cash is BCH, not BTC
        assert_eq!(t.tag_text("Bitcoin Cash hard fork"), syms(&["BCHUSDT"]));
        assert_eq!(
            t.tag_text("Bitcoin-Cash and bitcoin"),
            syms(&["BCHUSDT", "BTCUSDT"])
        );
        assert_eq!(t.tag_text("Shiba Inu burns tokens"), syms(&["SHIBUSDT"]));
        assert_eq!(t.tag_text("A ripple effect"), syms(&["XRPUSDT"]));
        // other coins whose names start with an alias
        assert_eq!(
            t.tag_text("Bitcoin SV and Ethereum Classic fork"),
            syms(&[])
        );
        assert_eq!(t.tag_text("Bitcoin SV, not bitcoin"), syms(&["BTCUSDT"]));
    }

    #[test]
    fn config_overrides_defaults_and_adds_base_tickers() {
        let mut m = BTreeMap::new();
        m.insert("xrpusdt".to_string(), vec!["xrp".into()]); // drop "ripple"
        m.insert("ARBUSDT".to_string(), vec!["arbitrum".into()]);
        let t = SymbolTagger::with_defaults(&m).unwrap();
        assert_eq!(t.tag_text("A ripple effect"), syms(&[]));
        assert_eq!(
            t.tag_text("XRP and Arbitrum"),
            syms(&["ARBUSDT", "XRPUSDT"])
        );
        assert_eq!(t.tag_text("ARB airdrop"), syms(&["ARBUSDT"]));
        assert_eq!(t.tag_text("an arb trade"), syms(&[]));
        // a configured alias beats a built-in exclusion of the same length
        let mut m = BTreeMap::new();
        m.insert("BSVUSDT".to_string(), vec!["bitcoin sv".into()]);
        let t = SymbolTagger::with_defaults(&m).unwrap();
        assert_eq!(t.tag_text("Bitcoin SV rallies"), syms(&["BSVUSDT"]));
    }

    #[test]
    fn bad_aliases_are_config_errors() {
        let mut m = BTreeMap::new();
        m.insert("BTC/USDT".to_string(), vec!["bitcoin".into()]);
        assert!(matches!(SymbolTagger::new(&m), Err(NewsError::Config(_))));
        let mut m = BTreeMap::new();
        m.insert("BTCUSDT".to_string(), vec!["--".into()]);
        assert!(matches!(SymbolTagger::new(&m), Err(NewsError::Config(_))));
    }

    #[test]
    fn items_are_tagged_from_title_and_summary_only() {
        let t = SymbolTagger::defaults();
        let item = NewsItem {
            source: "s".into(),
            id: "i".into(),
            title: "Cboe refiles ETF proposal".into(),
            summary: "The exchange refiled the bitcoin ETF proposal.".into(),
            link: None,
            published_ms: None,
            categories: vec!["Litecoin".into()],
            symbols: vec![],
            sentiment: 0.0,
        };
        assert_eq!(t.tag_item(&item), syms(&["BTCUSDT"]));
    }
}
