//! `fks sync-account-balance`: snapshot balance, equity, unrealized PnL, margin, daily and
//! cumulative PnL of every active account (or one) into the balance history.

use super::Ctx;
use crate::core::accounts::{self, Account, AccountKind};
use crate::core::balances;
use crate::core::freshness::{self, StaleMark};
use crate::core::json_num::Money;
use crate::core::valuation;
use crate::output::{EntityStatus, Failure, Outcome, Report, Status};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// One account's balance snapshot, in its quote currency.
#[derive(Debug, Serialize)]
pub struct Synced {
    pub status: EntityStatus,
    pub account_id: i64,
    pub kind: AccountKind,
    pub quote: String,
    pub balance: Money,
    pub equity: Money,
    pub unrealized_pnl: Money,
    pub margin_used: Money,
    pub margin_available: Money,
    pub daily_pnl: Money,
    pub cumulative_pnl: Money,
    pub cumulative_pnl_base: &'static str,
    pub cash: Money,
    pub positions_value: Money,
    pub fees_paid: Money,
    pub time: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A paper account valued at stale closes: no snapshot was written.
#[derive(Debug, Serialize)]
pub struct StaleAccount {
    pub status: EntityStatus,
    pub account_id: i64,
    pub kind: AccountKind,
    pub quote: String,
    pub stale_prices: Vec<StaleMark>,
    pub error: String,
}

/// One account's sync.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AccountSync {
    Synced(Box<Synced>),
    Stale(StaleAccount),
    Failed(Failure),
}

impl AccountSync {
    fn status(&self) -> EntityStatus {
        match self {
            AccountSync::Synced(s) => s.status,
            AccountSync::Stale(s) => s.status,
            AccountSync::Failed(f) => f.status,
        }
    }
}

/// The report of `fks sync-account-balance`.
#[derive(Debug, Serialize)]
pub struct BalanceRun {
    /// Accounts the job reached (a stale one counts: it was read, not written).
    pub accounts_synced: usize,
    pub results: BTreeMap<String, AccountSync>,
}

impl Report for BalanceRun {
    fn status(&self) -> Status {
        Status::combine(self.results.values().map(|r| r.status().as_str()))
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this account (default: every active account).
    #[arg(long)]
    pub account_id: Option<i64>,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let list = accounts::selected(store, args.account_id).await?;
    let mut results = BTreeMap::new();
    let mut synced = 0;
    for acct in &list {
        let r = sync_one(ctx, acct).await;
        match r {
            Ok(v) => {
                synced += 1;
                results.insert(acct.name.clone(), v);
            }
            Err(e) => {
                tracing::warn!("account {}: {e:#}", acct.name);
                results.insert(acct.name.clone(), AccountSync::Failed(Failure::new(&e)));
            }
        }
    }
    Outcome::from_report(&BalanceRun {
        accounts_synced: synced,
        results,
    })
}

async fn sync_one(ctx: &Ctx, acct: &Account) -> Result<AccountSync> {
    let store = ctx.store().await?;
    let now = ctx.now_ms();
    let mut notes = Vec::new();
    // The one valuation (crate::core::valuation): cash, every position marked once, margin.
    let venue = ctx.venue_for(acct).await?;
    let state = venue.value_now(store, acct, &[], now).await?.0;
    // A paper account is valued at stored closes: when one is stale by the freshness rule
    // the equity is not current, so no snapshot is written (a gap in the history, which
    // calculate-metrics shows, rather than a stale figure passed off as a real one); the
    // account is `stale` with the prices and their times. Exchange valuations are read from
    // the exchange in this run (fresh by construction).
    if state.source == valuation::Source::Store {
        let market = &ctx.settings.file.market;
        let stale = freshness::stale_marks(&state, &market.freshness(), market.timeframe, now);
        if !stale.is_empty() {
            let error = format!(
                "no snapshot written: its equity would rest on stale prices ({}); sync market data first",
                freshness::describe_stale_marks(&stale)
            );
            return Ok(AccountSync::Stale(StaleAccount {
                status: EntityStatus::Stale,
                account_id: acct.id,
                kind: acct.kind,
                quote: acct.quote.clone(),
                stale_prices: stale,
                error,
            }));
        }
    }
    if !state.unpriced.is_empty() {
        let names: Vec<String> = state
            .positions
            .iter()
            .filter(|p| state.unpriced.contains(&p.symbol))
            .map(|p| p.asset.clone().unwrap_or_else(|| p.symbol.0.clone()))
            .collect();
        notes.push(if venue.profile().spot_balances {
            format!(
                "no {} price for {}: not valued",
                acct.quote,
                names.join(", ")
            )
        } else {
            format!("no price for {}: valued at entry", names.join(", "))
        });
    }
    let snap = balances::snapshot(store, acct, &state, now).await?;
    balances::record(store, acct.id, &snap, &state).await?;
    let q = acct.quote.as_str();
    if snap.equity.is_zero() {
        notes.push("the account holds nothing (equity 0)".into());
    }
    let m = |d| Money::new(d, q);
    Ok(AccountSync::Synced(Box::new(Synced {
        status: EntityStatus::Success,
        account_id: acct.id,
        kind: acct.kind,
        quote: q.to_string(),
        balance: m(snap.balance),
        equity: m(snap.equity),
        unrealized_pnl: m(snap.unrealized_pnl),
        margin_used: m(snap.margin_used),
        margin_available: m(snap.margin_available),
        daily_pnl: m(snap.daily_pnl),
        cumulative_pnl: m(snap.cumulative_pnl),
        cumulative_pnl_base: snap.pnl_base,
        cash: m(state.cash),
        positions_value: m(state.positions_value),
        fees_paid: m(state.fees_paid),
        time: snap.time_ms,
        notes,
    })))
}
