//! Knowledge documents: backtest results, past signals once their outcome is known, and
//! closed trades, kept as searchable text (SQLite FTS5 / Postgres full text) beside the news.

use crate::core::market::Symbol;
use crate::core::store::{Store, StoreKind, Value};
use crate::vals;
use anyhow::Result;
use serde::Serialize;

async fn put(
    store: &Store,
    kind: &str,
    reference: &str,
    symbol: &str,
    title: &str,
    body: &str,
    time_ms: i64,
) -> Result<u64> {
    store
        .exec(
            "INSERT INTO documents (kind, ref, symbol, title, body, time_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, ref) DO NOTHING",
            vals![kind, reference, symbol, title, body, time_ms],
        )
        .await
}

/// Turn new backtest results, resolved signals and closed trades into documents.
pub async fn sync(store: &Store) -> Result<u64> {
    let mut n = 0;
    let last = |kind: &'static str| async move {
        store
            .query_one(
                "SELECT COALESCE(MAX(CAST(ref AS BIGINT)), 0) FROM documents WHERE kind = ?",
                vals![kind],
            )
            .await?
            .int(0)
    };
    let after = last("backtest").await?;
    for r in store
        .query(
            "SELECT id, kind, symbol, timeframe, phase, params, metrics, created_ms FROM backtest_results WHERE id > ? AND phase <> 'grid' ORDER BY id",
            vals![after],
        )
        .await?
    {
        let m: serde_json::Value = serde_json::from_str(&r.text(6)?)?;
        let p: serde_json::Value = serde_json::from_str(&r.text(5)?)?;
        let sym = r.text(2)?;
        let title = format!("backtest {} {} on {sym} {} ({})", r.text(1)?, p["params"], r.text(3)?, r.text(4)?);
        let body = format!(
            "total return {:.2}%, Sharpe {}, max drawdown {:.2}%, {} trades, win rate {}, buy and hold {:.2}%",
            m["total_return_pct"].as_f64().unwrap_or(0.0),
            m["sharpe"].as_f64().map(|x| format!("{x:.2}")).unwrap_or_else(|| "undefined".into()),
            m["max_drawdown_pct"].as_f64().unwrap_or(0.0),
            m["total_trades"],
            m["win_rate_pct"].as_f64().map(|x| format!("{x:.1}%")).unwrap_or_else(|| "n/a".into()),
            m["buy_and_hold_return_pct"].as_f64().unwrap_or(0.0),
        );
        n += put(store, "backtest", &r.int(0)?.to_string(), &sym, &title, &body, r.int(7)?).await?;
    }
    let after = last("signal").await?;
    for r in store
        .query(
            "SELECT id, symbol, method, action, confidence, reasoning, outcome_ret, outcome_ms, horizon FROM signals WHERE id > ? AND outcome_ret IS NOT NULL ORDER BY id",
            vals![after],
        )
        .await?
    {
        let sym = r.text(1)?;
        let ret = r.real(6)?;
        let title = format!("signal {} {sym} ({}, confidence {:.0}%)", r.text(3)?, r.text(2)?, r.real(4)? * 100.0);
        let body = format!("outcome {:+.2}% over {} bars. {}", ret * 100.0, r.int(8)?, r.text(5)?);
        n += put(store, "signal", &r.int(0)?.to_string(), &sym, &title, &body, r.int(7)?).await?;
    }
    let after = last("trade").await?;
    for r in store
        .query(
            "SELECT id, symbol, side, quantity, price, realized_pnl, fee_asset, time_ms FROM fills WHERE id > ? AND realized_pnl <> '0' ORDER BY id",
            vals![after],
        )
        .await?
    {
        let sym = r.text(1)?;
        let pnl = r.dec(5)?;
        let closed = if r.text(2)? == "SELL" { "LONG" } else { "SHORT" };
        let title = format!("closed {closed} {sym}: {} {}", pnl.round_dp(2), r.text(6)?);
        let body = format!("{} {} at {}; realized {}", r.text(2)?, r.text(3)?, r.text(4)?, pnl.round_dp(2));
        n += put(store, "trade", &r.int(0)?.to_string(), &sym, &title, &body, r.int(7)?).await?;
    }
    Ok(n)
}

#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub kind: String,
    pub symbol: Option<String>,
    pub title: String,
    pub body: String,
    pub time_ms: i64,
}

/// Documents matching all `words` (full text), about `symbol`, created by `until`; newest first.
pub async fn search(
    store: &Store,
    words: Option<&str>,
    symbol: Option<&Symbol>,
    until: Option<i64>,
    limit: usize,
) -> Result<Vec<Document>> {
    let mut sql =
        String::from("SELECT d.kind, d.symbol, d.title, d.body, d.time_ms FROM documents d");
    let mut conds = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(w) = words.filter(|w| !w.trim().is_empty()) {
        match store.kind() {
            StoreKind::Sqlite => {
                sql.push_str(" JOIN documents_fts f ON f.rowid = d.id");
                conds.push("documents_fts MATCH ?".to_string());
                params.push(crate::core::news_store::fts5_query(w).into());
            }
            StoreKind::Postgres => {
                conds.push("d.search @@ plainto_tsquery('simple', ?)".to_string());
                params.push(w.into());
            }
        }
    }
    if let Some(s) = symbol {
        conds.push("d.symbol = ?".into());
        params.push(s.into());
    }
    if let Some(t) = until {
        conds.push("d.time_ms <= ?".into());
        params.push(t.into());
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY d.time_ms DESC, d.id DESC LIMIT ?");
    params.push((limit as i64).into());
    store
        .query(&sql, &params)
        .await?
        .iter()
        .map(|r| {
            Ok(Document {
                kind: r.text(0)?,
                symbol: r.opt_text(1)?,
                title: r.text(2)?,
                body: r.text(3)?,
                time_ms: r.int(4)?,
            })
        })
        .collect()
}
