//! `fks news`: list stored news items.

use super::Ctx;
use crate::core::market::Symbol;
use crate::core::news_store::{self, StoredNews};
use crate::core::time::{fmt_ms, time_arg};
use crate::output::{Outcome, Report, Section, Status, new_table};
use anyhow::Result;
use serde::Serialize;

/// The report of `fks news`: the stored items found, newest first.
#[derive(Debug, Serialize)]
pub struct NewsList {
    pub count: usize,
    pub items: Vec<StoredNews>,
}

impl Report for NewsList {
    fn status(&self) -> Status {
        Status::Success
    }

    /// When, from where, about what, how it reads, and the title.
    fn table_view(&self) -> Vec<Section> {
        let mut t = new_table();
        t.set_header(vec!["published", "source", "symbols", "sentiment", "title"]);
        for i in &self.items {
            t.add_row(vec![
                i.published_ms.map(fmt_ms).unwrap_or_else(|| "-".into()),
                i.source.clone(),
                i.symbols.join(","),
                format!("{:+.2}", i.sentiment),
                i.title.clone(),
            ]);
        }
        vec![(String::new(), t)]
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only items that mention this symbol (BTCUSDT).
    #[arg(long)]
    pub symbol: Option<Symbol>,
    /// Only items published since (YYYY-MM-DD, RFC 3339 or ms).
    #[arg(long, value_parser = time_arg)]
    pub since: Option<i64>,
    /// Full-text search: items containing all these words.
    #[arg(long)]
    pub query: Option<String>,
    /// Show at most this many items, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Outcome> {
    let items = news_store::list(
        ctx.store().await?,
        args.symbol.as_ref(),
        args.since,
        None,
        args.query.as_deref(),
        args.limit,
    )
    .await?;
    Outcome::from_report(&NewsList {
        count: items.len(),
        items,
    })
}
