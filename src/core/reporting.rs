//! Gathers what reports and account metrics need from the store: balance history, closed
//! trades (fills that realized PnL), positions, alerts and job failures.

use crate::core::accounts::Account;
use crate::core::balances;
use crate::core::json_num::Money;
use crate::core::report::{
    AccountInfo, AccountMetrics, ClosedTrade, EquitySnapshot, EventRow, Period, PositionRow,
    ReportData, ReportType, Summary, SymbolPnl, TradeRow, compute_account_metrics,
};
use crate::core::store::Store;
use crate::core::valuation;
use crate::vals;
use anyhow::Result;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::collections::BTreeMap;

fn ts(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Snapshots from the last one before the period (the baseline) to the period's end.
pub async fn snapshots(store: &Store, account_id: i64, p: Period) -> Result<Vec<EquitySnapshot>> {
    store
        .query(
            "SELECT time_ms, equity FROM balance_history WHERE account_id = ? AND time_ms <= ? AND time_ms >= \
             COALESCE((SELECT MAX(time_ms) FROM balance_history WHERE account_id = ? AND time_ms < ?), ?) ORDER BY time_ms",
            vals![account_id, p.to_ms, account_id, p.from_ms, p.from_ms],
        )
        .await?
        .iter()
        .map(|r| Ok(EquitySnapshot { time_ms: r.int(0)?, equity: r.dec(1)?.to_f64().unwrap_or(0.0) }))
        .collect()
}

/// Fills that realized PnL, with their % of the entry notional they closed.
pub async fn closed_trades(
    store: &Store,
    account_id: i64,
    p: Period,
) -> Result<(Vec<ClosedTrade>, usize)> {
    let rows = store
        .query(
            "SELECT time_ms, symbol, side, quantity, price, realized_pnl FROM fills WHERE account_id = ? AND time_ms >= ? AND time_ms <= ? ORDER BY time_ms",
            vals![account_id, p.from_ms, p.to_ms],
        )
        .await?;
    let fills = rows.len();
    let mut out = Vec::new();
    for r in &rows {
        let pnl = r.dec(5)?;
        if pnl.is_zero() {
            continue;
        }
        let (qty, px) = (r.dec(3)?, r.dec(4)?);
        // SELL closes a LONG: entry notional = exit notional - pnl; BUY closes a SHORT: + pnl.
        let entry = if r.text(2)? == "SELL" {
            qty * px - pnl
        } else {
            qty * px + pnl
        };
        let pct = (!entry.is_zero())
            .then(|| (pnl / entry * Decimal::from(100)).to_f64())
            .flatten();
        out.push(ClosedTrade {
            time_ms: r.int(0)?,
            symbol: r.text(1)?,
            pnl: pnl.to_f64().unwrap_or(0.0),
            pnl_pct: pct,
        });
    }
    Ok((out, fills))
}

pub async fn account_metrics(store: &Store, acct: &Account, p: Period) -> Result<AccountMetrics> {
    let snaps = snapshots(store, acct.id, p).await?;
    let (trades, fills) = closed_trades(store, acct.id, p).await?;
    Ok(compute_account_metrics(&snaps, &trades, fills, p))
}

/// A report's summary from a balance snapshot (realized PnL is the period's, filled later).
pub fn summary_of(snap: &balances::Snapshot) -> Summary {
    Summary {
        balance: snap.balance,
        equity: snap.equity,
        unrealized_pnl: snap.unrealized_pnl,
        realized_pnl: Decimal::ZERO,
        daily_pnl: snap.daily_pnl,
        cumulative_pnl: snap.cumulative_pnl,
    }
}

/// A report's open positions as the valuation marked them. Spot balances show at their price
/// with no PnL (no entry is known); unpriced spot balances are left out (not valued).
pub fn position_rows(v: &valuation::Valuation) -> Vec<PositionRow> {
    v.positions
        .iter()
        .filter_map(|pos| {
            let px = pos.mark()?;
            Some(PositionRow {
                symbol: pos.symbol.clone(),
                side: pos.side.as_str().to_string(),
                qty: pos.quantity,
                entry_price: pos.entry_price.unwrap_or(px),
                current_price: px,
                unrealized_pnl: pos.unrealized_pnl.unwrap_or(Decimal::ZERO),
                pnl_pct: pos.pnl_pct.unwrap_or(0.0),
            })
        })
        .collect()
}

/// How a report judges its prices: the freshness rule and the timeframe whose limit applies
/// (`market.timeframe`), as analyze-risk judges them.
pub struct PriceRule<'a> {
    pub rule: &'a crate::core::freshness::FreshnessRule,
    pub timeframe: crate::core::market::Timeframe,
}

pub async fn build(
    store: &Store,
    acct: &Account,
    kind: ReportType,
    p: Period,
    now_ms: i64,
    prices: &PriceRule<'_>,
) -> Result<ReportData> {
    let metrics = account_metrics(store, acct, p).await?;
    // Summary and open positions: the one valuation (the paper account now; an exchange
    // account as its latest snapshot valued it), with daily and cumulative PnL as
    // sync-account-balance computes them.
    let valued = valuation::load_stored_or_live(store, acct, now_ms).await?;
    let summary = match &valued {
        Some(v) => summary_of(&balances::snapshot(store, acct, v, v.as_of_ms).await?),
        None => Summary {
            balance: Decimal::ZERO,
            equity: Decimal::ZERO,
            unrealized_pnl: Decimal::ZERO,
            realized_pnl: Decimal::ZERO,
            daily_pnl: Decimal::ZERO,
            cumulative_pnl: Decimal::ZERO,
        },
    };
    let fills = store
        .query(
            "SELECT time_ms, symbol, side, quantity, price, fee, fee_asset, realized_pnl FROM fills WHERE account_id = ? AND time_ms <= ? ORDER BY time_ms DESC, id DESC LIMIT 10",
            vals![acct.id, p.to_ms],
        )
        .await?;
    let recent_trades = fills
        .iter()
        .map(|r| {
            let pnl = r.dec(7)?;
            Ok(TradeRow {
                time: ts(r.int(0)?),
                symbol: crate::core::market::Symbol(r.text(1)?),
                side: r.text(2)?,
                qty: r.dec(3)?,
                price: r.dec(4)?,
                fee: Money::new(r.dec(5)?, &r.text(6)?),
                fee_asset: r.text(6)?,
                realized_pnl: (!pnl.is_zero()).then_some(pnl),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut by_symbol: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for r in store
        .query(
            "SELECT symbol, realized_pnl FROM fills WHERE account_id = ? AND time_ms >= ? AND time_ms <= ?",
            vals![acct.id, p.from_ms, p.to_ms],
        )
        .await?
    {
        by_symbol.entry(r.text(0)?).or_default().0 += r.dec(1)?;
    }
    let open_positions = valued.as_ref().map(position_rows).unwrap_or_default();
    // The marks judged at the report's time: a stale price makes the summary a figure of
    // the past, which the report says above everything else.
    let stale = valued.as_ref().map_or_else(Vec::new, |v| {
        crate::core::freshness::stale_marks(v, prices.rule, prices.timeframe, now_ms)
    });
    let warnings = if stale.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "prices are stale: equity, unrealized PnL and open positions are as of {}, not current; sync market data",
            crate::core::freshness::describe_stale_marks(&stale)
        )]
    };
    let stale_prices = stale
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()?;
    for p in &open_positions {
        by_symbol.entry(p.symbol.0.clone()).or_default().1 += p.unrealized_pnl;
    }
    let realized: Decimal = by_symbol.values().map(|v| v.0).sum();
    let pnl_by_symbol = by_symbol
        .into_iter()
        .map(|(s, (r, u))| SymbolPnl {
            symbol: crate::core::market::Symbol(s),
            realized_pnl: r,
            unrealized_pnl: u,
        })
        .collect();
    let alerts = store
        .query(
            "SELECT created_ms, kind, title || ': ' || body FROM notifications WHERE kind = 'alert' AND created_ms >= ? AND created_ms <= ? ORDER BY created_ms DESC LIMIT 20",
            vals![p.from_ms, p.to_ms],
        )
        .await?
        .iter()
        .map(|r| Ok(EventRow { time: ts(r.int(0)?), task: r.text(1)?, message: r.text(2)? }))
        .collect::<Result<Vec<_>>>()?;
    let job_failures = store
        .query(
            "SELECT started_ms, task, COALESCE(error, status) FROM task_runs WHERE status IN ('error', 'partial') AND started_ms >= ? AND started_ms <= ? ORDER BY started_ms DESC LIMIT 20",
            vals![p.from_ms, p.to_ms],
        )
        .await?
        .iter()
        .map(|r| Ok(EventRow { time: ts(r.int(0)?), task: r.text(1)?, message: r.text(2)? }))
        .collect::<Result<Vec<_>>>()?;
    Ok(ReportData {
        report_type: kind,
        period_from: ts(p.from_ms),
        period_to: ts(p.to_ms),
        generated_at: ts(now_ms),
        account: AccountInfo {
            id: Some(acct.id),
            name: acct.name.clone(),
            kind: acct.kind.as_str().into(),
            quote: acct.quote.clone(),
        },
        summary: Summary {
            realized_pnl: realized,
            ..summary
        },
        metrics,
        recent_trades,
        open_positions,
        pnl_by_symbol,
        alerts,
        job_failures,
        stale_prices,
        warnings,
    })
}
