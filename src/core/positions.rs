//! Open positions: one net position per account and symbol, LONG or SHORT, marked to market.

use crate::core::market::{Symbol, Timeframe};
use crate::core::store::{Row, Store, Tx};
use crate::vals;
use anyhow::{Result, bail};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PositionSide {
    Long,
    Short,
}

impl PositionSide {
    pub fn as_str(self) -> &'static str {
        match self {
            PositionSide::Long => "LONG",
            PositionSide::Short => "SHORT",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "LONG" => Ok(PositionSide::Long),
            "SHORT" => Ok(PositionSide::Short),
            o => bail!("unknown position side {o:?}"),
        }
    }
}

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    Buy,
    Sell,
}

impl std::fmt::Display for PositionSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Position {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub account_id: i64,
    pub symbol: Symbol,
    pub side: PositionSide,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub entry_price: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub current_price: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub unrealized_pnl: Option<Decimal>,
    pub pnl_pct: Option<f64>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub leverage: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub stop_loss: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub take_profit: Option<Decimal>,
    pub price_time: Option<i64>,
    pub opened_ms: i64,
    pub updated_ms: i64,
}

impl Position {
    /// Entry notional, the base of PnL %.
    pub fn entry_notional(&self) -> Decimal {
        self.entry_price * self.quantity
    }
}

/// A decimal as a short exact string: at most 8 decimals, no trailing zeros.
pub fn dec_str(d: Decimal) -> String {
    d.round_dp(8).normalize().to_string()
}

/// Unrealized PnL: LONG (price - entry) x qty; SHORT (entry - price) x qty.
pub fn unrealized(side: PositionSide, qty: Decimal, entry: Decimal, price: Decimal) -> Decimal {
    match side {
        PositionSide::Long => (price - entry) * qty,
        PositionSide::Short => (entry - price) * qty,
    }
}

/// PnL as % of entry notional; None when the notional is zero.
pub fn pnl_pct(pnl: Decimal, qty: Decimal, entry: Decimal) -> Option<f64> {
    use rust_decimal::prelude::ToPrimitive;
    let notional = qty * entry;
    if notional.is_zero() {
        return None;
    }
    (pnl / notional * Decimal::from(100)).to_f64()
}

const COLS: &str = "id, account_id, symbol, side, quantity, entry_price, current_price, unrealized_pnl, pnl_pct, leverage, stop_loss, take_profit, price_time, opened_ms, updated_ms";

fn from_row(r: &Row) -> Result<Position> {
    Ok(Position {
        id: r.int(0)?,
        account_id: r.int(1)?,
        symbol: Symbol(r.text(2)?),
        side: PositionSide::parse(&r.text(3)?)?,
        quantity: r.dec(4)?,
        entry_price: r.dec(5)?,
        current_price: r.opt_dec(6)?,
        unrealized_pnl: r.opt_dec(7)?,
        pnl_pct: r.opt_real(8)?,
        leverage: r.opt_dec(9)?,
        stop_loss: r.opt_dec(10)?,
        take_profit: r.opt_dec(11)?,
        price_time: r.opt_int(12)?,
        opened_ms: r.int(13)?,
        updated_ms: r.int(14)?,
    })
}

pub async fn open_positions(store: &Store, account_id: i64) -> Result<Vec<Position>> {
    store
        .query(&format!("SELECT {COLS} FROM positions WHERE account_id = ? AND status = 'open' ORDER BY symbol"), vals![account_id])
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn open_position_tx(
    tx: &Tx<'_>,
    account_id: i64,
    symbol: &Symbol,
) -> Result<Option<Position>> {
    tx.query_opt(
        &format!(
            "SELECT {COLS} FROM positions WHERE account_id = ? AND symbol = ? AND status = 'open'"
        ),
        vals![account_id, symbol],
    )
    .await?
    .map(|r| from_row(&r))
    .transpose()
}

pub async fn open_positions_tx(tx: &Tx<'_>, account_id: i64) -> Result<Vec<Position>> {
    tx.query(
        &format!(
            "SELECT {COLS} FROM positions WHERE account_id = ? AND status = 'open' ORDER BY symbol"
        ),
        vals![account_id],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Write a position's mark (price, PnL, price time).
pub async fn mark(
    tx: &Tx<'_>,
    id: i64,
    price: Decimal,
    pnl: Decimal,
    pct: Option<f64>,
    price_time: i64,
    now_ms: i64,
) -> Result<()> {
    tx.exec(
        "UPDATE positions SET current_price = ?, unrealized_pnl = ?, pnl_pct = ?, price_time = ?, updated_ms = ? WHERE id = ?",
        vals![price, pnl, pct, price_time, now_ms, id],
    )
    .await?;
    Ok(())
}

pub async fn set_stops(
    store: &Store,
    account_id: i64,
    symbol: &Symbol,
    stop: Option<Decimal>,
    take: Option<Decimal>,
) -> Result<()> {
    let n = store
        .exec(
            "UPDATE positions SET stop_loss = ?, take_profit = ? WHERE account_id = ? AND symbol = ? AND status = 'open'",
            vals![stop, take, account_id, symbol],
        )
        .await?;
    if n == 0 {
        bail!("no open position in {symbol} on this account");
    }
    Ok(())
}

/// The store, or a transaction on it: read helpers that serve both.
enum Db<'a, 'b> {
    Store(&'a Store),
    Tx(&'a Tx<'b>),
}

impl Db<'_, '_> {
    async fn query(&self, sql: &str, params: &[crate::core::store::Value]) -> Result<Vec<Row>> {
        match self {
            Db::Store(s) => s.query(sql, params).await,
            Db::Tx(t) => t.query(sql, params).await,
        }
    }
}

/// The latest known price of a symbol at `as_of` from stored candles: the close of the most
/// recently closed candle (close time <= as_of) over all stored timeframes, with its close time.
pub async fn latest_stored_price(
    store: &Store,
    symbol: &Symbol,
    as_of: i64,
) -> Result<Option<(Decimal, i64)>> {
    latest_price_in(Db::Store(store), symbol, as_of).await
}

/// [`latest_stored_price`] inside a transaction.
pub async fn latest_stored_price_tx(
    tx: &Tx<'_>,
    symbol: &Symbol,
    as_of: i64,
) -> Result<Option<(Decimal, i64)>> {
    latest_price_in(Db::Tx(tx), symbol, as_of).await
}

async fn latest_price_in(
    db: Db<'_, '_>,
    symbol: &Symbol,
    as_of: i64,
) -> Result<Option<(Decimal, i64)>> {
    let mut best: Option<(Decimal, i64, Timeframe)> = None;
    let tfs = db
        .query(
            "SELECT DISTINCT timeframe FROM candles WHERE symbol = ?",
            vals![symbol],
        )
        .await?;
    for r in tfs {
        let Ok(tf) = r.text(0)?.parse::<Timeframe>() else {
            continue;
        };
        let row = db
            .query(
                "SELECT open_time, close FROM candles WHERE symbol = ? AND timeframe = ? AND open_time <= ? ORDER BY open_time DESC LIMIT 1",
                vals![symbol, tf, as_of - tf.millis()],
            )
            .await?
            .into_iter()
            .next();
        if let Some(row) = row {
            let close_time = row.int(0)? + tf.millis();
            if best
                .as_ref()
                .is_none_or(|b| close_time > b.1 || (close_time == b.1 && tf < b.2))
            {
                best = Some((row.dec(1)?, close_time, tf));
            }
        }
    }
    Ok(best.map(|(p, t, _)| (p, t)))
}
