//! Balance snapshots: balance, equity, unrealized PnL, margin, daily and cumulative PnL.

use crate::core::accounts::Account;
use crate::core::store::Store;
use crate::core::valuation::Valuation;
use crate::vals;
use anyhow::Result;
use rust_decimal::Decimal;

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub time_ms: i64,
    pub balance: Decimal,
    pub equity: Decimal,
    pub unrealized_pnl: Decimal,
    pub margin_used: Decimal,
    pub margin_available: Decimal,
    pub daily_pnl: Decimal,
    pub cumulative_pnl: Decimal,
    /// Where cumulative PnL is measured from: "initial_cash", "baseline" or "first_snapshot".
    pub pnl_base: &'static str,
}

/// Equity at the start of the UTC day of `now_ms`: the last snapshot before midnight, else the
/// first one of the day.
pub async fn equity_at_day_start(
    store: &Store,
    account_id: i64,
    now_ms: i64,
) -> Result<Option<Decimal>> {
    let day = crate::core::time::day_start(now_ms);
    if let Some(r) = store
        .query_opt(
            "SELECT equity FROM balance_history WHERE account_id = ? AND time_ms < ? ORDER BY time_ms DESC LIMIT 1",
            vals![account_id, day],
        )
        .await?
    {
        return Ok(Some(r.dec(0)?));
    }
    store
        .query_opt(
            "SELECT equity FROM balance_history WHERE account_id = ? AND time_ms >= ? AND time_ms <= ? ORDER BY time_ms LIMIT 1",
            vals![account_id, day, now_ms],
        )
        .await?
        .map(|r| r.dec(0))
        .transpose()
}

/// Build the snapshot of a valuation at `now_ms` (daily and cumulative PnL from the history).
/// Every figure is the valuation's own ([`crate::core::valuation`]).
pub async fn snapshot(
    store: &Store,
    acct: &Account,
    state: &Valuation,
    now_ms: i64,
) -> Result<Snapshot> {
    let equity = state.equity;
    let day_start_equity = equity_at_day_start(store, acct.id, now_ms).await?;
    let (base, pnl_base) = match acct.net_deposits() {
        Some(d) => (
            d,
            if acct.baseline.is_some() {
                "baseline"
            } else {
                "initial_cash"
            },
        ),
        None => {
            // The first snapshot known by the run's clock: under FKS_NOW (a replay) a
            // snapshot taken after it does not exist yet.
            let first = store
                .query_opt(
                    "SELECT equity FROM balance_history WHERE account_id = ? AND time_ms <= ? ORDER BY time_ms, id LIMIT 1",
                    vals![acct.id, now_ms],
                )
                .await?
                .map(|r| r.dec(0))
                .transpose()?;
            (first.unwrap_or(equity), "first_snapshot")
        }
    };
    Ok(snapshot_of(state, now_ms, day_start_equity, base, pnl_base))
}

/// The snapshot of a valuation, given the equity at the start of its UTC day and the base of
/// cumulative PnL. Pure: every amount is the valuation's own.
pub fn snapshot_of(
    state: &Valuation,
    now_ms: i64,
    day_start_equity: Option<Decimal>,
    base: Decimal,
    pnl_base: &'static str,
) -> Snapshot {
    let equity = state.equity;
    Snapshot {
        time_ms: now_ms,
        balance: state.balance,
        equity,
        unrealized_pnl: state.unrealized_pnl,
        margin_used: state.margin_used,
        margin_available: state.margin_available,
        daily_pnl: day_start_equity
            .map(|e| equity - e)
            .unwrap_or(Decimal::ZERO),
        cumulative_pnl: equity - base,
        pnl_base,
    }
}

/// Store a snapshot and the valuation it was made from, in one transaction, so jobs that do
/// not call the exchange read the same figures ([`crate::core::valuation::load`]).
pub async fn record(store: &Store, account_id: i64, s: &Snapshot, v: &Valuation) -> Result<()> {
    let tx = store.begin().await?;
    let id = tx
        .query_one(
            "INSERT INTO balance_history (account_id, time_ms, balance, equity, unrealized_pnl, margin_used, margin_available, daily_pnl, cumulative_pnl) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            vals![account_id, s.time_ms, s.balance, s.equity, s.unrealized_pnl, s.margin_used, s.margin_available, s.daily_pnl, s.cumulative_pnl],
        )
        .await?
        .int(0)?;
    tx.exec(
        "INSERT INTO account_valuations (balance_id, account_id, time_ms, valuation) VALUES (?, ?, ?, ?)",
        vals![id, account_id, s.time_ms, serde_json::to_string(v)?],
    )
    .await?;
    tx.commit().await
}
