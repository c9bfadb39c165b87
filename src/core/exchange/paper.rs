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
