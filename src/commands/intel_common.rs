//! Shared pieces of the intelligence jobs: `--as-of`, knowledge refresh, freshness, the model
//! client.

use super::Ctx;
use crate::core::config::ConfigError;
use crate::core::freshness::Freshness;
use crate::core::intelligence::llm::LlmClient;
use crate::core::knowledge;
use crate::core::market::{Symbol, Timeframe};
use anyhow::Result;
use std::collections::BTreeMap;

/// The decision time: `--as-of`, else the run's clock. A time after the clock is a usage
/// error: nothing that late has closed yet.
pub fn as_of(ctx: &Ctx, arg: Option<i64>) -> Result<i64> {
    let now = ctx.now_ms();
    match arg {
        None => Ok(now),
        Some(t) if t <= now => Ok(t),
        Some(t) => Err(ConfigError(format!(
            "--as-of {} is after now ({}): only what has closed by now can be read",
            crate::core::time::fmt_ms(t),
            crate::core::time::fmt_ms(now)
        ))
        .into()),
    }
}

/// A replay: `--as-of` before the run's clock. A replay decides and prints what it would have
/// decided then (and keeps its signals, stamped with their `as_of`), but queues no
/// notification and stores no portfolio target: a decision of the past is not news now, and
/// it never replaces the target the next rebalance uses.
pub fn is_replay(ctx: &Ctx, as_of: i64) -> bool {
    as_of < ctx.now_ms()
}

/// What a replay left out, for the JSON (`null` when the run is not a replay).
pub fn replay_note(replay: bool, what: &str) -> serde_json::Value {
    if replay {
        serde_json::Value::String(format!("a replay (--as-of before the clock): {what}"))
    } else {
        serde_json::Value::Null
    }
}

/// The marks of the account's valuation that are stale at `as_of` (judged by the limit of
/// `market.timeframe`, as analyze-risk judges them), with a note for the JSON when there are
/// any: sizes and weights computed from that equity rest on prices of the past.
pub fn stale_valuation(
    ctx: &Ctx,
    v: &crate::core::valuation::Valuation,
    as_of: i64,
    what: &str,
) -> (Vec<crate::core::freshness::StaleMark>, serde_json::Value) {
    let market = &ctx.settings.file.market;
    let marks =
        crate::core::freshness::stale_marks(v, &market.freshness(), market.timeframe, as_of);
    let note = if marks.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::Value::String(format!(
            "{what} rest on an equity that is not current: stale prices ({}); sync market data",
            crate::core::freshness::describe_stale_marks(&marks)
        ))
    };
    (marks, note)
}

/// Bring the knowledge of `symbols` up to date and load what was known at `as_of`, with each
/// symbol's candles and indicators for the decisions (read once per run, only candles closed
/// by the run's clock).
pub async fn prepare(
    ctx: &Ctx,
    symbols: &[Symbol],
    tf: Timeframe,
    as_of: i64,
) -> Result<(knowledge::KnowledgeSet, BTreeMap<Symbol, knowledge::Series>)> {
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.intelligence;
    let now = ctx.now_ms();
    let mut series = BTreeMap::new();
    for s in symbols {
        let x = knowledge::Series::load(store, s, tf, now).await?;
        knowledge::update(store, &x, s, tf, cfg.horizon).await?;
        series.insert(s.clone(), x);
    }
    knowledge::fill_signal_outcomes(store, now).await?;
    crate::core::documents::sync(store).await?;
    let band = crate::core::intelligence::recommend::RecommendConfig::default().band();
    Ok((knowledge::load(store, tf, as_of, band).await?, series))
}

/// The freshness rule applied to a symbol's series at `as_of`.
pub fn freshness(
    ctx: &Ctx,
    symbol: &Symbol,
    series: &knowledge::Series,
    tf: Timeframe,
    as_of: i64,
) -> Freshness {
    ctx.settings.file.market.freshness().check(
        symbol,
        tf,
        series.last_closed_open(tf, as_of),
        as_of,
    )
}

pub fn llm(ctx: &Ctx) -> Option<LlmClient> {
    let cfg = &ctx.settings.file.intelligence;
    let key = cfg.llm_api_key_env.as_ref().and_then(|e| ctx.env_var(e));
    knowledge::llm(cfg, key)
}
