//! The order journal and exactly-once execution.
//!
//! Every order is written to the journal (with a deterministic client order id) and
//! committed BEFORE the request is sent. If the answer is lost (timeout, dropped
//! connection, 5xx) or the exchange says the id is a duplicate, fks asks the exchange for the
//! order by its client id instead of sending it again. Orders left `new` or `unknown` by a
//! killed run are reconciled the same way at the start of the next run, so an intent is
//! never placed twice.

use crate::core::accounts::Account;
use crate::core::exchange::binance::{BinanceClient, ExchangeError};
use crate::core::exchange::paper::{self, PaperOrder};
use crate::core::exchange::{
    FuturesMarketOrder, MarketOrder, OrderAmount, OrderReport, OrderStatus,
};
use crate::core::market::Symbol;
use crate::core::positions::{self, Side};
use crate::core::store::Store;
use crate::vals;
use anyhow::{Context, Result};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct OrderRecord {
    pub id: i64,
    pub client_order_id: String,
    pub symbol: Symbol,
    pub side: Side,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    pub status: String,
    pub exchange_order_id: Option<String>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub filled_qty: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub avg_price: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub fee: Option<Decimal>,
    pub fee_asset: Option<String>,
    pub reason: String,
    pub error: Option<String>,
}

/// Where an order goes.
pub enum Venue<'a> {
    Paper,
    Spot(&'a BinanceClient),
    /// USD-M futures; orders close positions (reduce-only).
    Futures(&'a BinanceClient),
}

/// Write the intent to the journal (committed before anything is sent). An existing row with
/// the same client id is returned as it is: the intent was recorded already.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    store: &Store,
    account_id: i64,
    run_id: Option<i64>,
    client_order_id: &str,
    symbol: &Symbol,
    side: Side,
    quantity: Decimal,
    reason: &str,
    now_ms: i64,
) -> Result<OrderRecord> {
    store
        .exec(
            "INSERT INTO orders (account_id, run_id, client_order_id, symbol, side, type, quantity, status, reason, created_ms, updated_ms) \
             VALUES (?, ?, ?, ?, ?, 'MARKET', ?, 'new', ?, ?, ?) ON CONFLICT (client_order_id) DO NOTHING",
            vals![account_id, run_id, client_order_id, symbol, side.as_str(), quantity, reason, now_ms, now_ms],
        )
        .await?;
    get(store, client_order_id).await
}

pub async fn get(store: &Store, client_order_id: &str) -> Result<OrderRecord> {
    let r = store
        .query_one(
            "SELECT id, client_order_id, symbol, side, quantity, status, exchange_order_id, filled_qty, avg_price, fee, fee_asset, reason, error \
             FROM orders WHERE client_order_id = ?",
            vals![client_order_id],
        )
        .await?;
    Ok(OrderRecord {
        id: r.int(0)?,
        client_order_id: r.text(1)?,
        symbol: Symbol(r.text(2)?),
        side: if r.text(3)? == "BUY" {
            Side::Buy
        } else {
            Side::Sell
        },
        quantity: r.dec(4)?,
        status: r.text(5)?,
        exchange_order_id: r.opt_text(6)?,
        filled_qty: r.opt_dec(7)?,
        avg_price: r.opt_dec(8)?,
        fee: r.opt_dec(9)?,
        fee_asset: r.opt_text(10)?,
        reason: r.text(11)?,
        error: r.opt_text(12)?,
    })
}

async fn set_status(
    store: &Store,
    id: i64,
    status: &str,
    error: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    store
        .exec(
            "UPDATE orders SET status = ?, error = ?, updated_ms = ? WHERE id = ?",
            vals![status, error, now_ms, id],
        )
        .await?;
    Ok(())
}

fn status_str(s: &OrderStatus) -> String {
    match s {
        OrderStatus::New => "new_on_exchange".into(),
        OrderStatus::PartiallyFilled => "partially_filled".into(),
        OrderStatus::Filled => "filled".into(),
        OrderStatus::Canceled => "canceled".into(),
        OrderStatus::PendingCancel => "pending_cancel".into(),
        OrderStatus::Rejected => "rejected".into(),
        OrderStatus::Expired | OrderStatus::ExpiredInMatch => "expired".into(),
        OrderStatus::Other(o) => o.to_ascii_lowercase(),
    }
}

/// Record an exchange's report of the order (and its fills for exchange accounts).
async fn apply_report(
    store: &Store,
    acct: &Account,
    id: i64,
    rep: &OrderReport,
    now_ms: i64,
) -> Result<()> {
    let fees = rep.commission_by_asset();
    let (fee, fee_asset) = fees
        .iter()
        .next()
        .map(|(a, f)| (Some(*f), Some(a.clone())))
        .unwrap_or((None, None));
    let tx = store.begin().await?;
    tx.exec(
        "UPDATE orders SET status = ?, exchange_order_id = ?, filled_qty = ?, avg_price = ?, fee = ?, fee_asset = ?, error = NULL, updated_ms = ? WHERE id = ?",
        vals![status_str(&rep.status), rep.order_id.to_string(), rep.executed_qty, rep.avg_price, fee, fee_asset.clone(), now_ms, id],
    )
    .await?;
    if rep.executed_qty > Decimal::ZERO {
        let exists = tx
            .query_opt(
                "SELECT 1 FROM fills WHERE client_order_id = ?",
                vals![rep.client_order_id.as_str()],
            )
            .await?;
        if exists.is_none() {
            tx.exec(
                "INSERT INTO fills (account_id, client_order_id, symbol, side, quantity, price, fee, fee_asset, realized_pnl, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '0', ?)",
                vals![acct.id, rep.client_order_id.as_str(), &rep.symbol, rep.side.as_str(), rep.executed_qty, rep.avg_price.unwrap_or_default(), fee.unwrap_or_default(), fee_asset.unwrap_or_else(|| acct.quote.clone()), rep.time.unwrap_or(now_ms)],
            )
            .await?;
        }
    }
    tx.commit().await
}

fn is_duplicate(e: &ExchangeError) -> bool {
    match e {
        ExchangeError::Api {
            code: -2010, msg, ..
        } => msg.contains("Duplicate"),
        ExchangeError::Api { code: -4116, .. } => true,
        _ => false,
    }
}

async fn query(
    venue: &Venue<'_>,
    symbol: &Symbol,
    cid: &str,
) -> Result<Option<OrderReport>, ExchangeError> {
    match venue {
        Venue::Spot(c) => c.spot_order_by_client_id(symbol, cid).await,
        Venue::Futures(c) => c.futures_order_by_client_id(symbol, cid).await,
        Venue::Paper => Ok(None),
    }
}

/// Send a journaled order (once). Paper orders fill through the paper exchange in the same
/// transaction that marks them filled.
pub async fn execute(
    store: &Store,
    acct: &Account,
    venue: &Venue<'_>,
    rec: &OrderRecord,
    mark: Option<Decimal>,
    now_ms: i64,
) -> Result<OrderRecord> {
    if rec.status != "new" {
        return Ok(rec.clone());
    }
    match venue {
        Venue::Paper => {
            let mark = mark.context("no price for a paper fill")?;
            let tx = store.begin().await?;
            let order = PaperOrder {
                symbol: rec.symbol.clone(),
                side: rec.side,
                quantity: Some(rec.quantity),
                quote_amount: None,
                client_order_id: Some(rec.client_order_id.clone()),
            };
            match paper::place_market_order(&tx, acct, &order, mark, now_ms).await {
                Ok(f) => {
                    tx.exec(
                        "UPDATE orders SET status = 'filled', filled_qty = ?, avg_price = ?, fee = ?, fee_asset = ?, updated_ms = ? WHERE id = ?",
                        vals![f.quantity, f.price, f.fee, acct.quote.as_str(), now_ms, rec.id],
                    )
                    .await?;
                    tx.commit().await?;
                }
                Err(e) => {
                    drop(tx);
                    set_status(store, rec.id, "rejected", Some(&format!("{e:#}")), now_ms).await?;
                }
            }
        }
        Venue::Spot(c) | Venue::Futures(c) => {
            store
                .exec(
                    "UPDATE orders SET status = 'sent', updated_ms = ? WHERE id = ?",
                    vals![now_ms, rec.id],
                )
                .await?;
            let res = match venue {
                Venue::Spot(_) => {
                    c.place_spot_market_order(&MarketOrder {
                        symbol: rec.symbol.clone(),
                        side: rec.side,
                        amount: OrderAmount::Base(rec.quantity),
                        client_order_id: rec.client_order_id.clone(),
                    })
                    .await
                }
                _ => {
                    c.place_futures_market_order(&FuturesMarketOrder {
                        symbol: rec.symbol.clone(),
                        side: rec.side,
                        quantity: rec.quantity,
                        client_order_id: rec.client_order_id.clone(),
                        reduce_only: true,
                    })
                    .await
                }
            };
            match res {
                Ok(rep) => apply_report(store, acct, rec.id, &rep, now_ms).await?,
                Err(e) if matches!(e, ExchangeError::OutcomeUnknown { .. }) || is_duplicate(&e) => {
                    tracing::warn!(
                        "order {}: {e}; asking the exchange for it by client id",
                        rec.client_order_id
                    );
                    reconcile_one(store, acct, venue, rec, now_ms).await?;
                }
                Err(e) => {
                    set_status(store, rec.id, "rejected", Some(&e.to_string()), now_ms).await?
                }
            }
        }
    }
    get(store, &rec.client_order_id).await
}

/// Find out what happened to a journaled order whose outcome is not known.
async fn reconcile_one(
    store: &Store,
    acct: &Account,
    venue: &Venue<'_>,
    rec: &OrderRecord,
    now_ms: i64,
) -> Result<()> {
    match query(venue, &rec.symbol, &rec.client_order_id).await {
        Ok(Some(rep)) => apply_report(store, acct, rec.id, &rep, now_ms).await,
        Ok(None) => {
            set_status(
                store,
                rec.id,
                "not_placed",
                Some("the exchange has no order with this client id; it was never placed"),
                now_ms,
            )
            .await
        }
        Err(e) => {
            set_status(
                store,
                rec.id,
                "unknown",
                Some(&format!("could not confirm: {e}; will ask again next run")),
                now_ms,
            )
            .await
        }
    }
}

/// Orders a killed or interrupted run left `new`, `sent` or `unknown`: ask the exchange
/// (never resend). Paper orders that never filled are marked `not_placed`.
pub async fn reconcile_pending(
    store: &Store,
    acct: &Account,
    venue: &Venue<'_>,
    now_ms: i64,
) -> Result<Vec<OrderRecord>> {
    let ids: Vec<String> = store
        .query(
            "SELECT client_order_id FROM orders WHERE account_id = ? AND status IN ('new', 'sent', 'unknown') ORDER BY id",
            vals![acct.id],
        )
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for cid in ids {
        let rec = get(store, &cid).await?;
        match venue {
            Venue::Paper => {
                set_status(
                    store,
                    rec.id,
                    "not_placed",
                    Some("the run stopped before this paper order filled"),
                    now_ms,
                )
                .await?
            }
            _ => reconcile_one(store, acct, venue, &rec, now_ms).await?,
        }
        out.push(get(store, &cid).await?);
    }
    Ok(out)
}

/// Whether orders may be sent: `trading.enabled` in config and `--execute` on the command.
pub fn trading_allowed(enabled: bool, execute: bool) -> Result<bool> {
    match (enabled, execute) {
        (true, true) => Ok(true),
        (false, true) => Err(crate::core::config::ConfigError(
            "--execute needs trading.enabled = true in the config (fks.toml [trading]); nothing was sent".into(),
        )
        .into()),
        _ => Ok(false),
    }
}

/// A position's side closes with this order side.
pub fn closing_side(side: positions::PositionSide) -> Side {
    match side {
        positions::PositionSide::Long => Side::Sell,
        positions::PositionSide::Short => Side::Buy,
    }
}
