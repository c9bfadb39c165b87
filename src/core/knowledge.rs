//! The knowledge base and the retrieval-augmented decision.
//!
//! Knowledge is derived from stored candles only: a feature vector per candle (from the
//! TA-Lib-exact indicators) and, once the horizon has passed, its realised outcome. A
//! decision "as of T" reads only candles that closed by T and snapshots whose outcome was
//! known by T, so the same store and the same T always give the same numbers.
//!
//! A decision's confidence is calibrated with the calibration of the latest stored
//! `evaluate-signals` result for the symbol whose data ended by T (fitted only on decisions
//! resolved by then), and every decision carries that result's measured skill; with no stored
//! evaluation the probabilities are the knowledge's base rates and the skill says so.

use crate::core::config::IntelligenceConfig;
use crate::core::indicators::{IndicatorRow, compute_all};
use crate::core::intelligence::calibrate::Calibration;
use crate::core::intelligence::evaluate::Evaluation;
use crate::core::intelligence::features::{self, D, Normalizer, Outcome};
use crate::core::intelligence::knn::{KnnIndex, SnapshotMeta};
use crate::core::intelligence::legacy::legacy_signal;
use crate::core::intelligence::llm::{LlmClient, LlmConfig};
use crate::core::intelligence::reasoning::{self, DocumentRef, Evidence, NeighbourEvidence};
use crate::core::intelligence::recommend::{
    Action, BaseRates, MarketContext, NeighbourOutcome, RecommendConfig, Recommendation, recommend,
};
use crate::core::market::{Bar, Symbol, Timeframe};
use crate::core::store::{Backend, Store, candles};
use crate::core::{news_store, positions};
use crate::vals;
use anyhow::Result;
use serde::Serialize;

fn encode(f: &[f32; D]) -> String {
    f.iter()
        .map(|x| format!("{x:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn decode(s: &str) -> Option<[f32; D]> {
    let v: Vec<f32> = s.split(',').filter_map(|x| x.parse().ok()).collect();
    v.try_into().ok()
}

const UPSERT: &str = "INSERT INTO knowledge_states (symbol, timeframe, open_time, features, outcome_ret, outcome_mae, outcome_mfe, known_at) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (symbol, timeframe, open_time) DO UPDATE SET features = excluded.features, \
    outcome_ret = excluded.outcome_ret, outcome_mae = excluded.outcome_mae, outcome_mfe = excluded.outcome_mfe, known_at = excluded.known_at";

/// One symbol's stored candles with their indicators (TA-Lib exact, causal: the first k
/// rows are what k candles alone would give), loaded once per run and shared by the
/// knowledge update and the decisions.
pub struct Series {
    pub bars: Vec<Bar>,
    pub ind: Vec<IndicatorRow>,
}

impl Series {
    /// The candles that had closed by `now_ms` (the run's clock: never one after it), with
    /// their indicators.
    pub async fn load(
        store: &Store,
        symbol: &Symbol,
        tf: Timeframe,
        now_ms: i64,
    ) -> Result<Series> {
        let to = crate::core::freshness::last_closed_open(tf, now_ms);
        let bars = candles::bars(store, symbol, tf, None, Some(to)).await?;
        let ind = compute_all(&bars);
        Ok(Series { bars, ind })
    }

    /// Open time of the last candle closed by `as_of`.
    pub fn last_closed_open(&self, tf: Timeframe, as_of: i64) -> Option<i64> {
        let n = self
            .bars
            .partition_point(|b| b.open_time + tf.millis() <= as_of);
        n.checked_sub(1).map(|i| self.bars[i].open_time)
    }

    /// The state at `as_of`: the last candle closed by then, its indicators and features.
    pub fn current_at(&self, tf: Timeframe, as_of: i64) -> Option<Current> {
        let n = self
            .bars
            .partition_point(|b| b.open_time + tf.millis() <= as_of);
        let i = n.checked_sub(1)?;
        Some(Current {
            bar: self.bars[i],
            ind: self.ind[i],
            features: features::features(&self.bars[..n], &self.ind[..n], i),
        })
    }
}

/// Bring one symbol's snapshots up to date (new candles, and outcomes that became known).
pub async fn update(
    store: &Store,
    series: &Series,
    symbol: &Symbol,
    tf: Timeframe,
    horizon: usize,
) -> Result<usize> {
    let (bars, ind) = (&series.bars, &series.ind);
    if bars.is_empty() {
        return Ok(0);
    }
    let done = store
        .query_one(
            "SELECT MAX(open_time) FROM knowledge_states WHERE symbol = ? AND timeframe = ? AND outcome_ret IS NOT NULL",
            vals![symbol, tf],
        )
        .await?
        .opt_int(0)?;
    let start = done
        .map(|t| bars.partition_point(|b| b.open_time <= t))
        .unwrap_or(0);
    let mut rows = Vec::new();
    for i in start..bars.len() {
        let Some(f) = features::features(bars, ind, i) else {
            continue;
        };
        let o = features::forward_outcome(bars, i, horizon);
        let known = features::outcome_known_at(bars, i, horizon, tf.millis());
        rows.push((
            bars[i].open_time,
            encode(&f),
            o,
            known.filter(|_| o.is_some()),
        ));
    }
    let tx = store.begin().await?;
    match &tx.store().backend {
        Backend::Sqlite(c) => {
            let c = crate::core::store::lock_conn(c)?;
            let mut st = c.prepare_cached(UPSERT)?;
            for (t, f, o, k) in &rows {
                st.execute(rusqlite::params![
                    symbol.as_str(),
                    tf.as_str(),
                    t,
                    f,
                    o.map(|o| o.ret),
                    o.map(|o| o.max_adverse),
                    o.map(|o| o.max_favorable),
                    k
                ])?;
            }
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres(_) => {
            for (t, f, o, k) in &rows {
                tx.exec(
                    UPSERT,
                    vals![
                        symbol,
                        tf,
                        *t,
                        f.as_str(),
                        o.map(|o| o.ret),
                        o.map(|o| o.max_adverse),
                        o.map(|o| o.max_favorable),
                        *k
                    ],
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// The snapshots whose outcome was known by `as_of`, normalised and indexed.
pub struct KnowledgeSet {
    pub index: KnnIndex,
    pub normalizer: Normalizer,
    pub base: BaseRates,
    pub symbols: Vec<String>,
}

impl KnowledgeSet {
    pub fn len(&self) -> usize {
        self.index.len()
    }
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    fn symbol_id(&self, s: &str) -> Option<u32> {
        self.symbols.iter().position(|x| x == s).map(|i| i as u32)
    }
}

pub async fn load(store: &Store, tf: Timeframe, as_of: i64, band: f64) -> Result<KnowledgeSet> {
    let rows = store
        .query(
            "SELECT symbol, open_time, features, outcome_ret, outcome_mae, outcome_mfe, known_at FROM knowledge_states \
             WHERE timeframe = ? AND outcome_ret IS NOT NULL AND known_at <= ? ORDER BY symbol, open_time",
            vals![tf, as_of],
        )
        .await?;
    let mut symbols: Vec<String> = Vec::new();
    let mut raw: Vec<[f32; D]> = Vec::with_capacity(rows.len());
    let mut meta = Vec::with_capacity(rows.len());
    for r in &rows {
        let Some(f) = decode(&r.text(2)?) else {
            continue;
        };
        let s = r.text(0)?;
        let id = match symbols.iter().position(|x| *x == s) {
            Some(i) => i,
            None => {
                symbols.push(s);
                symbols.len() - 1
            }
        } as u32;
        raw.push(f);
        meta.push(SnapshotMeta {
            symbol: id,
            open_time: r.int(1)?,
            known_at: r.int(6)?,
            outcome: Outcome {
                ret: r.real(3)?,
                max_adverse: r.real(4)?,
                max_favorable: r.real(5)?,
            },
        });
    }
    let normalizer = if raw.is_empty() {
        Normalizer::identity()
    } else {
        Normalizer::fit(&raw)
    };
    let mut index = KnnIndex::with_capacity(D, raw.len());
    for (f, m) in raw.iter().zip(meta) {
        index.push(&normalizer.apply(f), m);
    }
    let base = BaseRates::from_outcomes((0..index.len()).map(|i| &index.meta(i).outcome), band);
    Ok(KnowledgeSet {
        index,
        normalizer,
        base,
        symbols,
    })
}

/// A symbol's state at `as_of`: its last closed candle, indicators and features.
pub struct Current {
    pub bar: Bar,
    pub ind: IndicatorRow,
    pub features: Option<[f32; D]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SymbolDecision {
    pub symbol: Symbol,
    pub method: &'static str,
    pub action: Action,
    pub confidence: f64,
    /// Prices: exact decimal strings in JSON (at most 8 decimals), like the exchange's.
    #[serde(serialize_with = "crate::core::json_num::price_f64")]
    pub price: f64,
    pub candle_open_time: i64,
    #[serde(serialize_with = "crate::core::json_num::price_f64_vec")]
    pub entry_points: Vec<f64>,
    #[serde(serialize_with = "crate::core::json_num::price_f64_opt")]
    pub stop_loss: Option<f64>,
    pub risk_assessment: String,
    pub sources_used: usize,
    pub expected_return: Option<f64>,
    pub probability_up: Option<f64>,
    pub horizon: usize,
    pub reasoning: String,
    pub reasoning_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_fallback: Option<String>,
    pub neighbours: Vec<NeighbourEvidence>,
    pub documents: Vec<DocumentRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Recommendation>,
    /// The method's measured skill on this symbol (latest stored evaluation by `as_of`).
    pub skill: SkillNote,
}

/// The measured skill beside a signal: from the latest `evaluate-signals` result stored for
/// the symbol (timeframe and horizon) whose data ended by the decision time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkillNote {
    /// At least 300 resolved BUY/SELL decisions and a 95% interval of the Brier skill score
    /// against the base rate above 0.
    pub demonstrated: bool,
    /// "no demonstrated skill: …" or "demonstrated skill: …", with what it rests on.
    pub summary: String,
    /// BUY/SELL Brier skill score against the base rate and its 95% interval.
    pub brier_skill_score: Option<f64>,
    pub brier_skill_score_low: Option<f64>,
    pub brier_skill_score_high: Option<f64>,
    /// Expected calibration error on BUY/SELL (10 bins).
    pub ece: Option<f64>,
    pub directional_decisions: Option<usize>,
    /// Last candle the evaluation read (RFC 3339), `None` when never evaluated.
    pub evaluated_through: Option<String>,
}

impl SkillNote {
    pub fn from_stored(s: Option<&StoredEvaluation>) -> Self {
        match s {
            None => SkillNote {
                demonstrated: false,
                summary: "no demonstrated skill: never evaluated (run evaluate-signals); confidence is the base rate".into(),
                brier_skill_score: None,
                brier_skill_score_low: None,
                brier_skill_score_high: None,
                ece: None,
                directional_decisions: None,
                evaluated_through: None,
            },
            Some(e) => SkillNote {
                demonstrated: e.demonstrated,
                summary: e.summary.clone(),
                brier_skill_score: e.brier_skill_score,
                brier_skill_score_low: e.bss_low,
                brier_skill_score_high: e.bss_high,
                ece: e.ece,
                directional_decisions: Some(e.directional),
                evaluated_through: Some(crate::core::time::fmt_ms(e.through_ms)),
            },
        }
    }
}

/// A stored evaluation's skill and calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvaluation {
    pub through_ms: i64,
    pub directional: usize,
    pub brier_skill_score: Option<f64>,
    pub bss_low: Option<f64>,
    pub bss_high: Option<f64>,
    pub ece: Option<f64>,
    pub demonstrated: bool,
    pub summary: String,
    pub calibration: Calibration,
}

/// Store one symbol's evaluation (its skill, calibration and scores).
pub async fn store_evaluation(
    store: &Store,
    run_id: Option<i64>,
    tf: Timeframe,
    ev: &Evaluation,
    now_ms: i64,
) -> Result<()> {
    let Some(through) = ev.through else {
        return Ok(());
    };
    let d = &ev.rag.directional;
    let details =
        serde_json::json!({"rag": ev.rag, "legacy": ev.legacy, "buy_and_hold": ev.buy_and_hold});
    store
        .exec(
            "INSERT INTO signal_evaluations (run_id, symbol, timeframe, horizon, step, through_ms, decisions, directional, brier_skill_score, bss_low, bss_high, ece, all_brier_skill_score, all_ece, skill_demonstrated, skill_summary, verdict, calibration, details, created_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vals![run_id, &ev.symbol, tf, ev.horizon, ev.step, through, ev.rag.evaluated, d.count, d.brier_skill_score, d.brier_skill_score_low, d.brier_skill_score_high, d.ece, ev.rag.all.brier_skill_score, ev.rag.all.ece, i64::from(ev.skill.demonstrated), ev.skill.summary.as_str(), ev.verdict.as_str(), serde_json::to_string(&ev.calibration_fit)?, serde_json::to_string(&details)?, now_ms],
        )
        .await?;
    Ok(())
}

/// The latest stored evaluation of `symbol` whose data ended by `as_of` (so its calibration
/// used only outcomes known then).
pub async fn latest_skill(
    store: &Store,
    symbol: &Symbol,
    tf: Timeframe,
    horizon: usize,
    as_of: i64,
) -> Result<Option<StoredEvaluation>> {
    let Some(r) = store
        .query_opt(
            "SELECT through_ms, directional, brier_skill_score, bss_low, bss_high, ece, skill_demonstrated, skill_summary, calibration FROM signal_evaluations \
             WHERE symbol = ? AND timeframe = ? AND horizon = ? AND through_ms <= ? ORDER BY through_ms DESC, id DESC LIMIT 1",
            vals![symbol, tf, horizon, as_of],
        )
        .await?
    else {
        return Ok(None);
    };
    let calibration: Calibration = serde_json::from_str(&r.text(8)?)
        .map_err(|e| anyhow::anyhow!("stored calibration of {symbol} is not readable: {e}"))?;
    Ok(Some(StoredEvaluation {
        through_ms: r.int(0)?,
        directional: r.int(1)?.max(0) as usize,
        brier_skill_score: r.opt_real(2)?,
        bss_low: r.opt_real(3)?,
        bss_high: r.opt_real(4)?,
        ece: r.opt_real(5)?,
        demonstrated: r.int(6)? != 0,
        summary: r.text(7)?,
        calibration,
    }))
}

/// News and backtest results about a symbol published by `as_of` (cited in the reasoning).
pub async fn documents(store: &Store, symbol: &Symbol, as_of: i64) -> Result<Vec<DocumentRef>> {
    let mut docs: Vec<DocumentRef> = news_store::list(
        store,
        Some(symbol),
        Some(as_of - 7 * 86_400_000),
        Some(as_of),
        None,
        3,
    )
    .await?
    .into_iter()
    .map(|n| DocumentRef {
        kind: "news".into(),
        title: n.title,
        snippet: n.summary.chars().take(200).collect(),
        time: n.published_ms,
        sentiment: Some(n.sentiment),
    })
    .collect();
    // Backtests, resolved past signals and closed trades about the symbol, by full text.
    for d in crate::core::documents::search(store, None, Some(symbol), Some(as_of), 4).await? {
        docs.push(DocumentRef {
            kind: d.kind,
            title: d.title,
            snippet: d.body.chars().take(200).collect(),
            time: Some(d.time_ms),
            sentiment: None,
        });
    }
    Ok(docs)
}

/// The language model for reasoning text, when configured.
pub fn llm(cfg: &IntelligenceConfig, api_key: Option<String>) -> Option<LlmClient> {
    let url = cfg.llm_url.as_ref()?;
    let mut c = LlmConfig::new(url.clone(), cfg.llm_model.clone());
    c.api_key = api_key;
    c.timeout = std::time::Duration::from_secs(cfg.llm_timeout_secs.max(1));
    LlmClient::new(&c)
        .map_err(|e| tracing::warn!("language model not usable: {e}"))
        .ok()
}

/// What [`decide`] decides with: the same for every symbol of a run.
#[derive(Clone, Copy)]
pub struct Decider<'a> {
    pub ks: &'a KnowledgeSet,
    pub tf: Timeframe,
    pub cfg: &'a IntelligenceConfig,
    pub llm: Option<&'a LlmClient>,
}

/// Decide for one symbol at `as_of`: retrieval when the knowledge is rich enough, else the
/// legacy indicator rules.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    store: &Store,
    d: Decider<'_>,
    symbol: &Symbol,
    as_of: i64,
    series: &Series,
) -> Result<Option<SymbolDecision>> {
    let Decider { ks, tf, cfg, llm } = d;
    let Some(cur) = series.current_at(tf, as_of) else {
        return Ok(None);
    };
    let price = cur.bar.close;
    let docs = documents(store, symbol, as_of).await?;
    let rc = RecommendConfig::default();
    let stored = latest_skill(store, symbol, tf, cfg.horizon, as_of).await?;
    let skill = SkillNote::from_stored(stored.as_ref());
    if let (true, Some(f)) = (ks.len() >= cfg.min_sources, cur.features) {
        let q = ks.normalizer.apply(&f);
        let prefer = ks.symbol_id(&symbol.0);
        let nb = ks.index.query(&q, cfg.k, |m| m.known_at <= as_of, prefer);
        let outcomes: Vec<NeighbourOutcome> = nb
            .iter()
            .map(|n| NeighbourOutcome {
                dist: n.dist as f64,
                outcome: ks.index.meta(n.row).outcome,
            })
            .collect();
        let atr = cur.ind.atr14.unwrap_or(0.0);
        let rec = recommend(
            &outcomes,
            &ks.base,
            &MarketContext {
                price,
                atr,
                horizon: cfg.horizon,
            },
            docs.len(),
            &rc,
            &stored
                .as_ref()
                .map(|x| x.calibration)
                .unwrap_or_else(|| Calibration::base_rates(&ks.base)),
        );
        let neighbours: Vec<NeighbourEvidence> = nb
            .iter()
            .map(|n| {
                let m = ks.index.meta(n.row);
                NeighbourEvidence {
                    symbol: Symbol(ks.symbols[m.symbol as usize].clone()),
                    open_time: m.open_time,
                    distance: n.dist as f64,
                    ret: m.outcome.ret,
                    max_adverse: m.outcome.max_adverse,
                }
            })
            .collect();
        let ev = Evidence {
            symbol: symbol.clone(),
            timeframe: tf.to_string(),
            as_of,
            price,
            neighbours,
            documents: docs.clone(),
        };
        let r = reasoning::write_reasoning(llm, &rec, &ev).await;
        let neighbours: Vec<NeighbourEvidence> = ev.neighbours.into_iter().take(10).collect();
        let src = serde_json::to_value(r.source)?
            .as_str()
            .unwrap_or("template")
            .to_string();
        return Ok(Some(SymbolDecision {
            symbol: symbol.clone(),
            method: "rag",
            action: rec.action,
            confidence: rec.confidence,
            price,
            candle_open_time: cur.bar.open_time,
            entry_points: rec.entry_points.clone(),
            stop_loss: rec.stop_loss,
            risk_assessment: rec.risk_assessment.as_str().to_string(),
            sources_used: rec.sources_used,
            expected_return: Some(rec.expected_return),
            probability_up: Some(rec.probability_up),
            horizon: cfg.horizon,
            reasoning: r.text,
            reasoning_source: src,
            reasoning_fallback: r.fallback_reason,
            neighbours,
            documents: docs,
            recommendation: Some(rec),
            skill,
        }));
    }
    let l = legacy_signal(price, &cur.ind);
    let (entry, stop) = crate::core::intelligence::recommend::levels(
        l.action,
        price,
        cur.ind.atr14.unwrap_or(0.0),
        &rc,
    );
    let why = format!(
        "{} (legacy rules: {} known snapshots, fewer than the {} needed for retrieval{})",
        l.reasoning(),
        ks.len(),
        cfg.min_sources,
        if cur.features.is_none() {
            "; indicators still warming up"
        } else {
            ""
        }
    );
    Ok(Some(SymbolDecision {
        symbol: symbol.clone(),
        method: "legacy",
        action: l.action,
        confidence: l.confidence,
        price,
        candle_open_time: cur.bar.open_time,
        entry_points: entry,
        stop_loss: stop,
        risk_assessment: "medium".into(),
        sources_used: docs.len(),
        expected_return: None,
        probability_up: None,
        horizon: cfg.horizon,
        reasoning: why,
        reasoning_source: "template".into(),
        reasoning_fallback: None,
        neighbours: vec![],
        documents: docs,
        recommendation: None,
        skill,
    }))
}

/// Store a decision as a signal.
#[allow(clippy::too_many_arguments)]
pub async fn record_signal(
    store: &Store,
    run_id: Option<i64>,
    account_id: Option<i64>,
    job: &str,
    tf: Timeframe,
    as_of: i64,
    d: &SymbolDecision,
    size_usd: Option<f64>,
    now_ms: i64,
) -> Result<()> {
    store
        .exec(
            "INSERT INTO signals (run_id, account_id, job, symbol, timeframe, as_of_ms, method, action, confidence, price, horizon, expected_return, sources_used, position_size_usd, stop_loss, reasoning, reasoning_source, details, created_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vals![run_id, account_id, job, &d.symbol, tf, as_of, d.method, d.action.as_str(), d.confidence, d.price, d.horizon, d.expected_return, d.sources_used, size_usd, d.stop_loss, d.reasoning.as_str(), d.reasoning_source.as_str(), serde_json::to_string(d)?, now_ms],
        )
        .await?;
    Ok(())
}

/// Fill in the realised outcome of past signals whose horizon has passed.
pub async fn fill_signal_outcomes(store: &Store, now_ms: i64) -> Result<u64> {
    let rows = store
        .query("SELECT id, symbol, timeframe, as_of_ms, horizon, price FROM signals WHERE outcome_ret IS NULL", &[])
        .await?;
    let mut n = 0;
    for r in rows {
        let tf: Timeframe = r.text(2)?.parse()?;
        let target = r.int(3)? + r.int(4)? * tf.millis();
        if target > now_ms {
            continue;
        }
        let Some((px, _)) =
            positions::latest_stored_price(store, &Symbol(r.text(1)?), target).await?
        else {
            continue;
        };
        use rust_decimal::prelude::ToPrimitive;
        let ret = px.to_f64().unwrap_or(0.0) / r.real(5)? - 1.0;
        n += store
            .exec(
                "UPDATE signals SET outcome_ret = ?, outcome_ms = ? WHERE id = ?",
                vals![ret, target, r.int(0)?],
            )
            .await?;
    }
    Ok(n)
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub snapshots: i64,
    pub with_outcome: i64,
    pub symbols: Vec<serde_json::Value>,
    pub signals: i64,
    pub signals_with_outcome: i64,
    pub news: i64,
    pub backtest_results: i64,
    /// Searchable documents: backtests, resolved signals, closed trades.
    pub documents: i64,
}

pub async fn stats(store: &Store) -> Result<Stats> {
    let one = |sql: &'static str| async move { store.query_one(sql, &[]).await?.int(0) };
    let documents = one("SELECT COUNT(*) FROM documents").await?;
    let symbols = store
        .query(
            "SELECT symbol, timeframe, COUNT(*), COUNT(outcome_ret), MIN(open_time), MAX(open_time) FROM knowledge_states GROUP BY symbol, timeframe ORDER BY symbol",
            &[],
        )
        .await?
        .iter()
        .map(|r| Ok(serde_json::json!({"symbol": r.text(0)?, "timeframe": r.text(1)?, "snapshots": r.int(2)?, "with_outcome": r.int(3)?, "from": r.int(4)?, "to": r.int(5)?})))
        .collect::<Result<_>>()?;
    Ok(Stats {
        snapshots: one("SELECT COUNT(*) FROM knowledge_states").await?,
        with_outcome: one("SELECT COUNT(outcome_ret) FROM knowledge_states").await?,
        symbols,
        signals: one("SELECT COUNT(*) FROM signals").await?,
        signals_with_outcome: one("SELECT COUNT(outcome_ret) FROM signals").await?,
        news: one("SELECT COUNT(*) FROM news").await?,
        backtest_results: one("SELECT COUNT(*) FROM backtest_results").await?,
        documents,
    })
}
