//! `fks fetch-news`: ingest news from the configured feeds and news API, deduplicated, tagged
//! with symbols and scored for sentiment.

use super::Ctx;
use crate::core::news::{self, sentiment::SentimentScorer};
use crate::core::news_store;
use crate::output::{EntityStatus, Failure, Outcome, Report, Status};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// One source's fetch.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SourceResult {
    Fetched {
        status: EntityStatus,
        fetched: usize,
    },
    Failed(Failure),
}

impl SourceResult {
    fn status(&self) -> EntityStatus {
        match self {
            SourceResult::Fetched { status, .. } => *status,
            SourceResult::Failed(f) => f.status,
        }
    }
}

/// The report of `fks fetch-news`.
#[derive(Debug, Serialize)]
pub struct FetchRun {
    /// Items fetched (after deduplication).
    pub fetched: usize,
    /// Items the store did not have.
    pub new: u64,
    pub average_sentiment: Option<f64>,
    /// With no source configured: 0, and a note saying so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    pub results: BTreeMap<String, SourceResult>,
}

impl Report for FetchRun {
    fn status(&self) -> Status {
        Status::combine(self.results.values().map(|r| r.status().as_str()))
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Items per source.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

/// What a run says when no source is configured.
pub const NO_SOURCE: &str = "no news source is configured, so nothing was fetched: add [[news.sources]] entries (name, kind = rss|atom|cryptocompare, url) to fks.toml";

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let cfg = &ctx.settings.file.news;
    if cfg.sources.is_empty() {
        // Not an error: news is optional, and the default schedule runs this job hourly.
        // fks ships no default feeds: which sites to poll (and their terms of use) is the
        // operator's choice.
        return Outcome::from_report(&FetchRun {
            fetched: 0,
            new: 0,
            average_sentiment: None,
            sources: Some(0),
            note: Some(NO_SOURCE),
            results: BTreeMap::new(),
        });
    }
    cfg.validate()
        .map_err(|e| crate::core::config::ConfigError(format!("news: {e}")))?;
    let tagger = cfg
        .tagger()
        .map_err(|e| crate::core::config::ConfigError(format!("news: {e}")))?;
    let scorer = SentimentScorer::new();
    let fetched = news::fetch_all(ctx.http()?, &cfg.sources, args.limit.max(1)).await;
    let mut results = BTreeMap::new();
    let mut all = Vec::new();
    for f in fetched {
        match f.result {
            Ok(mut items) => {
                for it in &mut items {
                    news::annotate(it, &tagger, &scorer);
                }
                let status = EntityStatus::Success;
                let fetched = items.len();
                results.insert(f.source.clone(), SourceResult::Fetched { status, fetched });
                all.extend(items);
            }
            Err(e) => {
                results.insert(
                    f.source.clone(),
                    SourceResult::Failed(Failure::msg(e.to_string())),
                );
            }
        }
    }
    let items = news::dedup_items(all);
    let new = news_store::save(store, &items, ctx.now_ms())
        .await
        .context("store news")?;
    let avg = if items.is_empty() {
        None
    } else {
        Some(items.iter().map(|i| i.sentiment).sum::<f64>() / items.len() as f64)
    };
    Outcome::from_report(&FetchRun {
        fetched: items.len(),
        new,
        average_sentiment: avg.map(|a| (a * 1000.0).round() / 1000.0),
        sources: None,
        note: None,
        results,
    })
}
