//! Stored news: deduplicated by item id across runs and sources, full-text searchable
//! (SQLite FTS5, Postgres `tsvector`).

use crate::core::market::Symbol;
use crate::core::news::NewsItem;
use crate::core::store::{Row, Store, StoreKind, Value};
use crate::vals;
use anyhow::Result;
use serde::Serialize;

/// Insert items not stored yet; returns how many were new.
pub async fn save(store: &Store, items: &[NewsItem], now_ms: i64) -> Result<u64> {
    let tx = store.begin().await?;
    let mut new = 0;
    for it in items {
        let symbols = it
            .symbols
            .iter()
            .map(|s| s.0.as_str())
            .collect::<Vec<_>>()
            .join(",");
        new += tx
            .exec(
                "INSERT INTO news (item_id, source, title, link, summary, published_ms, fetched_ms, symbols, categories, sentiment) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_id) DO NOTHING",
                vals![it.id.as_str(), it.source.as_str(), it.title.as_str(), it.link.clone(), it.summary.as_str(), it.published_ms, now_ms, symbols, it.categories.join("|"), it.sentiment],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(new)
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredNews {
    pub source: String,
    pub title: String,
    pub link: Option<String>,
    pub summary: String,
    pub published_ms: Option<i64>,
    pub symbols: Vec<String>,
    pub sentiment: f64,
}

fn from_row(r: &Row) -> Result<StoredNews> {
    Ok(StoredNews {
        source: r.text(0)?,
        title: r.text(1)?,
        link: r.opt_text(2)?,
        summary: r.text(3)?,
        published_ms: r.opt_int(4)?,
        symbols: r
            .text(5)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        sentiment: r.real(6)?,
    })
}

/// An FTS5 query that matches all the words, with user input quoted (no syntax errors).
pub fn fts5_query(words: &str) -> String {
    words
        .split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stored items, newest first: by symbol, since a time (published or fetched), matching words.
/// `until` excludes anything published (or fetched) after it (for replays as of a time).
pub async fn list(
    store: &Store,
    symbol: Option<&Symbol>,
    since: Option<i64>,
    until: Option<i64>,
    query: Option<&str>,
    limit: usize,
) -> Result<Vec<StoredNews>> {
    let mut sql = String::from(
        "SELECT n.source, n.title, n.link, n.summary, n.published_ms, n.symbols, n.sentiment FROM news n",
    );
    let mut params: Vec<Value> = Vec::new();
    let mut conds: Vec<String> = Vec::new();
    if let Some(q) = query.filter(|q| !q.trim().is_empty()) {
        match store.kind() {
            StoreKind::Sqlite => {
                sql.push_str(" JOIN news_fts f ON f.rowid = n.id");
                conds.push("news_fts MATCH ?".into());
                params.push(fts5_query(q).into());
            }
            StoreKind::Postgres => {
                conds.push("n.search @@ plainto_tsquery('english', ?)".into());
                params.push(q.into());
            }
        }
    }
    if let Some(s) = symbol {
        conds.push("(',' || n.symbols || ',') LIKE ?".into());
        params.push(format!("%,{},%", s.0).into());
    }
    if let Some(t) = since {
        conds.push("COALESCE(n.published_ms, n.fetched_ms) >= ?".into());
        params.push(t.into());
    }
    if let Some(t) = until {
        conds.push("COALESCE(n.published_ms, n.fetched_ms) <= ?".into());
        params.push(t.into());
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY COALESCE(n.published_ms, n.fetched_ms) DESC, n.id DESC LIMIT ?");
    params.push((limit as i64).into());
    store
        .query(&sql, &params)
        .await?
        .iter()
        .map(from_row)
        .collect()
}
