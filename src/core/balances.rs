//! Balance snapshots: balance, equity, unrealized PnL, margin, daily and cumulative PnL.

use crate::core::accounts::Account;
use crate::core::positions;
use crate::core::store::Store;
use crate::vals;
use anyhow::Result;
use rust_decimal::Decimal;

/// What an exchange (or the paper exchange) says about an account right now.
#[derive(Debug, Clone, Default)]
pub struct AccountState {
    pub balance: Decimal,
    pub unrealized_pnl: Decimal,
    pub margin_used: Decimal,
    pub margin_available: Decimal,
    /// Equity when the exchange reports it (futures margin balance); else balance + unrealized.
    pub equity: Option<Decimal>,
}

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

/// The paper account's state, with open positions marked at the latest stored prices.
/// Positions without any price are valued at entry (no unrealized PnL) and listed in `unpriced`.
pub async fn paper_state(
    store: &Store,
    acct: &Account,
    as_of: i64,
) -> Result<(AccountState, Vec<String>)> {
    let balance = store
        .query_one(
            "SELECT balance FROM paper_wallets WHERE account_id = ?",
            vals![acct.id],
        )
        .await?
        .dec(0)?;
    let mut upnl = Decimal::ZERO;
    let mut used = Decimal::ZERO;
    let mut unpriced = Vec::new();
    for p in positions::open_positions(store, acct.id).await? {
        used += p.entry_notional();
        match positions::latest_stored_price(store, &p.symbol, as_of).await? {
            Some((price, _)) => {
                upnl += positions::unrealized(p.side, p.quantity, p.entry_price, price)
            }
            None => unpriced.push(p.symbol.0.clone()),
        }
    }
    let equity = balance + upnl;
    Ok((
        AccountState {
            balance,
            unrealized_pnl: upnl,
            margin_used: used,
            margin_available: equity - used,
            equity: Some(equity),
        },
        unpriced,
    ))
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

/// Build the snapshot for `state` at `now_ms` (daily and cumulative PnL from the history).
pub async fn snapshot(
    store: &Store,
    acct: &Account,
    state: &AccountState,
    now_ms: i64,
) -> Result<Snapshot> {
    let equity = state.equity.unwrap_or(state.balance + state.unrealized_pnl);
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
            let first = store
                .query_opt("SELECT equity FROM balance_history WHERE account_id = ? ORDER BY time_ms LIMIT 1", vals![acct.id])
                .await?
                .map(|r| r.dec(0))
                .transpose()?;
            (first.unwrap_or(equity), "first_snapshot")
        }
    };
    Ok(Snapshot {
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
    })
}

pub async fn record(store: &Store, account_id: i64, s: &Snapshot) -> Result<()> {
    store
        .exec(
            "INSERT INTO balance_history (account_id, time_ms, balance, equity, unrealized_pnl, margin_used, margin_available, daily_pnl, cumulative_pnl) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vals![account_id, s.time_ms, s.balance, s.equity, s.unrealized_pnl, s.margin_used, s.margin_available, s.daily_pnl, s.cumulative_pnl],
        )
        .await?;
    Ok(())
}
