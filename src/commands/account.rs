//! `fks account add|list|deactivate|activate`: the accounts fks manages.

use super::Ctx;
use crate::core::accounts::{self, AccountKind, NewAccount};
use crate::output::{Outcome, Status, new_table};
use anyhow::Result;
use rust_decimal::Decimal;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Add an account: `fks account add "Main Account" --kind paper --cash 10000`.
    Add {
        name: String,
        #[arg(long, value_enum, default_value = "paper")]
        kind: AccountKind,
        /// Initial cash of a paper account, in the quote currency.
        #[arg(long, default_value = "10000")]
        cash: Decimal,
        #[arg(long, default_value = "USDT")]
        quote: String,
        /// Net deposits of an exchange account (cumulative PnL = equity - baseline).
        #[arg(long)]
        baseline: Option<Decimal>,
        /// Paper fee rate, a fraction of notional.
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
    Deactivate { account: String },
    /// Turn an account back on.
    Activate { account: String },
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let store = ctx.store().await?;
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
            let a = accounts::add(
                store,
                &NewAccount {
                    name,
                    kind,
                    quote: quote.to_ascii_uppercase(),
                    cash: if kind == AccountKind::Paper {
                        cash
                    } else {
                        Decimal::ZERO
                    },
                    baseline,
                    fee_rate,
                    slippage_bps,
                    api_key_env,
                    api_secret_env,
                },
                ctx.now_ms(),
            )
            .await?;
            Outcome::new(Status::Success, serde_json::json!({ "account": a }))
        }
        Action::List { all } => {
            let list = accounts::list(store, !all).await?;
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
                Outcome::new(Status::Success, serde_json::json!({ "accounts": list }))?
                    .with_table(t),
            )
        }
        Action::Deactivate { account } => {
            let a = accounts::find(store, &account).await?;
            accounts::set_active(store, a.id, false).await?;
            Outcome::new(
                Status::Success,
                serde_json::json!({ "account": a.name, "active": false }),
            )
        }
        Action::Activate { account } => {
            let a = accounts::find(store, &account).await?;
            accounts::set_active(store, a.id, true).await?;
            Outcome::new(
                Status::Success,
                serde_json::json!({ "account": a.name, "active": true }),
            )
        }
    }
}
