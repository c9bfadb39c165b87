//! `fks position stop`: set, change or clear a position's stop loss (fixed and/or trailing).

use super::Ctx;
use crate::core::accounts;
use crate::core::execution::{StopSpec, Trailing};
use crate::core::market::Symbol;
use crate::core::positions;
use crate::output::{Outcome, Status};
use crate::vals;
use anyhow::{Result, bail};
use rust_decimal::Decimal;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// `fks position stop --account-id 1 --symbol BTCUSDT --price 40000 [--trailing-pct 5 | --trailing-atr 2]`
    Stop {
        /// The account holding the position.
        #[arg(long)]
        account_id: i64,
        /// The position's symbol (BTCUSDT).
        #[arg(long)]
        symbol: Symbol,
        /// Fixed stop price.
        #[arg(long)]
        price: Option<Decimal>,
        /// Trailing stop this many percent from the best price since it was set.
        #[arg(long, conflicts_with = "trailing_atr")]
        trailing_pct: Option<Decimal>,
        /// Trailing stop this many ATR(14) from the best price.
        #[arg(long)]
        trailing_atr: Option<Decimal>,
        /// Remove the stop.
        #[arg(long, conflicts_with_all = ["price", "trailing_pct", "trailing_atr"])]
        clear: bool,
    },
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
    let Action::Stop {
        account_id,
        symbol,
        price,
        trailing_pct,
        trailing_atr,
        clear,
    } = args.action;
    let acct = accounts::get(store, account_id).await?;
    let pos = positions::open_positions(store, acct.id)
        .await?
        .into_iter()
        .find(|p| p.symbol == symbol)
        .ok_or_else(|| anyhow::anyhow!("no open {symbol} position on {}", acct.name))?;
    if !clear && price.is_none() && trailing_pct.is_none() && trailing_atr.is_none() {
        bail!("give --price, --trailing-pct, --trailing-atr or --clear");
    }
    let trailing = match (trailing_pct, trailing_atr) {
        (Some(p), _) if p <= Decimal::ZERO || p >= Decimal::from(100) => {
            bail!("--trailing-pct must be between 0 and 100")
        }
        (Some(p), _) => Some(Trailing::Pct(p / Decimal::from(100))),
        (None, Some(k)) if k <= Decimal::ZERO => bail!("--trailing-atr must be positive"),
        (None, Some(k)) => Some(Trailing::Atr { multiple: k }),
        _ => None,
    };
    // A new or changed stop starts fresh marks (trailing from now, not from an old high).
    let spec = if clear {
        None
    } else {
        Some(StopSpec {
            stop_price: price,
            trailing,
            ..Default::default()
        })
    };
    store
        .exec(
            "UPDATE positions SET stop_loss = ?, stop_spec = ? WHERE id = ?",
            vals![
                spec.as_ref().and_then(|s| s.stop_price),
                spec.as_ref().map(serde_json::to_string).transpose()?,
                pos.id
            ],
        )
        .await?;
    Outcome::new(
        Status::Success,
        serde_json::json!({
            "account": acct.name,
            "symbol": symbol,
            "side": pos.side,
            "stop": spec.as_ref().map(StopSpec::to_report_json),
        }),
    )
}
