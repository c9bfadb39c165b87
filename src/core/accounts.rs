//! Accounts: paper (the default), Binance spot and Binance USD-M futures.
//! Secrets never live here: Binance accounts name the environment variables that hold them.

use crate::core::store::{Row, Store};
use crate::vals;
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountKind {
    Paper,
    BinanceSpot,
    BinanceFutures,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Paper => "paper",
            AccountKind::BinanceSpot => "binance-spot",
            AccountKind::BinanceFutures => "binance-futures",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "paper" => AccountKind::Paper,
            "binance-spot" => AccountKind::BinanceSpot,
            "binance-futures" => AccountKind::BinanceFutures,
            other => bail!("unknown account kind {other:?}"),
        })
    }
}

/// An account. Its JSON (`account add`, `account list`) is written inside
/// `json_num::InCurrency(&account.quote, ..)`: cash and baseline are money in the quote.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub kind: AccountKind,
    pub quote: String,
    pub active: bool,
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub initial_cash: Decimal,
    /// Net deposits for exchange accounts (cumulative PnL = equity - baseline).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::core::json_num::money_in_opt"
    )]
    pub baseline: Option<Decimal>,
    /// A fraction of notional (0.001 = 0.1 %).
    #[serde(serialize_with = "crate::core::json_num::dec_number")]
    pub fee_rate: Decimal,
    #[serde(serialize_with = "crate::core::json_num::dec_number")]
    pub slippage_bps: Decimal,
    /// Names of the environment variables holding this account's key and secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_secret_env: Option<String>,
    pub created_ms: i64,
}

impl Account {
    /// Net deposits: initial cash for paper, the configured baseline for exchange accounts.
    pub fn net_deposits(&self) -> Option<Decimal> {
        if crate::core::exchange::venue::profile(self.kind).simulated {
            Some(self.initial_cash)
        } else {
            self.baseline
        }
    }
}

const COLS: &str = "id, name, kind, quote, active, initial_cash, baseline, fee_rate, slippage_bps, api_key_env, api_secret_env, created_ms";

fn from_row(r: &Row) -> Result<Account> {
    Ok(Account {
        id: r.int(0)?,
        name: r.text(1)?,
        kind: AccountKind::parse(&r.text(2)?)?,
        quote: r.text(3)?,
        active: r.bool(4)?,
        initial_cash: r.dec(5)?,
        baseline: r.opt_dec(6)?,
        fee_rate: r.dec(7)?,
        slippage_bps: r.dec(8)?,
        api_key_env: r.opt_text(9)?,
        api_secret_env: r.opt_text(10)?,
        created_ms: r.int(11)?,
    })
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub kind: AccountKind,
    pub quote: String,
    pub cash: Decimal,
    pub baseline: Option<Decimal>,
    pub fee_rate: Decimal,
    pub slippage_bps: Decimal,
    pub api_key_env: Option<String>,
    pub api_secret_env: Option<String>,
}

pub async fn add(store: &Store, a: &NewAccount, now_ms: i64) -> Result<Account> {
    if a.name.trim().is_empty() {
        bail!("an account needs a name");
    }
    if a.cash < Decimal::ZERO || a.fee_rate < Decimal::ZERO || a.slippage_bps < Decimal::ZERO {
        bail!("cash, fee rate and slippage must not be negative");
    }
    if by_name(store, &a.name).await?.is_some() {
        bail!("an account named {:?} already exists", a.name);
    }
    let tx = store.begin().await?;
    let id = tx
        .query_one(
            "INSERT INTO accounts (name, kind, quote, active, initial_cash, baseline, fee_rate, slippage_bps, api_key_env, api_secret_env, created_ms) \
             VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            vals![a.name.as_str(), a.kind.as_str(), a.quote.as_str(), a.cash, a.baseline, a.fee_rate, a.slippage_bps, a.api_key_env.clone(), a.api_secret_env.clone(), now_ms],
        )
        .await?
        .int(0)?;
    if crate::core::exchange::venue::profile(a.kind).simulated {
        tx.exec(
            "INSERT INTO paper_wallets (account_id, balance, updated_ms) VALUES (?, ?, ?)",
            vals![id, a.cash, now_ms],
        )
        .await?;
    }
    tx.commit().await?;
    get(store, id).await
}

pub async fn get(store: &Store, id: i64) -> Result<Account> {
    let r = store
        .query_opt(
            &format!("SELECT {COLS} FROM accounts WHERE id = ?"),
            vals![id],
        )
        .await?
        .with_context(|| format!("no account with id {id} (see `fks account list`)"))?;
    from_row(&r)
}

pub async fn by_name(store: &Store, name: &str) -> Result<Option<Account>> {
    store
        .query_opt(
            &format!("SELECT {COLS} FROM accounts WHERE name = ?"),
            vals![name],
        )
        .await?
        .map(|r| from_row(&r))
        .transpose()
}

/// An account by name or numeric id.
pub async fn find(store: &Store, name_or_id: &str) -> Result<Account> {
    if let Some(a) = by_name(store, name_or_id).await? {
        return Ok(a);
    }
    match name_or_id.parse::<i64>() {
        Ok(id) => get(store, id).await,
        Err(_) => bail!("no account named {name_or_id:?} (see `fks account list`)"),
    }
}

pub async fn list(store: &Store, only_active: bool) -> Result<Vec<Account>> {
    store
        .query(
            &format!("SELECT {COLS} FROM accounts WHERE (? = 0 OR active = 1) ORDER BY id"),
            vals![only_active],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn set_active(store: &Store, id: i64, active: bool) -> Result<()> {
    let n = store
        .exec(
            "UPDATE accounts SET active = ? WHERE id = ?",
            vals![active, id],
        )
        .await?;
    if n == 0 {
        bail!("no account with id {id}");
    }
    Ok(())
}

/// The accounts a job works on: one by id, or every active one.
pub async fn selected(store: &Store, id: Option<i64>) -> Result<Vec<Account>> {
    match id {
        Some(id) => Ok(vec![get(store, id).await?]),
        None => list(store, true).await,
    }
}

/// Decimals to show for amounts in a quote currency (see `json_num::currency_dp`).
pub fn quote_precision(quote: &str) -> u32 {
    crate::core::json_num::currency_dp(quote)
}

/// An amount as a JSON number rounded to the quote currency's precision.
pub fn money(d: Decimal, quote: &str) -> serde_json::Value {
    crate::core::json_num::money(d, quote)
}
