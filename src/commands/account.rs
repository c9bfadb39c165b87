//! `fks account add|list|deactivate|activate`: the accounts fks manages.

use super::Ctx;
use crate::core::accounts::{self, AccountKind, NewAccount};
use crate::core::json_num::InCurrency;
use crate::output::{Outcome, Status, new_table};
use anyhow::Result;
use rust_decimal::Decimal;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

/// `--kind`: the account kinds as the command line spells them (the core derives no clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    Paper,
    BinanceSpot,
    BinanceFutures,
}

impl From<KindArg> for AccountKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Paper => AccountKind::Paper,
            KindArg::BinanceSpot => AccountKind::BinanceSpot,
            KindArg::BinanceFutures => AccountKind::BinanceFutures,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Add an account: `fks account add "Main Account" --kind paper --cash 10000`.
    Add {
        /// A name for the account, unique (used by --account and in reports).
        name: String,
        /// paper (simulated, the default), binance-spot or binance-futures.
        #[arg(long, value_enum, default_value = "paper")]
        kind: KindArg,
        /// Initial cash of a paper account, in the quote currency (not negative).
        #[arg(long, default_value = "10000")]
        cash: Decimal,
        /// Quote asset the account is valued in (an asset code such as USDT).
        #[arg(long, default_value = "USDT")]
        quote: String,
        /// Net deposits of an exchange account (cumulative PnL = equity - baseline).
        #[arg(long)]
        baseline: Option<Decimal>,
        /// Paper fee rate, a fraction of notional between 0 and 0.1 (0.001 = 0.1%).
        #[arg(long, default_value = "0.001")]
        fee_rate: Decimal,
        /// Paper slippage in basis points.
        #[arg(long, default_value = "0")]
        slippage_bps: Decimal,
        /// Environment variable holding this account's API key (default BINANCE_API_KEY).
        #[arg(long)]
        api_key_env: Option<String>,
        /// Environment variable holding this account's API secret (default BINANCE_API_SECRET).
        #[arg(long)]
        api_secret_env: Option<String>,
    },
    /// List accounts.
    List {
        /// Include deactivated accounts.
        #[arg(long)]
        all: bool,
    },
    /// Stop syncing and trading an account (its history stays).
    Deactivate {
        /// The account's name or id.
        account: String,
    },
    /// Turn an account back on.
    Activate {
        /// The account's name or id.
        account: String,
    },
}

/// Checks `account add` values the types cannot make; a usage error (exit 2) otherwise.
fn check_new_account(a: &NewAccount) -> Result<()> {
    use super::usage;
    if a.name.trim().is_empty() {
        return Err(usage("an account needs a name"));
    }
    let q = &a.quote;
    if !(2..=12).contains(&q.len()) || !q.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(usage(format!(
            "--quote {q:?}: not an asset code (2 to 12 letters or digits, such as USDT)"
        )));
    }
    let max_fee = Decimal::new(1, 1);
    if a.fee_rate < Decimal::ZERO || a.fee_rate > max_fee {
        return Err(usage(format!(
            "--fee-rate {}: must be between 0 and 0.1 (a fraction of notional: 0.001 = 0.1%)",
            a.fee_rate
        )));
    }
    if a.slippage_bps < Decimal::ZERO || a.slippage_bps > Decimal::from(10_000) {
        return Err(usage(format!(
            "--slippage-bps {}: must be between 0 and 10000",
            a.slippage_bps
        )));
    }
    if a.cash < Decimal::ZERO {
        return Err(usage(format!("--cash {}: must not be negative", a.cash)));
    }
    if a.baseline.is_some_and(|b| b < Decimal::ZERO) {
        return Err(usage("--baseline: net deposits must not be negative"));
    }
    Ok(())
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    match args.action {
        Action::Add {
            name,
            kind,
            cash,
            quote,
            baseline,
            fee_rate,
            slippage_bps,
            api_key_env,
            api_secret_env,
        } => {
            let kind = AccountKind::from(kind);
            let new = NewAccount {
                name,
                kind,
                quote: quote.trim().to_ascii_uppercase(),
                cash: if crate::core::exchange::venue::profile(kind).simulated {
                    cash
                } else {
                    Decimal::ZERO
                },
                baseline,
                fee_rate,
                slippage_bps,
                api_key_env,
                api_secret_env,
            };
            // Checked before the store is opened: a bad flag changes nothing.
            check_new_account(&new)?;
            let a = accounts::add(ctx.store().await?, &new, ctx.now_ms()).await?;
            Outcome::new(
                Status::Success,
                serde_json::json!({ "account": InCurrency(&a.quote, &a) }),
            )
        }
        Action::List { all } => {
            let list = accounts::list(ctx.store().await?, !all).await?;
            let mut t = new_table();
            t.set_header(vec![
                "id",
                "name",
                "kind",
                "quote",
                "active",
                "initial cash",
            ]);
            for a in &list {
                t.add_row(vec![
                    a.id.to_string(),
                    a.name.clone(),
                    a.kind.as_str().to_string(),
                    a.quote.clone(),
                    a.active.to_string(),
                    a.initial_cash.to_string(),
                ]);
            }
            Ok(
                Outcome::new(Status::Success, serde_json::json!({ "accounts": list.iter().map(|a| InCurrency(&a.quote, a)).collect::<Vec<_>>() }))?
                    .with_table(t),
            )
        }
        Action::Deactivate { account } => {
            let store = ctx.store().await?;
            let a = accounts::find(store, &account).await?;
            accounts::set_active(store, a.id, false).await?;
            Outcome::new(
                Status::Success,
                serde_json::json!({ "account": a.name, "active": false }),
            )
        }
        Action::Activate { account } => {
            let store = ctx.store().await?;
            let a = accounts::find(store, &account).await?;
            accounts::set_active(store, a.id, true).await?;
            Outcome::new(
                Status::Success,
                serde_json::json!({ "account": a.name, "active": true }),
            )
        }
    }
}
