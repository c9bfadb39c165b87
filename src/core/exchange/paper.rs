//! The paper exchange: balances and positions in the store, market orders filled at the
//! latest known price with a fee rate and slippage in basis points.
//!
//! Model: a margin account at leverage 1 (one-way, one net position per symbol). The wallet
//! balance is cash plus realized PnL minus fees; equity = balance + unrealized PnL; margin used
//! is the notional of open positions at their marks; available = equity - margin used (all from
//! [`crate::core::valuation`], the one valuation every job uses). For a LONG-only account the
//! available margin is its cash, exactly as on a spot account. A BUY against a SHORT reduces it
//! (realizing PnL) and any remainder opens a LONG, and vice versa.

use crate::core::accounts::Account;
use crate::core::json_num::Money;
use crate::core::market::Symbol;
use crate::core::positions::{self, PositionSide, Side};
use crate::core::store::Tx;
use crate::core::valuation::{self, Holding, ValuationInput, Wallet};
use crate::vals;
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct PaperOrder {
    pub symbol: Symbol,
    pub side: Side,
    /// Base quantity, or
    pub quantity: Option<Decimal>,
    /// an amount of quote currency to spend (BUY) or receive (SELL).
    pub quote_amount: Option<Decimal>,
    pub client_order_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaperFill {
    pub symbol: Symbol,
    pub side: Side,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    /// Money in the account's quote: serialized inside `json_num::InCurrency(quote, ..)`.
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub fee: Decimal,
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub realized_pnl: Decimal,
    #[serde(serialize_with = "crate::core::json_num::money_in")]
    pub balance_after: Decimal,
    pub position_after: Option<PositionAfter>,
    pub time_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PositionAfter {
    pub side: PositionSide,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub entry_price: Decimal,
}

const QTY_DP: u32 = 8;
const PRICE_DP: u32 = 10;

/// The wallet balance of a paper account.
pub async fn wallet(tx: &Tx<'_>, account_id: i64) -> Result<Decimal> {
    tx.query_opt(
        "SELECT balance FROM paper_wallets WHERE account_id = ?",
        vals![account_id],
    )
    .await?
    .with_context(|| format!("account {account_id} has no paper wallet (is it a paper account?)"))?
    .dec(0)
}

/// Fill a market order at `mark` (the latest known price). Runs inside the caller's transaction.
pub async fn place_market_order(
    tx: &Tx<'_>,
    acct: &Account,
    order: &PaperOrder,
    mark: Decimal,
    now_ms: i64,
) -> Result<PaperFill> {
    if mark <= Decimal::ZERO {
        bail!("no usable price for {}: {mark}", order.symbol);
    }
    let slip = acct.slippage_bps / Decimal::from(10_000);
    let price = match order.side {
        Side::Buy => mark * (Decimal::ONE + slip),
        Side::Sell => mark * (Decimal::ONE - slip),
    }
    .round_dp(PRICE_DP);
    let qty = match (order.quantity, order.quote_amount) {
        (Some(q), None) => q,
        (None, Some(a)) => {
            (a / price).round_dp_with_strategy(QTY_DP, rust_decimal::RoundingStrategy::ToZero)
        }
        _ => bail!("give exactly one of quantity or quote amount"),
    };
    if qty <= Decimal::ZERO {
        bail!("order quantity must be positive (got {qty})");
    }
    // A clock set back (FKS_NOW) would book this fill before fills already booked: the
    // account's history, which valuations at earlier times replay, would no longer be the
    // order things happened in. Refused; nothing is booked.
    let later = tx
        .query_one(
            "SELECT MAX(time_ms) FROM fills WHERE account_id = ?",
            vals![acct.id],
        )
        .await?
        .opt_int(0)?
        .filter(|t| *t > now_ms);
    if let Some(t) = later {
        bail!(
            "{} has a fill booked at {}, after this order's time {}: an order is never booked before the account's last fill (is FKS_NOW set back?)",
            acct.name,
            crate::core::time::fmt_ms(t),
            crate::core::time::fmt_ms(now_ms)
        );
    }
    let notional = qty * price;
    let fee = (notional * acct.fee_rate).round_dp(PRICE_DP).normalize();
    let balance = wallet(tx, acct.id).await?;
    let pos = positions::open_position_tx(tx, acct.id, &order.symbol).await?;
    let dir = match order.side {
        Side::Buy => PositionSide::Long,
        Side::Sell => PositionSide::Short,
    };
    // Split the order into the part that reduces an opposite position and the part that opens exposure.
    let (reduce, open) = match &pos {
        Some(p) if p.side != dir => (qty.min(p.quantity), (qty - p.quantity).max(Decimal::ZERO)),
        _ => (Decimal::ZERO, qty),
    };
    let realized = match &pos {
        Some(p) if reduce > Decimal::ZERO => {
            positions::unrealized(p.side, reduce, p.entry_price, price)
                .round_dp(PRICE_DP)
                .normalize()
        }
        _ => Decimal::ZERO,
    };
    // Margin check for new exposure, with the one valuation (crate::core::valuation): after
    // this order and its fee, margin used (every position at its mark, leverage 1) must not
    // exceed equity.
    if open > Decimal::ZERO {
        let mut holdings = Vec::new();
        for p in positions::open_positions_tx(tx, acct.id).await? {
            if p.symbol == order.symbol {
                let left = p.quantity - reduce;
                if left > Decimal::ZERO {
                    let mut h = valuation::position_holding(&p, Some((mark, now_ms)));
                    h.quantity = left;
                    h.free = left;
                    holdings.push(h);
                }
            } else {
                let px = positions::latest_stored_price_tx(tx, &p.symbol, now_ms).await?;
                holdings.push(valuation::position_holding(&p, px));
            }
        }
        let mut input = ValuationInput {
            account_id: acct.id,
            kind: acct.kind,
            quote: acct.quote.clone(),
            as_of_ms: now_ms,
            source: valuation::Source::Store,
            wallet: Wallet::Paper {
                balance: balance + realized - fee,
            },
            holdings,
            fees_paid: Decimal::ZERO,
        };
        let before = valuation::value(&input)?;
        // The new exposure, at its fill price, marked at `mark` (added to a position on the
        // same side, or opened after the opposite one is closed).
        match input.holdings.iter_mut().find(|h| h.symbol == order.symbol) {
            Some(h) => {
                let q = h.quantity + open;
                let entry = h.entry_price.unwrap_or(price);
                h.entry_price = Some((h.quantity * entry + open * price) / q);
                h.quantity = q;
                h.free = q;
            }
            None => input.holdings.push(Holding {
                symbol: order.symbol.clone(),
                asset: None,
                side: dir,
                quantity: open,
                free: open,
                entry_price: Some(price),
                price: Some(mark),
                price_time: Some(now_ms),
                leverage: None,
                reported_pnl: None,
            }),
        }
        let after = valuation::value(&input)?;
        if after.margin_available < Decimal::ZERO {
            bail!(
                "insufficient margin on {}: the order needs {} {} but {} {} is available",
                acct.name,
                Money::new(open * price, &acct.quote).rounded(),
                acct.quote,
                Money::new(before.margin_available.max(Decimal::ZERO), &acct.quote).rounded(),
                acct.quote
            );
        }
    }
    let new_balance = (balance + realized - fee).normalize();
    tx.exec(
        "UPDATE paper_wallets SET balance = ?, updated_ms = ? WHERE account_id = ?",
        vals![new_balance, now_ms, acct.id],
    )
    .await?;
    let mut after = None;
    match &pos {
        Some(p) if p.side == dir => {
            let q = p.quantity + qty;
            let entry = ((p.quantity * p.entry_price + qty * price) / q).round_dp(PRICE_DP);
            tx.exec(
                "UPDATE positions SET quantity = ?, entry_price = ?, updated_ms = ? WHERE id = ?",
                vals![q, entry, now_ms, p.id],
            )
            .await?;
            after = Some(PositionAfter {
                side: dir,
                quantity: q,
                entry_price: entry,
            });
        }
        Some(p) => {
            let left = p.quantity - reduce;
            if left > Decimal::ZERO {
                tx.exec(
                    "UPDATE positions SET quantity = ?, updated_ms = ? WHERE id = ?",
                    vals![left, now_ms, p.id],
                )
                .await?;
                after = Some(PositionAfter {
                    side: p.side,
                    quantity: left,
                    entry_price: p.entry_price,
                });
            } else {
                tx.exec(
                    "UPDATE positions SET status = 'closed', closed_ms = ?, updated_ms = ?, current_price = ?, unrealized_pnl = '0' WHERE id = ?",
                    vals![now_ms, now_ms, price, p.id],
                )
                .await?;
            }
        }
        None => {}
    }
    if open > Decimal::ZERO && !matches!(&pos, Some(p) if p.side == dir) {
        tx.exec(
            "INSERT INTO positions (account_id, symbol, side, quantity, entry_price, current_price, unrealized_pnl, pnl_pct, leverage, status, opened_ms, updated_ms, price_time) \
             VALUES (?, ?, ?, ?, ?, ?, '0', 0, '1', 'open', ?, ?, ?)",
            vals![acct.id, &order.symbol, dir.as_str(), open, price, price, now_ms, now_ms, now_ms],
        )
        .await?;
        after = Some(PositionAfter {
            side: dir,
            quantity: open,
            entry_price: price,
        });
    }
    tx.exec(
        "INSERT INTO fills (account_id, client_order_id, symbol, side, quantity, price, fee, fee_asset, realized_pnl, time_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vals![acct.id, order.client_order_id.clone(), &order.symbol, order.side.as_str(), qty, price, fee, acct.quote.as_str(), realized, now_ms],
    )
    .await?;
    Ok(PaperFill {
        symbol: order.symbol.clone(),
        side: order.side,
        quantity: qty,
        price,
        fee,
        realized_pnl: realized,
        balance_after: new_balance,
        position_after: after,
        time_ms: now_ms,
    })
}

/// One booked paper fill, as the `fills` table keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedFill {
    pub symbol: Symbol,
    pub side: Side,
    pub quantity: Decimal,
    pub price: Decimal,
    pub fee: Decimal,
    pub realized_pnl: Decimal,
}

/// An open paper position as its fills left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayedPosition {
    pub side: PositionSide,
    pub quantity: Decimal,
    pub entry_price: Decimal,
}

/// A paper account's wallet and open positions rebuilt from its fills.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaperState {
    pub balance: Decimal,
    pub positions: std::collections::BTreeMap<Symbol, ReplayedPosition>,
}

/// The position a fill of `qty` at `price` leaves, by the rules of [`place_market_order`]:
/// the same side adds at the weighted entry (rounded to 10 decimals), the opposite side
/// reduces it (its entry unchanged) and what is left over opens the other side at `price`.
pub fn position_after(
    pos: Option<&ReplayedPosition>,
    side: Side,
    qty: Decimal,
    price: Decimal,
) -> Option<ReplayedPosition> {
    let dir = match side {
        Side::Buy => PositionSide::Long,
        Side::Sell => PositionSide::Short,
    };
    match pos {
        Some(p) if p.side == dir => {
            let q = p.quantity + qty;
            Some(ReplayedPosition {
                side: dir,
                quantity: q,
                entry_price: ((p.quantity * p.entry_price + qty * price) / q).round_dp(PRICE_DP),
            })
        }
        Some(p) => {
            let reduce = qty.min(p.quantity);
            let open = (qty - p.quantity).max(Decimal::ZERO);
            let left = p.quantity - reduce;
            if left > Decimal::ZERO {
                Some(ReplayedPosition {
                    side: p.side,
                    quantity: left,
                    entry_price: p.entry_price,
                })
            } else if open > Decimal::ZERO {
                Some(ReplayedPosition {
                    side: dir,
                    quantity: open,
                    entry_price: price,
                })
            } else {
                None
            }
        }
        None => Some(ReplayedPosition {
            side: dir,
            quantity: qty,
            entry_price: price,
        }),
    }
}

/// A paper account as its fills (in the order they were booked) leave it: the wallet is the
/// initial cash plus every realized PnL minus every fee, the positions are the fills netted
/// per symbol. Pure. It equals the stored wallet and positions after the same fills (the
/// paper exchange changes them only by filling orders), so it gives the account as it was
/// at any earlier time: the fills booked by then.
pub fn replay(initial_cash: Decimal, fills: &[BookedFill]) -> PaperState {
    let mut s = PaperState {
        balance: initial_cash,
        positions: Default::default(),
    };
    for f in fills {
        s.balance = (s.balance + f.realized_pnl - f.fee).normalize();
        match position_after(s.positions.get(&f.symbol), f.side, f.quantity, f.price) {
            Some(p) => {
                s.positions.insert(f.symbol.clone(), p);
            }
            None => {
                s.positions.remove(&f.symbol);
            }
        }
    }
    s
}

/// The fills of a paper account booked at or before `as_of`, in booking order.
pub async fn fills_until(
    store: &crate::core::store::Store,
    account_id: i64,
    as_of: i64,
) -> Result<Vec<BookedFill>> {
    store
        .query(
            "SELECT symbol, side, quantity, price, fee, realized_pnl FROM fills WHERE account_id = ? AND time_ms <= ? ORDER BY id",
            vals![account_id, as_of],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(BookedFill {
                symbol: Symbol(r.text(0)?),
                side: match r.text(1)?.as_str() {
                    "BUY" => Side::Buy,
                    "SELL" => Side::Sell,
                    o => bail!("fill with an unknown side {o:?}"),
                },
                quantity: r.dec(2)?,
                price: r.dec(3)?,
                fee: r.dec(4)?,
                realized_pnl: r.dec(5)?,
            })
        })
        .collect()
}

/// The paper exchange as a venue: prices are the stored closes at the job's clock, the
/// account's state and orders live in the store.
pub struct PaperVenue<'a> {
    store: &'a crate::core::store::Store,
    acct: Account,
    now_ms: i64,
}

fn venue_err(e: anyhow::Error) -> crate::core::exchange::binance::ExchangeError {
    crate::core::exchange::binance::ExchangeError::Venue(format!("{e:#}"))
}

impl<'a> PaperVenue<'a> {
    pub fn new(store: &'a crate::core::store::Store, acct: Account, now_ms: i64) -> Self {
        PaperVenue {
            store,
            acct,
            now_ms,
        }
    }

    /// The booked fill of the order with this client id, as the exchange would report it.
    async fn booked(&self, symbol: &Symbol, cid: &str) -> Result<Option<OrderReportParts>> {
        let rows = self
            .store
            .query(
                "SELECT id, side, quantity, price, fee, fee_asset, realized_pnl, time_ms FROM fills \
                 WHERE account_id = ? AND symbol = ? AND client_order_id = ? ORDER BY id",
                vals![self.acct.id, symbol, cid],
            )
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let side = if first.text(1)? == "BUY" {
            Side::Buy
        } else {
            Side::Sell
        };
        let mut trades = Vec::new();
        for r in &rows {
            trades.push(crate::core::exchange::Trade {
                symbol: symbol.clone(),
                trade_id: r.int(0)?,
                order_id: first.int(0)?,
                price: r.dec(3)?,
                qty: r.dec(2)?,
                commission: r.dec(4)?,
                commission_asset: r.opt_text(5)?.unwrap_or_else(|| self.acct.quote.clone()),
                realized_pnl: Some(r.dec(6)?),
                time: Some(r.int(7)?),
            });
        }
        Ok(Some(OrderReportParts {
            side,
            order_id: first.int(0)?,
            trades,
        }))
    }

    fn report(
        &self,
        symbol: &Symbol,
        cid: &str,
        p: &OrderReportParts,
    ) -> crate::core::exchange::OrderReport {
        let qty: Decimal = p.trades.iter().map(|t| t.qty).sum();
        let quote: Decimal = p.trades.iter().map(|t| t.qty * t.price).sum();
        let time = p.trades.first().and_then(|t| t.time);
        crate::core::exchange::OrderReport {
            symbol: symbol.clone(),
            order_id: p.order_id,
            client_order_id: cid.to_string(),
            status: crate::core::exchange::OrderStatus::Filled,
            side: p.side,
            order_type: "MARKET".into(),
            orig_qty: qty,
            executed_qty: qty,
            cumulative_quote_qty: quote,
            avg_price: (!qty.is_zero()).then(|| quote / qty),
            reduce_only: false,
            time,
            created_time: time,
            fills: p
                .trades
                .iter()
                .map(|t| crate::core::exchange::Fill {
                    price: t.price,
                    qty: t.qty,
                    commission: t.commission,
                    commission_asset: t.commission_asset.clone(),
                    trade_id: Some(t.trade_id),
                })
                .collect(),
        }
    }
}

struct OrderReportParts {
    side: Side,
    order_id: i64,
    trades: Vec<crate::core::exchange::Trade>,
}

mod venue_impl {
    use super::*;
    use crate::core::candle_check::SourcedCandle;
    use crate::core::exchange::venue::{
        AccountState, MarketData, Orders, Profile, RemoteClock, Venue, VenueOrder, VenueResult,
    };
    use crate::core::exchange::{Balance, ExchangeInfo, FuturesPosition, OrderReport, Trade};
    use crate::core::market::Timeframe;
    use crate::core::store::Store;
    use futures_util::FutureExt;
    use futures_util::future::LocalBoxFuture;
    use std::collections::BTreeMap;

    impl MarketData for PaperVenue<'_> {
        fn rules_key(&self) -> String {
            "paper".into()
        }

        fn klines_page_size(&self) -> usize {
            1000
        }

        fn klines<'a>(
            &'a self,
            symbol: &'a Symbol,
            tf: Timeframe,
            start_ms: i64,
            end_ms: i64,
            limit: usize,
        ) -> VenueResult<'a, Vec<SourcedCandle>> {
            async move {
                // Only candles closed by the clock: nothing that had not happened yet.
                let last_closed = crate::core::freshness::last_closed_open(tf, self.now_ms);
                let rows = crate::core::store::candles::range(
                    self.store,
                    symbol,
                    tf,
                    Some(start_ms),
                    Some(end_ms.min(last_closed)),
                )
                .await
                .map_err(venue_err)?;
                Ok(rows
                    .into_iter()
                    .take(limit)
                    .map(|candle| SourcedCandle {
                        close_time: Some(candle.open_time + tf.millis() - 1),
                        candle,
                    })
                    .collect())
            }
            .boxed_local()
        }

        fn ticker_prices<'a>(
            &'a self,
            symbols: &'a [Symbol],
        ) -> VenueResult<'a, BTreeMap<Symbol, Decimal>> {
            async move {
                let mut out = BTreeMap::new();
                for s in symbols {
                    if let Some((p, _)) = positions::latest_stored_price(self.store, s, self.now_ms)
                        .await
                        .map_err(venue_err)?
                    {
                        out.insert(s.clone(), p);
                    }
                }
                Ok(out)
            }
            .boxed_local()
        }

        fn server_time(&self) -> VenueResult<'_, i64> {
            let now = self.now_ms;
            async move { Ok(now) }.boxed_local()
        }

        fn exchange_rules<'a>(&'a self, symbols: &'a [Symbol]) -> VenueResult<'a, ExchangeInfo> {
            let info = ExchangeInfo {
                server_time: self.now_ms,
                weight_limit_per_minute: None,
                symbols: symbols
                    .iter()
                    .map(|s| crate::core::rules_cache::paper_rules(s, &self.acct.quote))
                    .collect(),
            };
            async move { Ok(info) }.boxed_local()
        }
    }

    impl AccountState for PaperVenue<'_> {
        fn balances(&self) -> VenueResult<'_, Vec<Balance>> {
            async move {
                let v = valuation::load(self.store, &self.acct, self.now_ms)
                    .await
                    .map_err(venue_err)?;
                Ok(vec![Balance {
                    asset: self.acct.quote.clone(),
                    free: v.cash_free,
                    locked: v.balance - v.cash_free,
                }])
            }
            .boxed_local()
        }

        fn positions<'a>(
            &'a self,
            symbol: Option<&'a Symbol>,
        ) -> VenueResult<'a, Vec<FuturesPosition>> {
            async move {
                let open = positions::open_positions(self.store, self.acct.id)
                    .await
                    .map_err(venue_err)?;
                let mut out = Vec::new();
                for p in open
                    .into_iter()
                    .filter(|p| symbol.is_none_or(|s| *s == p.symbol))
                {
                    let mark = positions::latest_stored_price(self.store, &p.symbol, self.now_ms)
                        .await
                        .map_err(venue_err)?
                        .map_or(p.entry_price, |(m, _)| m);
                    out.push(FuturesPosition {
                        unrealized_pnl: positions::unrealized(
                            p.side,
                            p.quantity,
                            p.entry_price,
                            mark,
                        ),
                        symbol: p.symbol,
                        side: p.side,
                        quantity: p.quantity,
                        entry_price: p.entry_price,
                        mark_price: mark,
                        leverage: 1,
                        liquidation_price: None,
                        margin_type: None,
                        update_time: self.now_ms,
                    });
                }
                Ok(out)
            }
            .boxed_local()
        }
    }

    impl Orders for PaperVenue<'_> {
        fn place_market<'a>(&'a self, o: &'a VenueOrder) -> VenueResult<'a, OrderReport> {
            async move {
                let mark = o.mark.ok_or_else(|| {
                    venue_err(anyhow::anyhow!("no price for a paper fill of {}", o.symbol))
                })?;
                let tx = self.store.begin().await.map_err(venue_err)?;
                let order = PaperOrder {
                    symbol: o.symbol.clone(),
                    side: o.side,
                    quantity: Some(o.quantity),
                    quote_amount: None,
                    client_order_id: Some(o.client_order_id.clone()),
                };
                place_market_order(&tx, &self.acct, &order, mark, self.now_ms)
                    .await
                    .map_err(venue_err)?;
                tx.commit().await.map_err(venue_err)?;
                let parts = self
                    .booked(&o.symbol, &o.client_order_id)
                    .await
                    .map_err(venue_err)?
                    .ok_or_else(|| venue_err(anyhow::anyhow!("the paper fill was not booked")))?;
                Ok(self.report(&o.symbol, &o.client_order_id, &parts))
            }
            .boxed_local()
        }

        fn order_by_client_id<'a>(
            &'a self,
            symbol: &'a Symbol,
            client_order_id: &'a str,
        ) -> VenueResult<'a, Option<OrderReport>> {
            async move {
                let parts = self
                    .booked(symbol, client_order_id)
                    .await
                    .map_err(venue_err)?;
                Ok(parts.map(|p| self.report(symbol, client_order_id, &p)))
            }
            .boxed_local()
        }

        fn cancel_by_client_id<'a>(
            &'a self,
            symbol: &'a Symbol,
            client_order_id: &'a str,
        ) -> VenueResult<'a, OrderReport> {
            async move {
                // Paper market orders fill when placed: nothing is ever open to cancel.
                match self
                    .booked(symbol, client_order_id)
                    .await
                    .map_err(venue_err)?
                {
                    Some(p) => Ok(self.report(symbol, client_order_id, &p)),
                    None => Err(venue_err(anyhow::anyhow!(
                        "no paper order {client_order_id} on {symbol}: unknown order"
                    ))),
                }
            }
            .boxed_local()
        }

        fn order_trades<'a>(
            &'a self,
            symbol: &'a Symbol,
            order_id: i64,
        ) -> VenueResult<'a, Vec<Trade>> {
            async move {
                let cid = self
                    .store
                    .query_opt(
                        "SELECT client_order_id FROM fills WHERE id = ? AND account_id = ?",
                        vals![order_id, self.acct.id],
                    )
                    .await
                    .map_err(venue_err)?
                    .map(|r| r.opt_text(0))
                    .transpose()
                    .map_err(venue_err)?
                    .flatten();
                let Some(cid) = cid else {
                    return Ok(Vec::new());
                };
                Ok(self
                    .booked(symbol, &cid)
                    .await
                    .map_err(venue_err)?
                    .map(|p| p.trades)
                    .unwrap_or_default())
            }
            .boxed_local()
        }

        fn remote(&self) -> Option<&dyn RemoteClock> {
            None
        }
    }

    impl Venue for PaperVenue<'_> {
        fn profile(&self) -> Profile {
            crate::core::exchange::venue::profile(self.acct.kind)
        }

        fn value_now<'a>(
            &'a self,
            store: &'a Store,
            acct: &'a Account,
            _extra: &'a [Symbol],
            as_of: i64,
        ) -> LocalBoxFuture<'a, anyhow::Result<(valuation::Valuation, BTreeMap<Symbol, Decimal>)>>
        {
            async move { Ok((valuation::load(store, acct, as_of).await?, BTreeMap::new())) }
                .boxed_local()
        }

        fn marks<'a>(
            &'a self,
            symbols: &'a [Symbol],
            now: i64,
        ) -> LocalBoxFuture<'a, anyhow::Result<BTreeMap<Symbol, (Decimal, i64)>>> {
            async move {
                let mut out = BTreeMap::new();
                for s in symbols {
                    if let Some(p) = positions::latest_stored_price(self.store, s, now).await? {
                        out.insert(s.clone(), p);
                    }
                }
                Ok(out)
            }
            .boxed_local()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::accounts::{self, AccountKind, NewAccount};
    use crate::core::store::{Store, StoreUrl};
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    /// The stored wallet and open positions, as a [`PaperState`].
    async fn stored(store: &Store, account_id: i64) -> PaperState {
        let balance = store
            .query_one(
                "SELECT balance FROM paper_wallets WHERE account_id = ?",
                vals![account_id],
            )
            .await
            .unwrap()
            .dec(0)
            .unwrap();
        let positions = positions::open_positions(store, account_id)
            .await
            .unwrap()
            .into_iter()
            .map(|p| {
                (
                    p.symbol.clone(),
                    ReplayedPosition {
                        side: p.side,
                        quantity: p.quantity,
                        entry_price: p.entry_price,
                    },
                )
            })
            .collect();
        PaperState { balance, positions }
    }

    #[test]
    fn a_flip_closes_and_opens_at_the_fill_price() {
        let long = ReplayedPosition {
            side: PositionSide::Long,
            quantity: d("2"),
            entry_price: d("100"),
        };
        assert_eq!(
            position_after(Some(&long), Side::Sell, d("3"), d("90")),
            Some(ReplayedPosition {
                side: PositionSide::Short,
                quantity: d("1"),
                entry_price: d("90")
            })
        );
        assert_eq!(
            position_after(Some(&long), Side::Sell, d("2"), d("90")),
            None
        );
        assert_eq!(
            position_after(Some(&long), Side::Buy, d("1"), d("130")),
            Some(ReplayedPosition {
                side: PositionSide::Long,
                quantity: d("3"),
                entry_price: d("110")
            })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Random orders (buys, sells, flips, partial closes, several symbols, fees and
        /// slippage) through the real paper exchange: after every order, replaying the fills
        /// booked so far gives exactly the stored wallet and positions.
        #[test]
        fn replaying_the_fills_gives_the_stored_state(
            orders in proptest::collection::vec(
                (0usize..3, any::<bool>(), 1u32..5_000, 1u32..200_000),
                1..25,
            ),
            fee_bp in 0u32..30,
            slip_bp in 0u32..20,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let url = StoreUrl::parse(&dir.path().join("t.db").display().to_string()).unwrap();
                let store = Store::open(&url, std::time::Duration::from_secs(5)).await.unwrap();
                let acct = accounts::add(&store, &NewAccount {
                    name: "P".into(),
                    kind: AccountKind::Paper,
                    quote: "USDT".into(),
                    cash: d("100000"),
                    baseline: None,
                    fee_rate: Decimal::new(fee_bp.into(), 4),
                    slippage_bps: Decimal::from(slip_bp),
                    api_key_env: None,
                    api_secret_env: None,
                }, 0).await.unwrap();
                let symbols = ["BTCUSDT", "ETHUSDT", "XRPUSDT"];
                for (i, (s, buy, qty, px)) in orders.iter().enumerate() {
                    let order = PaperOrder {
                        symbol: Symbol(symbols[*s].into()),
                        side: if *buy { Side::Buy } else { Side::Sell },
                        quantity: Some(Decimal::new((*qty).into(), 3)),
                        quote_amount: None,
                        client_order_id: None,
                    };
                    let tx = store.begin().await.unwrap();
                    // Orders above the margin are refused and book nothing.
                    match place_market_order(&tx, &acct, &order, Decimal::new((*px).into(), 2), i as i64 + 1).await {
                        Ok(_) => tx.commit().await.unwrap(),
                        Err(_) => tx.rollback().await.unwrap(),
                    }
                    let fills = fills_until(&store, acct.id, i as i64 + 1).await.unwrap();
                    let want = stored(&store, acct.id).await;
                    assert_eq!(replay(acct.initial_cash, &fills), want, "after order {i}");
                }
            });
        }
    }
}
