//! One freshness rule for every job that acts on "now".
//!
//! A symbol's data is **fresh** at a time `T` (the run's clock, or `--as-of T`) when the last
//! candle of the timeframe that closed by `T` closed at most `max_age` before `T`:
//!
//! ```text
//! age = T − close time of the last candle closed by T      (close time = open time + interval)
//! fresh  ⇔  age ≤ max_age(timeframe)
//! ```
//!
//! `max_age(timeframe)`, first match wins:
//! 1. `[market.max_candle_age_secs]` in `fks.toml`, an entry for that timeframe (`1h = 7500`);
//! 2. `market.max_price_age_secs`, the older single key, when set: one limit for every
//!    timeframe, as it always meant (the age of the last close);
//! 3. the default: two intervals plus [`SLACK_SECS`] (`1h` → 7,500 s, `1d` → 173,100 s). A
//!    store synced every few minutes never comes near it; one candle missed is tolerated, two
//!    are not.
//!
//! A stale symbol gives no signal, order or notification: the jobs report it with
//! `"status": "stale"`, its last candle time and age, and end `partial` (exit 3), or `error`
//! (exit 1) when every symbol is stale. Prices read from a venue in the same run (a Binance
//! ticker) are as old as the request, so they are fresh by construction.
//!
//! The rule is pure ([`FreshnessRule::check`]); [`of_candles`] reads the store for it.

use crate::core::config::MarketConfig;
use crate::core::market::{Symbol, Timeframe};
use crate::core::store::{Store, candles};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// Slack added to two intervals in the default limit: room for the sync schedule (every 5
/// minutes by default) and the exchange's own delay in publishing a closed candle.
pub const SLACK_SECS: u64 = 300;

/// The built-in limit for `tf`: two intervals plus [`SLACK_SECS`].
pub fn default_max_age_secs(tf: Timeframe) -> u64 {
    2 * (tf.millis() / 1000) as u64 + SLACK_SECS
}

/// Where a limit came from (shown in the output, so a user knows which key to change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// `[market.max_candle_age_secs]`, the entry for the timeframe.
    MaxCandleAgeSecs,
    /// The older `market.max_price_age_secs`.
    MaxPriceAgeSecs,
    /// Two intervals plus the slack.
    Default,
}

impl LimitSource {
    pub fn describe(self, tf: Timeframe) -> String {
        match self {
            LimitSource::MaxCandleAgeSecs => format!("market.max_candle_age_secs.{tf}"),
            LimitSource::MaxPriceAgeSecs => "market.max_price_age_secs".into(),
            LimitSource::Default => format!(
                "default for {tf}: two intervals + {} min; set [market.max_candle_age_secs] {tf} = SECONDS to change it",
                SLACK_SECS / 60
            ),
        }
    }
}

/// The rule, resolved from `[market]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreshnessRule {
    pub per_timeframe: BTreeMap<Timeframe, u64>,
    pub max_price_age_secs: Option<u64>,
}

/// The state of one symbol's data at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FreshState {
    Fresh,
    Stale,
    /// No candle of the timeframe closed by the time.
    NoData,
}

/// What the rule says about one symbol at one time; serialises as a result entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Freshness {
    pub symbol: Symbol,
    /// `fresh`, `stale` or `no_data`.
    pub status: FreshState,
    pub timeframe: Timeframe,
    /// Open time (ms) of the last candle closed by `as_of`: the candle's identity.
    pub last_candle_open_time: Option<i64>,
    /// The same, RFC 3339.
    pub last_candle_time: Option<String>,
    /// When its close became known (open time + interval), RFC 3339.
    pub last_close_time: Option<String>,
    /// `as_of` − the close time, in seconds.
    pub age_secs: Option<i64>,
    /// The age for people: `554d 3h`, `2h 5m`.
    pub age: Option<String>,
    pub max_age_secs: u64,
    pub max_age_from: LimitSource,
    /// The time the rule was applied at (the run's clock or `--as-of`).
    pub as_of: String,
    /// One line saying why it is not fresh (None when fresh).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Freshness {
    pub fn is_fresh(&self) -> bool {
        self.status == FreshState::Fresh
    }

    /// The result entry of a stale symbol (`"status": "stale"`, times, age, reason).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// `3h 12m`, `2d 4h`, `45m`, `30s`.
pub fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    // i64::MAX ms is about 292 million years: no overflow below.
    let m = ms / 60_000;
    match m {
        m if m >= 2 * 1440 => format!("{}d {}h", m / 1440, (m % 1440) / 60),
        m if m >= 60 => format!("{}h {}m", m / 60, m % 60),
        0 => format!("{}s", ms / 1000),
        m => format!("{m}m"),
    }
}

impl FreshnessRule {
    pub fn from_market(m: &MarketConfig) -> Self {
        FreshnessRule {
            per_timeframe: m.max_candle_age_secs.clone(),
            max_price_age_secs: m.max_price_age_secs,
        }
    }

    /// The limit for `tf` in seconds, and where it came from (see the module docs).
    pub fn max_age(&self, tf: Timeframe) -> (u64, LimitSource) {
        if let Some(s) = self.per_timeframe.get(&tf) {
            (*s, LimitSource::MaxCandleAgeSecs)
        } else if let Some(s) = self.max_price_age_secs {
            (s, LimitSource::MaxPriceAgeSecs)
        } else {
            (default_max_age_secs(tf), LimitSource::Default)
        }
    }

    /// The limit for `tf` in milliseconds.
    pub fn max_age_ms(&self, tf: Timeframe) -> i64 {
        (self.max_age(tf).0 as i64).saturating_mul(1000)
    }

    /// The rule applied at `as_of` to `symbol`, whose last `tf` candle closed by `as_of` opened
    /// at `last_open_time` (None: no candle).
    pub fn check(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        last_open_time: Option<i64>,
        as_of: i64,
    ) -> Freshness {
        self.check_close(
            symbol,
            tf,
            last_open_time.map(|t| t.saturating_add(tf.millis())),
            as_of,
        )
    }

    /// The rule applied at `as_of` to a price known since `price_time` (a candle's close time,
    /// as [`crate::core::positions::latest_stored_price`] returns it), judged by the limit of `tf`.
    pub fn check_close(
        &self,
        symbol: &Symbol,
        tf: Timeframe,
        close_time: Option<i64>,
        as_of: i64,
    ) -> Freshness {
        let (max_age_secs, from) = self.max_age(tf);
        let fmt = crate::core::time::fmt_ms;
        let mut f = Freshness {
            symbol: symbol.clone(),
            status: FreshState::NoData,
            timeframe: tf,
            last_candle_open_time: close_time.map(|c| c.saturating_sub(tf.millis())),
            last_candle_time: close_time.map(|c| fmt(c.saturating_sub(tf.millis()))),
            last_close_time: close_time.map(fmt),
            age_secs: None,
            age: None,
            max_age_secs,
            max_age_from: from,
            as_of: fmt(as_of),
            reason: None,
        };
        let Some(close) = close_time else {
            f.reason = Some(format!(
                "no {tf} candle of {symbol} closed by {}: sync or import its candles first",
                fmt(as_of)
            ));
            return f;
        };
        let age = as_of.saturating_sub(close).max(0);
        f.age_secs = Some(age / 1000);
        f.age = Some(human_duration(age));
        if age <= (max_age_secs as i64).saturating_mul(1000) {
            f.status = FreshState::Fresh;
        } else {
            f.status = FreshState::Stale;
            f.reason = Some(format!(
                "the last {tf} candle of {symbol} closed {} before {}, more than {} ({}): not used; sync market data first",
                human_duration(age),
                fmt(as_of),
                human_duration(max_age_secs as i64 * 1000),
                from.describe(tf)
            ));
        }
        f
    }
}

/// The rule applied to `symbol`'s stored `tf` candles at `as_of`: reads the last candle that
/// closed by `as_of` (never one after it).
pub async fn of_candles(
    store: &Store,
    rule: &FreshnessRule,
    symbol: &Symbol,
    tf: Timeframe,
    as_of: i64,
) -> Result<Freshness> {
    let last = candles::last_closed_open_time(store, symbol, tf, as_of).await?;
    Ok(rule.check(symbol, tf, last, as_of))
}

/// A position of a valuation whose mark is not fresh by the rule: its freshness entry (the
/// same fields as a stale symbol's) plus the price the figures use and when it was known.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaleMark {
    #[serde(flatten)]
    pub freshness: Freshness,
    pub side: crate::core::positions::PositionSide,
    /// The price the valuation marks it at (`null`: none known, marked at its entry).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub price: Option<rust_decimal::Decimal>,
    /// When that price was known (ms): a candle's close, or the snapshot's ticker time.
    pub price_time: Option<i64>,
}

/// The rule applied at `as_of` to every mark of a valuation, judged by the limit of `tf`
/// (the configured timeframe), as analyze-risk judges them: the positions whose price is
/// stale or missing. Spot assets without a quote market are not part of the valued account
/// and are not listed. Empty when every figure of the valuation is current.
pub fn stale_marks(
    v: &crate::core::valuation::Valuation,
    rule: &FreshnessRule,
    tf: Timeframe,
    as_of: i64,
) -> Vec<StaleMark> {
    let spot = crate::core::exchange::venue::profile(v.kind).spot_balances;
    v.positions
        .iter()
        .filter(|p| !(spot && p.price.is_none()))
        .filter_map(|p| {
            let f = rule.check_close(&p.symbol, tf, p.price.and(p.price_time), as_of);
            (!f.is_fresh()).then(|| StaleMark {
                freshness: f,
                side: p.side,
                price: p.price,
                price_time: p.price_time.filter(|_| p.price.is_some()),
            })
        })
        .collect()
}

/// One sentence naming the stale marks: `BNBUSDT 271.2 at 2022-10-11T11:00:00Z (1518d 7h
/// old, limit 2h 5m); LTCUSDT no price`.
pub fn describe_stale_marks(marks: &[StaleMark]) -> String {
    marks
        .iter()
        .map(|m| {
            let f = &m.freshness;
            match (m.price, m.price_time, f.age.as_deref()) {
                (Some(p), Some(t), Some(age)) => format!(
                    "{} {} at {} ({age} old, limit {})",
                    f.symbol,
                    p.normalize(),
                    crate::core::time::fmt_ms(t),
                    human_duration((f.max_age_secs as i64).saturating_mul(1000))
                ),
                _ => format!("{} has no price (marked at its entry)", f.symbol),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The upper bound of a read "by the clock": the open time of the last `tf` candle that has
/// closed by `now_ms` (pass it as the inclusive `to` of a candle read).
pub fn last_closed_open(tf: Timeframe, now_ms: i64) -> i64 {
    now_ms.saturating_sub(tf.millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const T: i64 = 1_704_067_200_000;

    fn sym() -> Symbol {
        Symbol("ETHUSDT".into())
    }

    #[test]
    fn defaults_are_two_intervals_plus_slack() {
        assert_eq!(default_max_age_secs(Timeframe::H1), 7500);
        assert_eq!(default_max_age_secs(Timeframe::M1), 420);
        assert_eq!(default_max_age_secs(Timeframe::D1), 2 * 86_400 + 300);
        assert_eq!(default_max_age_secs(Timeframe::W1), 14 * 86_400 + 300);
        let r = FreshnessRule::default();
        assert_eq!(
            r.max_age(Timeframe::H4),
            (8 * 3600 + 300, LimitSource::Default)
        );
    }

    #[test]
    fn precedence_table_then_old_key_then_default() {
        let r = FreshnessRule {
            per_timeframe: BTreeMap::from([(Timeframe::H1, 4000)]),
            max_price_age_secs: Some(900),
        };
        assert_eq!(
            r.max_age(Timeframe::H1),
            (4000, LimitSource::MaxCandleAgeSecs)
        );
        assert_eq!(
            r.max_age(Timeframe::D1),
            (900, LimitSource::MaxPriceAgeSecs)
        );
        let r = FreshnessRule {
            max_price_age_secs: None,
            ..r
        };
        assert_eq!(
            r.max_age(Timeframe::D1),
            (default_max_age_secs(Timeframe::D1), LimitSource::Default)
        );
    }

    #[test]
    fn age_is_measured_from_the_close_and_the_limit_is_inclusive() {
        let r = FreshnessRule::default();
        let open = T;
        let close = T + H;
        let f = r.check(&sym(), Timeframe::H1, Some(open), close + 7500 * 1000);
        assert!(f.is_fresh(), "{f:?}");
        assert_eq!(f.age_secs, Some(7500));
        let f = r.check(&sym(), Timeframe::H1, Some(open), close + 7500 * 1000 + 1);
        assert_eq!(f.status, FreshState::Stale);
        assert!(f.reason.as_deref().unwrap().contains("ETHUSDT"));
        assert_eq!(f.last_candle_time.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(f.last_close_time.as_deref(), Some("2024-01-01T01:00:00Z"));
        let none = r.check(&sym(), Timeframe::H1, None, close);
        assert_eq!(none.status, FreshState::NoData);
        assert!(!none.is_fresh());
    }

    #[test]
    fn five_hundred_fifty_four_days_is_stale_and_says_so() {
        let r = FreshnessRule::default();
        let f = r.check(&sym(), Timeframe::H1, Some(T), T + H + 554 * 86_400_000);
        assert_eq!(f.status, FreshState::Stale);
        assert_eq!(f.age.as_deref(), Some("554d 0h"));
        assert_eq!(f.age_secs, Some(554 * 86_400));
        let v = f.to_json();
        assert_eq!(v["status"], "stale");
        assert_eq!(v["max_age_secs"], 7500);
        assert_eq!(v["last_candle_open_time"], T);
    }

    proptest::proptest! {
        /// Any times and limits: no panic; fresh exactly when the age since the close is
        /// within the limit; a later time is never fresher.
        #[test]
        fn the_rule_is_total_and_monotone(
            open in proptest::prelude::any::<i64>(),
            as_of in proptest::prelude::any::<i64>(),
            later in 0i64..10_000_000_000,
            limit in proptest::option::of(1u64..10_000_000),
            tf_i in 0usize..Timeframe::ALL.len(),
        ) {
            let tf = Timeframe::ALL[tf_i];
            let r = FreshnessRule {
                per_timeframe: limit.map(|l| BTreeMap::from([(tf, l)])).unwrap_or_default(),
                max_price_age_secs: None,
            };
            let f = r.check(&sym(), tf, Some(open), as_of);
            let close = open.saturating_add(tf.millis());
            let age = as_of.saturating_sub(close).max(0);
            proptest::prop_assert_eq!(
                f.is_fresh(),
                age <= (r.max_age(tf).0 as i64).saturating_mul(1000)
            );
            let g = r.check(&sym(), tf, Some(open), as_of.saturating_add(later));
            proptest::prop_assert!(f.is_fresh() || !g.is_fresh());
            proptest::prop_assert!(!r.check(&sym(), tf, None, as_of).is_fresh());
        }
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(30_000), "30s");
        assert_eq!(human_duration(45 * 60_000), "45m");
        assert_eq!(human_duration(7500 * 1000), "2h 5m");
        assert_eq!(human_duration(3 * 86_400_000 + 4 * H), "3d 4h");
    }
}
