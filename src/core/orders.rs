//! The order journal and exactly-once execution.
//!
//! Every order is written to the journal with a client order id made for it (random, see
//! `execution::ids`) and committed BEFORE the request is sent. If the answer is lost (timeout,
//! dropped connection, 5xx, a 200 that cannot be read) or the exchange says the id is a
//! duplicate, fks asks the exchange for the order by its client id instead of sending it
//! again. Orders left `new`, `sent` or `unknown` by a killed run are reconciled the same way at
//! the start of the next run, so an order is never placed twice.
//!
//! An order the exchange reports under our client id is booked only when it is the order
//! journaled: same client id, symbol, side and quantity, and made no earlier than the journal
//! row by the exchange's clock (the journal keeps that time, `exchange_time_ms`). Otherwise it
//! is `foreign`: final, nothing booked, never asked about again. A fill is booked with the
//! commission and its asset from the order's trades (`myTrades` / `userTrades`), never an
//! assumed one.

use crate::core::accounts::Account;
use crate::core::exchange::binance::ExchangeError;
use crate::core::exchange::paper::{self, PaperOrder};
use crate::core::exchange::venue::{RemoteClock, Venue, VenueOrder};
use crate::core::exchange::{OrderReport, OrderStatus, Trade};
use crate::core::execution::ids;
use crate::core::json_num::Money;
use crate::core::market::Symbol;
use crate::core::positions::{self, Side};
use crate::core::store::Store;
use crate::vals;
use anyhow::{Context, Result};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// How much earlier than the journal row (by the exchange's clock) an order may be stamped
/// and still be ours. An accepted signed request proves our clock was at most 1 s ahead of
/// the exchange's, and the journal row is written before the request is signed; the rest is
/// margin for a clock stepped by NTP between the two.
pub const ORDER_TIME_TOLERANCE_MS: i64 = 5_000;

/// Statuses reconciliation asks the exchange about again.
const PENDING: &[&str] = &[
    "new",
    "sent",
    "unknown",
    "new_on_exchange",
    "partially_filled",
];

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
    /// The commission, in `fee_asset` (a JSON number rounded to that asset's precision).
    pub fee: Option<Money>,
    pub fee_asset: Option<String>,
    pub reason: String,
    pub error: Option<String>,
    /// When the row was journaled, by the exchange's clock (ms); `None` for paper orders and
    /// rows journaled before fks kept it.
    pub exchange_time_ms: Option<i64>,
}

impl OrderRecord {
    /// The order filled on the exchange and its fill is booked.
    pub fn is_filled(&self) -> bool {
        self.status == "filled"
    }

    /// The exchange refused the order outright (a definite "no", nothing to look into).
    pub fn is_rejected(&self) -> bool {
        self.status == "rejected"
    }
}

/// An order to journal.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub account_id: i64,
    pub run_id: Option<i64>,
    pub symbol: &'a Symbol,
    pub side: Side,
    /// After the exchange's filters (rounded to the lot step): what is sent.
    pub quantity: Decimal,
    pub reason: &'a str,
    /// The job's clock (`created_ms`).
    pub now_ms: i64,
    /// The position this order closes (see [`journal_close`]); `None` for other orders.
    pub position_id: Option<i64>,
}

/// What [`journal_close`] found or wrote.
#[derive(Debug, Clone)]
pub enum Journaled {
    /// A new close, journaled and not sent yet.
    New(OrderRecord),
    /// The position already has a close: in flight (not final yet), or filled and booked
    /// since the store last read the position from the exchange. Nothing new is journaled.
    Existing(OrderRecord),
}

/// Write the order to the journal with a new client order id, committed before anything is
/// sent. Every retry of this order (the client's, or a later run's reconciliation) uses the
/// id stored here.
pub async fn journal(store: &Store, venue: &dyn Venue, o: &NewOrder<'_>) -> Result<OrderRecord> {
    let tag = ids::store_tag(&crate::core::store::identity::store_id(store, o.now_ms).await?);
    let cid = ids::new_client_order_id(&tag)?;
    if let Some(c) = venue.remote() {
        // The journal time is kept on the exchange's clock: measure it once (weight 1). If
        // that fails, the local clock stands in (an accepted signed request proves it is
        // within a second of the exchange's anyway).
        if let Err(e) = c.measure_clock_once().await {
            tracing::warn!("could not read the exchange's clock ({e}); using the local clock");
        }
    }
    let exchange_time = venue.remote().map(|c| c.server_now_ms());
    store
        .exec(
            "INSERT INTO orders (account_id, run_id, client_order_id, symbol, side, type, quantity, status, reason, created_ms, updated_ms, exchange_time_ms, position_id) \
             VALUES (?, ?, ?, ?, ?, 'MARKET', ?, 'new', ?, ?, ?, ?, ?)",
            vals![o.account_id, o.run_id, cid.as_str(), o.symbol, o.side.as_str(), o.quantity, o.reason, o.now_ms, o.now_ms, exchange_time, o.position_id],
        )
        .await
        .context("journal the order")?;
    get(store, &cid).await
}

/// The close of a position already journaled: one in flight (any job's: new, sent, unknown,
/// not final on the exchange), or one filled and booked at or after `position_read_ms`, the
/// last time the store read the position (from the exchange, or a paper fill). A filled close
/// the store has not seen reflected in the position yet means the position is closed; a
/// position read again after it and still open is a position to close again.
pub async fn existing_close(
    store: &Store,
    position_id: i64,
    position_read_ms: i64,
) -> Result<Option<OrderRecord>> {
    let placeholders = vec!["?"; PENDING.len()].join(", ");
    let mut params = vals![position_id].to_vec();
    params.extend(PENDING.iter().map(|s| crate::core::store::Value::from(*s)));
    params.push(position_read_ms.into());
    let row = store
        .query_opt(
            &format!(
                "SELECT client_order_id FROM orders WHERE position_id = ? AND \
                 (status IN ({placeholders}) OR (status = 'filled' AND updated_ms >= ?)) \
                 ORDER BY id DESC LIMIT 1"
            ),
            &params,
        )
        .await?;
    match row {
        Some(r) => Ok(Some(get(store, &r.text(0)?).await?)),
        None => Ok(None),
    }
}

/// Journal an order that closes `position` (whose `updated_ms` is when the store last read
/// it), unless the position already has a close ([`existing_close`]): a position is closed
/// once, whichever job (check-stop-loss, rebalance-portfolio) or rerun asks. Two jobs racing
/// are kept apart by the store's unique index on in-flight closes of a position.
pub async fn journal_close(
    store: &Store,
    venue: &dyn Venue,
    o: &NewOrder<'_>,
    position: &positions::Position,
) -> Result<Journaled> {
    if let Some(rec) = existing_close(store, position.id, position.updated_ms).await? {
        return Ok(Journaled::Existing(rec));
    }
    let o = NewOrder {
        position_id: Some(position.id),
        ..o.clone()
    };
    match journal(store, venue, &o).await {
        Ok(rec) => Ok(Journaled::New(rec)),
        Err(e) => match existing_close(store, position.id, position.updated_ms).await? {
            // Another job journaled its close of this position between the two statements.
            Some(rec) => Ok(Journaled::Existing(rec)),
            None => Err(e),
        },
    }
}

pub async fn get(store: &Store, client_order_id: &str) -> Result<OrderRecord> {
    let r = store
        .query_one(
            "SELECT id, client_order_id, symbol, side, quantity, status, exchange_order_id, filled_qty, avg_price, fee, fee_asset, reason, error, exchange_time_ms \
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
        fee: Money::opt(r.opt_dec(9)?, r.opt_text(10)?.as_deref().unwrap_or("")),
        fee_asset: r.opt_text(10)?,
        reason: r.text(11)?,
        error: r.opt_text(12)?,
        exchange_time_ms: r.opt_int(13)?,
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

/// Why the exchange's order `rep` is not the order journaled as `rec`, if it is not.
pub fn identity_mismatch(rec: &OrderRecord, rep: &OrderReport) -> Option<String> {
    let mut why = Vec::new();
    if rep.client_order_id != rec.client_order_id {
        why.push(format!(
            "it carries client order id {:?}",
            rep.client_order_id
        ));
    }
    if rep.symbol != rec.symbol {
        why.push(format!("its symbol is {}", rep.symbol));
    }
    if rep.side != rec.side {
        why.push(format!("its side is {}", rep.side.as_str()));
    }
    if rep.orig_qty != rec.quantity {
        why.push(format!(
            "its quantity is {} (journaled {})",
            rep.orig_qty.normalize(),
            rec.quantity.normalize()
        ));
    }
    if let (Some(made), Some(journaled)) = (rep.created_time, rec.exchange_time_ms)
        && made < journaled - ORDER_TIME_TOLERANCE_MS
    {
        why.push(format!(
            "it was made at {}, {} s before this order was journaled ({})",
            crate::core::time::fmt_ms(made),
            (journaled - made) / 1000,
            crate::core::time::fmt_ms(journaled)
        ));
    }
    (!why.is_empty()).then(|| why.join(", "))
}

/// Record that the exchange's order under our client id is someone else's. Final: never
/// booked, never asked about again.
async fn mark_foreign(
    store: &Store,
    rec: &OrderRecord,
    rep: &OrderReport,
    why: &str,
    now_ms: i64,
) -> Result<()> {
    tracing::error!(
        "order {}: the exchange's order {} is not the order journaled ({why}); nothing booked",
        rec.client_order_id,
        rep.order_id
    );
    set_status(
        store,
        rec.id,
        "foreign",
        Some(&format!(
            "the exchange's order {} under this client id is not the order journaled: {why}; \
             nothing booked, and it is never reconciled again",
            rep.order_id
        )),
        now_ms,
    )
    .await
}

/// One row of `fills`: the trades of an order that paid commission in one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FillRow {
    quantity: Decimal,
    price: Decimal,
    fee: Decimal,
    fee_asset: String,
    realized_pnl: Decimal,
    time_ms: Option<i64>,
}

/// The order's executions grouped by commission asset (one row when, as usual, all paid in
/// one asset): exact quantities, volume-weighted prices, summed commissions.
fn fill_rows(execs: &[Trade]) -> Vec<FillRow> {
    let mut by_asset: BTreeMap<&str, (Decimal, Decimal, Decimal, Decimal, Option<i64>)> =
        BTreeMap::new();
    for t in execs {
        let e = by_asset.entry(t.commission_asset.as_str()).or_insert((
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::ZERO,
            None,
        ));
        e.0 += t.qty;
        e.1 += t.qty * t.price;
        e.2 += t.commission;
        e.3 += t.realized_pnl.unwrap_or_default();
        e.4 = e.4.max(t.time);
    }
    by_asset
        .into_iter()
        .filter(|(_, v)| v.0 > Decimal::ZERO)
        .map(|(asset, (qty, notional, fee, pnl, time))| FillRow {
            quantity: qty,
            price: notional
                .checked_div(qty)
                .map(|p| p.round_dp(12).normalize())
                .unwrap_or_default(),
            fee,
            fee_asset: asset.to_string(),
            realized_pnl: pnl,
            time_ms: time,
        })
        .collect()
}

/// What the order traded: the fills of a spot FULL answer, else its trades from the exchange.
/// `Err` with a sentence when they cannot be read or do not add up to what was executed yet.
async fn executions(venue: &dyn Venue, rep: &OrderReport) -> Result<Vec<Trade>, String> {
    let fills: Vec<Trade> = rep
        .fills
        .iter()
        .map(|f| Trade {
            symbol: rep.symbol.clone(),
            trade_id: f.trade_id.unwrap_or_default(),
            order_id: rep.order_id,
            price: f.price,
            qty: f.qty,
            commission: f.commission,
            commission_asset: f.commission_asset.clone(),
            realized_pnl: None,
            time: rep.time,
        })
        .collect();
    let total = |v: &[Trade]| v.iter().map(|t| t.qty).sum::<Decimal>();
    if !fills.is_empty() && total(&fills) == rep.executed_qty {
        return Ok(fills);
    }
    if venue.remote().is_none() {
        return Err("no exchange to ask for its trades".into());
    }
    let trades = venue
        .order_trades(&rep.symbol, rep.order_id)
        .await
        .map_err(|e| format!("its trades could not be read: {e}"))?;
    if total(&trades) != rep.executed_qty {
        return Err(format!(
            "its trades add up to {} of the {} executed (the exchange may not list them all yet)",
            total(&trades).normalize(),
            rep.executed_qty.normalize()
        ));
    }
    Ok(trades)
}

/// Book the exchange's report of our order: its status, and for a final status with an
/// executed quantity, its fills with the real commission. An order whose trades cannot be
/// read yet stays `unknown` (asked again next run) rather than booked with a made-up fee.
async fn settle(
    store: &Store,
    acct: &Account,
    venue: &dyn Venue,
    rec: &OrderRecord,
    rep: &OrderReport,
    now_ms: i64,
) -> Result<()> {
    let mut rows = Vec::new();
    if rep.executed_qty > Decimal::ZERO && rep.status.is_final() {
        match executions(venue, rep).await {
            Ok(execs) => rows = fill_rows(&execs),
            Err(why) => {
                store
                    .exec(
                        "UPDATE orders SET status = 'unknown', exchange_order_id = ?, error = ?, updated_ms = ? WHERE id = ?",
                        vals![
                            rep.order_id.to_string(),
                            format!("{} on the exchange, not booked yet: {why}; will ask again next run", status_str(&rep.status)),
                            now_ms,
                            rec.id
                        ],
                    )
                    .await?;
                return Ok(());
            }
        }
    }
    let (fee, fee_asset) = match rows.as_slice() {
        [] => (None, None),
        [one] => (Some(one.fee), Some(one.fee_asset.clone())),
        many => (
            None,
            Some(
                many.iter()
                    .map(|r| r.fee_asset.as_str())
                    .collect::<Vec<_>>()
                    .join("+"),
            ),
        ),
    };
    let tx = store.begin().await?;
    tx.exec(
        "UPDATE orders SET status = ?, exchange_order_id = ?, filled_qty = ?, avg_price = ?, fee = ?, fee_asset = ?, error = NULL, updated_ms = ? WHERE id = ?",
        vals![status_str(&rep.status), rep.order_id.to_string(), rep.executed_qty, rep.avg_price, fee, fee_asset, now_ms, rec.id],
    )
    .await?;
    let booked = tx
        .query_opt(
            "SELECT 1 FROM fills WHERE client_order_id = ?",
            vals![rec.client_order_id.as_str()],
        )
        .await?;
    if booked.is_none() {
        for r in &rows {
            tx.exec(
                "INSERT INTO fills (account_id, client_order_id, symbol, side, quantity, price, fee, fee_asset, realized_pnl, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                vals![acct.id, rec.client_order_id.as_str(), &rec.symbol, rec.side.as_str(), r.quantity, r.price, r.fee, r.fee_asset.as_str(), r.realized_pnl, r.time_ms.or(rep.time).unwrap_or(now_ms)],
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
    venue: &dyn Venue,
    symbol: &Symbol,
    cid: &str,
) -> Result<Option<OrderReport>, ExchangeError> {
    match venue.remote() {
        Some(_) => venue.order_by_client_id(symbol, cid).await,
        None => Ok(None),
    }
}

/// When "the exchange has no such order" becomes final for an order whose request may be in
/// flight: Binance refuses a signed request at its matching engine once `recvWindow` has
/// passed since its `timestamp`. A second of margin for the exchange's clock.
fn settled_after(c: &dyn RemoteClock, signed_at_ms: i64) -> i64 {
    signed_at_ms + c.recv_window_ms() + 1_000
}

/// Send a journaled order (once). Paper orders fill through the paper exchange in the same
/// transaction that marks them filled. Futures orders are reduce-only (they close).
pub async fn execute(
    store: &Store,
    acct: &Account,
    venue: &dyn Venue,
    rec: &OrderRecord,
    mark: Option<Decimal>,
    now_ms: i64,
) -> Result<OrderRecord> {
    execute_as(store, acct, venue, rec, mark, None, now_ms).await
}

/// [`execute`], saying whether the order may only reduce a position (`None`: the venue's
/// default for closes). An order that opens a futures position is `Some(false)`.
pub async fn execute_as(
    store: &Store,
    acct: &Account,
    venue: &dyn Venue,
    rec: &OrderRecord,
    mark: Option<Decimal>,
    reduce_only: Option<bool>,
    now_ms: i64,
) -> Result<OrderRecord> {
    if rec.status != "new" {
        return Ok(rec.clone());
    }
    let Some(c) = venue.remote() else {
        execute_paper(store, acct, rec, mark, now_ms).await?;
        return get(store, &rec.client_order_id).await;
    };
    store
        .exec(
            "UPDATE orders SET status = 'sent', updated_ms = ? WHERE id = ?",
            vals![now_ms, rec.id],
        )
        .await?;
    let offset_before = c.clock_offset_ms();
    let res = venue
        .place_market(&VenueOrder {
            symbol: rec.symbol.clone(),
            side: rec.side,
            quantity: rec.quantity,
            client_order_id: rec.client_order_id.clone(),
            reduce_only: reduce_only.unwrap_or(venue.profile().reduce_only_closes),
            mark,
        })
        .await;
    // A -1021 resync during the send moved our idea of the exchange's clock back: the journal
    // time must be on the clock the request was signed with.
    let shift = c.clock_offset_ms() - offset_before;
    let mut rec = rec.clone();
    if shift < 0
        && let Some(t) = rec.exchange_time_ms
    {
        rec.exchange_time_ms = Some(t + shift);
        store
            .exec(
                "UPDATE orders SET exchange_time_ms = ? WHERE id = ?",
                vals![t + shift, rec.id],
            )
            .await?;
    }
    match res {
        Ok(rep) => match identity_mismatch(&rec, &rep) {
            None => settle(store, acct, venue, &rec, &rep, now_ms).await?,
            Some(why) => {
                tracing::warn!(
                    "order {}: the answer is not about this order ({why}); asking the exchange for it by client id",
                    rec.client_order_id
                );
                reconcile_one(store, acct, venue, &rec, None, now_ms).await?;
            }
        },
        Err(ExchangeError::OutcomeUnknown {
            detail,
            signed_at_ms,
            ..
        }) => {
            tracing::warn!(
                "order {}: outcome unknown ({detail}); asking the exchange for it by client id",
                rec.client_order_id
            );
            // Not found is final only once the request can no longer reach the matching
            // engine; wait for that (a few seconds) so the answer is definite now.
            let gone_after = signed_at_ms.map(|t| settled_after(c, t));
            if let Some(g) = gone_after {
                let wait = g - c.server_now_ms();
                if wait > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(wait.min(65_000) as u64))
                        .await;
                }
            }
            reconcile_one(store, acct, venue, &rec, gone_after, now_ms).await?;
        }
        Err(e) if is_duplicate(&e) => {
            tracing::warn!(
                "order {}: {e}; asking the exchange for it by client id",
                rec.client_order_id
            );
            reconcile_one(store, acct, venue, &rec, None, now_ms).await?;
        }
        Err(e @ (ExchangeError::Transport { .. } | ExchangeError::Banned { fresh: false, .. })) => {
            // Every attempt failed to connect, or a back-off kept it from being sent: the
            // request never reached the exchange.
            set_status(store, rec.id, "not_placed", Some(&e.to_string()), now_ms).await?
        }
        Err(e) => set_status(store, rec.id, "rejected", Some(&e.to_string()), now_ms).await?,
    }
    get(store, &rec.client_order_id).await
}

async fn execute_paper(
    store: &Store,
    acct: &Account,
    rec: &OrderRecord,
    mark: Option<Decimal>,
    now_ms: i64,
) -> Result<()> {
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
            tx.commit().await
        }
        Err(e) => {
            drop(tx);
            set_status(store, rec.id, "rejected", Some(&format!("{e:#}")), now_ms).await
        }
    }
}

/// Find out what happened to a journaled order whose outcome is not known. `gone_after_ms`:
/// from this time on (exchange clock) "no such order" means it was never placed; before it,
/// or when `None`, the order stays `unknown` and is asked about again next run.
async fn reconcile_one(
    store: &Store,
    acct: &Account,
    venue: &dyn Venue,
    rec: &OrderRecord,
    gone_after_ms: Option<i64>,
    now_ms: i64,
) -> Result<()> {
    match query(venue, &rec.symbol, &rec.client_order_id).await {
        Ok(Some(rep)) => match identity_mismatch(rec, &rep) {
            None => settle(store, acct, venue, rec, &rep, now_ms).await,
            Some(why) => mark_foreign(store, rec, &rep, &why, now_ms).await,
        },
        Ok(None) => {
            let exchange_now = venue.remote().map(|c| c.server_now_ms());
            let definite = match (gone_after_ms, exchange_now) {
                (Some(g), Some(n)) => n >= g,
                _ => false,
            };
            if definite {
                set_status(
                    store,
                    rec.id,
                    "not_placed",
                    Some("the exchange has no order with this client id; it was never placed"),
                    now_ms,
                )
                .await
            } else {
                set_status(
                    store,
                    rec.id,
                    "unknown",
                    Some("the exchange has no order with this client id yet; will ask again next run"),
                    now_ms,
                )
                .await
            }
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

/// Orders a killed or interrupted run left pending (`new`, `sent`, `unknown`, or not yet
/// final on the exchange): ask the exchange, never resend. Paper orders that never filled
/// are marked `not_placed`. `foreign` and other final orders are never asked about again.
/// `reason` limits it to the orders one job makes (each job reconciles its own, under its
/// own lock, so two jobs never settle the same order at once).
pub async fn reconcile_pending(
    store: &Store,
    acct: &Account,
    venue: &dyn Venue,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<Vec<OrderRecord>> {
    let placeholders = vec!["?"; PENDING.len()].join(", ");
    let mut params = vals![acct.id].to_vec();
    params.extend(reason.map(crate::core::store::Value::from));
    params.extend(PENDING.iter().map(|s| crate::core::store::Value::from(*s)));
    let by_reason = if reason.is_some() {
        " AND reason = ?"
    } else {
        ""
    };
    let ids: Vec<String> = store
        .query(
            &format!(
                "SELECT client_order_id FROM orders WHERE account_id = ?{by_reason} AND status IN ({placeholders}) ORDER BY id"
            ),
            &params,
        )
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for cid in ids {
        let rec = get(store, &cid).await?;
        match venue.remote() {
            None => {
                set_status(
                    store,
                    rec.id,
                    "not_placed",
                    Some("the run stopped before this paper order filled"),
                    now_ms,
                )
                .await?
            }
            Some(c) => {
                let gone_after = if rec.status == "new" {
                    // Never sent (the status turns `sent` before the request goes out).
                    Some(i64::MIN)
                } else {
                    // The request went out right after the journal row was written; allow
                    // for its attempts and timeouts before "no such order" is final.
                    let in_flight = c.in_flight_ms();
                    Some(rec.exchange_time_ms.map_or(i64::MIN, |t| t + in_flight))
                };
                reconcile_one(store, acct, venue, &rec, gone_after, now_ms).await?
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh store: SQLite in a temp dir, or a new Postgres database when
    /// FKS_TEST_DATABASE_URL is set and `pg`.
    async fn fresh_store(pg: bool, dir: &std::path::Path) -> Option<Store> {
        use crate::core::store::StoreUrl;
        let url = if pg {
            let Ok(base) = std::env::var("FKS_TEST_DATABASE_URL") else {
                eprintln!("FKS_TEST_DATABASE_URL not set: the Postgres half is skipped");
                return None;
            };
            let name = format!(
                "fks_orders_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            );
            let ok = std::process::Command::new("psql")
                .args([base.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
                .status()
                .unwrap()
                .success();
            assert!(ok, "create {name}");
            let (root, _) = base.rsplit_once('/').unwrap();
            StoreUrl::parse(&format!("{root}/{name}")).unwrap()
        } else {
            StoreUrl::parse(&dir.join("t.db").display().to_string()).unwrap()
        };
        Some(
            Store::open(&url, std::time::Duration::from_secs(5))
                .await
                .unwrap(),
        )
    }

    /// One close of a position in flight at a time (the store's unique index, so two jobs
    /// cannot both journal one), and a filled close counts as done until the position is
    /// read again.
    async fn one_close_per_position(pg: bool) {
        let dir = tempfile::tempdir().unwrap();
        let Some(store) = fresh_store(pg, dir.path()).await else {
            return;
        };
        store
            .exec(
                "INSERT INTO accounts (name, kind, created_ms) VALUES ('F', 'binance-futures', 0)",
                &[],
            )
            .await
            .unwrap();
        let insert = |cid: &'static str, status: &'static str, updated: i64| {
            let store = &store;
            async move {
                store
                    .exec(
                        "INSERT INTO orders (account_id, client_order_id, symbol, side, type, quantity, status, reason, created_ms, updated_ms, position_id) \
                         VALUES (1, ?, 'BTCUSDT', 'SELL', 'MARKET', '0.1', ?, 'stop-loss', 0, ?, 7)",
                        vals![cid, status, updated],
                    )
                    .await
            }
        };
        insert("a", "not_placed", 10).await.unwrap();
        assert!(existing_close(&store, 7, 5).await.unwrap().is_none());
        insert("b", "sent", 10).await.unwrap();
        // A second close in flight is refused by the store itself.
        assert!(insert("c", "new", 10).await.is_err());
        assert!(insert("c2", "unknown", 10).await.is_err());
        assert_eq!(
            existing_close(&store, 7, 5)
                .await
                .unwrap()
                .unwrap()
                .client_order_id,
            "b"
        );
        store
            .exec(
                "UPDATE orders SET status = 'filled', updated_ms = 20 WHERE client_order_id = 'b'",
                &[],
            )
            .await
            .unwrap();
        // Filled after the position was last read: already closed.
        assert_eq!(
            existing_close(&store, 7, 20).await.unwrap().unwrap().status,
            "filled"
        );
        // The position read again since, and still open: it may be closed again.
        assert!(existing_close(&store, 7, 21).await.unwrap().is_none());
        insert("d", "new", 30).await.unwrap();
        // Another position is not affected.
        assert!(existing_close(&store, 8, 0).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn one_close_per_position_sqlite() {
        one_close_per_position(false).await;
    }

    #[tokio::test]
    async fn one_close_per_position_postgres() {
        one_close_per_position(true).await;
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn trade(qty: &str, price: &str, fee: &str, asset: &str) -> Trade {
        Trade {
            symbol: Symbol("BTCUSDT".into()),
            trade_id: 1,
            order_id: 7,
            price: d(price),
            qty: d(qty),
            commission: d(fee),
            commission_asset: asset.into(),
            realized_pnl: Some(d("1.5")),
            time: Some(10),
        }
    }

    #[test]
    fn fills_group_by_commission_asset_exactly() {
        let rows = fill_rows(&[
            trade("0.1", "50000", "0.0001", "BTC"),
            trade("0.3", "50010", "0.00022", "BNB"),
            trade("0.2", "50001", "0.00001", "BNB"),
        ]);
        assert_eq!(rows.len(), 2);
        let bnb = &rows[0];
        assert_eq!(bnb.fee_asset, "BNB");
        assert_eq!(bnb.quantity, d("0.5"));
        assert_eq!(bnb.fee, d("0.00023"));
        // (0.3 × 50010 + 0.2 × 50001) / 0.5
        assert_eq!(bnb.price, d("50006.4"));
        assert_eq!(bnb.realized_pnl, d("3"));
        assert_eq!(rows[1].quantity + bnb.quantity, d("0.6"), "nothing lost");
    }

    fn rec() -> OrderRecord {
        OrderRecord {
            id: 1,
            client_order_id: "fks-AAAAAAAA00000000000000000000".into(),
            symbol: Symbol("BTCUSDT".into()),
            side: Side::Buy,
            quantity: d("0.008"),
            status: "sent".into(),
            exchange_order_id: None,
            filled_qty: None,
            avg_price: None,
            fee: None,
            fee_asset: None,
            reason: "rebalance".into(),
            error: None,
            exchange_time_ms: Some(1_000_000),
        }
    }

    fn rep() -> OrderReport {
        OrderReport {
            symbol: Symbol("BTCUSDT".into()),
            order_id: 5,
            client_order_id: "fks-AAAAAAAA00000000000000000000".into(),
            status: OrderStatus::Filled,
            side: Side::Buy,
            order_type: "MARKET".into(),
            orig_qty: d("0.00800000"),
            executed_qty: d("0.008"),
            cumulative_quote_qty: d("400"),
            avg_price: Some(d("50000")),
            reduce_only: false,
            time: Some(1_000_100),
            created_time: Some(1_000_100),
            fills: Vec::new(),
        }
    }

    #[test]
    fn only_the_journaled_order_is_ours() {
        assert_eq!(identity_mismatch(&rec(), &rep()), None);
        let mut r = rep();
        r.created_time = Some(1_000_000 - ORDER_TIME_TOLERANCE_MS);
        assert_eq!(identity_mismatch(&rec(), &r), None, "within the tolerance");
        r.created_time = Some(1_000_000 - ORDER_TIME_TOLERANCE_MS - 1);
        assert!(identity_mismatch(&rec(), &r).unwrap().contains("before"));
        for (f, what) in [
            (
                (|r: &mut OrderReport| r.client_order_id = "fks-other".into())
                    as fn(&mut OrderReport),
                "client order id",
            ),
            (|r| r.symbol = Symbol("ETHUSDT".into()), "symbol"),
            (|r| r.side = Side::Sell, "side"),
            (|r| r.orig_qty = d("0.009"), "quantity"),
        ] {
            let mut r = rep();
            f(&mut r);
            assert!(
                identity_mismatch(&rec(), &r).unwrap().contains(what),
                "{what}"
            );
        }
        // Rows journaled before the exchange time was kept: the other checks still apply.
        let mut old = rec();
        old.exchange_time_ms = None;
        let mut r = rep();
        r.created_time = Some(0);
        assert_eq!(identity_mismatch(&old, &r), None);
    }
}
