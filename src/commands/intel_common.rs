//! Shared pieces of the intelligence jobs: `--as-of`, knowledge refresh, the model client.

use super::Ctx;
use crate::core::intelligence::llm::LlmClient;
use crate::core::knowledge;
use crate::core::market::{Symbol, Timeframe};
use anyhow::Result;
use std::collections::BTreeMap;

/// Bring the knowledge of `symbols` up to date and load what was known at `as_of`, with each
/// symbol's candles and indicators for the decisions (read once per run).
pub async fn prepare(
    ctx: &Ctx,
    symbols: &[Symbol],
    tf: Timeframe,
    as_of: i64,
) -> Result<(knowledge::KnowledgeSet, BTreeMap<Symbol, knowledge::Series>)> {
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.intelligence;
    let mut series = BTreeMap::new();
    for s in symbols {
        let x = knowledge::Series::load(store, s, tf).await?;
        knowledge::update(store, &x, s, tf, cfg.horizon).await?;
        series.insert(s.clone(), x);
    }
    knowledge::fill_signal_outcomes(store, ctx.now_ms()).await?;
    crate::core::documents::sync(store).await?;
    let band = crate::core::intelligence::recommend::RecommendConfig::default().band();
    Ok((knowledge::load(store, tf, as_of, band).await?, series))
}

pub fn llm(ctx: &Ctx) -> Option<LlmClient> {
    let cfg = &ctx.settings.file.intelligence;
    let key = cfg.llm_api_key_env.as_ref().and_then(|e| ctx.env_var(e));
    knowledge::llm(cfg, key)
}
