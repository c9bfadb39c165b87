//! One valuation of an account, used by every job that needs equity, cash or a position's
//! value: sync-account-balance, update-positions, analyze-risk, rebalance-portfolio,
//! optimize-portfolio, calculate-metrics, generate-report, generate-signals and the paper
//! exchange's margin check.
//!
//! [`value`] is pure (data in, [`Valuation`] out); the loaders around it read what it needs
//! from the store ([`load`], [`paper_input`]) or from the exchange ([`fetch_spot`],
//! [`fetch_futures`]), and [`record`](crate::core::balances::record) stores the result with
//! each balance snapshot so jobs that do not talk to the exchange see the same figures.
//!
//! # Definitions (every kind)
//!
//! Each position is marked **once**, at `price` (a stored close for paper, the exchange's
//! ticker for spot, its mark price for futures); a position without a price is marked at its
//! entry (paper, futures: no unrealized PnL) or left out (spot: `unpriced`, as it has no
//! entry). From the marks:
//!
//! - `market_value` of a position: `+quantity × mark` for LONG, `−quantity × mark` for SHORT;
//!   `positions_value` is their sum, `gross_exposure` the sum of their absolute values.
//! - `equity = balance + unrealized_pnl = cash + positions_value`.
//! - `cash = equity − positions_value`: the quote-currency part of the account (for a paper
//!   account, `balance − Σ signed entry notional`; for spot, the quote asset's free + locked).
//! - `cash_free`: what a buy can spend now (spot: the free quote; paper and futures: the
//!   available margin, never negative).
//!
//! Per kind:
//!
//! | kind | balance | unrealized PnL | margin used | margin available |
//! |---|---|---|---|---|
//! | paper | wallet (cash + realized PnL − fees) | Σ LONG (mark − entry) × qty, SHORT (entry − mark) × qty | Σ \|qty × mark\| (leverage 1) | equity − margin used |
//! | binance-spot | equity (every asset at its ticker) | 0 (no entry price is known) | 0 | free quote |
//! | binance-futures | wallet (`totalWalletBalance`) | `totalUnrealizedProfit` | initial margin of positions and open orders | `availableBalance` |
//!
//! For futures the totals are the exchange's own (`equity = totalMarginBalance`); positions
//! come from the store as update-positions last reconciled them.

use crate::core::accounts::{Account, AccountKind, money};
use crate::core::exchange::{FuturesAccount, SpotAccount};
use crate::core::market::Symbol;
use crate::core::positions::{self, PositionSide};
use crate::core::store::Store;
use crate::vals;
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a valuation's figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Computed now from the store (paper accounts: wallet, positions, stored closes).
    Store,
    /// Computed now from the exchange's answer.
    Exchange,
    /// The valuation stored with the latest balance snapshot (exchange accounts, in jobs
    /// that do not call the exchange).
    Snapshot,
}

/// The account's cash side, per kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Wallet {
    /// Paper: the wallet balance (initial cash + realized PnL − fees).
    Paper {
        #[serde(with = "rust_decimal::serde::str")]
        balance: Decimal,
    },
    /// Binance spot: the quote asset's balance; every other asset is a LONG holding.
    Spot {
        #[serde(with = "rust_decimal::serde::str")]
        quote_free: Decimal,
        #[serde(with = "rust_decimal::serde::str")]
        quote_locked: Decimal,
    },
    /// Binance USDⓈ-M futures: the exchange's totals.
    Futures(FuturesTotals),
}

/// `GET /fapi/v2/account` totals, in the margin asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuturesTotals {
    #[serde(with = "rust_decimal::serde::str")]
    pub wallet_balance: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub unrealized_pnl: Decimal,
    /// Wallet balance + unrealized PnL (`totalMarginBalance`).
    #[serde(with = "rust_decimal::serde::str")]
    pub margin_balance: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub margin_used: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub available: Decimal,
}

impl FuturesTotals {
    pub fn from_account(a: &FuturesAccount) -> Self {
        FuturesTotals {
            wallet_balance: a.total_wallet_balance,
            unrealized_pnl: a.total_unrealized_profit,
            margin_balance: a.total_margin_balance,
            margin_used: a.total_position_initial_margin + a.total_open_order_initial_margin,
            available: a.available_balance,
        }
    }
}

/// One position or (spot) one asset balance to value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub symbol: Symbol,
    /// Spot: the base asset (`BTC` of `BTCUSDT`).
    pub asset: Option<String>,
    pub side: PositionSide,
    /// Quantity held (spot: free + locked), not negative.
    pub quantity: Decimal,
    /// What can be sold now (spot: free), at most `quantity`.
    pub free: Decimal,
    /// Unknown for spot balances.
    pub entry_price: Option<Decimal>,
    /// The price to mark at; `None` when none is known.
    pub price: Option<Decimal>,
    pub price_time: Option<i64>,
    /// Futures leverage (margin = notional / leverage); paper is leverage 1.
    pub leverage: Option<Decimal>,
    /// Unrealized PnL as the exchange reports it (futures); computed otherwise.
    pub reported_pnl: Option<Decimal>,
}

/// Everything [`value`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuationInput {
    pub account_id: i64,
    pub kind: AccountKind,
    pub quote: String,
    pub as_of_ms: i64,
    pub source: Source,
    pub wallet: Wallet,
    pub holdings: Vec<Holding>,
    /// Fees paid in the quote asset by this account's recorded fills up to `as_of_ms`.
    pub fees_paid: Decimal,
}

/// One position marked once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkedPosition {
    pub symbol: Symbol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    pub side: PositionSide,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub free_quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub entry_price: Option<Decimal>,
    /// The known price (`null`: none, the position is marked at its entry or not valued).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub price: Option<Decimal>,
    pub price_time: Option<i64>,
    /// Signed: LONG positive, SHORT negative.
    #[serde(with = "rust_decimal::serde::str")]
    pub market_value: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub unrealized_pnl: Option<Decimal>,
    pub pnl_pct: Option<f64>,
    #[serde(with = "rust_decimal::serde::str")]
    pub margin: Decimal,
}

impl MarkedPosition {
    /// The price the position is marked at (its price, else its entry).
    pub fn mark(&self) -> Option<Decimal> {
        self.price.or(self.entry_price)
    }
}

/// An account valued once (see the module documentation for the definitions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Valuation {
    pub account_id: i64,
    pub kind: AccountKind,
    pub quote: String,
    pub as_of_ms: i64,
    pub source: Source,
    #[serde(with = "rust_decimal::serde::str")]
    pub balance: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub cash: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub cash_free: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub positions_value: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub gross_exposure: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub unrealized_pnl: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub margin_used: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub margin_available: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub equity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub fees_paid: Decimal,
    pub positions: Vec<MarkedPosition>,
    /// Positions (symbols) held without a price: marked at entry (paper, futures) or not
    /// valued (spot).
    pub unpriced: Vec<Symbol>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValuationError {
    #[error("{symbol}: quantity {quantity} is negative")]
    NegativeQuantity { symbol: Symbol, quantity: Decimal },
    #[error("{symbol}: free quantity {free} is negative or above the quantity held {quantity}")]
    BadFree {
        symbol: Symbol,
        free: Decimal,
        quantity: Decimal,
    },
    #[error("{symbol}: price {price} is not positive")]
    BadPrice { symbol: Symbol, price: Decimal },
    #[error("{symbol}: entry price {price} is negative")]
    BadEntry { symbol: Symbol, price: Decimal },
    #[error("{symbol}: leverage {leverage} is not positive")]
    BadLeverage { symbol: Symbol, leverage: Decimal },
    #[error("{symbol} is held twice")]
    Duplicate { symbol: Symbol },
    #[error("a {kind} account cannot have a {wallet} wallet")]
    WalletMismatch {
        kind: &'static str,
        wallet: &'static str,
    },
}

fn sign(side: PositionSide) -> Decimal {
    match side {
        PositionSide::Long => Decimal::ONE,
        PositionSide::Short => Decimal::NEGATIVE_ONE,
    }
}

fn check(h: &Holding) -> Result<(), ValuationError> {
    let symbol = || h.symbol.clone();
    if h.quantity < Decimal::ZERO {
        return Err(ValuationError::NegativeQuantity {
            symbol: symbol(),
            quantity: h.quantity,
        });
    }
    if h.free < Decimal::ZERO || h.free > h.quantity {
        return Err(ValuationError::BadFree {
            symbol: symbol(),
            free: h.free,
            quantity: h.quantity,
        });
    }
    if let Some(p) = h.price.filter(|p| *p <= Decimal::ZERO) {
        return Err(ValuationError::BadPrice {
            symbol: symbol(),
            price: p,
        });
    }
    if let Some(p) = h.entry_price.filter(|p| *p < Decimal::ZERO) {
        return Err(ValuationError::BadEntry {
            symbol: symbol(),
            price: p,
        });
    }
    if let Some(l) = h.leverage.filter(|l| *l <= Decimal::ZERO) {
        return Err(ValuationError::BadLeverage {
            symbol: symbol(),
            leverage: l,
        });
    }
    Ok(())
}

/// Value an account: mark every holding once and derive cash, equity and margin from the
/// marks (see the module documentation). Pure.
pub fn value(input: &ValuationInput) -> Result<Valuation, ValuationError> {
    let wallet_name = match &input.wallet {
        Wallet::Paper { .. } => "paper",
        Wallet::Spot { .. } => "spot",
        Wallet::Futures(_) => "futures",
    };
    let venue = crate::core::exchange::venue::profile(input.kind);
    let expected = if venue.simulated {
        "paper"
    } else if venue.spot_balances {
        "spot"
    } else {
        "futures"
    };
    if expected != wallet_name {
        return Err(ValuationError::WalletMismatch {
            kind: input.kind.as_str(),
            wallet: wallet_name,
        });
    }
    let spot = matches!(input.wallet, Wallet::Spot { .. });
    let futures = matches!(input.wallet, Wallet::Futures(_));
    let mut seen = BTreeSet::new();
    let mut marked = Vec::with_capacity(input.holdings.len());
    let mut unpriced = Vec::new();
    let (mut pv, mut gross, mut upnl, mut margin_sum) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for h in &input.holdings {
        check(h)?;
        if !seen.insert(&h.symbol) {
            return Err(ValuationError::Duplicate {
                symbol: h.symbol.clone(),
            });
        }
        if h.price.is_none() {
            unpriced.push(h.symbol.clone());
        }
        // Spot balances have no entry: without a price they are not valued at all.
        let mark = if spot {
            h.price
        } else {
            h.price.or(h.entry_price)
        };
        let mv = mark.map_or(Decimal::ZERO, |m| sign(h.side) * h.quantity * m);
        let pnl = match (h.reported_pnl, h.price, h.entry_price) {
            (Some(r), _, _) if futures => Some(r),
            (_, Some(p), Some(e)) => Some(positions::unrealized(h.side, h.quantity, e, p)),
            _ => None,
        };
        let margin = match input.wallet {
            Wallet::Spot { .. } => Decimal::ZERO,
            Wallet::Paper { .. } => mv.abs(),
            Wallet::Futures(_) => mv.abs() / h.leverage.unwrap_or(Decimal::ONE),
        };
        pv += mv;
        gross += mv.abs();
        upnl += pnl.unwrap_or(Decimal::ZERO);
        margin_sum += margin;
        marked.push(MarkedPosition {
            symbol: h.symbol.clone(),
            asset: h.asset.clone(),
            side: h.side,
            quantity: h.quantity,
            free_quantity: h.free,
            entry_price: h.entry_price,
            price: h.price,
            price_time: h.price_time,
            market_value: mv,
            unrealized_pnl: pnl,
            pnl_pct: match (pnl, h.entry_price) {
                (Some(p), Some(e)) => positions::pnl_pct(p, h.quantity, e),
                _ => None,
            },
            margin,
        });
    }
    let (balance, unrealized, equity, margin_used, margin_available, cash_free) =
        match &input.wallet {
            Wallet::Paper { balance } => {
                let equity = *balance + upnl;
                let available = equity - margin_sum;
                (
                    *balance,
                    upnl,
                    equity,
                    margin_sum,
                    available,
                    available.max(Decimal::ZERO),
                )
            }
            Wallet::Spot {
                quote_free,
                quote_locked,
            } => {
                let equity = *quote_free + *quote_locked + pv;
                (
                    equity,
                    Decimal::ZERO,
                    equity,
                    Decimal::ZERO,
                    *quote_free,
                    *quote_free,
                )
            }
            Wallet::Futures(t) => (
                t.wallet_balance,
                t.unrealized_pnl,
                t.margin_balance,
                t.margin_used,
                t.available,
                t.available.max(Decimal::ZERO),
            ),
        };
    Ok(Valuation {
        account_id: input.account_id,
        kind: input.kind,
        quote: input.quote.clone(),
        as_of_ms: input.as_of_ms,
        source: input.source,
        balance,
        cash: equity - pv,
        cash_free,
        positions_value: pv,
        gross_exposure: gross,
        unrealized_pnl: unrealized,
        margin_used,
        margin_available,
        equity,
        fees_paid: input.fees_paid,
        positions: marked,
        unpriced,
    })
}

impl Valuation {
    /// Each valued position's signed market value as a fraction of equity (0 when equity ≤ 0);
    /// spot assets without a price are not valued and not listed.
    pub fn weights(&self) -> BTreeMap<Symbol, f64> {
        use rust_decimal::prelude::ToPrimitive;
        self.positions
            .iter()
            .filter(|p| {
                !(crate::core::exchange::venue::profile(self.kind).spot_balances
                    && p.price.is_none())
            })
            .map(|p| {
                let w = if self.equity > Decimal::ZERO {
                    (p.market_value / self.equity).to_f64().unwrap_or(0.0)
                } else {
                    0.0
                };
                (p.symbol.clone(), w)
            })
            .collect()
    }

    pub fn position(&self, symbol: &Symbol) -> Option<&MarkedPosition> {
        self.positions.iter().find(|p| &p.symbol == symbol)
    }

    /// The figures every job prints, as JSON numbers rounded to the quote's precision.
    pub fn summary_json(&self) -> serde_json::Value {
        let q = self.quote.as_str();
        serde_json::json!({
            "source": self.source,
            "as_of": self.as_of_ms,
            "balance": money(self.balance, q),
            "cash": money(self.cash, q),
            "cash_free": money(self.cash_free, q),
            "positions_value": money(self.positions_value, q),
            "gross_exposure": money(self.gross_exposure, q),
            "unrealized_pnl": money(self.unrealized_pnl, q),
            "margin_used": money(self.margin_used, q),
            "margin_available": money(self.margin_available, q),
            "equity": money(self.equity, q),
            "fees_paid": money(self.fees_paid, q),
            "unpriced": self.unpriced,
        })
    }
}

/// A spot account's balances and the ticker prices of its assets (`ASSETQUOTE`).
pub fn spot_input(
    acct: &Account,
    account: &SpotAccount,
    prices: &BTreeMap<Symbol, Decimal>,
    as_of_ms: i64,
    fees_paid: Decimal,
) -> ValuationInput {
    let quote = account.balance(&acct.quote);
    let holdings = account
        .non_zero()
        .filter(|b| b.asset != acct.quote)
        .map(|b| {
            let symbol = Symbol(format!("{}{}", b.asset, acct.quote));
            let price = prices.get(&symbol).copied().filter(|p| *p > Decimal::ZERO);
            Holding {
                asset: Some(b.asset.clone()),
                side: PositionSide::Long,
                quantity: b.total(),
                free: b.free.min(b.total()).max(Decimal::ZERO),
                entry_price: None,
                price,
                price_time: price.map(|_| as_of_ms),
                leverage: None,
                reported_pnl: None,
                symbol,
            }
        })
        .collect();
    ValuationInput {
        account_id: acct.id,
        kind: acct.kind,
        quote: acct.quote.clone(),
        as_of_ms,
        source: Source::Exchange,
        wallet: Wallet::Spot {
            quote_free: quote.map(|b| b.free).unwrap_or_default(),
            quote_locked: quote.map(|b| b.locked).unwrap_or_default(),
        },
        holdings,
        fees_paid,
    }
}

/// A stored open position as a holding, marked at `price` (paper: the latest stored close;
/// futures: the mark update-positions stored).
pub fn position_holding(p: &positions::Position, price: Option<(Decimal, i64)>) -> Holding {
    Holding {
        symbol: p.symbol.clone(),
        asset: None,
        side: p.side,
        quantity: p.quantity,
        free: p.quantity,
        entry_price: Some(p.entry_price),
        price: price.map(|x| x.0).filter(|x| *x > Decimal::ZERO),
        price_time: price.map(|x| x.1),
        leverage: p.leverage.filter(|l| *l > Decimal::ZERO),
        reported_pnl: None,
    }
}

/// Fees the account paid in its quote asset, from its fills up to `as_of`.
pub async fn fees_paid(store: &Store, acct: &Account, as_of: i64) -> Result<Decimal> {
    let rows = store
        .query(
            "SELECT fee FROM fills WHERE account_id = ? AND fee_asset = ? AND time_ms <= ?",
            vals![acct.id, acct.quote.as_str(), as_of],
        )
        .await?;
    let mut sum = Decimal::ZERO;
    for r in rows {
        sum += r.dec(0)?;
    }
    Ok(sum)
}

/// A paper account's input as of `as_of`: its wallet, its open positions and the latest
/// stored close of each (close time ≤ `as_of`). When the account has fills booked after
/// `as_of` (a replay under `FKS_NOW` or `--as-of`), the wallet and positions are those its
/// fills up to `as_of` left ([`crate::core::exchange::paper::replay`]), never the later ones.
pub async fn paper_input(store: &Store, acct: &Account, as_of: i64) -> Result<ValuationInput> {
    if !crate::core::exchange::venue::profile(acct.kind).simulated {
        bail!(
            "{} is a {} account, not paper",
            acct.name,
            acct.kind.as_str()
        );
    }
    let balance = store
        .query_opt(
            "SELECT balance FROM paper_wallets WHERE account_id = ?",
            vals![acct.id],
        )
        .await?
        .with_context(|| format!("account {} has no paper wallet", acct.name))?
        .dec(0)?;
    let later = store
        .query_one(
            "SELECT COUNT(*) FROM fills WHERE account_id = ? AND time_ms > ?",
            vals![acct.id, as_of],
        )
        .await?
        .int(0)?;
    let mut holdings = Vec::new();
    let balance = if later == 0 {
        for p in positions::open_positions(store, acct.id).await? {
            let price = positions::latest_stored_price(store, &p.symbol, as_of).await?;
            holdings.push(position_holding(&p, price));
        }
        balance
    } else {
        let fills = crate::core::exchange::paper::fills_until(store, acct.id, as_of).await?;
        let state = crate::core::exchange::paper::replay(acct.initial_cash, &fills);
        for (symbol, p) in state.positions {
            let price = positions::latest_stored_price(store, &symbol, as_of)
                .await?
                .filter(|x| x.0 > Decimal::ZERO);
            holdings.push(Holding {
                symbol,
                asset: None,
                side: p.side,
                quantity: p.quantity,
                free: p.quantity,
                entry_price: Some(p.entry_price),
                price: price.map(|x| x.0),
                price_time: price.map(|x| x.1),
                leverage: Some(Decimal::ONE),
                reported_pnl: None,
            });
        }
        state.balance
    };
    Ok(ValuationInput {
        account_id: acct.id,
        kind: acct.kind,
        quote: acct.quote.clone(),
        as_of_ms: as_of,
        source: Source::Store,
        wallet: Wallet::Paper { balance },
        holdings,
        fees_paid: fees_paid(store, acct, as_of).await?,
    })
}

/// A futures account from the exchange's totals and the positions in the store (as
/// update-positions last reconciled and marked them).
pub async fn futures_input(
    store: &Store,
    acct: &Account,
    account: &FuturesAccount,
    as_of: i64,
) -> Result<ValuationInput> {
    let holdings = positions::open_positions(store, acct.id)
        .await?
        .iter()
        .map(|p| {
            let mut h = position_holding(p, p.current_price.zip(p.price_time));
            h.reported_pnl = p.unrealized_pnl.filter(|_| p.current_price.is_some());
            h
        })
        .collect();
    Ok(ValuationInput {
        account_id: acct.id,
        kind: acct.kind,
        quote: acct.quote.clone(),
        as_of_ms: as_of,
        source: Source::Exchange,
        wallet: Wallet::Futures(FuturesTotals::from_account(account)),
        holdings,
        fees_paid: fees_paid(store, acct, as_of).await?,
    })
}

/// A spot account valued now from the exchange, with the ticker prices it used. `extra`
/// symbols (e.g. rebalance targets not held) are priced in the same request.
pub async fn fetch_spot(
    store: &Store,
    client: &crate::core::exchange::binance::BinanceClient,
    acct: &Account,
    extra: &[Symbol],
    as_of: i64,
) -> Result<(Valuation, BTreeMap<Symbol, Decimal>)> {
    let a = client
        .spot_account()
        .await
        .with_context(|| format!("read spot account {}", acct.name))?;
    let mut symbols: Vec<Symbol> = a
        .non_zero()
        .filter(|b| b.asset != acct.quote)
        .map(|b| Symbol(format!("{}{}", b.asset, acct.quote)))
        .collect();
    for s in extra {
        if !symbols.contains(s) {
            symbols.push(s.clone());
        }
    }
    let prices = if symbols.is_empty() {
        BTreeMap::new()
    } else {
        spot_prices(client, &symbols).await?
    };
    let input = spot_input(
        acct,
        &a,
        &prices,
        as_of,
        fees_paid(store, acct, as_of).await?,
    );
    Ok((value(&input)?, prices))
}

/// Ticker prices of `symbols`. Binance refuses a whole `symbols=[...]` request when one of
/// them does not exist (-1121), as for an asset with no market in the quote (earn tokens,
/// delisted coins): then every ticker is read (same weight) and the unknown ones are simply
/// missing, so those assets are listed as unpriced instead of failing the valuation.
async fn spot_prices(
    client: &crate::core::exchange::binance::BinanceClient,
    symbols: &[Symbol],
) -> Result<BTreeMap<Symbol, Decimal>> {
    match client.ticker_prices(symbols).await {
        Ok(p) => Ok(p),
        Err(e) if e.code() == Some(-1121) => {
            let all = client
                .ticker_prices(&[])
                .await
                .context("value spot balances (every ticker)")?;
            Ok(all
                .into_iter()
                .filter(|(s, _)| symbols.contains(s))
                .collect())
        }
        Err(e) => Err(anyhow::Error::new(e).context("value spot balances")),
    }
}

/// A futures account valued now from the exchange's totals.
pub async fn fetch_futures(
    store: &Store,
    client: &crate::core::exchange::binance::BinanceClient,
    acct: &Account,
    as_of: i64,
) -> Result<Valuation> {
    let a = client
        .futures_account()
        .await
        .with_context(|| format!("read futures account {}", acct.name))?;
    Ok(value(&futures_input(store, acct, &a, as_of).await?)?)
}

/// The account's valuation as of `as_of`: computed from the store for a paper account; for
/// an exchange account, the one stored with its latest balance snapshot at or before `as_of`
/// (an error when there is none: run sync-account-balance first).
pub async fn load(store: &Store, acct: &Account, as_of: i64) -> Result<Valuation> {
    if crate::core::exchange::venue::profile(acct.kind).simulated {
        return Ok(value(&paper_input(store, acct, as_of).await?)?);
    }
    load_stored(store, acct, as_of).await?.with_context(|| {
        format!(
            "no balance snapshot for {}: run sync-account-balance first",
            acct.name
        )
    })
}

/// Like [`load`], but an exchange account that was never synced gives `None` instead of an
/// error (reports and metrics still run on such an account).
pub async fn load_stored_or_live(
    store: &Store,
    acct: &Account,
    as_of: i64,
) -> Result<Option<Valuation>> {
    if crate::core::exchange::venue::profile(acct.kind).simulated {
        return Ok(Some(value(&paper_input(store, acct, as_of).await?)?));
    }
    load_stored(store, acct, as_of).await
}

/// The valuation stored with the latest snapshot at or before `as_of`, if any. A snapshot
/// written before valuations were stored gives its totals without positions.
pub async fn load_stored(store: &Store, acct: &Account, as_of: i64) -> Result<Option<Valuation>> {
    let Some(r) = store
        .query_opt(
            "SELECT b.time_ms, b.balance, b.equity, b.unrealized_pnl, b.margin_used, b.margin_available, v.valuation \
             FROM balance_history b LEFT JOIN account_valuations v ON v.balance_id = b.id \
             WHERE b.account_id = ? AND b.time_ms <= ? ORDER BY b.time_ms DESC, b.id DESC LIMIT 1",
            vals![acct.id, as_of],
        )
        .await?
    else {
        return Ok(None);
    };
    if let Some(text) = r.opt_text(6)? {
        let mut v: Valuation = serde_json::from_str(&text)
            .with_context(|| format!("read the stored valuation of {}", acct.name))?;
        v.source = Source::Snapshot;
        return Ok(Some(v));
    }
    let (equity, available) = (r.dec(2)?, r.dec(5)?);
    Ok(Some(Valuation {
        account_id: acct.id,
        kind: acct.kind,
        quote: acct.quote.clone(),
        as_of_ms: r.int(0)?,
        source: Source::Snapshot,
        balance: r.dec(1)?,
        cash: equity,
        cash_free: available.max(Decimal::ZERO),
        positions_value: Decimal::ZERO,
        gross_exposure: Decimal::ZERO,
        unrealized_pnl: r.dec(3)?,
        margin_used: r.dec(4)?,
        margin_available: available,
        equity,
        fees_paid: Decimal::ZERO,
        positions: Vec::new(),
        unpriced: Vec::new(),
    }))
}

#[cfg(test)]
mod tests;
