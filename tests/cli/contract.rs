//! The output contract (README, "Output and exit codes"): every job's JSON, walked field by
//! field against one table of field kinds. Money is a JSON number rounded to its currency's
//! precision, quantities and exchange prices are exact decimal strings, fractions,
//! percentages and statistics are numbers, counts, ids and times are integers, nothing is
//! `-0`. A numeric field the table does not know fails the test, so a new field must be
//! classified here (and in the README when it is a new kind).
//!
//! The jobs run as the real binary: `fks demo` (every step of its daily cycle), then every
//! subcommand by hand on a store built from scratch through the CLI (SQLite and Postgres),
//! with a loopback exchange serving candles and a news feed, paper accounts quoted in USDT
//! and in BTC, and Binance spot and futures accounts on the loopback account desk.

use crate::support::binance::{Desk, KEY, SECRET, mount_account};
use crate::support::{Sandbox, rt};
use fks::core::demo_data;
use fks::core::fake_binance::{FakeBinance, Series};
use fks::core::market::{Candle, Timeframe};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a field holds, and so how it must be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An amount of a currency: a number with at most the currency's decimals.
    Money,
    /// A quantity: an exact decimal string.
    Qty,
    /// An exchange price (or a computed price: entries, stops): an exact decimal string.
    Price,
    /// A fraction of a whole in [-1, 1] (weights, allocations, confidences, probabilities).
    Share,
    /// A fraction or ratio, 1 = 100 %, any size (returns as fractions, exposure ratios).
    Frac,
    /// A percentage, 100 = 100 %.
    Pct,
    /// Basis points.
    Bps,
    /// A statistic, an indicator value, a strategy parameter, a backtest's simulated equity.
    Stat,
    /// A count: an integer >= 0.
    Count,
    /// An integer (ids, exit codes).
    Int,
    /// A time: integer ms since the epoch, or RFC 3339 / date text.
    Time,
    /// A duration: an integer in the unit its name says (`_ms`, `_secs`).
    Dur,
    /// Text that may look like a number (client order ids, hashes, argv): never a JSON number.
    Text,
    /// An identifier the exchange made: an integer or a string.
    Id,
}
use Kind::*;

/// Field kinds by name. `parent.name` entries win over `name`; `map.*` gives the kind of
/// every value of a map keyed by symbols, accounts or names.
const FIELDS: &[(&str, Kind)] = &[
    // money
    ("balance", Money),
    ("equity", Money),
    ("cash", Money),
    ("cash_free", Money),
    ("cash_before", Money),
    ("cash_after", Money),
    ("unrealized_pnl", Money),
    ("realized_pnl", Money),
    ("daily_pnl", Money),
    ("cumulative_pnl", Money),
    ("margin_used", Money),
    ("margin_available", Money),
    ("positions_value", Money),
    ("gross_exposure", Money),
    ("fees_paid", Money),
    ("fee", Money),
    ("fees", Money),
    ("est_fee", Money),
    ("notional", Money),
    ("run_notional", Money),
    ("total_value", Money),
    ("total_value_after", Money),
    ("total_position_value", Money),
    ("value", Money),
    ("amount", Money),
    ("cap", Money),
    ("available", Money),
    ("position_size_usd", Money),
    ("risk_usd", Money),
    ("account_balance", Money),
    ("available_cash", Money),
    ("balance_after", Money),
    ("initial_cash", Money),
    ("baseline", Money),
    ("var_95_1d", Money),
    ("portfolio_var_95_1d", Money),
    ("start_equity", Money),
    ("end_equity", Money),
    ("equity_change", Money),
    ("pnl", Money),
    ("min_notional", Money),
    ("max_notional", Money),
    // quantities and prices
    ("quantity", Qty),
    ("qty", Qty),
    ("filled_qty", Qty),
    ("free", Qty),
    ("locked", Qty),
    ("volume", Qty),
    ("reason.step", Qty),
    ("reason.lot_step", Qty),
    ("reason.market_step", Qty),
    ("reason.min", Price),
    ("reason.max", Price),
    ("min_qty", Qty),
    ("max_qty", Qty),
    ("price", Price),
    ("entry_price", Price),
    ("avg_price", Price),
    ("current_price", Price),
    ("est_price", Price),
    ("last_price", Price),
    ("mark_price", Price),
    ("stop_loss", Price),
    ("take_profit", Price),
    ("stop_price", Price),
    ("stop", Price),
    ("effective_stop", Price),
    ("fixed_stop", Price),
    ("trailing_stop", Price),
    ("high_water", Price),
    ("low_water", Price),
    ("new_high_water", Price),
    ("new_low_water", Price),
    ("new_trailing_stop", Price),
    ("entry_points", Price),
    ("open", Price),
    ("high", Price),
    ("low", Price),
    ("close", Price),
    ("tick", Price),
    // fractions, percentages, basis points
    ("from_frac", Share),
    ("to_frac", Share),
    ("target_frac", Share),
    ("cash_frac_before", Share),
    ("cash_frac_after", Share),
    ("allocation_before.*", Share),
    ("allocation_after.*", Share),
    ("current_allocation", Share),
    ("current_allocation.*", Share),
    ("target_allocation", Share),
    ("target_allocation.*", Share),
    ("cash_weight", Share),
    ("weight", Share),
    ("band", Share),
    ("confidence", Share),
    ("min_confidence", Share),
    ("mean_confidence", Share),
    ("probability_up", Share),
    ("observed_frequency", Share),
    ("hit_rate", Share),
    ("accuracy", Share),
    ("fee_rate", Share),
    ("position_fraction", Share),
    ("sizing_fraction", Share),
    ("lo", Share),
    ("hi", Share),
    ("raw_probability_up", Share),
    ("probability_flat", Share),
    ("base_rate", Share),
    ("shrunk_probability_up", Share),
    ("shrunk_probability_flat", Share),
    ("max_confidence", Share),
    ("exposure_ratio", Frac),
    ("ret", Frac),
    ("max_adverse", Frac),
    ("avg_max_adverse", Frac),
    ("avg_max_favorable", Frac),
    ("required_return", Frac),
    ("raw_expected_return", Frac),
    ("dispersion", Frac),
    ("expected_return", Frac),
    ("expected_return_after_fees", Frac),
    ("neighbour_expected_return", Frac),
    ("gain.base", Frac),
    ("loss.base", Frac),
    ("edge.base", Frac),
    ("expected_gain", Frac),
    ("expected_loss", Frac),
    ("avg_return_buy", Frac),
    ("avg_return_sell", Frac),
    ("avg_return_all", Frac),
    ("mean_decision_return", Frac),
    ("avg_forward_return", Frac),
    ("total_return", Frac),
    ("forward_return", Frac),
    ("outcome", Frac),
    ("pct", Pct),
    ("success_rate_24h", Pct),
    ("success_rate_7d", Pct),
    ("slippage_bps", Bps),
    // statistics, indicators, parameters
    ("sharpe", Stat),
    ("sortino", Stat),
    ("calmar", Stat),
    ("profit_factor", Stat),
    ("brier", Stat),
    ("brier_directional", Stat),
    ("base_rate_brier", Stat),
    ("brier_skill_score", Stat),
    ("brier_skill_score_low", Stat),
    ("brier_skill_score_high", Stat),
    ("ece", Stat),
    ("fit.a", Stat),
    ("fit.b", Stat),
    ("fit.c", Stat),
    ("sentiment", Stat),
    ("average_sentiment", Stat),
    ("t", Stat),
    ("distance", Stat),
    ("similarity", Stat),
    ("risk_ratio", Stat),
    ("effective_neighbours", Stat),
    ("multiple", Stat),
    ("rsi14", Stat),
    ("macd", Stat),
    ("macd_signal", Stat),
    ("macd_hist", Stat),
    ("bb_upper", Stat),
    ("bb_middle", Stat),
    ("bb_lower", Stat),
    ("atr14", Stat),
    ("sma20", Stat),
    ("sma50", Stat),
    ("sma200", Stat),
    ("ema12", Stat),
    ("ema26", Stat),
    ("params.*", Stat),
    ("default", Stat),
    ("min", Stat),
    ("max", Stat),
    ("grid", Stat),
    ("score", Stat),
    ("min_sharpe", Stat),
    ("risk_free_rate", Stat),
    ("initial_equity", Stat),
    ("final_equity", Stat),
    ("config.initial_cash", Stat),
    // counts, ids, times, durations
    ("id", Int),
    ("account_id", Int),
    ("strategy_id", Int),
    ("signal_flags", Int),
    ("strategies", Count),
    ("orders", Count),
    ("missed_bars", Count),
    ("differences", Count),
    ("since_bar", Time),
    ("bar", Time),
    ("bar_ms", Time),
    ("latest_stored", Time),
    ("optimization_id", Int),
    ("notification_id", Int),
    ("run_id", Int),
    ("pid", Int),
    ("exit_code", Int),
    ("exchange_order_id", Id),
    ("order_id", Id),
    ("client_order_id", Text),
    ("sha256", Text),
    ("args", Text),
    ("store_id", Text),
    ("time", Time),
    ("time_ms", Time),
    ("through", Time),
    ("as_of", Time),
    ("from", Time),
    ("to", Time),
    ("open_time", Time),
    ("close_time", Time),
    ("from_time", Time),
    ("to_time", Time),
    ("split_time", Time),
    ("price_time", Time),
    ("candle_open_time", Time),
    ("first_open_time", Time),
    ("last_open_time", Time),
    ("last_candle_open_time", Time),
    ("last_candle_time", Time),
    ("last_close_time", Time),
    ("first_snapshot_ms", Time),
    ("last_snapshot_ms", Time),
    ("published_ms", Time),
    ("created_ms", Time),
    ("updated_ms", Time),
    ("opened_ms", Time),
    ("disabled_ms", Time),
    ("started_ms", Time),
    ("ended_ms", Time),
    ("last_run_ms", Time),
    ("exchange_time_ms", Time),
    ("from_ms", Time),
    ("to_ms", Time),
    ("cutoff", Time),
    ("generated_at", Time),
    ("timestamp", Time),
    ("next_run_ms", Time),
    ("until_ms", Time),
    ("duration_ms", Dur),
    ("median_duration_ms_24h", Dur),
    ("median_duration_ms_7d", Dur),
    ("age_secs", Dur),
    ("max_age_secs", Dur),
    ("price_age_secs", Dur),
    ("price_age_ms", Dur),
    ("horizon", Count),
    ("step", Count),
    ("bars", Count),
    ("train_bars", Count),
    ("test_bars", Count),
    ("warmup_bars", Count),
    ("trades", Count),
    ("total_trades", Count),
    ("winning_trades", Count),
    ("losing_trades", Count),
    ("fills", Count),
    ("days", Count),
    ("daily_returns", Count),
    ("snapshots", Count),
    ("with_outcome", Count),
    ("signals", Count),
    ("signals_with_outcome", Count),
    ("news", Count),
    ("backtest_results", Count),
    ("documents", Count),
    ("knowledge_snapshots", Count),
    ("sources_used", Count),
    ("neighbours", Count),
    ("opened", Count),
    ("changed", Count),
    ("closed", Count),
    ("atr_period", Count),
    ("min_bars", Count),
    ("symbols", Count),
    ("accounts", Count),
    ("accounts_synced", Count),
    ("open_positions", Count),
    ("stale", Count),
    ("no_price", Count),
    ("checked", Count),
    ("triggered", Count),
    ("passed", Count),
    ("failed", Count),
    ("disabled", Count),
    ("fetched", Count),
    ("new", Count),
    ("inserted", Count),
    ("updated", Count),
    ("unchanged", Count),
    ("computed", Count),
    ("rows", Count),
    ("deleted", Count),
    ("missing", Count),
    ("missing_candles", Count),
    ("count", Count),
    ("fit.n", Count),
    ("quintile", Count),
    ("min_measurable", Count),
    ("stored", Count),
    ("directional_decisions", Count),
    ("candles", Count),
    ("used_weight", Count),
    ("runs_24h", Count),
    ("runs_7d", Count),
    ("bytes", Count),
    ("jobs", Count),
    ("failures_7d", Count),
    ("killed_7d", Count),
    ("grid_size", Count),
    ("combinations", Count),
    ("runs_stored", Count),
    ("decisions", Count),
    ("evaluated", Count),
    ("buys", Count),
    ("sells", Count),
    ("holds", Count),
    ("high_confidence_count", Count),
    ("days_of_history", Count),
    ("min_history", Count),
    ("queued", Count),
    ("delivered", Count),
    ("pending", Count),
    ("sent", Count),
    ("suppressed", Count),
    ("written.*", Count),
    ("outbox.*", Count),
    ("period_days", Count),
    ("days_to_keep", Count),
    ("limit", Count),
    ("attempts", Count),
];

fn kind_of(key: &str, parent: Option<&str>) -> Option<Kind> {
    let find = |name: &str| FIELDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k);
    if let Some(p) = parent
        && let Some(k) = find(&format!("{p}.{key}"))
    {
        return Some(k);
    }
    find(key)
        .or_else(|| parent.and_then(|p| find(&format!("{p}.*"))))
        // The unit is in the name.
        .or_else(|| key.ends_with("_pct").then_some(Pct))
        .or_else(|| key.ends_with("_frac").then_some(Share))
}

/// `-12.5`, `0.00012345`, `10000`: what a decimal string looks like.
fn numeric_looking(s: &str) -> bool {
    let t = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = t.split_once('.').unwrap_or((t, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

fn is_time_text(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// Decimals of an amount in `currency` (the README's rule).
fn currency_dp(currency: &str) -> u32 {
    match currency {
        "USDT" | "USDC" | "USD" | "BUSD" | "FDUSD" | "TUSD" | "EUR" => 2,
        _ => 8,
    }
}

/// The quote currency of a symbol spelled as Binance does.
fn quote_of_symbol(symbol: &str) -> Option<&'static str> {
    ["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB"]
        .into_iter()
        .find(|q| symbol.len() > q.len() && symbol.ends_with(q))
}

/// Walks one job's output.
struct Checker<'a> {
    job: &'a str,
    /// Account name → quote currency.
    accounts: &'a BTreeMap<String, String>,
    problems: Vec<String>,
    /// Number fields seen, by kind (the test also checks that each kind was exercised).
    seen: BTreeMap<&'static str, usize>,
}

impl Checker<'_> {
    /// The currency an object's money is in, when the object says.
    fn currency_in(&self, m: &serde_json::Map<String, Value>) -> Option<String> {
        for k in ["quote", "quote_asset"] {
            if let Some(q) = m.get(k).and_then(Value::as_str) {
                return Some(q.to_string());
            }
        }
        if let Some(q) = m
            .get("account")
            .and_then(|a| a.get("quote"))
            .and_then(Value::as_str)
        {
            return Some(q.to_string());
        }
        if let Some(a) = m.get("account").and_then(Value::as_str)
            && let Some(q) = self.accounts.get(a)
        {
            return Some(q.clone());
        }
        m.get("symbol")
            .and_then(Value::as_str)
            .and_then(quote_of_symbol)
            .map(str::to_string)
    }

    fn walk(&mut self, v: &Value, key: Option<&str>, parent: Option<&str>, cur: &str, path: &str) {
        match v {
            Value::Object(m) => {
                let own = self.currency_in(m);
                let cur = own.as_deref().unwrap_or(cur).to_string();
                for (k, child) in m {
                    if k == "args" && !child.is_array() {
                        self.fail(
                            &format!("{path}.{k}"),
                            "`args` must be an array of strings".into(),
                        );
                    }
                    // An entry of a map keyed by account name is in that account's currency.
                    let cur = self.accounts.get(k).cloned().unwrap_or_else(|| cur.clone());
                    // `fee` is in its `fee_asset` when the object names one.
                    let cur = match (k.as_str(), m.get("fee_asset").and_then(Value::as_str)) {
                        ("fee", Some(a)) => a.to_string(),
                        _ => cur,
                    };
                    let p = format!("{path}.{k}");
                    self.walk(child, Some(k), key, &cur, &p);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    // Elements of an array are named by the array's key.
                    self.walk(child, key, parent, cur, &format!("{path}[{i}]"));
                }
            }
            Value::Number(n) => self.number(n, key.unwrap_or(""), parent, cur, path),
            Value::String(s) => self.string(s, key.unwrap_or(""), parent, path),
            Value::Bool(_) | Value::Null => {}
        }
    }

    fn fail(&mut self, path: &str, what: String) {
        self.problems.push(format!("{}: {path}: {what}", self.job));
    }

    fn number(
        &mut self,
        n: &serde_json::Number,
        key: &str,
        parent: Option<&str>,
        cur: &str,
        path: &str,
    ) {
        let x = n.as_f64().unwrap_or(f64::NAN);
        if x == 0.0 && x.is_sign_negative() {
            self.fail(path, "-0: a zero is written 0".into());
        }
        let Some(kind) = kind_of(key, parent) else {
            self.fail(
                path,
                format!("unclassified numeric field `{key}` ({n}): add it to contract::FIELDS"),
            );
            return;
        };
        *self.seen.entry(kind_name(kind)).or_default() += 1;
        match kind {
            Money => {
                let dp = currency_dp(cur);
                let text = format!("{x}");
                let decimals = text.split_once('.').map_or(0, |(_, f)| f.len()) as u32;
                if decimals > dp {
                    self.fail(
                        path,
                        format!("money {text} has {decimals} decimals; {cur} has {dp}"),
                    );
                }
            }
            Qty | Price => self.fail(
                path,
                format!("{kind:?} `{key}` is the number {n}; it must be an exact decimal string"),
            ),
            Share => {
                if !(-1.0..=1.0).contains(&x) {
                    self.fail(
                        path,
                        format!("share `{key}` = {n} is outside [-1, 1] (a percentage?)"),
                    );
                }
            }
            Frac | Pct | Bps | Stat => {}
            Count => {
                if !n.is_u64() {
                    self.fail(path, format!("count `{key}` = {n} is not an integer >= 0"));
                }
            }
            Int | Dur | Id => {
                if !(n.is_i64() || n.is_u64()) {
                    self.fail(path, format!("`{key}` = {n} is not an integer"));
                }
            }
            Time => {
                if !n.is_i64()
                    || !(946_684_800_000..4_102_444_800_000).contains(&n.as_i64().unwrap_or(0))
                {
                    self.fail(
                        path,
                        format!("time `{key}` = {n} is not ms since the epoch"),
                    );
                }
            }
            Text => self.fail(path, format!("`{key}` = {n} must be a string")),
        }
    }

    fn string(&mut self, s: &str, key: &str, parent: Option<&str>, path: &str) {
        let kind = kind_of(key, parent);
        match kind {
            Some(Qty | Price) => {
                *self.seen.entry("decimal string").or_default() += 1;
                if !numeric_looking(s) {
                    self.fail(
                        path,
                        format!("`{key}` = {s:?} is not an exact decimal string"),
                    );
                } else if s.starts_with('-') && s[1..].bytes().all(|b| b == b'0' || b == b'.') {
                    self.fail(path, format!("`{key}` = {s:?} is a negative zero"));
                }
            }
            Some(Time) if !is_time_text(s) && numeric_looking(s) => {
                self.fail(
                    path,
                    format!("time `{key}` = {s:?} is a number in a string"),
                );
            }
            Some(Text | Id | Time) => {}
            Some(k) if numeric_looking(s) => self.fail(
                path,
                format!("{k:?} `{key}` = {s:?} is a number in a string; write a JSON number"),
            ),
            None if numeric_looking(s) => self.fail(
                path,
                format!("unclassified field `{key}` holds the numeric string {s:?}"),
            ),
            _ => {}
        }
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Money => "money",
        Qty | Price => "decimal string",
        Share | Frac => "fraction",
        Pct => "percentage",
        Bps => "bps",
        Stat => "statistic",
        Count | Int | Dur | Id | Text => "integer",
        Time => "time",
    }
}

/// Everything wrong with one job's output.
fn check(
    job: &str,
    v: &Value,
    accounts: &BTreeMap<String, String>,
    seen: &mut BTreeMap<&'static str, usize>,
) -> Vec<String> {
    let mut c = Checker {
        job,
        accounts,
        problems: Vec::new(),
        seen: BTreeMap::new(),
    };
    c.walk(v, None, None, "USDT", "$");
    for (k, n) in c.seen {
        *seen.entry(k).or_default() += n;
    }
    c.problems
}

#[test]
fn the_checker_catches_every_kind_of_break() {
    let accounts = BTreeMap::from([("Btc".to_string(), "BTC".to_string())]);
    let mut seen = BTreeMap::new();
    let bad = serde_json::json!({
        "total_value": "9922.1697729932984",
        "equity": 9922.169,
        "profit_factor": -0.0,
        "quantity": 0.5,
        "from_frac": "0.197065",
        "current_allocation": {"BTCUSDT": 28.47},
        "brand_new_number": 3,
        "args": "[\"fks\"]",
        "results": {"Btc": {"balance": 0.123456789}},
        "fills": [{"fee": 0.000123456789, "fee_asset": "BNB"}],
        "orders": [{"price": "-0.00"}],
        "mystery": "12.5",
    });
    let problems = check("x", &bad, &accounts, &mut seen);
    let text = problems.join("\n");
    for needle in [
        "$.total_value: Money `total_value` = \"9922.1697729932984\" is a number in a string",
        "$.equity: money 9922.169 has 3 decimals; USDT has 2",
        "$.profit_factor: -0",
        "$.quantity: Qty `quantity` is the number 0.5",
        "$.from_frac: Share `from_frac` = \"0.197065\" is a number in a string",
        "$.current_allocation.BTCUSDT: share `BTCUSDT` = 28.47 is outside [-1, 1]",
        "$.brand_new_number: unclassified numeric field `brand_new_number`",
        "$.results.Btc.balance: money 0.123456789 has 9 decimals; BTC has 8",
        "$.fills[0].fee: money 0.000123456789 has 12 decimals; BNB has 8",
        "$.orders[0].price: `price` = \"-0.00\" is a negative zero",
        "$.mystery: unclassified field `mystery` holds the numeric string \"12.5\"",
        "$.args: `args` must be an array of strings",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_eq!(problems.len(), 12, "{text}");
    // The contract's own forms pass.
    let good = serde_json::json!({
        "total_value": 9922.17, "equity": 0.0, "profit_factor": null, "quantity": "0.5",
        "from_frac": 0.197065, "current_allocation": {"BTCUSDT": 0.2847}, "args": ["fks", "runs"],
        "results": {"Btc": {"balance": 0.12345679}}, "as_of": "2025-06-01T00:00:00Z",
        "fills": [{"fee": 0.00012346, "fee_asset": "BNB", "time_ms": 1748736000000i64}],
    });
    assert_eq!(
        check("x", &good, &accounts, &mut seen),
        Vec::<String>::new()
    );
}

// ---------------------------------------------------------------------------------------------
// Running every job.

const H: i64 = 3_600_000;
/// The store's "now": 2025-06-01T00:00:00Z.
const NOW: i64 = 1_748_736_000_000;
const NOW_TEXT: &str = "2025-06-01T00:00:00Z";

fn feed() -> String {
    let item = |i: usize, t: &str, d: &str, p: &str| {
        format!(
            "<item><title>{t}</title><link>https://example.invalid/n/{i}</link><description>{d}</description><pubDate>{p}</pubDate><guid isPermaLink=\"false\">n-{i}</guid></item>"
        )
    };
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><link>https://example.invalid/</link><description>d</description>{}{}</channel></rss>",
        item(
            0,
            "Bitcoin rallies on record inflows",
            "BTC climbed; analysts bullish.",
            "Sat, 31 May 2025 14:00:00 +0000"
        ),
        item(
            1,
            "Ethereum upgrade delayed after bug",
            "ETH traders disappointed.",
            "Sat, 31 May 2025 09:30:00 +0000"
        )
    )
}

/// Candles of the demo's markets plus ETHBTC (quoted in BTC), ending at NOW.
fn markets(n: usize) -> Series {
    let mut s = Series::new();
    let start = NOW - n as i64 * H;
    let mut add = |sym: &str, candles: Vec<Candle>| {
        s.insert((sym.to_string(), "1h".to_string()), candles);
    };
    for (sym, seed, model) in demo_data::demo_markets() {
        add(
            sym,
            demo_data::generate(seed, &model, Timeframe::H1, start, n),
        );
    }
    let model = demo_data::Model {
        start_price: 0.05,
        annual_vol: 0.5,
        decimals: 6,
        base_volume: 3_000.0,
    };
    add(
        "ETHBTC",
        demo_data::generate(0xE7B, &model, Timeframe::H1, start, n),
    );
    s
}

/// One run of the real binary: its exit code and its one JSON value (stdout must be exactly
/// one JSON document).
fn run(cmd: &mut assert_cmd::Command, args: &[&str]) -> (i32, Value) {
    let out = cmd
        .arg("--format")
        .arg("json")
        .args(args)
        .output()
        .expect("run fks");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// The jobs' outputs, checked as they come.
struct Jobs {
    outputs: Vec<(String, Value)>,
}

impl Jobs {
    /// Runs `args`, expects one of `codes`, keeps the output.
    fn run(&mut self, cmd: &mut assert_cmd::Command, args: &[&str], codes: &[i32]) -> Value {
        let (code, v) = run(cmd, args);
        assert!(codes.contains(&code), "{args:?} exited {code}: {v}");
        self.outputs.push((args.join(" "), v.clone()));
        v
    }
}

/// A store built from nothing through the CLI, then every subcommand on it.
pub(crate) fn every_subcommand(sb: &Sandbox) -> (Vec<(String, Value)>, BTreeMap<String, String>) {
    let rt = rt();
    let fake = rt
        .block_on(FakeBinance::start_full(
            markets(1500),
            std::time::Duration::ZERO,
            feed(),
        ))
        .expect("loopback exchange");
    sb.write(
        "fks.toml",
        &format!(
            "[market]\nsymbols = [\"BTCUSDT\", \"ETHUSDT\", \"SOLUSDT\"]\ntimeframe = \"1h\"\ninitial_limit = 1500\n\
             [exchange]\nspot_base_url = \"{}\"\nretry_base_delay_ms = 0\n\
             [notifications]\nfile = \"notifications.jsonl\"\n\
             [trading]\nenabled = true\nmax_order_notional = \"5000\"\nmax_run_notional = \"20000\"\n\
             [[news.sources]]\nname = \"feed\"\nkind = \"rss\"\nurl = \"{}\"\n",
            fake.base_url, fake.feed_url
        ),
    );
    sb.write("targets.json", r#"{"BTCUSDT": 0.4, "ETHUSDT": 0.3}"#);
    let fks = || {
        let mut c = sb.fks();
        c.env_remove("FKS_SYMBOLS").env("FKS_NOW", NOW_TEXT);
        c
    };
    let mut j = Jobs {
        outputs: Vec::new(),
    };
    let ok = &[0];
    let ok_or_partial = &[0, 3];
    j.run(&mut fks(), &["sync-market-data"], ok);
    j.run(&mut fks(), &["sync-market-data", "--symbol", "ETHBTC"], ok);
    j.run(&mut fks(), &["fetch-news"], ok);
    j.run(&mut fks(), &["update-indicators"], ok);
    j.run(&mut fks(), &["update-indicators", "--symbol", "ETHBTC"], ok);
    j.run(&mut fks(), &["list-data"], ok);
    j.run(&mut fks(), &["knowledge", "update"], ok);
    j.run(&mut fks(), &["knowledge", "stats"], ok);
    // Accounts: paper in USDT and in BTC.
    j.run(
        &mut fks(),
        &[
            "account",
            "add",
            "Paper",
            "--cash",
            "10000",
            "--slippage-bps",
            "2",
        ],
        ok,
    );
    j.run(
        &mut fks(),
        &[
            "account", "add", "BtcPaper", "--cash", "1.5", "--quote", "BTC",
        ],
        ok,
    );
    j.run(&mut fks(), &["account", "list"], ok);
    let order = |sym: &str, side: &str, how: &str, amount: &str| {
        vec![
            "paper".to_string(),
            "order".into(),
            "--account".into(),
            if sym == "ETHBTC" {
                "BtcPaper".into()
            } else {
                "Paper".into()
            },
            "--symbol".into(),
            sym.into(),
            "--side".into(),
            side.into(),
            how.into(),
            amount.into(),
        ]
    };
    for o in [
        order("BTCUSDT", "BUY", "--quote-amount", "3000"),
        order("ETHUSDT", "BUY", "--quote-amount", "2000"),
        order("SOLUSDT", "SELL", "--quote-amount", "1000"),
        order("ETHUSDT", "SELL", "--quantity", "0.3"),
        order("ETHBTC", "BUY", "--quote-amount", "0.3"),
        order("ETHBTC", "SELL", "--quantity", "1.3"),
    ] {
        let args: Vec<&str> = o.iter().map(String::as_str).collect();
        j.run(&mut fks(), &args, ok);
    }
    j.run(
        &mut fks(),
        &[
            "position",
            "stop",
            "--account-id",
            "1",
            "--symbol",
            "SOLUSDT",
            "--trailing-pct",
            "5",
        ],
        ok,
    );
    // A stop above a long's price: check-stop-loss finds it hit.
    j.run(
        &mut fks(),
        &[
            "position",
            "stop",
            "--account-id",
            "1",
            "--symbol",
            "BTCUSDT",
            "--price",
            "1000000",
        ],
        ok,
    );
    for args in [
        &["sync-account-balance"][..],
        &["sync-account-balance", "--account-id", "2"],
        &["update-positions"],
        &["analyze-risk"],
        &["calculate-metrics", "--period-days", "7"],
        &["generate-report", "--no-deliver"],
        &["generate-report", "--report-type", "weekly", "--no-deliver"],
        &[
            "generate-report",
            "--report-type",
            "monthly",
            "--account-id",
            "2",
            "--output",
            "r.md",
        ],
    ] {
        j.run(&mut fks(), args, ok);
    }
    // Strategies and backtests.
    j.run(
        &mut fks(),
        &[
            "strategy",
            "add",
            "trend",
            "--kind",
            "sma_cross",
            "--params",
            "fast=10,slow=30",
            "--symbols",
            "BTCUSDT,ETHUSDT",
            "--stop-loss",
            "2%",
        ],
        ok,
    );
    j.run(
        &mut fks(),
        &[
            "strategy",
            "add",
            "reversion",
            "--kind",
            "rsi_reversion",
            "--symbols",
            "BTCUSDT,SOLUSDT",
        ],
        ok,
    );
    j.run(&mut fks(), &["run-backtest"], ok);
    j.run(
        &mut fks(),
        &[
            "run-backtest",
            "--strategy",
            "reversion",
            "--optimize",
            "--grid",
            "period=7:21:7,lower=25:30:5",
            "--output-dir",
            "bt",
        ],
        ok,
    );
    j.run(
        &mut fks(),
        &[
            "run-backtest",
            "--kind",
            "macd_cross",
            "--symbol",
            "ETHUSDT",
            "--params",
            "direction=long_short,take_profit=3atr",
        ],
        ok,
    );
    j.run(
        &mut fks(),
        &["validate-strategies", "--dry-run", "--days", "30"],
        ok,
    );
    j.run(&mut fks(), &["strategy", "list"], ok);
    j.run(&mut fks(), &["strategy", "show", "reversion"], ok);
    j.run(
        &mut fks(),
        &["strategy", "disable", "trend", "--reason", "contract test"],
        ok,
    );
    j.run(&mut fks(), &["strategy", "enable", "trend"], ok);
    // Intelligence.
    j.run(&mut fks(), &["knowledge", "update"], ok);
    j.run(&mut fks(), &["knowledge", "search", "backtest"], ok);
    j.run(&mut fks(), &["knowledge", "rebuild"], ok);
    j.run(&mut fks(), &["generate-signals", "--account-id", "1"], ok);
    j.run(
        &mut fks(),
        &["generate-daily-rag-signals", "--min-confidence", "0.1"],
        ok,
    );
    for m in ["rag", "legacy", "risk-parity", "min-variance"] {
        j.run(
            &mut fks(),
            &["optimize-portfolio", "--account-id", "1", "--method", m],
            ok,
        );
    }
    j.run(
        &mut fks(),
        &[
            "evaluate-signals",
            "--symbol",
            "BTCUSDT",
            "--min-history",
            "400",
            "--decisions",
        ],
        ok,
    );
    // Execution.
    j.run(
        &mut fks(),
        &["rebalance-portfolio", "--account-id", "1"],
        ok,
    );
    j.run(
        &mut fks(),
        &[
            "rebalance-portfolio",
            "--account-id",
            "1",
            "--targets",
            "targets.json",
            "--sell-unlisted",
        ],
        ok_or_partial,
    );
    j.run(
        &mut fks(),
        &[
            "rebalance-portfolio",
            "--account-id",
            "1",
            "--targets",
            "targets.json",
            "--execute",
        ],
        ok_or_partial,
    );
    // The BTC-quoted account: a plan in BTC and signals sized in BTC.
    sb.write("btc-targets.json", r#"{"ETHBTC": 0.6}"#);
    j.run(
        &mut fks(),
        &[
            "rebalance-portfolio",
            "--account-id",
            "2",
            "--targets",
            "btc-targets.json",
            "--band",
            "0",
        ],
        ok,
    );
    j.run(
        &mut fks(),
        &[
            "generate-signals",
            "--account-id",
            "2",
            "--symbol",
            "ETHBTC",
        ],
        ok,
    );
    j.run(&mut fks(), &["check-stop-loss"], ok);
    j.run(&mut fks(), &["check-stop-loss", "--execute"], ok);
    // Notifications and news.
    j.run(
        &mut fks(),
        &[
            "send-notifications",
            "--message",
            "contract test",
            "--urgent",
        ],
        ok,
    );
    j.run(&mut fks(), &["send-notifications"], ok);
    j.run(&mut fks(), &["news", "--symbol", "BTCUSDT"], ok);
    // Ten days later without a sync: every symbol is stale; the refusals and the stale
    // entries follow the contract too.
    let later = || {
        let mut c = fks();
        c.env("FKS_NOW", "2025-06-11T00:00:00Z");
        c
    };
    let refused = &[0, 1, 3];
    for args in [
        &["generate-signals", "--account-id", "1"][..],
        &["generate-daily-rag-signals"],
        &["optimize-portfolio", "--account-id", "1"],
        &["update-positions"],
        &["analyze-risk"],
        &["check-stop-loss"],
        &[
            "rebalance-portfolio",
            "--account-id",
            "1",
            "--targets",
            "targets.json",
        ],
        &[
            "paper",
            "order",
            "--account",
            "Paper",
            "--symbol",
            "BTCUSDT",
            "--side",
            "BUY",
            "--quantity",
            "0.01",
        ],
    ] {
        j.run(&mut later(), args, refused);
    }
    // Data: exports (raw JSON arrays), archives and their restore, an import.
    for export in [
        &[
            "candles",
            "--symbol",
            "BTCUSDT",
            "--from",
            "2025-05-31T20:00:00Z",
            "--as",
            "json",
        ][..],
        &[
            "indicators",
            "--symbol",
            "BTCUSDT",
            "--from",
            "2025-05-31T20:00:00Z",
            "--as",
            "json",
        ],
    ] {
        let out = fks().args(export).output().expect("run fks");
        assert!(out.status.success(), "{export:?}");
        let v: Value = serde_json::from_slice(&out.stdout).expect("an export is JSON");
        j.outputs.push((export.join(" "), v));
    }
    let csv = fks()
        .args(["candles", "--symbol", "ETHUSDT", "--from", "2025-05-30"])
        .output()
        .expect("run fks");
    std::fs::write(sb.path().join("eth.csv"), &csv.stdout).unwrap();
    j.run(
        &mut fks(),
        &[
            "import-klines",
            "--symbol",
            "ETHUSDT",
            "--timeframe",
            "1h",
            "eth.csv",
        ],
        ok,
    );
    j.run(
        &mut fks(),
        &["archive-old-data", "--days-to-keep", "30"],
        ok,
    );
    let archived = j.run(
        &mut fks(),
        &[
            "archive-old-data",
            "--days-to-keep",
            "30",
            "--execute",
            "--archive-dir",
            "arch",
        ],
        ok,
    );
    let file = archived["results"]["candles"]["files"][0]["path"]
        .as_str()
        .expect("an archive file")
        .to_string();
    j.run(&mut fks(), &["restore-archive", &file], ok);
    j.run(&mut fks(), &["account", "deactivate", "BtcPaper"], ok);
    j.run(&mut fks(), &["account", "activate", "BtcPaper"], ok);
    j.run(&mut fks(), &["runs", "--limit", "5"], ok);
    j.run(
        &mut fks(),
        &["runs", "--task", "sync-account-balance", "--limit", "2"],
        ok,
    );
    j.run(&mut fks(), &["status"], ok);
    // `fks cron` and `fks completions` print a crontab and a shell script, not JSON.
    let fresh = tempfile::tempdir().unwrap();
    j.run(
        sb.fks()
            .current_dir(fresh.path())
            .env_remove("DATABASE_URL"),
        &["init"],
        ok,
    );
    drop(fake);
    let accounts = BTreeMap::from([
        ("Paper".to_string(), "USDT".to_string()),
        ("BtcPaper".to_string(), "BTC".to_string()),
    ]);
    (j.outputs, accounts)
}

/// Binance spot and futures accounts on the loopback desk: balances, positions, risk, an
/// executed rebalance with BNB commissions, a futures stop closed with --execute.
fn exchange_accounts(sb: &Sandbox) -> (Vec<(String, Value)>, BTreeMap<String, String>) {
    let rt = rt();
    let server = rt.block_on(wiremock::MockServer::start());
    let desk = Desk::default();
    rt.block_on(mount_account(&server, &desk));
    sb.write(
        "fks.toml",
        "[exchange]\ntimeout_secs = 2\n[trading]\nenabled = true\nmax_order_notional = \"2000\"\nmax_run_notional = \"5000\"\n",
    );
    sb.write("targets.json", r#"{"BTCUSDT": 0.3, "ETHUSDT": 0.5}"#);
    let fks = || {
        let mut c = sb.fks();
        c.env("FKS_SYMBOLS", "BTCUSDT,ETHUSDT")
            .env("FKS_BINANCE_BASE_URL", server.uri())
            .env("FKS_BINANCE_FUTURES_BASE_URL", server.uri())
            .env("BINANCE_API_KEY", KEY)
            .env("BINANCE_API_SECRET", SECRET);
        c
    };
    let mut j = Jobs {
        outputs: Vec::new(),
    };
    let ok = &[0];
    j.run(
        &mut fks(),
        &[
            "account",
            "add",
            "Spot",
            "--kind",
            "binance-spot",
            "--baseline",
            "1000",
        ],
        ok,
    );
    j.run(
        &mut fks(),
        &["account", "add", "Fut", "--kind", "binance-futures"],
        ok,
    );
    j.run(&mut fks(), &["sync-account-balance"], ok);
    j.run(&mut fks(), &["update-positions"], ok);
    j.run(&mut fks(), &["analyze-risk"], &[0, 3]);
    j.run(
        &mut fks(),
        &[
            "rebalance-portfolio",
            "--account-id",
            "1",
            "--targets",
            "targets.json",
            "--execute",
        ],
        &[0, 3],
    );
    j.run(
        &mut fks(),
        &[
            "position",
            "stop",
            "--account-id",
            "2",
            "--symbol",
            "BTCUSDT",
            "--price",
            "43000",
        ],
        ok,
    );
    j.run(
        &mut fks(),
        &["check-stop-loss", "--account-id", "2", "--execute"],
        &[0, 3],
    );
    j.run(&mut fks(), &["sync-account-balance"], ok);
    j.run(&mut fks(), &["calculate-metrics", "--period-days", "1"], ok);
    j.run(&mut fks(), &["generate-report", "--no-deliver"], ok);
    let accounts = BTreeMap::from([
        ("Spot".to_string(), "USDT".to_string()),
        ("Fut".to_string(), "USDT".to_string()),
    ]);
    (j.outputs, accounts)
}

fn assert_contract(
    outputs: &[(String, Value)],
    accounts: &BTreeMap<String, String>,
) -> BTreeMap<&'static str, usize> {
    let mut seen = BTreeMap::new();
    let mut problems = Vec::new();
    for (job, v) in outputs {
        problems.extend(check(job, v, accounts, &mut seen));
    }
    assert!(
        problems.is_empty(),
        "{} breaks of the output contract:\n{}",
        problems.len(),
        problems.join("\n")
    );
    seen
}

fn every_job_follows_the_contract(sb: &Sandbox) {
    let (outputs, accounts) = every_subcommand(sb);
    let seen = assert_contract(&outputs, &accounts);
    // Amounts of a BTC-quoted account keep their 8 decimals: 0.3 BTC × 0.1 % fee.
    let (_, btc) = outputs
        .iter()
        .find(|(job, _)| job.contains("ETHBTC --side BUY"))
        .expect("the ETHBTC order");
    assert_eq!(btc["fill"]["fee"].as_f64(), Some(0.0003), "{btc}");
    // ... in every job that values it: analyze-risk's figures are the valuation's, not
    // rounded to cents (0.20185 BTC of ETHBTC at this point).
    let (_, risk) = outputs
        .iter()
        .find(|(job, _)| job == "analyze-risk")
        .expect("analyze-risk");
    let r = &risk["results"]["BtcPaper"];
    let held = r["valuation"]["positions_value"].as_f64().unwrap();
    assert!((held * 100.0).fract().abs() > 1e-9, "8 decimals kept: {r}");
    assert_eq!(r["total_position_value"].as_f64(), Some(held), "{r}");
    assert_eq!(r["equity"], r["valuation"]["equity"], "{r}");
    // The journal's arguments are a JSON array of the command line after `fks`.
    let (_, runs) = outputs
        .iter()
        .find(|(job, _)| job == "runs --task sync-account-balance --limit 2")
        .expect("runs --task sync-account-balance");
    let args = &runs["runs"][0]["args"];
    assert_eq!(
        args,
        &serde_json::json!([
            "--format",
            "json",
            "sync-account-balance",
            "--account-id",
            "2"
        ]),
        "{runs}"
    );
    assert!(
        args.as_array().unwrap().iter().all(Value::is_string),
        "{runs}"
    );
    // Every kind of number was met (the walk is not vacuous).
    for k in [
        "money",
        "decimal string",
        "fraction",
        "percentage",
        "bps",
        "statistic",
        "integer",
        "time",
    ] {
        assert!(
            seen.get(k).copied().unwrap_or(0) > 0,
            "no {k} field seen: {seen:?}"
        );
    }
    let exchange = if sb.db.starts_with("postgres") {
        Sandbox::postgres().expect("postgres")
    } else {
        Sandbox::new()
    };
    let (outputs, accounts) = exchange_accounts(&exchange);
    assert_contract(&outputs, &accounts);
}

#[test]
fn every_job_follows_the_output_contract_sqlite() {
    every_job_follows_the_contract(&Sandbox::new());
}

#[test]
fn every_job_follows_the_output_contract_postgres() {
    let Some(sb) = Sandbox::postgres() else {
        return;
    };
    every_job_follows_the_contract(&sb);
}

/// `fks demo`: its own summary and the output of every step of its daily cycle.
#[test]
fn every_demo_step_follows_the_output_contract() {
    let sb = Sandbox::new();
    let dir = sb.path().join("demo");
    let (code, v) = run(
        sb.fks().env_remove("DATABASE_URL"),
        &["demo", "--dir", dir.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["failed_steps"], serde_json::json!([]), "{v}");
    let accounts = BTreeMap::from([("Demo Paper".to_string(), "USDT".to_string())]);
    let outputs: Vec<(String, Value)> = v["steps"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, s)| (format!("demo step {k}"), s.clone()))
        .chain([("demo".to_string(), v.clone())])
        .collect();
    assert_contract(&outputs, &accounts);
}
