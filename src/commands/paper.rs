//! `fks paper order`: place a market order on a paper account by hand.

use super::Ctx;
use crate::core::accounts;
use crate::core::exchange::paper::{self, PaperOrder};
use crate::core::json_num::InCurrency;
use crate::core::market::Symbol;
use crate::core::positions::{self, Side};
use crate::output::{Outcome, Status};
use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

/// `--side`: BUY or SELL as the command line spells them (the core derives no clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "UPPERCASE")]
pub enum SideArg {
    Buy,
    Sell,
}

impl From<SideArg> for Side {
    fn from(s: SideArg) -> Self {
        match s {
            SideArg::Buy => Side::Buy,
            SideArg::Sell => Side::Sell,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// A market order filled at the latest stored close, with the account's fee and slippage.
    Order {
        /// The paper account's name or id.
        #[arg(long)]
        account: String,
        /// Symbol to trade (BTCUSDT).
        #[arg(long)]
        symbol: Symbol,
        /// buy or sell.
        #[arg(long, value_enum)]
        side: SideArg,
        /// Base quantity.
        #[arg(
            long,
            conflicts_with = "quote_amount",
            required_unless_present = "quote_amount"
        )]
        quantity: Option<Decimal>,
        /// Quote amount instead of a quantity.
        #[arg(long)]
        quote_amount: Option<Decimal>,
        /// Set a stop loss on the resulting position.
        #[arg(long)]
        stop_loss: Option<Decimal>,
        /// Set a take profit on the resulting position.
        #[arg(long)]
        take_profit: Option<Decimal>,
        /// Fill at the latest stored close even if it is stale by the freshness rule
        /// ([market.max_candle_age_secs], default two intervals + 5 min).
        #[arg(long)]
        allow_stale_price: bool,
        /// Trade a symbol an enabled strategy owns on this account (run-strategies trades it).
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let Action::Order {
        account,
        symbol,
        side,
        quantity,
        quote_amount,
        stop_loss,
        take_profit,
        allow_stale_price,
        force,
    } = args.action;
    let side = Side::from(side);
    let acct = accounts::find(store, &account).await?;
    if !crate::core::exchange::venue::profile(acct.kind).simulated {
        bail!(
            "{} is a {} account; `fks paper order` only trades paper accounts",
            acct.name,
            acct.kind.as_str()
        );
    }
    if !acct.active {
        bail!("account {} is deactivated", acct.name);
    }
    if !force
        && let Some(owner) = crate::core::strategies::owner_of(store, acct.id, &symbol).await?
    {
        return Err(super::usage(format!(
            "{symbol} on {} belongs to strategy {owner} (run-strategies trades it): pass --force to trade it by hand",
            acct.name
        )));
    }
    let (mark, price_time) = positions::latest_stored_price(store, &symbol, ctx.now_ms())
        .await?
        .with_context(|| format!("no price for {symbol}: sync or import its candles first"))?;
    // The freshness rule, judged by the configured timeframe's limit.
    let market = &ctx.settings.file.market;
    let fresh =
        market
            .freshness()
            .check_close(&symbol, market.timeframe, Some(price_time), ctx.now_ms());
    if !fresh.is_fresh() && !allow_stale_price {
        bail!(
            "the latest {symbol} price is {} old, more than {} ({}): sync market data first, or pass --allow-stale-price",
            fresh.age.as_deref().unwrap_or("?"),
            human_age(fresh.max_age_secs as i64 * 1000),
            fresh.max_age_from.describe(market.timeframe)
        );
    }
    let order = PaperOrder {
        symbol: symbol.clone(),
        side,
        quantity,
        quote_amount,
        client_order_id: None,
    };
    let tx = store.begin().await?;
    let fill = paper::place_market_order(&tx, &acct, &order, mark, ctx.now_ms()).await?;
    tx.commit().await?;
    if stop_loss.is_some() || take_profit.is_some() {
        positions::set_stops(store, acct.id, &symbol, stop_loss, take_profit).await?;
    }
    Outcome::new(
        Status::Success,
        serde_json::json!({
            "account": acct.name,
            "price_time": price_time,
            "fill": InCurrency(&acct.quote, &fill),
        }),
    )
}

/// `3h 12m`, `2d 4h`.
pub fn human_age(ms: i64) -> String {
    crate::core::freshness::human_duration(ms)
}
